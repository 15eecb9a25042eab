package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func load(t *testing.T, vars map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return loadConfig(fs, args, env(vars), false)
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Engine:          "sqlite",
		DatabaseURL:     "./todod.db",
		Addr:            "127.0.0.1:8000",
		Leeway:          30 * time.Second,
		CORSOrigins:     []string{"http://localhost:3000"},
		LogLevel:        slog.LevelInfo,
		LogFormat:       "json",
		RateLimit:       100,
		RateBurst:       200,
		MaxInFlight:     1024,
		ShutdownDelay:   time.Second,
		ShutdownTimeout: 20 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if !c.DevAuth() {
		t.Fatal("no secret and no JWKS URL must mean dev auth mode")
	}
}

func TestConfigPrecedence(t *testing.T) {
	vars := map[string]string{"PORT": "9000", "HOST": "0.0.0.0", "LOG_LEVEL": "debug"}
	c, err := load(t, vars, "-port", "9100")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9100" {
		t.Errorf("flag must win over env: addr %q", c.Addr)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("LOG_LEVEL from env not applied: %v", c.LogLevel)
	}
	c, err = load(t, map[string]string{"ADDR": "127.0.0.1:7000", "PORT": "9000"})
	if err != nil || c.Addr != "127.0.0.1:7000" {
		t.Errorf("ADDR must override HOST/PORT: %q %v", c.Addr, err)
	}
}

func TestConfigDotEnv(t *testing.T) {
	dir := t.TempDir()
	dotenv := "# comment\nexport DATABASE_URL=\"postgresql+asyncpg://u:p@db:5432/app\"\nPORT=8100\nCORS_ORIGINS='http://a.test, http://b.test/'\nLOG_LEVEL=warn # trailing comment\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup, err := envLookup(env(map[string]string{"PORT": "8200"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c, err := loadConfig(fs, nil, lookup, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine != "postgres" || c.DatabaseURL != "postgres://u:p@db:5432/app" {
		t.Errorf("database from .env: %s %s", c.Engine, c.DatabaseURL)
	}
	if c.Addr != "127.0.0.1:8200" {
		t.Errorf("the real environment must win over .env: %s", c.Addr)
	}
	if !reflect.DeepEqual(c.CORSOrigins, []string{"http://a.test", "http://b.test"}) {
		t.Errorf("CORS origins: %q", c.CORSOrigins)
	}
	if c.LogLevel != slog.LevelWarn {
		t.Errorf("LOG_LEVEL with a trailing comment: %v", c.LogLevel)
	}

	missing, err := envLookup(env(map[string]string{"X": "1"}), t.TempDir())
	if err != nil || missing("X") != "1" {
		t.Fatalf("no .env must fall back to the environment: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("NOEQUALS\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := envLookup(env(nil), dir); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a malformed .env must be reported with its line: %v", err)
	}
}

func TestNormalizeDatabaseURL(t *testing.T) {
	tests := []struct {
		in, engine, dsn string
	}{
		{"sqlite:///./todod.db", "sqlite", "./todod.db"},
		{"sqlite:///data/todo.db", "sqlite", "data/todo.db"},
		{"sqlite:////var/lib/todod/todo.db", "sqlite", "/var/lib/todod/todo.db"},
		{"file:todo.db?_pragma=busy_timeout(1000)", "sqlite", "file:todo.db?_pragma=busy_timeout(1000)"},
		{"postgres://u:p@h:5432/db", "postgres", "postgres://u:p@h:5432/db"},
		{"postgresql://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"postgresql+asyncpg://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"postgresql+psycopg://u:p@h/db?sslmode=require", "postgres", "postgres://u:p@h/db?sslmode=require"},
		{"postgresql+asyncpg://u:p@h/db?ssl=require", "postgres", "postgres://u:p@h/db?sslmode=require"},
		{
			"postgresql://neondb_owner:pw@ep-x-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
			"postgres",
			"postgres://neondb_owner:pw@ep-x-pooler.eu-central-1.aws.neon.tech/neondb?channel_binding=require&sslmode=require",
		},
	}
	for _, tt := range tests {
		engine, dsn, err := normalizeDatabaseURL(tt.in)
		if err != nil || engine != tt.engine || dsn != tt.dsn {
			t.Errorf("normalizeDatabaseURL(%q) = %q, %q, %v; want %q, %q", tt.in, engine, dsn, err, tt.engine, tt.dsn)
		}
	}
	for _, bad := range []string{"mysql://u@h/db", "sqlite://relative.db", "sqlite:///:memory:", "sqlite:///", "postgres://u:p@h:badport/db", ""} {
		_, _, err := normalizeDatabaseURL(bad)
		if err == nil {
			t.Errorf("normalizeDatabaseURL(%q) must fail", bad)
			continue
		}
		if strings.Contains(err.Error(), ":p@") {
			t.Errorf("error for %q leaks the password: %v", bad, err)
		}
	}
}

func TestConfigDirectURL(t *testing.T) {
	c, err := load(t, map[string]string{
		"DATABASE_URL":          "postgresql://u:p@ep-x-pooler.neon.tech/db?sslmode=require",
		"DATABASE_URL_UNPOOLED": "postgresql+asyncpg://u:p@ep-x.neon.tech/db?ssl=require",
	})
	if err != nil || c.DirectURL != "postgres://u:p@ep-x.neon.tech/db?sslmode=require" {
		t.Fatalf("DirectURL %q, %v", c.DirectURL, err)
	}
	_, err = load(t, map[string]string{"DATABASE_URL_UNPOOLED": "postgres://u@h/db"})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL_UNPOOLED") {
		t.Fatalf("an unpooled URL beside SQLite must be refused: %v", err)
	}
}

