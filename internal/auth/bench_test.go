package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
)

// benchVerify verifies the same token repeatedly: with the cache on, every
// call after the first is a cache hit; with it off, each is a full check.
func benchVerify(b *testing.B, cfg auth.Config, token string) {
	cfg.Now = func() time.Time { return t0 }
	v := newVerifier(b, cfg)
	if err := v.RefreshJWKS(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func hs256Bench(b *testing.B, cacheSize int) {
	tok := authtest.HMAC(b, "HS256", []byte(authtest.Secret), authtest.SecretClaims("user-1", t0, time.Hour))
	benchVerify(b, auth.Config{Secret: []byte(authtest.Secret), CacheSize: cacheSize}, tok)
}

func eddsaBench(b *testing.B, cacheSize int) {
	k := authtest.NewKey(b, "EdDSA")
	srv := authtest.NewJWKSServer(b, k)
	tok := k.Sign(b, authtest.BetterAuthClaims("dBGzgh0cAljFvX7xUWhn9Wjvpdmlojjs", origin, t0))
	benchVerify(b, auth.Config{JWKSURL: srv.URL(), Issuer: origin, Audience: []string{origin}, CacheSize: cacheSize}, tok)
}

func BenchmarkVerifyHS256(b *testing.B)       { hs256Bench(b, -1) }
func BenchmarkVerifyHS256Cached(b *testing.B) { hs256Bench(b, 0) }
func BenchmarkVerifyEdDSA(b *testing.B)       { eddsaBench(b, -1) }
func BenchmarkVerifyEdDSACached(b *testing.B) { eddsaBench(b, 0) }
