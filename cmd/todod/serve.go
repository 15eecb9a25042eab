package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/httpapi"
	"github.com/todod/todod/internal/postgres"
	"github.com/todod/todod/internal/sqlite"
	"github.com/todod/todod/internal/todo"
)

// Server timeouts. Header and body reads are bounded so that slow clients cannot
// hold connections; the write timeout is generous because lists can be large.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 32 << 10
	devTokenTTL       = 24 * time.Hour
	devUser           = "dev-user"
)

// engineStore is a todo.Store that can also migrate its schema.
type engineStore interface {
	todo.Store
	Migrate(ctx context.Context) error
	Collectors() []prometheus.Collector
	PurgeExpired(ctx context.Context, now time.Time) error
}

// purgeInterval is how often expired tombstones and idempotency keys are
// deleted. Both are kept longer than promised (30 days, 24 h), so an hour's
// lag only costs a little disk.
const purgeInterval = time.Hour

// purgeLoop calls PurgeExpired at once and then every interval until ctx ends.
// A failure is logged and retried at the next tick: nothing depends on it.
func purgeLoop(ctx context.Context, store interface {
	PurgeExpired(context.Context, time.Time) error
}, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := store.PurgeExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
			logger.Warn("purging expired tombstones and idempotency keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// migrateDatabase applies the migrations, over the direct URL when one is
// configured, else through store.
func migrateDatabase(ctx context.Context, c Config, store engineStore, logger *slog.Logger) error {
	if c.DirectURL == "" {
		return store.Migrate(ctx)
	}
	direct, err := postgres.Open(ctx, c.DirectURL, postgres.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("opening DATABASE_URL_UNPOOLED: %w", err)
	}
	defer direct.Close()
	return direct.Migrate(ctx)
}

// openStore opens (but does not migrate) the configured engine.
func openStore(ctx context.Context, c Config, logger *slog.Logger) (engineStore, error) {
	switch c.Engine {
	case "postgres":
		return postgres.Open(ctx, c.DatabaseURL, postgres.Options{Logger: logger, ListenURL: c.DirectURL})
	case "sqlite":
		return sqlite.Open(ctx, c.DatabaseURL, sqlite.Options{Logger: logger})
	}
	return nil, fmt.Errorf("unknown engine %q", c.Engine)
}

// dataDir is where dev mode keeps its secret: beside the SQLite file, or the
// working directory for PostgreSQL.
func dataDir(c Config) string {
	if c.Engine != "sqlite" {
		return "."
	}
	p := strings.TrimPrefix(c.DatabaseURL, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return filepath.Dir(p)
}

func devSecretPath(c Config) string { return filepath.Join(dataDir(c), "todod.dev-secret") }

// devSecret returns the dev auth mode secret, creating it (mode 0600) on first
// use, so that tokens printed by one start keep working after a restart and
// `todod token` can sign with it.
func devSecret(c Config) ([]byte, error) {
	path := devSecretPath(c)
	if b, err := os.ReadFile(path); err == nil && len(b) >= auth.MinSecretLen {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("dev auth mode: saving the generated secret: %w", err)
	}
	return []byte(secret), nil
}

// newVerifier builds the token verifier of c; in dev auth mode it uses the dev secret.
func newVerifier(c Config, logger *slog.Logger, onJWKSRefresh func(ok bool)) (*auth.Verifier, []byte, error) {
	secret := c.Secret
	if c.DevAuth() {
		s, err := devSecret(c)
		if err != nil {
			return nil, nil, err
		}
		secret = s
	}
	cfg := auth.Config{
		Secret:        secret,
		JWKSURL:       c.JWKSURL,
		Issuer:        c.Issuer,
		Audience:      c.Audience,
		JWKSIssuer:    c.JWKSIssuer,
		JWKSAudience:  c.JWKSAudience,
		Leeway:        c.Leeway,
		Logger:        logger,
		OnJWKSRefresh: onJWKSRefresh,
	}
	v, err := auth.New(cfg)
	return v, secret, err
}

// logConfig logs the effective configuration once, secrets masked.
func logConfig(logger *slog.Logger, c Config) {
	secret := "unset"
	if len(c.Secret) > 0 {
		secret = fmt.Sprintf("set (%d bytes)", len(c.Secret))
	}
	logger.Info("configuration",
		"engine", c.Engine,
		"database", redactURL(c.Engine, c.DatabaseURL),
		"direct_database", redactURL(c.Engine, c.DirectURL),
		"addr", c.Addr,
		"better_auth_secret", secret,
		"better_auth_url", c.BetterAuthURL,
		"jwks_url", c.JWKSURL,
		"jwt_issuer", c.Issuer,
		"jwt_audience", strings.Join(c.Audience, ","),
		"jwks_issuer", c.JWKSIssuer,
		"jwks_audience", strings.Join(c.JWKSAudience, ","),
		"jwt_leeway", c.Leeway.String(),
		"cors_origins", strings.Join(c.CORSOrigins, ","),
		"rate_limit", c.RateLimit,
		"rate_burst", c.RateBurst,
		"max_in_flight", c.MaxInFlight,
		"shutdown_delay", c.ShutdownDelay.String(),
		"shutdown_timeout", c.ShutdownTimeout.String(),
		"dev_auth", c.DevAuth(),
		"version", buildVersion(),
	)
}

func serve(ctx context.Context, args []string, lookup func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("todod serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := loadConfig(fs, args, lookup, isTerminal(stderr))
	if err != nil {
		return err
	}
	logger := newLogger(c, stderr)
	logConfig(logger, c)
	defer startPprof(lookup("PPROF_ADDR"), logger)()
	start := time.Now()

	store, err := openStore(ctx, c, logger)
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer store.Close()
	if err := migrateDatabase(ctx, c, store, logger); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}

	// The verifier exists before the server that counts its JWKS fetches.
	var metricsSink atomic.Pointer[httpapi.Server]
	verifier, secret, err := newVerifier(c, logger, func(ok bool) {
		if s := metricsSink.Load(); s != nil {
			s.JWKSRefreshed(ok)
		}
	})
	if err != nil {
		return err
	}

	var shuttingDown atomic.Bool
	srv := httpapi.NewServer(httpapi.Config{
		Store:     store,
		Auth:      verifier,
		Logger:    logger,
		RateLimit: c.RateLimit,
		RateBurst: c.RateBurst,
		Version:   buildVersion(),
		Ops: httpapi.OpsConfig{
			Logger:      logger,
			CORSOrigins: c.CORSOrigins,
			Version:     buildVersion(),
			MaxInFlight: c.MaxInFlight,
			Collectors:  store.Collectors(),
			Ready: func(ctx context.Context) error {
				if shuttingDown.Load() {
					return errors.New("shutting down")
				}
				return store.Ping(ctx)
			},
		},
	})

	metricsSink.Store(srv)
	defer verifier.Close()
	if c.JWKSURL != "" {
		// Fetch the keys now so a wrong URL shows in the log at start; a
		// failure is not fatal: the verifier retries when tokens arrive.
		go func() {
			if err := verifier.RefreshJWKS(ctx); err != nil {
				logger.Warn("JWKS not reachable yet; tokens signed with its keys get 503 until it is", "jwks_url", c.JWKSURL, "err", err)
			}
		}()
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() { defer close(purged); purgeLoop(purgeCtx, store, purgeInterval, logger) }()
	// The loop must be gone before the store closes (deferred above).
	defer func() { stopPurge(); <-purged }()

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Event streams never end by themselves: end them when the drain begins,
	// so that they do not hold shutdown until SHUTDOWN_TIMEOUT.
	hs.RegisterOnShutdown(srv.CloseStreams)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	base := "http://" + displayAddr(ln.Addr().String())
	logger.Info("ready", "url", base, "startup_ms", time.Since(start).Milliseconds())
	if c.DevAuth() {
		tok, err := auth.Mint(secret, devUser, devTokenTTL, time.Now())
		if err != nil {
			return err
		}
		logger.Warn("dev auth mode: no BETTER_AUTH_SECRET or BETTER_AUTH_URL is set, so todod signs its own tokens with a generated secret; do not use this in production",
			"secret_file", devSecretPath(c))
		fmt.Fprintf(stdout, "\ntodod is running in dev auth mode. A token for user %q, valid for %s:\n\n  curl -H 'Authorization: Bearer %s' %s/api/tasks\n\nMore tokens: go run ./cmd/todod token --sub <user-id>\nAPI docs:    %s/docs\n\n",
			devUser, devTokenTTL, tok, base, base)
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Readiness turns 503 at once, while requests are still served for
	// ShutdownDelay so that load balancers see it and stop sending traffic;
	// then the listener closes and in-flight requests get the drain time.
	shuttingDown.Store(true)
	logger.Info("shutting down", "delay", c.ShutdownDelay.String(), "drain_timeout", c.ShutdownTimeout.String())
	if c.ShutdownDelay > 0 {
		select {
		case <-time.After(c.ShutdownDelay):
		case err := <-served:
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		logger.Warn("drain timeout passed; closing remaining connections", "err", err)
		hs.Close()
	}
	<-served
	logger.Info("stopped")
	return nil
}

// displayAddr turns a listen address into one a client can dial.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