func TestConfigAuth(t *testing.T) {
	c, err := load(t, map[string]string{"BETTER_AUTH_URL": "http://localhost:3000/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKSURL != "http://localhost:3000/api/auth/jwks" || c.JWKSIssuer != "http://localhost:3000" ||
		!reflect.DeepEqual(c.JWKSAudience, []string{"http://localhost:3000"}) || c.Issuer != "" || c.Audience != nil || c.DevAuth() {
		t.Fatalf("JWKS mode defaults: %+v", c)
	}
	c, err = load(t, map[string]string{"BETTER_AUTH_URL": "https://app.test/api/auth", "JWT_AUDIENCE": "a, b", "JWT_ISSUER": "https://issuer.test"})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKSURL != "https://app.test/api/auth/jwks" || c.Issuer != "https://issuer.test" || !reflect.DeepEqual(c.Audience, []string{"a", "b"}) ||
		c.JWKSIssuer != "" || c.JWKSAudience != nil {
		t.Fatalf("explicit issuer/audience and a base URL with /api/auth: %+v", c)
	}
	c, err = load(t, map[string]string{"BETTER_AUTH_URL": "http://localhost:3000", "JWT_JWKS_URL": "http://keys.test/jwks"})
	if err != nil || c.JWKSURL != "http://keys.test/jwks" {
		t.Fatalf("JWT_JWKS_URL must override the derived URL: %q %v", c.JWKSURL, err)
	}
	// The origin as Better Auth writes it (new URL(baseURL).origin).
	for base, origin := range map[string]string{
		"https://App.Example.COM/api/auth": "https://app.example.com",
		"https://app.example.com:443/":     "https://app.example.com",
		"HTTP://localhost:80":              "http://localhost",
		"http://localhost:3000":            "http://localhost:3000",
		"https://app.example.com:8443":     "https://app.example.com:8443",
		"http://[::1]:3000/":               "http://[::1]:3000",
		"http://[::1]:80":                  "http://[::1]",
		"http://[0:0:0:0:0:0:0:1]:3000":    "http://[::1]:3000",
		"https://app.example.com:0443":     "https://app.example.com",
		"http://localhost:03000":           "http://localhost:3000",
	} {
		c, err = load(t, map[string]string{"BETTER_AUTH_URL": base})
		if err != nil || c.JWKSIssuer != origin || !reflect.DeepEqual(c.JWKSAudience, []string{origin}) {
			t.Errorf("BETTER_AUTH_URL %s: issuer %q audience %q (%v), want %s", base, c.JWKSIssuer, c.JWKSAudience, err, origin)
		}
	}
	c, err = load(t, map[string]string{"BETTER_AUTH_SECRET": "0123456789abcdef0123456789abcdef"})
	if err != nil || c.DevAuth() || c.Issuer != "" || c.Audience != nil {
		t.Fatalf("secret mode checks no iss/aud unless set: %+v %v", c, err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"JWT_LEEWAY": "soon"}, "JWT_LEEWAY"},
		{map[string]string{"PORT": "99999"}, "port"},
		{map[string]string{"RATE_LIMIT": "-1"}, "RATE_LIMIT"},
		{map[string]string{"RATE_BURST": "0"}, "RATE_BURST"},
		{map[string]string{"MAX_IN_FLIGHT": "-1"}, "MAX_IN_FLIGHT"},
		{map[string]string{"CORS_ORIGINS": "*"}, "CORS_ORIGINS"},
		{map[string]string{"BETTER_AUTH_URL": "localhost:3000"}, "BETTER_AUTH_URL"},
		{map[string]string{"JWT_JWKS_URL": "ftp://x/jwks"}, "JWT_JWKS_URL"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "-3s"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_DELAY": "later"}, "SHUTDOWN_DELAY"},
	}
	for _, tt := range tests {
		_, err := load(t, tt.vars)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one naming %s", tt.vars, err, tt.want)
		}
	}
	if _, err := load(t, nil, "extra"); err == nil {
		t.Error("a stray argument must be refused")
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("postgres", "postgres://user:hunter2@db:5432/app?sslmode=require")
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "user:xxxxx@db") {
		t.Fatalf("redactURL = %q", got)
	}
	if got := redactURL("sqlite", "./todod.db"); got != "./todod.db" {
		t.Fatalf("sqlite paths are shown as they are: %q", got)
	}
}
