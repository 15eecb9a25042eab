package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth/authtest"
)

// TestRunWithBetterAuthJWKS is a frontend on the Better Auth jwt() plugin:
// todod is given only BETTER_AUTH_URL, fetches the keys from
// /api/auth/jwks and accepts EdDSA tokens whose iss and aud are that origin,
// while an HS256 token from an unconfigured secret is refused.
func TestRunWithBetterAuthJWKS(t *testing.T) {
	key := authtest.NewKey(t, "EdDSA")
	jwks := authtest.NewJWKSServer(t, key)
	vars := map[string]string{
		"DATABASE_URL":    "sqlite:///" + filepath.Join(t.TempDir(), "todod.db"),
		"BETTER_AUTH_URL": jwks.BaseURL(),
	}
	s := startServer(t, vars)
	if strings.Contains(s.stdout.String(), "dev auth mode") {
		t.Fatal("with BETTER_AUTH_URL, todod must not be in dev auth mode")
	}
	user := "dBGzgh0cAljFvX7xUWhn9Wjvpdmlojjs"
	token := key.Sign(t, authtest.BetterAuthClaims(user, jwks.BaseURL(), time.Now()))
	story(t, s.base, user, token)

	wrongOrigin := key.Sign(t, authtest.BetterAuthClaims(user, "http://elsewhere.test", time.Now()))
	call(t, "GET", s.base+"/api/tasks", wrongOrigin, "", 401, nil)
	forged := authtest.HMAC(t, "HS256", []byte("0123456789abcdef0123456789abcdef"), authtest.SecretClaims(user, time.Now(), time.Hour))
	call(t, "GET", s.base+"/api/tasks", forged, "", 401, nil)

	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`todod_jwks_refreshes_total{result="success"}`,
		`go_sql_open_connections{db_name="sqlite_write"}`,
		`todod_auth_failures_total{reason=`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), `todod_jwks_refreshes_total{result="success"} 0`) {
		t.Error("the JWKS fetch was not counted")
	}
	if got := jwks.Paths(); len(got) == 0 || got[0] != "/api/auth/jwks" {
		t.Errorf("JWKS fetched from %v, want /api/auth/jwks", got)
	}
}
