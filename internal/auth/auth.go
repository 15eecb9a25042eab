// Package auth verifies the bearer tokens that todod accepts: HS256/384/512
// tokens signed with the shared BETTER_AUTH_SECRET, and asymmetric tokens
// (EdDSA, ES256/384/512, RS256/384/512, PS256/384/512) issued by a Better Auth
// server's jwt() plugin, verified with the keys it publishes as a JWKS.
//
// The two families never mix: HMAC algorithms are verified only with the shared
// secret and asymmetric algorithms only with keys from the configured JWKS URL,
// so no token can make a public key serve as an HMAC secret or pick its own key.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest shared secret accepted, in bytes.
const MinSecretLen = 32

// MaxTokenBytes is the longest token Verify looks at: tokens must be shorter
// than 8 KiB. Real tokens are well under 2 KiB; anything longer is refused
// before it is decoded.
const MaxTokenBytes = 8<<10 - 1

// Defaults for the zero values of the corresponding Config fields.
const (
	DefaultRefreshInterval    = 10 * time.Minute
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxJWKSBytes       = 1 << 20
	DefaultCacheSize          = 10_000
)

// Config configures a Verifier. At least one of Secret and JWKSURL must be set.
//
// Issuer and audience are checked exactly as configured: New adds no defaults,
// the caller decides. Better Auth puts the origin of its base URL in iss and
// aud unless told otherwise; passing that origin as JWKSIssuer and
// JWKSAudience holds Better Auth's tokens to it without requiring iss and aud
// of HMAC tokens, which frontends rarely set. Issuer and Audience (JWT_ISSUER,
// JWT_AUDIENCE) apply to every token.
type Config struct {
	// Secret is the shared secret for HS256/HS384/HS512 tokens; empty disables
	// HMAC tokens. It must be at least MinSecretLen bytes.
	Secret []byte
	// JWKSURL is the JWKS endpoint (http or https); empty disables asymmetric tokens.
	JWKSURL string

	// Issuer is the iss every token must carry; empty: not checked.
	Issuer string
	// Audience lists accepted aud values (any one must appear in the token's aud,
	// a string or an array); empty: not checked.
	Audience []string
	// JWKSIssuer, when set, replaces Issuer for tokens verified with JWKS keys, so
	// HMAC tokens minted by a frontend without iss keep working next to Better
	// Auth's own tokens.
	JWKSIssuer string
	// JWKSAudience, when set, replaces Audience for tokens verified with JWKS keys.
	JWKSAudience []string

	// Leeway is the clock skew allowed on exp, nbf and iat. Negative is an error.
	Leeway time.Duration

	// HTTPClient fetches the JWKS. nil: a new client. Either way redirects are
	// followed only within the same scheme and host, at most three times.
	HTTPClient *http.Client
	// Now is the clock for token times, the verified-token cache and JWKS refresh
	// timing; nil: time.Now.
	Now func() time.Time
	// Logger receives JWKS fetch outcomes and skipped keys; never a token.
	// nil: discard.
	Logger *slog.Logger

	// RefreshInterval is the age after which the JWKS is fetched again, in the
	// background, when a token needs it; 0: DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two JWKS fetches, however many
	// tokens with unknown kids arrive; 0: DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one JWKS fetch; 0: DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxJWKSBytes caps the JWKS document size; 0: DefaultMaxJWKSBytes.
	MaxJWKSBytes int64

	// CacheSize bounds the verified-token cache (entries); 0: DefaultCacheSize;
	// negative: no cache, every token is verified in full.
	CacheSize int

	// OnFailure, if set, is called with FailureCode(err) for every error Verify
	// returns (for a metric labelled by reason).
	OnFailure func(code string)
	// OnJWKSRefresh, if set, is called after every JWKS fetch with its outcome.
	OnJWKSRefresh func(ok bool)
}

// Principal is the authenticated caller.
type Principal struct {
	UserID    string    // sub, else user_id, else id
	ExpiresAt time.Time // the token's exp
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	secret       []byte
	issuer       string
	audience     []string
	jwksIssuer   string
	jwksAudience []string
	now          func() time.Time
	parsers      map[string]*jwt.Parser // one per accepted alg
	jwks         *jwksCache             // nil without a JWKS URL
	cache        *tokenCache            // nil when disabled
	onFailure    func(code string)
}

