// Package auth verifies the bearer tokens that todod accepts: HS256/384/512
// tokens signed with the shared BETTER_AUTH_SECRET, and asymmetric tokens issued
// by a Better Auth server's jwt() plugin, verified with its JWKS.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest shared secret accepted, in bytes.
const MinSecretLen = 32

// Config configures a Verifier. At least one of Secret and JWKSURL must be set.
type Config struct {
	Secret     []byte        // shared secret for HS256/HS384/HS512; empty disables HMAC tokens
	JWKSURL    string        // JWKS endpoint; empty disables asymmetric tokens
	Issuer     string        // expected iss; empty: not checked
	Audience   []string      // expected aud, any match; empty: not checked
	Leeway     time.Duration // clock skew allowed on exp, nbf, iat
	HTTPClient *http.Client  // for JWKS fetches; nil: a client with a timeout and no cross-host redirects
	Now        func() time.Time
	Logger     *slog.Logger
}

// Principal is the authenticated caller.
type Principal struct {
	UserID    string
	ExpiresAt time.Time
}

// InvalidTokenError says why a token was refused. Reason is safe to show to the
// client: it never contains the token.
type InvalidTokenError struct {
	Reason string
}

func (e *InvalidTokenError) Error() string { return "invalid token: " + e.Reason }

// ErrUnavailable means the token may be valid but its key could not be obtained
// (the JWKS endpoint is unreachable). Callers answer 503 with Retry-After.
var ErrUnavailable = errors.New("token keys unavailable")

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: neither a shared secret nor a JWKS URL is configured")
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: BETTER_AUTH_SECRET is %d bytes; it must be at least %d (make one with: openssl rand -base64 32)", len(cfg.Secret), MinSecretLen)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks a compact JWT and returns its principal. Errors: *InvalidTokenError
// (answer 401) or ErrUnavailable (answer 503).
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
	).ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.cfg.Secret, nil })
	if err != nil {
		return Principal{}, &InvalidTokenError{Reason: "invalid token"}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Principal{}, &InvalidTokenError{Reason: "token has no user id"}
	}
	exp, _ := claims.GetExpirationTime()
	return Principal{UserID: sub, ExpiresAt: exp.Time}, nil
}

// Mint signs an HS256 token for sub that expires after ttl, in the shape
// frontends mint with BETTER_AUTH_SECRET: {sub, iat, exp}.
func Mint(secret []byte, sub string, ttl time.Duration, now time.Time) (string, error) {
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
