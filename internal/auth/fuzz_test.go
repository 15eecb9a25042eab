package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
)

// FuzzVerify: no input panics, every refusal is an *InvalidTokenError, and the
// only tokens accepted are the genuine seeds: no mutation of a signed token
// (re-encoding included) is accepted.
func FuzzVerify(f *testing.F) {
	vec := loadVector(f)
	srv := authtest.NewJWKSServer(f)
	srv.SetBody(vec.JWKS)
	v := newVerifier(f, auth.Config{
		Secret:  []byte(authtest.Secret),
		JWKSURL: srv.URL(),
		Now:     func() time.Time { return time.Unix(vec.VerifyAtUnix, 0) },
	})
	hs := authtest.HMAC(f, "HS256", []byte(authtest.Secret), authtest.SecretClaims("u", time.Unix(vec.VerifyAtUnix, 0), time.Hour))
	genuine := map[string]bool{vec.Token: true, hs: true}
	for _, s := range []string{
		vec.Token, hs, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		strings.Replace(hs, ".", "..", 1), hs + "=", strings.ToUpper(hs),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok)
		if err == nil {
			if !genuine[tok] {
				t.Fatalf("accepted a token that is not a genuine seed: %q (user %q)", tok, p.UserID)
			}
			return
		}
		var ite *auth.InvalidTokenError
		if !errors.As(err, &ite) && !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("error %v is neither InvalidTokenError nor ErrUnavailable", err)
		}
	})
}

// FuzzBearerToken: an extracted token is always a single non-empty b64token
// within the size cap.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer a.b.c", "bearer  x ", "Basic x", "Bearer", "Bearer a b", "Bearer é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", value)
		tok, err := auth.BearerToken(r)
		if err != nil {
			var ite *auth.InvalidTokenError
			if !errors.As(err, &ite) || tok != "" {
				t.Fatalf("BearerToken(%q) = %q, %v", value, tok, err)
			}
			return
		}
		if tok == "" || len(tok) > auth.MaxTokenBytes || strings.ContainsAny(tok, " \t,\"") {
			t.Fatalf("BearerToken(%q) = %q", value, tok)
		}
	})
}