// New returns a Verifier for cfg. It makes no network request: the JWKS is
// fetched when the first token needs it.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: neither a shared secret (BETTER_AUTH_SECRET) nor a JWKS URL is configured")
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: BETTER_AUTH_SECRET is %d bytes; it must be at least %d (make one with: openssl rand -base64 32)", len(cfg.Secret), MinSecretLen)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway %s is negative", cfg.Leeway)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
		jwksIssuer:   cfg.JWKSIssuer,
		jwksAudience: cfg.JWKSAudience,
		now:          cfg.Now,
		parsers:      make(map[string]*jwt.Parser),
		onFailure:    cfg.OnFailure,
	}
	var algs []string
	if len(cfg.Secret) > 0 {
		v.secret = append([]byte(nil), cfg.Secret...)
		algs = append(algs, hmacAlgs...)
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("auth: JWKS URL %q is not an absolute http(s) URL", cfg.JWKSURL)
		}
		v.jwks = newJWKSCache(u, cfg)
		algs = append(algs, asymmetricAlgs...)
	}
	for _, alg := range algs {
		// A parser per algorithm: the header's alg has already chosen the key, so
		// the library must accept exactly that algorithm and nothing else.
		v.parsers[alg] = jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		)
	}
	switch size := cfg.CacheSize; {
	case size == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case size > 0:
		v.cache = newTokenCache(size)
	}
	if v.jwks != nil && v.cache != nil {
		v.jwks.onKeysRemoved = v.cache.purge
	}
	return v, nil
}

// Verify checks a compact JWT and returns its principal. Errors:
// *InvalidTokenError (answer 401) or an error matching ErrUnavailable, an
// *UnavailableError (answer 503 with Retry-After).
//
// A token that verified before and has not expired is answered from a bounded
// cache keyed by its SHA-256, without repeating the signature check.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	p, err := v.verify(ctx, token)
	if err != nil && v.onFailure != nil {
		v.onFailure(FailureCode(err))
	}
	return p, err
}

func (v *Verifier) verify(ctx context.Context, token string) (Principal, error) {
	if len(token) > MaxTokenBytes {
		return Principal{}, invalid(CodeTooLarge, "token too large (8 KiB or more)")
	}
	var sum [sha256.Size]byte
	var gen uint64
	if v.cache != nil {
		sum = sha256.Sum256([]byte(token))
		if p, ok := v.cache.get(sum, v.now()); ok {
			return p, nil
		}
		gen = v.cache.generation()
	}
	h, err := parseHeader(token)
	if err != nil {
		return Principal{}, err
	}
	key, fromJWKS, err := v.keyFor(ctx, h)
	if err != nil {
		return Principal{}, err
	}
	var c claims
	if _, err := v.parsers[h.alg].ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		return Principal{}, classify(err)
	}
	issuer, audience := v.issuer, v.audience
	if fromJWKS {
		if v.jwksIssuer != "" {
			issuer = v.jwksIssuer
		}
		if len(v.jwksAudience) > 0 {
			audience = v.jwksAudience
		}
	}
	if err := c.checkIssuer(issuer); err != nil {
		return Principal{}, err
	}
	if err := c.checkAudience(audience); err != nil {
		return Principal{}, err
	}
	userID, err := c.userID()
	if err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: userID, ExpiresAt: c.exp.Time}
	if v.cache != nil {
		v.cache.put(sum, p, gen, v.now())
	}
	return p, nil
}

// keyFor returns the verification key for the token's algorithm and kid, and
// whether it came from the JWKS.
func (v *Verifier) keyFor(ctx context.Context, h header) (key any, fromJWKS bool, err error) {
	switch {
	case isHMAC(h.alg):
		if v.secret == nil {
			return nil, false, invalid(CodeAlgorithm, h.alg+" tokens are not accepted: no shared secret is configured")
		}
		return v.secret, false, nil
	case isAsymmetric(h.alg):
		if v.jwks == nil {
			return nil, false, invalid(CodeAlgorithm, h.alg+" tokens are not accepted: no JWKS is configured")
		}
		k, err := v.jwks.key(ctx, h.alg, h.kid)
		return k, true, err
	case isNone(h.alg):
		return nil, false, invalid(CodeAlgorithm, "unsigned tokens (alg none) are not accepted")
	default:
		return nil, false, invalid(CodeAlgorithm, "token algorithm is not supported")
	}
}

// RefreshJWKS fetches the JWKS now, or waits for the fetch already in flight,
// ignoring MinRefreshInterval. The command calls it at start to report whether
// the JWKS is reachable; the server starts either way. Without a JWKS URL it
// does nothing.
func (v *Verifier) RefreshJWKS(ctx context.Context) error {
	if v.jwks == nil {
		return nil
	}
	return v.jwks.refreshNow(ctx)
}

// Close stops a JWKS fetch in flight and waits for it to end. A Verifier works
// without ever being closed (no fetch outlives FetchTimeout); after Close, keys
// not yet fetched stay unavailable.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// Mint signs an HS256 token for sub that expires after ttl, in the shape
// frontends mint with BETTER_AUTH_SECRET: {sub, iat, exp}.
func Mint(secret []byte, sub string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("auth: secret is %d bytes; it must be at least %d", len(secret), MinSecretLen)
	}
	if err := checkUserID(sub); err != "" {
		return "", fmt.Errorf("auth: user id %s", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: ttl %s is not positive", ttl)
	}
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}
