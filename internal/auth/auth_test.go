package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
)

// t0 is the vector token's iat; tests mint their tokens around it.
var t0 = time.Unix(1795626702, 0)

const origin = "http://127.0.0.1:3000"

// vector is testdata/better-auth-eddsa.json: a token issued by a real Better
// Auth server and the JWKS it published.
type vector struct {
	Token        string          `json:"token"`
	JWKS         json.RawMessage `json:"jwks"`
	VerifyAtUnix int64           `json:"verify_at_unix"`
	Payload      struct {
		Exp int64 `json:"exp"`
	} `json:"payload"`
	Expect struct {
		UserID   string `json:"user_id"`
		Issuer   string `json:"issuer"`
		Audience string `json:"audience"`
	} `json:"expect"`
}

func loadVector(t testing.TB) vector {
	t.Helper()
	b, err := os.ReadFile("testdata/better-auth-eddsa.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func newVerifier(t testing.TB, cfg auth.Config) *auth.Verifier {
	t.Helper()
	v, err := auth.New(cfg)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// secretConfig is a shared-secret configuration with the clock at now.
func secretConfig(now time.Time) auth.Config {
	return auth.Config{Secret: []byte(authtest.Secret), Now: func() time.Time { return now }}
}

// wantCode fails unless err is an *InvalidTokenError with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ite *auth.InvalidTokenError
	if !errors.As(err, &ite) {
		t.Fatalf("error = %v, want *InvalidTokenError with code %q", err, code)
	}
	if ite.Code != code {
		t.Fatalf("code = %q (%s), want %q", ite.Code, ite.Reason, code)
	}
	if ite.Reason == "" {
		t.Fatalf("code %q has no reason", code)
	}
}

func wantUser(t *testing.T, p auth.Principal, err error, user string) {
	t.Helper()
	if err != nil {
		t.Fatalf("Verify: %v, want user %q", err, user)
	}
	if p.UserID != user {
		t.Fatalf("UserID = %q, want %q", p.UserID, user)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := auth.New(auth.Config{Secret: []byte(strings.Repeat("s", 31))})
	if err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("31-byte secret: err = %v, want a refusal saying how to make a secret", err)
	}
	if _, err := auth.New(auth.Config{Secret: []byte(strings.Repeat("s", 32))}); err != nil {
		t.Errorf("32-byte secret: %v", err)
	}
	if _, err := auth.New(auth.Config{}); err == nil {
		t.Error("no secret and no JWKS URL: accepted")
	}
	if _, err := auth.New(auth.Config{Secret: []byte(authtest.Secret), Leeway: -time.Second}); err == nil {
		t.Error("negative leeway: accepted")
	}
	for _, u := range []string{"ftp://example.com/jwks", "/api/auth/jwks", "http://", "::"} {
		if _, err := auth.New(auth.Config{JWKSURL: u}); err == nil {
			t.Errorf("JWKS URL %q: accepted", u)
		}
	}
}

func TestNewMakesNoRequest(t *testing.T) {
	srv := authtest.NewJWKSServer(t, authtest.NewKey(t, "EdDSA"))
	newVerifier(t, auth.Config{JWKSURL: srv.URL()})
	if n := srv.Requests(); n != 0 {
		t.Fatalf("New made %d JWKS requests, want 0 (lazy)", n)
	}
}

// The token a real Better Auth server issued verifies against the JWKS it published.
func TestBetterAuthVector(t *testing.T) {
	vec := loadVector(t)
	srv := authtest.NewJWKSServer(t)
	srv.SetBody(vec.JWKS)
	at := time.Unix(vec.VerifyAtUnix, 0)
	cfg := auth.Config{
		JWKSURL:  srv.URL(),
		Issuer:   vec.Expect.Issuer,
		Audience: []string{vec.Expect.Audience},
		Now:      func() time.Time { return at },
	}

	p, err := newVerifier(t, cfg).Verify(context.Background(), vec.Token)
	wantUser(t, p, err, vec.Expect.UserID)
	if want := time.Unix(vec.Payload.Exp, 0); !p.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", p.ExpiresAt, want)
	}
	if got := srv.Paths(); len(got) != 1 || got[0] != authtest.JWKSPath {
		t.Errorf("JWKS requests = %q, want one to %s", got, authtest.JWKSPath)
	}

	t.Run("expired", func(t *testing.T) {
		cfg := cfg
		cfg.Now = func() time.Time { return time.Unix(vec.Payload.Exp, 0) }
		_, err := newVerifier(t, cfg).Verify(context.Background(), vec.Token)
		wantCode(t, err, auth.CodeExpired)
	})
	t.Run("other audience", func(t *testing.T) {
		cfg := cfg
		cfg.Audience = []string{"http://localhost:3000"}
		_, err := newVerifier(t, cfg).Verify(context.Background(), vec.Token)
		wantCode(t, err, auth.CodeAudience)
	})
	t.Run("payload changed", func(t *testing.T) {
		parts := strings.Split(vec.Token, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.ReplaceAll(string(payload), vec.Expect.UserID, "someone-else")
		tok := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		_, err := newVerifier(t, cfg).Verify(context.Background(), tok)
		wantCode(t, err, auth.CodeBadSignature)
	})
}

func TestHMACAlgorithms(t *testing.T) {
	v := newVerifier(t, secretConfig(t0))
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		tok := authtest.HMAC(t, alg, []byte(authtest.Secret), authtest.SecretClaims("user-"+alg, t0, time.Hour))
		p, err := v.Verify(context.Background(), tok)
		wantUser(t, p, err, "user-"+alg)
		if want := t0.Add(time.Hour); !p.ExpiresAt.Equal(want) {
			t.Errorf("%s: ExpiresAt = %v, want %v", alg, p.ExpiresAt, want)
		}
	}
	other := authtest.HMAC(t, "HS256", []byte(strings.Repeat("x", 32)), authtest.SecretClaims("u", t0, time.Hour))
	_, err := v.Verify(context.Background(), other)
	wantCode(t, err, auth.CodeBadSignature)
}

