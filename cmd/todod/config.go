package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything todod can be told, built by loadConfig from flags, the
// environment and a .env file, in that order of precedence.
type Config struct {
	Engine      string // "sqlite" or "postgres"
	DatabaseURL string // normalised: a postgres:// URL, or the SQLite file path
	// DirectURL is a direct (unpooled) PostgreSQL URL for what needs a
	// session, which a transaction-mode pooler does not keep: migrations (a
	// session-level lock) and LISTEN for live events. "" means DatabaseURL.
	DirectURL string
	Addr      string // host:port to listen on

	Secret        []byte // BETTER_AUTH_SECRET
	BetterAuthURL string
	JWKSURL       string
	Issuer        string   // JWT_ISSUER: checked on every token
	Audience      []string // JWT_AUDIENCE: checked on every token
	// JWKSIssuer and JWKSAudience default to the Better Auth origin and apply
	// to JWKS-verified tokens only, so HS256 tokens minted by a frontend
	// without iss/aud keep working when both modes are on.
	JWKSIssuer   string
	JWKSAudience []string
	Leeway       time.Duration

	CORSOrigins []string
	LogLevel    slog.Level
	LogFormat   string // "json" or "text"

	RateLimit       float64 // requests per second per user; 0 turns the limit off
	RateBurst       int
	MaxInFlight     int           // requests served at once before load is shed; 0: no limit
	ShutdownDelay   time.Duration // serving with readiness 503 before the drain starts
	ShutdownTimeout time.Duration
}

// DevAuth reports whether no real authentication is configured, so todod runs
// in dev auth mode with a generated secret.
func (c Config) DevAuth() bool { return len(c.Secret) == 0 && c.JWKSURL == "" }

// configVar documents one variable: its name, the flag that overrides it, and
// its default. The README's configuration table lists the same rows.
type configVar struct {
	env, flag, def, usage string
}

var configVars = []configVar{
	{"DATABASE_URL", "database-url", "sqlite:///./todod.db", "postgres://… (also postgresql://, postgresql+asyncpg://, postgresql+psycopg://) or sqlite:///path / file:path"},
	{"DATABASE_URL_UNPOOLED", "database-url-unpooled", "", "direct (unpooled) PostgreSQL URL for migrations and LISTEN, e.g. Neon's; default: DATABASE_URL"},
	{"BETTER_AUTH_SECRET", "", "", "shared secret for HS256/384/512 tokens (at least 32 bytes)"},
	{"BETTER_AUTH_URL", "better-auth-url", "", "Better Auth base URL; turns on JWKS verification from <url>/api/auth/jwks"},
	{"JWT_JWKS_URL", "jwks-url", "", "explicit JWKS URL (overrides the derived one)"},
	{"JWT_ISSUER", "jwt-issuer", "", "expected iss (JWKS mode default: the origin of BETTER_AUTH_URL)"},
	{"JWT_AUDIENCE", "jwt-audience", "", "expected aud, comma-separated, any match (JWKS mode default: the origin of BETTER_AUTH_URL)"},
	{"JWT_LEEWAY", "jwt-leeway", "30s", "clock skew allowed on exp, nbf, iat"},
	{"HOST", "host", "127.0.0.1", "listen host"},
	{"PORT", "port", "8000", "listen port"},
	{"ADDR", "addr", "", "listen address host:port (overrides HOST and PORT)"},
	{"CORS_ORIGINS", "cors-origins", "http://localhost:3000", "allowed browser origins, comma-separated (FRONTEND_URL is read too)"},
	{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "log-format", "", "json or text (default: text on a terminal, else json)"},
	{"RATE_LIMIT", "rate-limit", "100", "requests per second per user (token bucket); 0 turns it off"},
	{"RATE_BURST", "rate-burst", "200", "token bucket size per user"},
	{"MAX_IN_FLIGHT", "max-in-flight", "1024", "most requests served at once; more wait up to 100 ms, then get 503 with Retry-After (0: no limit)"},
	{"SHUTDOWN_DELAY", "shutdown-delay", "1s", "after SIGTERM, how long todod keeps serving with /readyz at 503, so load balancers stop sending traffic first"},
	{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "how long in-flight requests may take to finish on SIGTERM"},
}

