package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

var cacheT0 = time.Unix(1795626702, 0)

func sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(3)
	p := Principal{UserID: "u", ExpiresAt: cacheT0.Add(time.Hour)}
	for i := range 5 {
		c.put(sum(fmt.Sprint(i)), p, 0, cacheT0)
	}
	if n := c.len(); n != 3 {
		t.Fatalf("len = %d, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := c.get(sum(fmt.Sprint(i)), cacheT0); ok != want {
			t.Errorf("entry %d present = %v, want %v (oldest evicted first)", i, ok, want)
		}
	}
	// Storing a present token again does not take a second slot.
	c.put(sum("4"), p, 0, cacheT0)
	c.put(sum("5"), p, 0, cacheT0)
	if _, ok := c.get(sum("2"), cacheT0); ok {
		t.Error("entry 2 survived; the re-put of 4 must not have evicted 3 instead")
	}
	if _, ok := c.get(sum("3"), cacheT0); !ok {
		t.Error("entry 3 evicted by a re-put")
	}
}

func TestTokenCacheNeverBeyondExp(t *testing.T) {
	c := newTokenCache(10)
	exp := cacheT0.Add(time.Minute)
	c.put(sum("a"), Principal{UserID: "u", ExpiresAt: exp}, 0, cacheT0)
	if _, ok := c.get(sum("a"), exp.Add(-time.Nanosecond)); !ok {
		t.Error("miss just before exp")
	}
	if _, ok := c.get(sum("a"), exp); ok {
		t.Error("hit at exp")
	}
	// Accepted thanks to the leeway, after exp: not stored.
	c.put(sum("b"), Principal{UserID: "u", ExpiresAt: exp}, 0, exp.Add(time.Second))
	if n := c.len(); n != 1 {
		t.Errorf("len = %d, want 1: an expired token was stored", n)
	}
}

func TestTokenCachePurge(t *testing.T) {
	c := newTokenCache(10)
	p := Principal{UserID: "u", ExpiresAt: cacheT0.Add(time.Hour)}
	gen := c.generation()
	c.put(sum("a"), p, gen, cacheT0)
	c.purge()
	if _, ok := c.get(sum("a"), cacheT0); ok {
		t.Error("hit after purge")
	}
	// A verification that started before the purge is not stored.
	c.put(sum("b"), p, gen, cacheT0)
	if _, ok := c.get(sum("b"), cacheT0); ok {
		t.Error("stale-generation put was stored")
	}
	c.put(sum("c"), p, c.generation(), cacheT0)
	if _, ok := c.get(sum("c"), cacheT0); !ok {
		t.Error("put after purge not stored")
	}
}

// A cached token skips signature verification (shown by changing the secret
// under it) and only while unexpired; with the cache off, every call verifies.
func TestVerifierCacheSkipsVerification(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := cacheT0
	clock := func() time.Time { return now }
	tok, err := Mint(secret, "u", time.Hour, cacheT0)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, -1} {
		v, err := New(Config{Secret: secret, Now: clock, CacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		now = cacheT0
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		v.secret = []byte("another-secret-another-secret-xx")
		_, err = v.Verify(context.Background(), tok)
		var ite *InvalidTokenError
		if size == 0 && err != nil {
			t.Errorf("cache on: second Verify = %v, want a cache hit", err)
		}
		if size == -1 && (!errors.As(err, &ite) || ite.Code != CodeBadSignature) {
			t.Errorf("cache off: second Verify = %v, want bad_signature", err)
		}
		if size == 0 {
			// At exp the cache no longer answers: the full check runs (and fails
			// on the signature first, as the secret is still the other one).
			now = cacheT0.Add(time.Hour)
			_, err = v.Verify(context.Background(), tok)
			if !errors.As(err, &ite) || ite.Code != CodeBadSignature {
				t.Errorf("cache on, at exp, other secret: %v, want bad_signature", err)
			}
			v.secret = secret
			_, err = v.Verify(context.Background(), tok)
			if !errors.As(err, &ite) || ite.Code != CodeExpired {
				t.Errorf("cache on, at exp: %v, want expired", err)
			}
		}
	}
}
