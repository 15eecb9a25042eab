package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxRedirects bounds the same-host redirects a JWKS fetch follows.
const maxRedirects = 3

// jwksCache holds the keys of one JWKS URL. It fetches lazily, when a token
// needs a key: the first time, when the set is older than refreshEvery (in the
// background; the token's key is already known), and when a kid is unknown. At
// most one fetch runs at a time, every caller that needs its result waits for
// that one, and fetches start at most once per minInterval, so a flood of
// tokens with random kids costs one request per interval. A failed fetch keeps
// the last good set.
type jwksCache struct {
	url           *url.URL
	client        *http.Client
	log           *slog.Logger
	now           func() time.Time
	refreshEvery  time.Duration
	minInterval   time.Duration
	timeout       time.Duration
	maxBytes      int64
	onRefresh     func(ok bool)
	onKeysRemoved func() // set by New: the token cache forgets tokens of removed keys

	// ctx bounds every fetch; close cancels it and waits for the fetch goroutine.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	set         *keySet       // last good set; nil until a fetch succeeds
	fetchedAt   time.Time     // when set was fetched
	attempted   bool          // a fetch has started at least once
	attemptedAt time.Time     // when the last fetch started
	lastErr     error         // outcome of the last finished fetch
	inflight    chan struct{} // closed when the running fetch ends; nil when none runs
}

func newJWKSCache(u *url.URL, cfg Config) *jwksCache {
	c := &jwksCache{
		url:          u,
		log:          cfg.Logger,
		now:          cfg.Now,
		refreshEvery: orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		minInterval:  orDefault(cfg.MinRefreshInterval, DefaultMinRefreshInterval),
		timeout:      orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
		maxBytes:     orDefault(cfg.MaxJWKSBytes, DefaultMaxJWKSBytes),
		onRefresh:    cfg.OnJWKSRefresh,
	}
	client := &http.Client{}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		client = &cp
	}
	client.CheckRedirect = sameHostRedirects(client.CheckRedirect)
	c.client = client
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func orDefault[T time.Duration | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// sameHostRedirects refuses redirects that leave the scheme and host of the
// first request: a JWKS served elsewhere would let whoever controls that
// place choose the keys. then, the client's own policy, runs after ours.
func sameHostRedirects(then func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if len(via) > maxRedirects {
			return fmt.Errorf("JWKS fetch: more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
			return fmt.Errorf("JWKS fetch: redirect to another host (%s) refused", req.URL.Redacted())
		}
		if then != nil {
			return then(req, via)
		}
		return nil
	}
}

// key returns the public key for a token's alg and kid, fetching the JWKS when
// needed. Errors: *InvalidTokenError or *UnavailableError.
func (c *jwksCache) key(ctx context.Context, alg, kid string) (any, error) {
	c.mu.Lock()
	now := c.now()
	k, err := c.set.find(alg, kid)
	if err == nil {
		if now.Sub(c.fetchedAt) >= c.refreshEvery && c.inflight == nil && c.mayFetchLocked(now) {
			c.startLocked(now)
		}
		c.mu.Unlock()
		return k.pub, nil
	}
	if errors.Is(err, errKeyNotFound) {
		done := c.inflight
		if done == nil && c.mayFetchLocked(now) {
			done = c.startLocked(now)
		}
		c.mu.Unlock()
		if done != nil {
			select {
			case <-done:
			case <-ctx.Done():
				return nil, &UnavailableError{RetryAfter: time.Second, Err: fmt.Errorf("waiting for the JWKS: %w", ctx.Err())}
			}
		}
		c.mu.Lock()
		k, err = c.set.find(alg, kid)
	}
	defer c.mu.Unlock()
	switch {
	case err == nil:
		return k.pub, nil
	case errors.Is(err, errKeyMismatch):
		return nil, invalid(CodeAlgorithm, "token algorithm "+alg+" does not match its key")
	case errors.Is(err, errAmbiguous):
		return nil, invalid(CodeUnknownKey, "token has no kid and several keys could have signed it")
	case c.lastErr != nil:
		// The key may be one the JWKS would now list: not the client's fault.
		return nil, &UnavailableError{RetryAfter: c.retryAfterLocked(c.now()), Err: c.lastErr}
	default:
		return nil, invalid(CodeUnknownKey, "token signed with an unknown key")
	}
}

func (c *jwksCache) mayFetchLocked(now time.Time) bool {
	return !c.attempted || now.Sub(c.attemptedAt) >= c.minInterval
}

// retryAfterLocked is the time until a new fetch may start, in whole seconds,
// at least one.
func (c *jwksCache) retryAfterLocked(now time.Time) time.Duration {
	wait := c.minInterval - now.Sub(c.attemptedAt)
	if wait < time.Second {
		return time.Second
	}
	return (wait + time.Second - 1).Truncate(time.Second)
}

// startLocked starts a fetch in its own goroutine, so that no caller's
// cancellation aborts it for the others, and returns its done channel.
func (c *jwksCache) startLocked(now time.Time) chan struct{} {
	done := make(chan struct{})
	c.inflight = done
	c.attempted = true
	c.attemptedAt = now
	c.wg.Add(1)
	go c.run(done)
	return done
}

func (c *jwksCache) run(done chan struct{}) {
	defer c.wg.Done()
	defer close(done)
	set, skipped, err := c.fetch()
	for _, s := range skipped {
		c.log.Warn("JWKS key skipped", "url", c.url.Redacted(), "index", s.index, "kid", s.kid, "reason", s.reason)
	}
	c.mu.Lock()
	old := c.set
	if err == nil {
		c.set = set
		c.fetchedAt = c.now()
	}
	c.lastErr = err
	c.inflight = nil
	c.mu.Unlock()

	switch {
	case err != nil:
		kept := 0
		if old != nil {
			kept = len(old.keys)
		}
		c.log.Warn("JWKS fetch failed; keeping the last good keys", "url", c.url.Redacted(), "err", err, "kept_keys", kept)
	case old == nil || !old.hasAll(set) || !set.hasAll(old):
		c.log.Info("JWKS loaded", "url", c.url.Redacted(), "keys", len(set.keys), "kids", kids(set))
	default:
		c.log.Debug("JWKS refreshed, unchanged", "url", c.url.Redacted(), "keys", len(set.keys))
	}
	if err == nil && !old.hasAll(set) && c.onKeysRemoved != nil {
		c.onKeysRemoved()
	}
	if c.onRefresh != nil {
		c.onRefresh(err == nil)
	}
}

func kids(s *keySet) []string {
	out := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k.kid)
	}
	slices.Sort(out)
	return out
}

// fetch downloads and parses the JWKS.
func (c *jwksCache) fetch() (*keySet, []skippedKey, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("JWKS fetch: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("JWKS fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("JWKS fetch: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("JWKS fetch: read body: %w", err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, nil, fmt.Errorf("JWKS fetch: document larger than %d bytes", c.maxBytes)
	}
	set, skipped, err := parseKeySet(body)
	if err != nil {
		return nil, skipped, fmt.Errorf("JWKS fetch: %w", err)
	}
	if len(set.keys) == 0 {
		return nil, skipped, errors.New("JWKS fetch: no usable key in the set")
	}
	return set, skipped, nil
}

// refreshNow fetches now (or joins the fetch in flight) and returns its outcome.
func (c *jwksCache) refreshNow(ctx context.Context) error {
	c.mu.Lock()
	done := c.inflight
	if done == nil {
		done = c.startLocked(c.now())
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// close cancels a fetch in flight and waits for it.
func (c *jwksCache) close() {
	c.cancel()
	c.wg.Wait()
}