// loadConfig builds the configuration of the serve-like subcommands. lookup
// reads the environment merged with .env (environment wins); flags win over
// both. stderrIsTerminal picks the default log format.
func loadConfig(fs *flag.FlagSet, args []string, lookup func(string) string, stderrIsTerminal bool) (Config, error) {
	vals := make(map[string]*string, len(configVars))
	for _, v := range configVars {
		val := lookup(v.env)
		if v.env == "CORS_ORIGINS" && val == "" {
			val = lookup("FRONTEND_URL")
		}
		if val == "" {
			val = v.def
		}
		p := new(string)
		*p = val
		vals[v.env] = p
		if v.flag != "" {
			fs.StringVar(p, v.flag, val, v.usage+" ($"+v.env+")")
		}
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	get := func(name string) string { return strings.TrimSpace(*vals[name]) }

	var c Config
	var errs []error
	var err error

	c.Engine, c.DatabaseURL, err = normalizeDatabaseURL(get("DATABASE_URL"))
	if err != nil {
		errs = append(errs, err)
	}
	if raw := get("DATABASE_URL_UNPOOLED"); raw != "" {
		engine, dsn, err := normalizeDatabaseURL(raw)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("DATABASE_URL_UNPOOLED: %w", err))
		case engine != "postgres" || c.Engine != "postgres":
			errs = append(errs, errors.New("DATABASE_URL_UNPOOLED is for PostgreSQL: both it and DATABASE_URL must be postgres:// URLs"))
		default:
			c.DirectURL = dsn
		}
	}

	if s := lookup("BETTER_AUTH_SECRET"); s != "" {
		c.Secret = []byte(s)
	}
	c.BetterAuthURL = strings.TrimRight(get("BETTER_AUTH_URL"), "/")
	c.JWKSURL = get("JWT_JWKS_URL")
	var origin string
	if c.BetterAuthURL != "" {
		u, err := url.Parse(c.BetterAuthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("BETTER_AUTH_URL %q is not an http(s) URL", c.BetterAuthURL))
		} else {
			origin = webOrigin(u)
			if c.JWKSURL == "" {
				// Better Auth mounts its routes under /api/auth; accept a base URL
				// given with or without that suffix.
				c.JWKSURL = strings.TrimSuffix(c.BetterAuthURL, "/api/auth") + "/api/auth/jwks"
			}
		}
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("JWT_JWKS_URL %q is not an http(s) URL", c.JWKSURL))
		}
	}
	c.Issuer = get("JWT_ISSUER")
	c.Audience = splitList(get("JWT_AUDIENCE"))
	if c.JWKSURL != "" && origin != "" {
		// Better Auth's jwt() plugin sets iss and aud to its base URL's origin.
		if c.Issuer == "" {
			c.JWKSIssuer = origin
		}
		if len(c.Audience) == 0 {
			c.JWKSAudience = []string{origin}
		}
	}
	if c.Leeway, err = parseDuration("JWT_LEEWAY", get("JWT_LEEWAY")); err != nil {
		errs = append(errs, err)
	}

	c.Addr = get("ADDR")
	if c.Addr == "" {
		c.Addr = net.JoinHostPort(get("HOST"), get("PORT"))
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Addr, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("listen port %q is not a port number", port))
	}

	c.CORSOrigins = splitList(get("CORS_ORIGINS"))
	for _, o := range c.CORSOrigins {
		if o == "*" {
			errs = append(errs, errors.New("CORS_ORIGINS must list origins: '*' cannot be combined with credentials"))
		}
	}

	switch strings.ToLower(get("LOG_LEVEL")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info", "":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", get("LOG_LEVEL")))
	}
	switch f := strings.ToLower(get("LOG_FORMAT")); f {
	case "":
		c.LogFormat = "json"
		if stderrIsTerminal {
			c.LogFormat = "text"
		}
	case "json", "text":
		c.LogFormat = f
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json or text", f))
	}

	if c.RateLimit, err = strconv.ParseFloat(get("RATE_LIMIT"), 64); err != nil || c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("RATE_LIMIT %q: want a number of requests per second, 0 for none", get("RATE_LIMIT")))
	}
	if c.RateBurst, err = strconv.Atoi(get("RATE_BURST")); err != nil || c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("RATE_BURST %q: want a positive integer", get("RATE_BURST")))
	}
	if c.MaxInFlight, err = strconv.Atoi(get("MAX_IN_FLIGHT")); err != nil || c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("MAX_IN_FLIGHT %q: want a number of requests, 0 for no limit", get("MAX_IN_FLIGHT")))
	}
	if c.ShutdownDelay, err = parseDuration("SHUTDOWN_DELAY", get("SHUTDOWN_DELAY")); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout, err = parseDuration("SHUTDOWN_TIMEOUT", get("SHUTDOWN_TIMEOUT")); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func parseDuration(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a duration such as 30s or 1m", name, s)
	}
	return d, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.TrimRight(p, "/"))
		}
	}
	return out
}

