package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/todod/todod/internal/auth"
)

func TestBearerToken(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
	tests := []struct {
		name    string
		headers []string // Authorization values
		want    string
		code    string
	}{
		{"Bearer", []string{"Bearer " + tok}, tok, ""},
		{"lowercase scheme", []string{"bearer " + tok}, tok, ""},
		{"uppercase scheme", []string{"BEARER " + tok}, tok, ""},
		{"extra spaces", []string{"Bearer   " + tok + " "}, tok, ""},
		{"b64token characters", []string{"Bearer abc-._~+/=="}, "abc-._~+/==", ""},
		{"no header", nil, "", auth.CodeMissing},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", auth.CodeMalformed},
		{"Basic", []string{"Basic dXNlcjpwYXNz"}, "", auth.CodeMalformed},
		{"scheme only", []string{"Bearer"}, "", auth.CodeMalformed},
		{"scheme and space", []string{"Bearer "}, "", auth.CodeMalformed},
		{"no space", []string{"Bearer" + tok}, "", auth.CodeMalformed},
		{"token only", []string{tok}, "", auth.CodeMalformed},
		{"two tokens", []string{"Bearer " + tok + " " + tok}, "", auth.CodeMalformed},
		{"comma list", []string{"Bearer " + tok + ", Bearer " + tok}, "", auth.CodeMalformed},
		{"quoted", []string{`Bearer "` + tok + `"`}, "", auth.CodeMalformed},
		{"largest", []string{"Bearer " + strings.Repeat("a", auth.MaxTokenBytes)}, strings.Repeat("a", auth.MaxTokenBytes), ""},
		{"8 KiB", []string{"Bearer " + strings.Repeat("a", 8<<10)}, "", auth.CodeTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := auth.BearerToken(r)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if got != "" {
					t.Errorf("token = %q alongside an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("BearerToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// Tokens in the query string or in cookies are never read.
func TestBearerTokenIgnoresQueryAndCookies(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
	r := httptest.NewRequest(http.MethodGet, "/api/tasks?access_token="+tok+"&token="+tok, nil)
	r.AddCookie(&http.Cookie{Name: "better-auth.session_token", Value: tok})
	r.AddCookie(&http.Cookie{Name: "access_token", Value: tok})
	_, err := auth.BearerToken(r)
	wantCode(t, err, auth.CodeMissing)
}

// The header name is case-insensitive on the wire: Go's server canonicalises
// it, so "authorization" and "Authorization" together are two headers.
func TestBearerTokenHeaderNameCase(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.BearerToken(r); err != nil {
			http.Error(w, auth.FailureCode(err), http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	for name, headers := range map[string]http.Header{
		"lowercase name": {"authorization": {"Bearer a.b.c"}},
		"both spellings": {"authorization": {"Bearer a.b.c"}, "Authorization": {"Bearer a.b.c"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header = headers
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if name == "both spellings" {
			want = http.StatusUnauthorized
		}
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, want)
		}
	}
}
