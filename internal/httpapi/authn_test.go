package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todod/todod/internal/auth"
)

// authFailures reads todod_auth_failures_total by reason from reg.
func authFailures(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "todod_auth_failures_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func TestAuthRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newAPIEnv(t, noStore(t), func(c *Config) { c.Ops.Registry = reg })
	now := e.clock.Now()
	mint := func(secret string, ttl time.Duration, at time.Time) string {
		tok, err := auth.Mint([]byte(secret), "alice", ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The expected reason is the verifier's own, so this test pins how it
	// reaches the client, not its wording.
	reason := func(token string) string {
		v, err := auth.New(auth.Config{Secret: []byte(apiSecret), Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		_, err = v.Verify(context.Background(), token)
		var ite *auth.InvalidTokenError
		if !errors.As(err, &ite) {
			t.Fatalf("Verify(%q) = %v, want an InvalidTokenError", token, err)
		}
		return ite.Reason
	}
	expired := mint(apiSecret, time.Hour, now.Add(-3*time.Hour))
	forged := mint("another-secret-0123456789abcdefghij", time.Hour, now)

	for _, tc := range []struct {
		name   string
		values []string // Authorization headers
		detail string
		code   string // metric reason
	}{
		{"no header", nil, "missing bearer token (Authorization: Bearer <token>)", auth.CodeMissing},
		{"basic", []string{"Basic YWxpY2U6cHc="}, "authorization scheme is not Bearer", auth.CodeMalformed},
		{"empty token", []string{"Bearer "}, "empty bearer token", auth.CodeMalformed},
		{"two headers", []string{"Bearer " + e.token("alice"), "Bearer " + e.token("alice")}, "more than one Authorization header", auth.CodeMalformed},
		{"not a JWT", []string{"Bearer abc"}, reason("abc"), auth.CodeMalformed},
		{"expired", []string{"Bearer " + expired}, reason(expired), auth.CodeExpired},
		{"bad signature", []string{"Bearer " + forged}, reason(forged), auth.CodeBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/tasks", "/api/alice/tasks/1"} {
				r := newRequest(t, e, "GET", path, "", nil)
				for _, v := range tc.values {
					r.Header.Add("Authorization", v)
				}
				w := serve(e, r)
				p := decodeProblem(t, w, http.StatusUnauthorized)
				wantBody(t, p.Detail, tc.detail)
				want := `Bearer realm="todod", error="invalid_token", error_description="` + tc.detail + `"`
				if tc.code == auth.CodeMissing {
					want = `Bearer realm="todod"` // RFC 6750 §3.1: no error code without credentials
				}
				wantHeader(t, w.Header(), "WWW-Authenticate", want)
				if strings.Contains(w.Body.String(), "eyJ") {
					t.Fatalf("the token leaked into the body: %s", w.Body)
				}
			}
		})
	}
	want := map[string]float64{auth.CodeMissing: 2, auth.CodeMalformed: 8, auth.CodeExpired: 2, auth.CodeBadSignature: 2}
	if got := authFailures(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("auth failures %v, want %v", got, want)
	}
	if strings.Contains(e.logs.String(), "eyJ") {
		t.Fatalf("a token reached the log: %s", e.logs)
	}
}

func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	e := newAPIEnv(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		r := newRequest(t, e, "GET", "/api/tasks", "", nil)
		r.Header.Set("Authorization", scheme+" "+e.token("alice"))
		if w := serve(e, r); w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", scheme, w.Code, w.Body)
		}
	}
}

// stubAuth answers every token with err, or with a principal for user.
type stubAuth struct {
	user string
	err  error
}

func (a stubAuth) Verify(context.Context, string) (auth.Principal, error) {
	if a.err != nil {
		return auth.Principal{}, a.err
	}
	return auth.Principal{UserID: a.user}, nil
}

func TestAuthUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		retry string
	}{
		{"sentinel", auth.ErrUnavailable, "5"},
		{"with retry after", &auth.UnavailableError{RetryAfter: 2500 * time.Millisecond, Err: errors.New("dial tcp: refused")}, "3"},
		{"wrapped", fmt.Errorf("verify: %w", auth.ErrUnavailable), "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, noStore(t), func(c *Config) { c.Auth = stubAuth{err: tc.err} })
			w := e.do(call{method: "GET", path: "/api/tasks", user: "alice"})
			p := decodeProblem(t, w, http.StatusServiceUnavailable)
			wantBody(t, p.Detail, "the keys to verify the token cannot be fetched right now; retry shortly")
			wantHeader(t, w.Header(), "Retry-After", tc.retry)
			wantHeader(t, w.Header(), "WWW-Authenticate", "")
		})
	}
}

// A verifier error outside its contract is a 500 that names only the
// request id; the cause is logged.
func TestAuthUnexpectedError(t *testing.T) {
	e := newAPIEnv(t, noStore(t), func(c *Config) { c.Auth = stubAuth{err: errors.New("verifier exploded: key #3")} })
	r := newRequest(t, e, "GET", "/api/tasks", "alice", nil)
	r.Header.Set("X-Request-ID", "req-auth-bug")
	w := serve(e, r)
	p := decodeProblem(t, w, http.StatusInternalServerError)
	wantBody(t, w.Body.String(), `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error (request id req-auth-bug)","instance":"/api/tasks"}`+"\n")
	_ = p
	if !strings.Contains(e.logs.String(), "verifier exploded: key #3") || !strings.Contains(e.logs.String(), "req-auth-bug") {
		t.Fatalf("the cause is not logged with the request id: %s", e.logs)
	}
}

