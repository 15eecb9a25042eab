// Package authtest mints real tokens for tests of packages that authenticate
// with package auth: HMAC tokens signed with a shared secret, asymmetric tokens
// (EdDSA, ES256/384/512, RS256/384/512, PS256/384/512) signed with generated
// keys, hand-crafted tokens for attacks, a JWKS server (jwks.go) and a clock.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Secret is a shared secret long enough for auth.New, for tests only.
const Secret = "authtest-shared-secret-0123456789abcdef"

// Claims is a token payload.
type Claims = map[string]any

// Header is a JOSE header, or the fields to change in one: see Key.SignWithHeader.
type Header = map[string]any

// BetterAuthClaims returns the payload Better Auth's jwt() plugin issues for a
// user at now: the user object plus sub, iat, exp (now + 15 min), iss and aud,
// both origin.
func BetterAuthClaims(sub, origin string, now time.Time) Claims {
	return Claims{
		"id":            sub,
		"sub":           sub,
		"name":          "Test User",
		"email":         sub + "@example.com",
		"emailVerified": true,
		"image":         nil,
		"createdAt":     now.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
		"updatedAt":     now.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
		"iat":           now.Unix(),
		"exp":           now.Add(15 * time.Minute).Unix(),
		"iss":           origin,
		"aud":           origin,
	}
}

// SecretClaims returns the payload frontends mint with BETTER_AUTH_SECRET:
// {sub, email, iat, exp}.
func SecretClaims(sub string, now time.Time, ttl time.Duration) Claims {
	return Claims{
		"sub":   sub,
		"email": sub + "@example.com",
		"iat":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
	}
}

// HMAC signs claims with secret using alg (HS256, HS384 or HS512), header
// {"alg":alg,"typ":"JWT"} as jose's SignJWT writes it.
func HMAC(t testing.TB, alg string, secret []byte, claims Claims) string {
	t.Helper()
	return HMACWithHeader(t, alg, secret, Header{"typ": "JWT"}, claims)
}

// HMACWithHeader is HMAC with extra header fields; a nil value removes a field.
func HMACWithHeader(t testing.TB, alg string, secret []byte, header Header, claims Claims) string {
	t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("authtest: unknown alg %q", alg)
	}
	return sign(t, m, secret, merge(Header{"alg": alg}, header), claims)
}

// Key is a generated signing key and its public JWK.
type Key struct {
	Alg string // token alg
	Kid string // the JWK's kid and the token header's; change it freely

	// JWKAlg, when true, puts "alg" in the public JWK, as Better Auth does.
	JWKAlg bool

	private crypto.Signer
}

// NewKey generates a key for alg with a random 32-character kid, the shape
// Better Auth uses. RSA keys (RS*, PS*) are 2048 bits.
func NewKey(t testing.TB, alg string) *Key {
	t.Helper()
	k := &Key{Alg: alg, Kid: RandomKid(), JWKAlg: true}
	var err error
	switch alg {
	case "EdDSA":
		_, k.private, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		k.private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k.private, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		k.private, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k.private, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("authtest: NewKey: unsupported alg %q", alg)
	}
	if err != nil {
		t.Fatalf("authtest: generate %s key: %v", alg, err)
	}
	return k
}

// NewRSAKey generates an RSA key of the given size for alg (RS* or PS*), for
// tests of key size limits.
func NewRSAKey(t testing.TB, alg string, bits int) *Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("authtest: generate RSA key: %v", err)
	}
	return &Key{Alg: alg, Kid: RandomKid(), JWKAlg: true, private: priv}
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.private.Public() }

// Sign signs claims with header {"alg":k.Alg,"kid":k.Kid}, Better Auth's shape
// (no typ).
func (k *Key) Sign(t testing.TB, claims Claims) string {
	t.Helper()
	return k.SignWithHeader(t, nil, claims)
}

// SignWithHeader signs claims with {"alg":k.Alg,"kid":k.Kid} changed by header:
// its fields are added or replace those, a nil value removes one (e.g.
// Header{"kid": nil} for a token without kid). The signature is always made
// with k's algorithm, whatever header["alg"] says.
func (k *Key) SignWithHeader(t testing.TB, header Header, claims Claims) string {
	t.Helper()
	return sign(t, jwt.GetSigningMethod(k.Alg), k.private, merge(Header{"alg": k.Alg, "kid": k.Kid}, header), claims)
}

// JWK returns the public JWK, as Better Auth publishes it: kty, crv/x/y or
// n/e, kid, and alg when JWKAlg is set.
func (k *Key) JWK() map[string]any {
	j := map[string]any{"kid": k.Kid}
	if k.JWKAlg {
		j["alg"] = k.Alg
	}
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		j["kty"], j["crv"], j["x"] = "OKP", "Ed25519", b64(pub)
	case *ecdsa.PublicKey:
		raw, _ := pub.Bytes() // 0x04 || x || y
		size := (len(raw) - 1) / 2
		j["kty"], j["crv"] = "EC", pub.Curve.Params().Name
		j["x"], j["y"] = b64(raw[1:1+size]), b64(raw[1+size:])
	case *rsa.PublicKey:
		j["kty"], j["n"], j["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	}
	return j
}

// JWKS returns the document {"keys":[…]} publishing keys.
func JWKS(keys ...*Key) []byte {
	jwks := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		jwks = append(jwks, k.JWK())
	}
	b, _ := json.Marshal(map[string]any{"keys": jwks})
	return b
}

// Raw assembles a token from any header and payload (JSON-encoded unless they
// are []byte) and signature bytes, without signing: for alg none, forged
// signatures and malformed parts.
func Raw(header, payload any, sig []byte) string {
	return segment(header) + "." + segment(payload) + "." + b64(sig)
}

func segment(v any) string {
	if b, ok := v.([]byte); ok {
		return b64(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("authtest: Raw: " + err.Error())
	}
	return b64(b)
}

// RandomKid returns a random 32-character alphanumeric key id.
func RandomKid() string {
	return (rand.Text() + rand.Text())[:32]
}

func sign(t testing.TB, m jwt.SigningMethod, key any, header Header, claims Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	tok.Header = header
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("authtest: sign %s: %v", m.Alg(), err)
	}
	return s
}

func merge(base, changes Header) Header {
	out := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Clock is a settable clock for auth.Config.Now. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