func TestAllAsymmetricAlgorithms(t *testing.T) {
	algs := []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	var keys []*authtest.Key
	for _, alg := range algs {
		keys = append(keys, authtest.NewKey(t, alg))
	}
	srv := authtest.NewJWKSServer(t, keys...)
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL(), Issuer: origin, Audience: []string{origin}, Now: func() time.Time { return t0 }})
	for _, k := range keys {
		p, err := v.Verify(context.Background(), k.Sign(t, authtest.BetterAuthClaims("user-"+k.Alg, origin, t0)))
		wantUser(t, p, err, "user-"+k.Alg)
	}
}

// An RSA JWK without alg serves RS* and PS*; with alg it serves only that one.
func TestRSAKeyAlgBinding(t *testing.T) {
	rs := authtest.NewKey(t, "RS256")
	ps := *rs
	ps.Alg = "PS256"
	claims := authtest.BetterAuthClaims("u", origin, t0)
	now := func() time.Time { return t0 }

	srv := authtest.NewJWKSServer(t, rs) // JWK says alg RS256
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL(), Now: now})
	_, err := v.Verify(context.Background(), ps.Sign(t, claims))
	wantCode(t, err, auth.CodeAlgorithm)

	rs.JWKAlg = false
	srv2 := authtest.NewJWKSServer(t, rs)
	v2 := newVerifier(t, auth.Config{JWKSURL: srv2.URL(), Now: now})
	for _, k := range []*authtest.Key{rs, &ps} {
		p, err := v2.Verify(context.Background(), k.Sign(t, claims))
		wantUser(t, p, err, "u")
	}
}

