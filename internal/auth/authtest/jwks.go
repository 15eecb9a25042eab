package authtest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// JWKSPath is where Better Auth publishes its JWKS, relative to BETTER_AUTH_URL.
const JWKSPath = "/api/auth/jwks"

// JWKSServer is a Better Auth stand-in that serves a JWKS at JWKSPath. Its
// keys can be rotated, and it can be made to fail, to be slow or to redirect;
// it counts every request it receives, on any path.
type JWKSServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	body     []byte
	status   int
	delay    time.Duration
	redirect string
	paths    []string
}

// NewJWKSServer starts a server publishing keys. It is closed when the test ends.
func NewJWKSServer(t testing.TB, keys ...*Key) *JWKSServer {
	t.Helper()
	s := &JWKSServer{body: JWKS(keys...), status: http.StatusOK}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *JWKSServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.RequestURI())
	body, status, delay, redirect := s.body, s.status, s.delay, s.redirect
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case r.URL.Path != JWKSPath:
		http.NotFound(w, r)
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusFound)
	case status != http.StatusOK:
		http.Error(w, http.StatusText(status), status)
	default:
		// Like Better Auth: JSON, no cache headers.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// URL is the JWKS URL (JWT_JWKS_URL).
func (s *JWKSServer) URL() string { return s.srv.URL + JWKSPath }

// BaseURL is the server's origin, what BETTER_AUTH_URL would be; Better Auth
// uses it as iss and aud.
func (s *JWKSServer) BaseURL() string { return s.srv.URL }

// Client returns an HTTP client for the server.
func (s *JWKSServer) Client() *http.Client { return s.srv.Client() }

// SetKeys publishes keys from now on (rotation).
func (s *JWKSServer) SetKeys(keys ...*Key) { s.SetBody(JWKS(keys...)) }

// SetBody serves body as the JWKS document from now on.
func (s *JWKSServer) SetBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// SetStatus answers the JWKS path with status (and no JWKS) unless it is 200.
func (s *JWKSServer) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetDelay makes every answer wait d (or until the client gives up).
func (s *JWKSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetRedirect answers the JWKS path with a 302 to location; "" stops it.
func (s *JWKSServer) SetRedirect(location string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirect = location
}

// Requests returns how many requests the server received, on any path.
func (s *JWKSServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.paths)
}

// Paths returns the request URIs received, in order.
func (s *JWKSServer) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// Close shuts the server down now (it is closed at the end of the test anyway):
// for tests of an unreachable JWKS.
func (s *JWKSServer) Close() { s.srv.Close() }