// A {user_id} that is not the token's user is refused before the body is
// read and before any database access, on every operation.
func TestForbiddenBeforeStore(t *testing.T) {
	e := newAPIEnv(t, noStore(t))
	for _, c := range []call{
		{method: "GET", path: "/api/bob/tasks"},
		{method: "GET", path: "/api/bob/tasks/?status=nonsense"},
		{method: "POST", path: "/api/bob/tasks", body: `{"title":"x"}`},
		{method: "POST", path: "/api/bob/tasks", body: `not json`, ct: "text/plain"},
		{method: "GET", path: "/api/bob/tasks/1"},
		{method: "GET", path: "/api/bob/tasks/abc"},
		{method: "PUT", path: "/api/bob/tasks/1", body: `{"title":"x"}`},
		{method: "PATCH", path: "/api/bob/tasks/1", body: `{"title":"x"}`},
		{method: "DELETE", path: "/api/bob/tasks/1"},
		{method: "PATCH", path: "/api/bob/tasks/1/complete", ct: "application/json"},
		{method: "GET", path: "/api/Alice/tasks"},
		{method: "GET", path: "/api/alice%20/tasks"},
	} {
		c.user = "alice"
		w := e.do(c)
		p := decodeProblem(t, w, http.StatusForbidden)
		wantBody(t, p.Detail, "the user id in the path is not the user of the token")
		if p.Errors != nil {
			t.Fatalf("%s %s: errors %v", c.method, c.path, p.Errors)
		}
	}
}

// User ids are opaque strings: one that needs escaping in a path works in
// the user path style, and Location escapes it.
func TestUserIDNeedingEscapes(t *testing.T) {
	e := newAPIEnv(t)
	const user = "ann smith/ü"
	w := e.mustDo(call{method: "POST", path: "/api/ann%20smith%2F%C3%BC/tasks", user: user, body: `{"title":"a"}`}, http.StatusCreated)
	wantHeader(t, w.Header(), "Location", "/api/ann%20smith%2F%C3%BC/tasks/1")
	e.mustDo(call{method: "GET", path: "/api/ann%20smith%2F%C3%BC/tasks/1", user: user}, http.StatusOK)
}

func TestRateLimit(t *testing.T) {
	e := newAPIEnv(t, func(c *Config) { c.RateLimit = 2; c.RateBurst = 3 })
	get := func(user string) *http.Response {
		return e.do(call{method: "GET", path: "/api/tasks", user: user}).Result()
	}
	for i := range 3 {
		if r := get("alice"); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	w := e.do(call{method: "GET", path: "/api/tasks", user: "alice"})
	p := decodeProblem(t, w, http.StatusTooManyRequests)
	wantBody(t, p.Detail, "too many requests for this user; retry after 1 s")
	wantHeader(t, w.Header(), "Retry-After", "1")
	// Other users have their own bucket.
	if r := get("bob"); r.StatusCode != http.StatusOK {
		t.Fatalf("bob: %d", r.StatusCode)
	}
	// Half a second refills one token at 2/s.
	e.clock.Advance(500 * time.Millisecond)
	if r := get("alice"); r.StatusCode != http.StatusOK {
		t.Fatalf("after refill: %d", r.StatusCode)
	}
	if r := get("alice"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after the refill was used: %d", r.StatusCode)
	}
	// Refused tokens do not reach the limiter.
	for range 5 {
		e.do(call{method: "GET", path: "/api/tasks"})
	}
	e.clock.Advance(time.Second)
	if r := get("alice"); r.StatusCode != http.StatusOK {
		t.Fatalf("after a second: %d", r.StatusCode)
	}
}

func TestRateLimitOff(t *testing.T) {
	e := newAPIEnv(t)
	for i := range 300 {
		if w := e.do(call{method: "GET", path: "/api/tasks/1", user: "alice"}); w.Code != http.StatusNotFound {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
}

func TestUserLimiter(t *testing.T) {
	start := apiEpoch
	l := newUserLimiter(10, 0)
	if l.burst != 10 || l.idle != time.Second {
		t.Fatalf("burst %d idle %v, want 10 and 1s", l.burst, l.idle)
	}
	for i := range 10 {
		if _, ok := l.allow("a", start); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	if wait, ok := l.allow("a", start); ok || wait != 1 {
		t.Fatalf("11th request: ok %v wait %d", ok, wait)
	}

	slow := newUserLimiter(0.1, 1)
	slow.allow("a", start)
	if wait, ok := slow.allow("a", start.Add(time.Second)); ok || wait != 9 {
		t.Fatalf("at 0.1/s a second after: ok %v wait %d, want 9", ok, wait)
	}

	// Buckets that have refilled are dropped once per sweep interval.
	l.allow("b", start)
	l.allow("c", start.Add(sweepInterval))
	if len(l.buckets) != 1 {
		t.Fatalf("buckets after a sweep: %d, want 1 (c)", len(l.buckets))
	}
	// The map is bounded: a full map drops its least recently seen bucket.
	l.max = 3
	at := start.Add(sweepInterval)
	l.allow("d", at.Add(time.Millisecond))
	l.allow("e", at.Add(2*time.Millisecond))
	l.allow("f", at.Add(3*time.Millisecond))
	if _, ok := l.buckets["c"]; ok || len(l.buckets) != 3 {
		t.Fatalf("buckets %v, want d, e, f", keys(l.buckets))
	}

	if off := newUserLimiter(0, 5); off != nil {
		t.Fatal("a rate of 0 must turn the limiter off")
	}
	var off *userLimiter
	if _, ok := off.allow("a", start); !ok {
		t.Fatal("a nil limiter must allow everything")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestQuotable(t *testing.T) {
	if got := quotable("bad \"sig\" \\ é\x01"); got != "bad 'sig' ' " {
		t.Fatalf("quotable: %q", got)
	}
}