func TestUserIDClaims(t *testing.T) {
	long := strings.Repeat("é", 255)
	tests := []struct {
		name   string
		claims map[string]any
		want   string // user id; "" means no_user_id
	}{
		{"sub", map[string]any{"sub": "alice"}, "alice"},
		{"user_id", map[string]any{"user_id": "bob"}, "bob"},
		{"id", map[string]any{"id": "carol"}, "carol"},
		{"sub wins over user_id and id", map[string]any{"sub": "alice", "user_id": "bob", "id": "carol"}, "alice"},
		{"user_id wins over id", map[string]any{"user_id": "bob", "id": "carol"}, "bob"},
		{"null sub is absent", map[string]any{"sub": nil, "user_id": "bob"}, "bob"},
		{"255 characters", map[string]any{"sub": long}, long},
		{"256 characters", map[string]any{"sub": long + "x"}, ""},
		{"empty sub", map[string]any{"sub": "", "user_id": "bob"}, ""},
		{"numeric sub", map[string]any{"sub": 42}, ""},
		{"numeric id", map[string]any{"id": 42}, ""},
		{"array sub", map[string]any{"sub": []string{"alice"}}, ""},
		{"NUL", map[string]any{"sub": "ali\x00ce"}, ""},
		{"newline", map[string]any{"sub": "alice\n"}, ""},
		{"C1 control", map[string]any{"sub": "alice\u0085"}, ""},
		{"DEL", map[string]any{"sub": "alice\x7f"}, ""},
		{"none", map[string]any{"email": "a@example.com"}, ""},
		{"case differs", map[string]any{"SUB": "alice", "Sub": "alice"}, ""},
	}
	v := newVerifier(t, secretConfig(t0))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
			for k, val := range tc.claims {
				claims[k] = val
			}
			p, err := v.Verify(context.Background(), authtest.HMAC(t, "HS256", []byte(authtest.Secret), claims))
			if tc.want == "" {
				wantCode(t, err, auth.CodeNoUserID)
				return
			}
			wantUser(t, p, err, tc.want)
		})
	}
}

