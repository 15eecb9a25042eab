package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
)

// jwksFixture is a verifier on a test JWKS server with a settable clock.
type jwksFixture struct {
	srv      *authtest.JWKSServer
	clock    *authtest.Clock
	v        *auth.Verifier
	logs     *syncBuffer
	refreshs chan bool
}

func newJWKSFixture(t *testing.T, mutate func(*auth.Config), keys ...*authtest.Key) *jwksFixture {
	t.Helper()
	f := &jwksFixture{
		srv:      authtest.NewJWKSServer(t, keys...),
		clock:    authtest.NewClock(t0),
		logs:     &syncBuffer{},
		refreshs: make(chan bool, 100),
	}
	cfg := auth.Config{
		JWKSURL:            f.srv.URL(),
		Issuer:             origin,
		Audience:           []string{origin},
		Now:                f.clock.Now,
		Logger:             slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RefreshInterval:    10 * time.Minute,
		MinRefreshInterval: 10 * time.Second,
		OnJWKSRefresh:      func(ok bool) { f.refreshs <- ok },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	f.v = newVerifier(t, cfg)
	return f
}

// token mints a fresh token (distinct from earlier ones, so the verified-token
// cache cannot answer) signed by k, valid at the fixture's clock.
func (f *jwksFixture) token(t *testing.T, k *authtest.Key, sub string) string {
	t.Helper()
	c := authtest.BetterAuthClaims(sub, origin, f.clock.Now())
	c["jti"] = authtest.RandomKid()
	return k.Sign(t, c)
}

// awaitRefresh waits for the next JWKS fetch to finish and returns its outcome.
func (f *jwksFixture) awaitRefresh(t *testing.T) bool {
	t.Helper()
	select {
	case ok := <-f.refreshs:
		return ok
	case <-time.After(5 * time.Second):
		t.Fatal("no JWKS refresh within 5s")
		return false
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func wantUnavailable(t *testing.T, err error) *auth.UnavailableError {
	t.Helper()
	var ue *auth.UnavailableError
	if !errors.Is(err, auth.ErrUnavailable) || !errors.As(err, &ue) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if ue.RetryAfter < time.Second {
		t.Fatalf("RetryAfter = %v, want at least 1s", ue.RetryAfter)
	}
	return ue
}

// Concurrent first requests share one fetch.
func TestJWKSConcurrentCallersShareOneFetch(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	f.srv.SetDelay(200 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		tok := f.token(t, k, fmt.Sprintf("user-%d", i))
		wg.Go(func() {
			_, errs[i] = f.v.Verify(context.Background(), tok)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("JWKS requests = %d, want 1", n)
	}
}

// A flood of unknown kids costs one fetch per MinRefreshInterval.
func TestJWKSUnknownKidRefreshIsRateLimited(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	if _, err := f.v.Verify(context.Background(), f.token(t, k, "u")); err != nil {
		t.Fatal(err)
	}
	stranger := authtest.NewKey(t, "EdDSA")
	flood := func() {
		for range 50 {
			stranger.Kid = authtest.RandomKid()
			_, err := f.v.Verify(context.Background(), f.token(t, stranger, "u"))
			wantCode(t, err, auth.CodeUnknownKey)
		}
	}
	flood()
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("after a flood within the interval: %d requests, want 1", n)
	}
	f.clock.Advance(9 * time.Second)
	flood()
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("9s later: %d requests, want 1", n)
	}
	f.clock.Advance(time.Second)
	flood()
	if n := f.srv.Requests(); n != 2 {
		t.Fatalf("10s later: %d requests, want 2", n)
	}
}

// A key rotated in at the issuer works without restart; the old one too while
// it stays published.
func TestJWKSRotation(t *testing.T) {
	oldKey, newKey := authtest.NewKey(t, "EdDSA"), authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, oldKey)
	if _, err := f.v.Verify(context.Background(), f.token(t, oldKey, "u")); err != nil {
		t.Fatal(err)
	}
	f.srv.SetKeys(newKey, oldKey)
	f.clock.Advance(time.Minute)
	for _, k := range []*authtest.Key{newKey, oldKey, newKey} {
		p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
		wantUser(t, p, err, "u")
	}
	if n := f.srv.Requests(); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2 (first use, then the new kid)", n)
	}
}

// The set is refreshed in the background once it is older than
// RefreshInterval; a key removed at the issuer stops working, cached tokens
// signed with it included.
func TestJWKSPeriodicRefreshDropsRemovedKeys(t *testing.T) {
	a, b := authtest.NewKey(t, "EdDSA"), authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, a, b)
	cached := f.token(t, a, "u")
	if _, err := f.v.Verify(context.Background(), cached); err != nil {
		t.Fatal(err)
	}
	f.awaitRefresh(t)
	f.srv.SetKeys(b)

	f.clock.Advance(9 * time.Minute)
	if _, err := f.v.Verify(context.Background(), f.token(t, b, "u")); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("before RefreshInterval: %d requests, want 1", n)
	}

	f.clock.Advance(time.Minute)
	// This token's key is known: it is accepted at once while the refresh runs.
	p, err := f.v.Verify(context.Background(), f.token(t, b, "u"))
	wantUser(t, p, err, "u")
	if !f.awaitRefresh(t) {
		t.Fatal("refresh failed")
	}
	if n := f.srv.Requests(); n != 2 {
		t.Fatalf("after RefreshInterval: %d requests, want 2", n)
	}
	_, err = f.v.Verify(context.Background(), cached)
	wantCode(t, err, auth.CodeUnknownKey)
	_, err = f.v.Verify(context.Background(), f.token(t, a, "u"))
	wantCode(t, err, auth.CodeUnknownKey)
}