// normalizeDatabaseURL accepts the spellings users already have in their .env
// for the FastAPI backend and returns the engine and what it opens.
func normalizeDatabaseURL(raw string) (engine, dsn string, err error) {
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, "sqlite://"):
		// sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
		path := raw[len("sqlite://"):]
		if !strings.HasPrefix(path, "/") {
			return "", "", fmt.Errorf("DATABASE_URL %q: write sqlite:///relative.db or sqlite:////absolute/path.db", raw)
		}
		path = path[1:]
		if path == "" || path == ":memory:" {
			return "", "", errors.New("DATABASE_URL: SQLite needs a file path (an in-memory database would lose every task on restart)")
		}
		return "sqlite", path, nil
	case strings.HasPrefix(lower, "file:"):
		return "sqlite", raw, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"),
		strings.HasPrefix(lower, "postgresql+"), strings.HasPrefix(lower, "postgres+"):
		u, err := url.Parse(raw)
		if err != nil {
			// url.Parse errors quote the URL, password included.
			return "", "", errors.New("DATABASE_URL is not a valid URL")
		}
		// SQLAlchemy's driver suffixes (+asyncpg, +psycopg, +psycopg2) name the
		// Python driver, not anything the server sees.
		u.Scheme = "postgres"
		q := u.Query()
		// asyncpg spells the TLS mode ?ssl=require; libpq and pgx say sslmode.
		if ssl := q.Get("ssl"); ssl != "" {
			q.Del("ssl")
			if q.Get("sslmode") == "" {
				if ssl == "true" {
					ssl = "require"
				}
				q.Set("sslmode", ssl)
			}
		}
		u.RawQuery = q.Encode()
		return "postgres", u.String(), nil
	default:
		return "", "", errors.New("DATABASE_URL: want postgres://…, postgresql+asyncpg://…, sqlite:///path or file:path")
	}
}

// redactURL hides the password in a database URL for logs.
func redactURL(engine, dsn string) string {
	if engine != "postgres" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// readDotEnv reads KEY=VALUE lines from r: blank lines and # comments are
// skipped, an "export " prefix is allowed, and values may be single- or
// double-quoted.
func readDotEnv(r io.Reader) (map[string]string, error) {
	vals := make(map[string]string)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf(".env line %d: want KEY=VALUE", n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		} else if i := strings.Index(val, " #"); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
		vals[key] = val
	}
	return vals, sc.Err()
}

// envLookup merges the real environment with a .env file in dir; the real
// environment wins. A missing .env is not an error.
func envLookup(getenv func(string) string, dir string) (func(string) string, error) {
	f, err := os.Open(dir + "/.env")
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dot, err := readDotEnv(f)
	if err != nil {
		return nil, err
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dot[k]
	}, nil
}

// webOrigin is the origin of an http(s) URL as the WHATWG URL standard (and so
// Better Auth, which takes its issuer from new URL(baseURL).origin) writes
// it: scheme and host in lower case, an IPv6 address in its canonical form,
// the port as a plain number, the scheme's default port dropped. Hosts
// outside ASCII (which the standard turns into punycode) are kept as given:
// set JWT_ISSUER and JWT_AUDIENCE for those.
func webOrigin(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + ip.String() + "]"
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10)
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}