// Algorithm confusion: a key never serves the other family, alg none never passes.
func TestAlgorithmConfusion(t *testing.T) {
	ed := authtest.NewKey(t, "EdDSA")
	es512 := authtest.NewKey(t, "ES512")
	rs := authtest.NewKey(t, "RS256")
	attacker := authtest.NewKey(t, "EdDSA")
	attacker.Kid = ed.Kid

	// A JWKS that also lists an HMAC (oct) key equal to bytes an attacker knows.
	octSecret := []byte("published-oct-key-material-32-bytes!!")
	doc := map[string]any{"keys": []any{ed.JWK(), es512.JWK(), rs.JWK(), map[string]any{
		"kty": "oct", "kid": "hmac", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(octSecret),
	}}}
	body, _ := json.Marshal(doc)
	srv := authtest.NewJWKSServer(t)
	srv.SetBody(body)

	edRaw := []byte(ed.Public().(ed25519.PublicKey))
	der, err := x509.MarshalPKIXPublicKey(rs.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(ed.JWK())

	claims := authtest.BetterAuthClaims("victim", origin, t0)
	hs := func(key []byte, kid string) string {
		return authtest.HMACWithHeader(t, "HS256", key, authtest.Header{"kid": kid}, claims)
	}
	withAlg := func(k *authtest.Key, alg string) string {
		return k.SignWithHeader(t, authtest.Header{"alg": alg}, claims)
	}

	jwksOnly := auth.Config{JWKSURL: srv.URL()}
	secretOnly := auth.Config{Secret: []byte(authtest.Secret)}
	both := auth.Config{JWKSURL: srv.URL(), Secret: []byte(authtest.Secret)}

	tests := []struct {
		name  string
		cfg   auth.Config
		token string
		code  string
	}{
		{"HS256 with the Ed25519 public key, JWKS only", jwksOnly, hs(edRaw, ed.Kid), auth.CodeAlgorithm},
		{"HS256 with the Ed25519 public key, both", both, hs(edRaw, ed.Kid), auth.CodeBadSignature},
		{"HS256 with the RSA public key PEM, JWKS only", jwksOnly, hs(rsaPEM, rs.Kid), auth.CodeAlgorithm},
		{"HS256 with the RSA public key PEM, both", both, hs(rsaPEM, rs.Kid), auth.CodeBadSignature},
		{"HS256 with the JWK JSON, JWKS only", jwksOnly, hs(jwkJSON, ed.Kid), auth.CodeAlgorithm},
		{"HS256 with the JWKS document, both", both, hs(body, ed.Kid), auth.CodeBadSignature},
		{"HS256 with a JWKS oct key, JWKS only", jwksOnly, hs(octSecret, "hmac"), auth.CodeAlgorithm},
		{"HS256 with a JWKS oct key, both", both, hs(octSecret, "hmac"), auth.CodeBadSignature},
		{"EdDSA with only a secret", secretOnly, ed.Sign(t, claims), auth.CodeAlgorithm},
		{"RS256 with its own kid (control)", jwksOnly, rs.Sign(t, claims), ""},
		{"RS256 header on the Ed25519 kid", jwksOnly, rs.SignWithHeader(t, authtest.Header{"kid": ed.Kid}, claims), auth.CodeAlgorithm},
		{"ES256 header on a P-521 kid", jwksOnly, authtest.NewKey(t, "ES256").SignWithHeader(t, authtest.Header{"kid": es512.Kid}, claims), auth.CodeAlgorithm},
		{"EdDSA header on the RSA kid", jwksOnly, ed.SignWithHeader(t, authtest.Header{"kid": rs.Kid}, claims), auth.CodeAlgorithm},
		{"another key under a published kid", jwksOnly, attacker.Sign(t, claims), auth.CodeBadSignature},
		{"lowercase hs256", both, authtest.Raw(map[string]any{"alg": "hs256"}, claims, []byte("sig")), auth.CodeAlgorithm},
		{"Ed25519 (fully specified) is not accepted", jwksOnly, withAlg(ed, "Ed25519"), auth.CodeAlgorithm},
		{"no alg", both, authtest.Raw(map[string]any{"kid": ed.Kid}, claims, []byte("sig")), auth.CodeMalformed},
		{"alg not a string", both, authtest.Raw(map[string]any{"alg": 1}, claims, []byte("sig")), auth.CodeMalformed},
	}
	for _, spelling := range []string{"none", "None", "NONE", "nOnE", "NoNe"} {
		for _, sig := range [][]byte{nil, []byte("signature")} {
			for name, cfg := range map[string]auth.Config{"JWKS only": jwksOnly, "secret only": secretOnly, "both": both} {
				tests = append(tests, struct {
					name  string
					cfg   auth.Config
					token string
					code  string
				}{"alg " + spelling + " " + name, cfg, authtest.Raw(map[string]any{"alg": spelling, "kid": ed.Kid}, claims, sig), auth.CodeAlgorithm})
			}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return t0 }
			p, err := newVerifier(t, tc.cfg).Verify(context.Background(), tc.token)
			if tc.code == "" {
				wantUser(t, p, err, "victim")
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestTimeClaims(t *testing.T) {
	exp, nbf, iat := t0.Add(time.Hour), t0.Add(10*time.Minute), t0.Add(5*time.Minute)
	base := func() map[string]any { return map[string]any{"sub": "u", "iat": t0.Unix(), "exp": exp.Unix()} }
	with := func(k string, v any) map[string]any {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		claims map[string]any
		leeway time.Duration
		now    time.Time
		code   string // "" accepted
	}{
		{"before exp", base(), 0, exp.Add(-time.Second), ""},
		{"at exp", base(), 0, exp, auth.CodeExpired},
		{"within leeway after exp", base(), 30 * time.Second, exp.Add(29 * time.Second), ""},
		{"at exp plus leeway", base(), 30 * time.Second, exp.Add(30 * time.Second), auth.CodeExpired},
		{"at nbf minus leeway", with("nbf", nbf.Unix()), 30 * time.Second, nbf.Add(-30 * time.Second), ""},
		{"before nbf minus leeway", with("nbf", nbf.Unix()), 30 * time.Second, nbf.Add(-31 * time.Second), auth.CodeNotYetValid},
		{"before nbf, no leeway", with("nbf", nbf.Unix()), 0, nbf.Add(-time.Second), auth.CodeNotYetValid},
		{"at iat minus leeway", with("iat", iat.Unix()), 30 * time.Second, iat.Add(-30 * time.Second), ""},
		{"before iat minus leeway", with("iat", iat.Unix()), 30 * time.Second, iat.Add(-31 * time.Second), auth.CodeNotYetValid},
		{"no exp", with("exp", nil), 30 * time.Second, t0, auth.CodeMissingExp},
		{"null exp", with("exp", json.RawMessage("null")), 30 * time.Second, t0, auth.CodeMissingExp},
		{"exp as a string", with("exp", "1795630302"), 30 * time.Second, t0, auth.CodeMalformed},
		{"exp as a boolean", with("exp", true), 30 * time.Second, t0, auth.CodeMalformed},
		{"nbf as a string", with("nbf", "1795626702"), 30 * time.Second, t0, auth.CodeMalformed},
		{"iat as a string", with("iat", "1795626702"), 30 * time.Second, t0, auth.CodeMalformed},
		{"fractional exp", with("exp", float64(exp.Unix())+0.5), 0, exp, ""},
		{"exp beyond year 9999", with("exp", 1e20), 0, t0, auth.CodeMalformed},
		{"negative exp", with("exp", -1), 0, t0, auth.CodeMalformed},
		{"no iat", with("iat", nil), 0, t0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secretConfig(tc.now)
			cfg.Leeway = tc.leeway
			p, err := newVerifier(t, cfg).Verify(context.Background(), authtest.HMAC(t, "HS256", []byte(authtest.Secret), tc.claims))
			if tc.code == "" {
				wantUser(t, p, err, "u")
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestIssuerAndAudience(t *testing.T) {
	claims := func(iss, aud any) map[string]any {
		c := map[string]any{"sub": "u", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
		if iss != nil {
			c["iss"] = iss
		}
		if aud != nil {
			c["aud"] = aud
		}
		return c
	}
	checked := secretConfig(t0)
	checked.Issuer, checked.Audience = origin, []string{origin}
	two := secretConfig(t0)
	two.Audience = []string{"https://app.example.com", origin}
	unchecked := secretConfig(t0)

	tests := []struct {
		name   string
		cfg    auth.Config
		claims map[string]any
		code   string
	}{
		{"aud string", checked, claims(origin, origin), ""},
		{"aud array", checked, claims(origin, []string{"other", origin}), ""},
		{"aud empty array", checked, claims(origin, []string{}), auth.CodeAudience},
		{"aud array of others", checked, claims(origin, []string{"other"}), auth.CodeAudience},
		{"aud trailing slash", checked, claims(origin, origin+"/"), auth.CodeAudience},
		{"aud missing", checked, claims(origin, nil), auth.CodeAudience},
		{"aud number", checked, claims(origin, 3000), auth.CodeAudience},
		{"aud array with a number", checked, claims(origin, []any{origin, 1}), auth.CodeAudience},
		{"aud case differs", checked, claims(origin, strings.ToUpper(origin)), auth.CodeAudience},
		{"iss trailing slash", checked, claims(origin+"/", origin), auth.CodeIssuer},
		{"iss missing", checked, claims(nil, origin), auth.CodeIssuer},
		{"iss other", checked, claims("https://evil.example", origin), auth.CodeIssuer},
		{"iss array", checked, claims([]string{origin}, origin), auth.CodeIssuer},
		{"second configured audience", two, claims(nil, origin), ""},
		{"first configured audience", two, claims(nil, []string{"https://app.example.com"}), ""},
		{"neither configured audience", two, claims(nil, "https://evil.example"), auth.CodeAudience},
		{"unchecked: anything", unchecked, claims("https://evil.example", []string{}), ""},
		{"unchecked: nothing", unchecked, claims(nil, nil), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newVerifier(t, tc.cfg).Verify(context.Background(), authtest.HMAC(t, "HS256", []byte(authtest.Secret), tc.claims))
			if tc.code == "" {
				wantUser(t, p, err, "u")
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

// JWKSIssuer and JWKSAudience apply to JWKS tokens only, so frontends minting
// HS256 tokens without iss keep working next to Better Auth's tokens.
func TestJWKSIssuerAppliesToJWKSTokensOnly(t *testing.T) {
	ed := authtest.NewKey(t, "EdDSA")
	srv := authtest.NewJWKSServer(t, ed)
	v := newVerifier(t, auth.Config{
		Secret: []byte(authtest.Secret), JWKSURL: srv.URL(),
		JWKSIssuer: origin, JWKSAudience: []string{origin},
		Now: func() time.Time { return t0 },
	})
	p, err := v.Verify(context.Background(), authtest.HMAC(t, "HS256", []byte(authtest.Secret), authtest.SecretClaims("hs-user", t0, time.Hour)))
	wantUser(t, p, err, "hs-user")

	p, err = v.Verify(context.Background(), ed.Sign(t, authtest.BetterAuthClaims("ba-user", origin, t0)))
	wantUser(t, p, err, "ba-user")

	c := authtest.BetterAuthClaims("ba-user", origin, t0)
	delete(c, "iss")
	_, err = v.Verify(context.Background(), ed.Sign(t, c))
	wantCode(t, err, auth.CodeIssuer)

	c = authtest.BetterAuthClaims("ba-user", origin, t0)
	c["aud"] = "http://localhost:3000"
	_, err = v.Verify(context.Background(), ed.Sign(t, c))
	wantCode(t, err, auth.CodeAudience)
}

// exactSize returns a valid HS256 token of exactly n bytes.
func exactSize(t *testing.T, n int) string {
	t.Helper()
	for _, hdr := range []authtest.Header{{"typ": "JWT"}, {"typ": "JWT", "x": "1"}, {"typ": "JWT", "x": "12"}} {
		for pad := 0; pad < n; pad++ {
			c := authtest.SecretClaims("u", t0, time.Hour)
			c["pad"] = strings.Repeat("p", pad)
			tok := authtest.HMACWithHeader(t, "HS256", []byte(authtest.Secret), hdr, c)
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	t.Fatalf("no token of %d bytes", n)
	return ""
}

func TestTokenSize(t *testing.T) {
	srv := authtest.NewJWKSServer(t, authtest.NewKey(t, "EdDSA"))
	cfg := auth.Config{Secret: []byte(authtest.Secret), JWKSURL: srv.URL(), Now: func() time.Time { return t0 }}
	v := newVerifier(t, cfg)

	p, err := v.Verify(context.Background(), exactSize(t, auth.MaxTokenBytes))
	wantUser(t, p, err, "u")

	// 8 KiB exactly: too large, whether signed or garbage.
	_, err = v.Verify(context.Background(), exactSize(t, 8<<10))
	wantCode(t, err, auth.CodeTooLarge)
	_, err = v.Verify(context.Background(), strings.Repeat("a", 8<<10))
	wantCode(t, err, auth.CodeTooLarge)

	// A megabyte that would otherwise look like a JWKS token: refused by its
	// length alone, before any decoding or key lookup.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"unknown"}`))
	huge := header + "." + strings.Repeat("A", 1<<20) + ".sig"
	start := time.Now()
	_, err = v.Verify(context.Background(), huge)
	wantCode(t, err, auth.CodeTooLarge)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1 MiB token took %v to refuse", d)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("oversized tokens caused %d JWKS requests", n)
	}
}

func TestMalformedTokens(t *testing.T) {
	good := authtest.HMAC(t, "HS256", []byte(authtest.Secret), authtest.SecretClaims("u", t0, time.Hour))
	parts := strings.Split(good, ".")
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hs := `{"alg":"HS256"}`

	// The signature's last character carries 4 unused bits (32 bytes = 42
	// characters + 2 bits): flipping one keeps the bytes but makes the
	// encoding non-canonical.
	sig := []byte(parts[2])
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig[len(sig)-1] = alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1]

	tests := map[string]string{
		"empty":                             "",
		"Better Auth session token":         "HhYh2Sfk1xKU4kdgyuXEpaUxkZFbCDMS.4vZ6i2cEXTQnNVlwwrN8ns3m1+dwgSQ43VD+qhBCWhc=",
		"two parts":                         parts[0] + "." + parts[1],
		"four parts":                        good + ".x",
		"header not base64url":              "!!!." + parts[1] + "." + parts[2],
		"header padded":                     parts[0] + "=." + parts[1] + "." + parts[2],
		"header an array":                   b64(`[1]`) + "." + parts[1] + "." + parts[2],
		"header null":                       b64(`null`) + "." + parts[1] + "." + parts[2],
		"header with crit":                  b64(`{"alg":"HS256","crit":["exp"],"exp":1}`) + "." + parts[1] + "." + parts[2],
		"kid a number":                      b64(`{"alg":"HS256","kid":7}`) + "." + parts[1] + "." + parts[2],
		"payload not JSON":                  hmacRaw(hs, "hello"),
		"payload null":                      hmacRaw(hs, "null"),
		"payload an array":                  hmacRaw(hs, `[{"sub":"u","exp":1795630302}]`),
		"payload a string":                  hmacRaw(hs, `"sub"`),
		"signature non-canonical base64url": parts[0] + "." + parts[1] + "." + string(sig),
		"whitespace":                        " " + good,
	}
	v := newVerifier(t, secretConfig(t0))
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tok)
			wantCode(t, err, auth.CodeMalformed)
		})
	}
}

// hmacRaw signs arbitrary header and payload text with HS256 and the test secret.
func hmacRaw(header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(authtest.Secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// jku, x5u, jwk and x5c never make the verifier fetch or trust a key.
func TestKeyURLHeadersIgnored(t *testing.T) {
	published := authtest.NewKey(t, "EdDSA")
	srv := authtest.NewJWKSServer(t, published)
	attacker := authtest.NewKey(t, "EdDSA")
	canary := authtest.NewJWKSServer(t, attacker)
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL(), Now: func() time.Time { return t0 }})
	claims := authtest.BetterAuthClaims("victim", origin, t0)
	urls := authtest.Header{
		"jku": canary.URL(), "x5u": canary.URL() + "/cert.pem",
		"jwk": attacker.JWK(), "x5c": []string{base64.StdEncoding.EncodeToString([]byte("not a certificate"))},
	}

	_, err := v.Verify(context.Background(), attacker.SignWithHeader(t, urls, claims))
	wantCode(t, err, auth.CodeUnknownKey)

	urls["kid"] = published.Kid
	_, err = v.Verify(context.Background(), attacker.SignWithHeader(t, urls, claims))
	wantCode(t, err, auth.CodeBadSignature)

	urls["kid"] = nil
	_, err = v.Verify(context.Background(), attacker.SignWithHeader(t, urls, claims))
	wantCode(t, err, auth.CodeBadSignature) // the one published key was used, not the embedded one

	if n := canary.Requests(); n != 0 {
		t.Fatalf("canary got %d requests, want 0", n)
	}
	// The legitimate key still works with the same headers present.
	urls["kid"] = published.Kid
	p, err := v.Verify(context.Background(), published.SignWithHeader(t, urls, claims))
	wantUser(t, p, err, "victim")
}

// A kid is only a map key: path, SQL or URL characters in it do nothing.
func TestHostileKids(t *testing.T) {
	published := authtest.NewKey(t, "EdDSA")
	published.Kid = `../x' OR '1'='1 --`
	srv := authtest.NewJWKSServer(t, published)
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL(), Now: func() time.Time { return t0 }})
	claims := authtest.BetterAuthClaims("u", origin, t0)

	p, err := v.Verify(context.Background(), published.Sign(t, claims))
	wantUser(t, p, err, "u")

	attacker := authtest.NewKey(t, "EdDSA")
	for _, kid := range []string{
		"../../../../etc/passwd", "' OR '1'='1' --", "%2e%2e%2f%2e%2e%2f", "http://evil.example/jwks",
		"/api/auth/jwks?kid=x", "\x00", "kid\r\nX-Injected: 1", strings.Repeat("k", 4000), "{{.}}", "${jndi:ldap://x}",
	} {
		_, err := v.Verify(context.Background(), attacker.SignWithHeader(t, authtest.Header{"kid": kid}, claims))
		wantCode(t, err, auth.CodeUnknownKey)
	}
	// One fetch for the first token; the hostile kids were looked up in the
	// cached set (the refresh they ask for is rate-limited) and never reached
	// the server in any form.
	if got := srv.Paths(); len(got) != 1 || got[0] != authtest.JWKSPath {
		t.Fatalf("JWKS requests = %q, want exactly one to %s", got, authtest.JWKSPath)
	}
}

func TestTokenWithoutKid(t *testing.T) {
	claims := authtest.BetterAuthClaims("u", origin, t0)
	noKid := authtest.Header{"kid": nil}
	now := func() time.Time { return t0 }
	ed1, ed2, rs := authtest.NewKey(t, "EdDSA"), authtest.NewKey(t, "EdDSA"), authtest.NewKey(t, "RS256")

	one := authtest.NewJWKSServer(t, ed1, rs)
	v := newVerifier(t, auth.Config{JWKSURL: one.URL(), Now: now})
	for _, k := range []*authtest.Key{ed1, rs} {
		p, err := v.Verify(context.Background(), k.SignWithHeader(t, noKid, claims))
		wantUser(t, p, err, "u")
	}

	two := authtest.NewJWKSServer(t, ed1, ed2)
	v = newVerifier(t, auth.Config{JWKSURL: two.URL(), Now: now})
	_, err := v.Verify(context.Background(), ed1.SignWithHeader(t, noKid, claims))
	wantCode(t, err, auth.CodeUnknownKey)
}

func TestMint(t *testing.T) {
	tok, err := auth.Mint([]byte(authtest.Secret), "dev-user", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newVerifier(t, secretConfig(t0.Add(59*time.Minute))).Verify(context.Background(), tok)
	wantUser(t, p, err, "dev-user")
	if !p.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ExpiresAt = %v, want %v", p.ExpiresAt, t0.Add(time.Hour))
	}
	if _, err := auth.Mint([]byte("short"), "u", time.Hour, t0); err == nil {
		t.Error("Mint with a short secret: no error")
	}
	if _, err := auth.Mint([]byte(authtest.Secret), "", time.Hour, t0); err == nil {
		t.Error("Mint with an empty user id: no error")
	}
	if _, err := auth.Mint([]byte(authtest.Secret), "u", 0, t0); err == nil {
		t.Error("Mint with no ttl: no error")
	}
}

func TestOnFailureCodes(t *testing.T) {
	var codes []string
	cfg := secretConfig(t0)
	cfg.OnFailure = func(code string) { codes = append(codes, code) }
	v := newVerifier(t, cfg)
	ok := authtest.HMAC(t, "HS256", []byte(authtest.Secret), authtest.SecretClaims("u", t0, time.Hour))
	expired := authtest.HMAC(t, "HS256", []byte(authtest.Secret), authtest.SecretClaims("u", t0.Add(-2*time.Hour), time.Hour))
	for _, tok := range []string{ok, "x", expired, ok} {
		_, _ = v.Verify(context.Background(), tok)
	}
	if want := []string{auth.CodeMalformed, auth.CodeExpired}; strings.Join(codes, ",") != strings.Join(want, ",") {
		t.Fatalf("OnFailure codes = %q, want %q", codes, want)
	}
	if got := auth.FailureCode(&auth.UnavailableError{Err: errors.New("x")}); got != auth.CodeUnavailable {
		t.Errorf("FailureCode(unavailable) = %q", got)
	}
}

// Reasons are shown to clients: they must never contain the token or its parts.
func TestReasonsNeverEchoTheToken(t *testing.T) {
	v := newVerifier(t, secretConfig(t0))
	for _, claims := range []map[string]any{
		{"sub": "u", "exp": t0.Add(-time.Hour).Unix()},
		{"sub": strings.Repeat("x", 300), "exp": t0.Add(time.Hour).Unix()},
		{"sub": "u", "exp": "soon"},
		{"sub": "u"},
	} {
		tok := authtest.HMAC(t, "HS256", []byte(authtest.Secret), claims)
		_, err := v.Verify(context.Background(), tok)
		var ite *auth.InvalidTokenError
		if !errors.As(err, &ite) {
			t.Fatalf("err = %v", err)
		}
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(ite.Reason, part) || strings.Contains(err.Error(), part) {
				t.Errorf("reason %q contains a token part", ite.Reason)
			}
		}
	}
}