// A failed refresh keeps the last good set; an unknown kid meanwhile is 503.
func TestJWKSFailedRefreshKeepsLastGoodSet(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	if _, err := f.v.Verify(context.Background(), f.token(t, k, "u")); err != nil {
		t.Fatal(err)
	}
	f.awaitRefresh(t)
	f.srv.SetStatus(http.StatusInternalServerError)
	f.clock.Advance(11 * time.Minute)

	p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUser(t, p, err, "u")
	if f.awaitRefresh(t) {
		t.Fatal("refresh against a failing server reported success")
	}
	p, err = f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUser(t, p, err, "u")

	f.clock.Advance(4 * time.Second)
	_, err = f.v.Verify(context.Background(), f.token(t, authtest.NewKey(t, "EdDSA"), "u"))
	if ue := wantUnavailable(t, err); ue.RetryAfter != 6*time.Second {
		t.Errorf("RetryAfter = %v, want 6s (until the next fetch may start)", ue.RetryAfter)
	}
	if !strings.Contains(f.logs.String(), "JWKS fetch failed") || !strings.Contains(f.logs.String(), "status 500") {
		t.Errorf("log does not report the failed fetch:\n%s", f.logs)
	}
}

// JWKS down at start: the verifier is built anyway, answers 503 and recovers
// when the JWKS returns, without a restart.
func TestJWKSDownAtStartRecovers(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	f.srv.SetStatus(http.StatusServiceUnavailable)

	_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	if ue := wantUnavailable(t, err); ue.RetryAfter != 10*time.Second {
		t.Errorf("RetryAfter = %v, want 10s", ue.RetryAfter)
	}
	f.srv.SetStatus(http.StatusOK)
	_, err = f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err) // rate-limited: no new fetch yet
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("requests = %d, want 1", n)
	}
	f.clock.Advance(10 * time.Second)
	p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUser(t, p, err, "u")
}

func TestJWKSUnreachable(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	f.srv.Close()
	_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err)
	if err := f.v.RefreshJWKS(context.Background()); err == nil {
		t.Error("RefreshJWKS against a closed server: no error")
	}
}

func TestJWKSFetchTimeout(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, func(c *auth.Config) { c.FetchTimeout = 100 * time.Millisecond }, k)
	f.srv.SetDelay(10 * time.Second)
	start := time.Now()
	_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Verify took %v with a 100ms fetch timeout", d)
	}
}

// A caller that gives up stops waiting; the shared fetch goes on for others.
func TestJWKSCallerContextCancelled(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	f.srv.SetDelay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.v.Verify(ctx, f.token(t, k, "u"))
	wantUnavailable(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cause = %v, want the context's", err)
	}
	p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUser(t, p, err, "u")
	if n := f.srv.Requests(); n != 1 {
		t.Fatalf("requests = %d, want 1 (the second caller joined the first fetch)", n)
	}
}

func TestJWKSCloseStopsFetch(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	f.srv.SetDelay(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
		done <- err
	}()
	for f.srv.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	f.v.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	wantUnavailable(t, <-done)
}

func TestJWKSSizeCap(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	size := int64(len(authtest.JWKS(k)))

	f := newJWKSFixture(t, func(c *auth.Config) { c.MaxJWKSBytes = size }, k)
	p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUser(t, p, err, "u")

	f = newJWKSFixture(t, func(c *auth.Config) { c.MaxJWKSBytes = size - 1 }, k)
	_, err = f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err)
	if !strings.Contains(f.logs.String(), "larger than") {
		t.Errorf("log does not say the JWKS was too large:\n%s", f.logs)
	}

	// Default cap: 1 MiB.
	f = newJWKSFixture(t, nil, k)
	doc := authtest.JWKS(k)
	padded := append(doc[:len(doc)-1:len(doc)-1], []byte(`,"pad":"`+strings.Repeat("p", 1<<20)+`"}`)...)
	f.srv.SetBody(padded)
	_, err = f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err)
}

