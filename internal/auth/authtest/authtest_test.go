package authtest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth/authtest"
)

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeyJWKShape(t *testing.T) {
	tests := []struct {
		alg    string
		fields map[string]int // member → length of its value (0: any)
	}{
		{"EdDSA", map[string]int{"kty": 3, "crv": 7, "x": 43}},
		{"ES256", map[string]int{"kty": 2, "crv": 5, "x": 43, "y": 43}},
		{"ES384", map[string]int{"kty": 2, "crv": 5, "x": 64, "y": 64}},
		{"ES512", map[string]int{"kty": 2, "crv": 5, "x": 88, "y": 88}},
		{"RS256", map[string]int{"kty": 3, "n": 342, "e": 4}},
		{"PS256", map[string]int{"kty": 3, "n": 342, "e": 4}},
	}
	for _, tc := range tests {
		k := authtest.NewKey(t, tc.alg)
		j := k.JWK()
		if len(k.Kid) != 32 || j["kid"] != k.Kid || j["alg"] != tc.alg {
			t.Errorf("%s: kid %q alg %v", tc.alg, j["kid"], j["alg"])
		}
		for name, n := range tc.fields {
			if s, _ := j[name].(string); len(s) != n {
				t.Errorf("%s: %s = %q, want %d characters", tc.alg, name, s, n)
			}
		}
		if _, ok := j["d"]; ok {
			t.Errorf("%s: JWK has private material", tc.alg)
		}
		k.JWKAlg = false
		if _, ok := k.JWK()["alg"]; ok {
			t.Errorf("%s: alg present with JWKAlg false", tc.alg)
		}
	}
}

func TestSignHeaders(t *testing.T) {
	k := authtest.NewKey(t, "EdDSA")
	now := time.Unix(1795626702, 0)
	tok := k.Sign(t, authtest.BetterAuthClaims("u", "http://localhost:3000", now))
	parts := strings.Split(tok, ".")
	h := decodeSegment(t, parts[0])
	if len(h) != 2 || h["alg"] != "EdDSA" || h["kid"] != k.Kid {
		t.Errorf("header = %v, want exactly alg and kid (Better Auth sends no typ)", h)
	}
	p := decodeSegment(t, parts[1])
	if p["sub"] != "u" || p["id"] != "u" || p["exp"] != float64(now.Unix()+900) || p["aud"] != "http://localhost:3000" {
		t.Errorf("payload = %v", p)
	}

	h = decodeSegment(t, strings.Split(k.SignWithHeader(t, authtest.Header{"kid": nil, "jku": "x"}, nil), ".")[0])
	if _, ok := h["kid"]; ok || h["jku"] != "x" {
		t.Errorf("header = %v, want kid removed and jku added", h)
	}

	h = decodeSegment(t, strings.Split(authtest.HMAC(t, "HS512", []byte(authtest.Secret), authtest.SecretClaims("u", now, time.Hour)), ".")[0])
	if h["alg"] != "HS512" || h["typ"] != "JWT" {
		t.Errorf("HMAC header = %v", h)
	}

	if raw := authtest.Raw(map[string]any{"alg": "none"}, []byte("x"), nil); raw != "eyJhbGciOiJub25lIn0.eA." {
		t.Errorf("Raw = %q", raw)
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJWKSServer(t *testing.T) {
	a, b := authtest.NewKey(t, "EdDSA"), authtest.NewKey(t, "ES256")
	s := authtest.NewJWKSServer(t, a)
	if s.URL() != s.BaseURL()+"/api/auth/jwks" {
		t.Errorf("URL = %q, BaseURL = %q", s.URL(), s.BaseURL())
	}
	c := s.Client()
	if code, body := get(t, c, s.URL()); code != 200 || body != string(authtest.JWKS(a)) {
		t.Errorf("GET = %d %s", code, body)
	}
	s.SetKeys(a, b)
	if _, body := get(t, c, s.URL()); !strings.Contains(body, a.Kid) || !strings.Contains(body, b.Kid) {
		t.Errorf("after SetKeys: %s", body)
	}
	s.SetStatus(http.StatusBadGateway)
	if code, _ := get(t, c, s.URL()); code != http.StatusBadGateway {
		t.Errorf("SetStatus: %d", code)
	}
	s.SetStatus(http.StatusOK)
	if code, _ := get(t, c, s.BaseURL()+"/other"); code != http.StatusNotFound {
		t.Errorf("other path: %d", code)
	}
	s.SetDelay(50 * time.Millisecond)
	start := time.Now()
	get(t, c, s.URL())
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("SetDelay: answered in %v", d)
	}
	s.SetDelay(0)
	if got := s.Paths(); s.Requests() != 5 || got[3] != "/other" {
		t.Errorf("Requests = %d, Paths = %q", s.Requests(), got)
	}
	s.Close()
	if _, err := c.Get(s.URL()); err == nil {
		t.Error("closed server answered")
	}
}

func TestClock(t *testing.T) {
	t0 := time.Unix(1795626702, 0)
	c := authtest.NewClock(t0)
	c.Advance(time.Minute)
	if !c.Now().Equal(t0.Add(time.Minute)) {
		t.Errorf("Now = %v", c.Now())
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Errorf("Now = %v", c.Now())
	}
}