func TestJWKSRedirects(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")

	elsewhere := authtest.NewJWKSServer(t, k)
	f := newJWKSFixture(t, nil, k)
	f.srv.SetRedirect(elsewhere.URL())
	_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
	wantUnavailable(t, err)
	if n := elsewhere.Requests(); n != 0 {
		t.Fatalf("the other host got %d requests", n)
	}
	if !strings.Contains(f.logs.String(), "redirect to another host") {
		t.Errorf("log does not explain the refusal:\n%s", f.logs)
	}

	// Within the same host a redirect is followed.
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(authtest.JWKS(k)) })
	same := httptest.NewServer(mux)
	defer same.Close()
	v := newVerifier(t, auth.Config{JWKSURL: same.URL + "/old", Now: func() time.Time { return t0 }})
	p, err := v.Verify(context.Background(), k.Sign(t, authtest.BetterAuthClaims("u", origin, t0)))
	wantUser(t, p, err, "u")
}

// One unusable key is skipped and logged; the others keep working.
func TestJWKSSkipsUnusableKeys(t *testing.T) {
	good := authtest.NewKey(t, "EdDSA")
	es := authtest.NewKey(t, "ES256")
	small := authtest.NewRSAKey(t, "RS256", 1024)
	shortX := es.JWK()
	shortX["kid"], shortX["x"] = "short-x", "AAAA"
	offCurve := es.JWK()
	offCurve["kid"], offCurve["y"] = "off-curve", offCurve["x"]
	private := good.JWK()
	private["kid"], private["d"] = "private", "c2VjcmV0"
	enc := good.JWK()
	enc["kid"], enc["use"] = "enc", "enc"
	ops := good.JWK()
	ops["kid"], ops["key_ops"] = "ops", []string{"encrypt"}
	wrongAlg := good.JWK()
	wrongAlg["kid"], wrongAlg["alg"] = "wrong-alg", "RS256"
	oaep := good.JWK()
	oaep["kid"], oaep["alg"] = "oaep", "RSA-OAEP"
	dup := authtest.NewKey(t, "EdDSA").JWK()
	dup["kid"] = good.Kid
	keys := []any{
		shortX, offCurve, small.JWK(), private, enc, ops, wrongAlg, oaep,
		map[string]any{"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
		map[string]any{"kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": "AAAA"},
		map[string]any{"kty": "XYZ", "kid": "xyz"},
		"not an object",
		good.JWK(), dup, es.JWK(),
	}
	body, _ := json.Marshal(map[string]any{"keys": keys})
	f := newJWKSFixture(t, nil)
	f.srv.SetBody(body)
	for _, k := range []*authtest.Key{good, es} {
		p, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
		wantUser(t, p, err, "u")
	}
	for _, kid := range []string{"short-x", "off-curve", small.Kid, "private", "enc", "ops", "wrong-alg", "oaep", "oct"} {
		if !strings.Contains(f.logs.String(), "kid="+kid) {
			t.Errorf("no log line for skipped key %q", kid)
		}
	}
	if n := strings.Count(f.logs.String(), "JWKS key skipped"); n != 13 {
		t.Errorf("%d keys logged as skipped, want 13:\n%s", n, f.logs)
	}
	// The duplicate kid did not replace the first key.
	p, err := f.v.Verify(context.Background(), f.token(t, good, "u"))
	wantUser(t, p, err, "u")
	// A skipped key does not verify anything.
	_, err = f.v.Verify(context.Background(), f.token(t, small, "u"))
	wantCode(t, err, auth.CodeUnknownKey)
}

func TestJWKSBadDocuments(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	bad := authtest.NewRSAKey(t, "RS256", 1024)
	for name, body := range map[string]string{
		"not JSON":          "<html>",
		"keys not an array": `{"keys":{}}`,
		"no keys member":    `{"kty":"OKP"}`,
		"no usable key":     string(authtest.JWKS(bad)),
		"empty key list":    `{"keys":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newJWKSFixture(t, nil, k)
			f.srv.SetBody([]byte(body))
			_, err := f.v.Verify(context.Background(), f.token(t, k, "u"))
			wantUnavailable(t, err)
		})
	}
}

// Logs report the JWKS but never a token, whatever happens to it.
func TestLogsNeverContainTokens(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	f := newJWKSFixture(t, nil, k)
	stranger := authtest.NewKey(t, "EdDSA")
	var tokens []string
	for i := range 5 {
		if i == 3 {
			f.srv.SetStatus(http.StatusBadGateway)
		}
		for _, tok := range []string{f.token(t, k, "u"), f.token(t, stranger, "u")} {
			tokens = append(tokens, tok)
			_, _ = f.v.Verify(context.Background(), tok)
		}
		f.clock.Advance(11 * time.Minute)
	}
	f.v.Close()
	logs := f.logs.String()
	if !strings.Contains(logs, "JWKS loaded") {
		t.Fatalf("expected JWKS logs, got:\n%s", logs)
	}
	for _, tok := range tokens {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(logs, part) {
				t.Fatalf("log contains a token part %q:\n%s", part, logs)
			}
		}
	}
}
