package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/time/rate"

	"github.com/todod/todod/internal/auth"
)

// Authenticator verifies a bearer token; *auth.Verifier is the real one.
// Errors: *auth.InvalidTokenError (401) or auth.ErrUnavailable (503).
type Authenticator interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
}

// realm names the protection space in WWW-Authenticate.
const realm = "todod"

// scope is what the API middleware learned about a request and hands to the
// handlers: whose tasks it may touch and under which path it was asked.
type scope struct {
	userID string
	// prefix is "/api" or "/api/<user_id>": links and Location headers use
	// the same path style as the request.
	prefix string
}

type scopeKey struct{}

func scopeFrom(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeKey{}).(scope)
	return sc
}

// userPathPrefix starts the routes of the hackathon path style, whose
// {user_id} must be the token's user.
const userPathPrefix = "/api/{user_id}/"

// apiMiddleware runs before huma parses anything of a request to an
// operation. It records the route, then, for /api routes, authenticates the
// bearer token, applies the user's rate limit and checks that a {user_id} in
// the path is the token's user: all before the request is read further and
// before any database access.
func (s *Server) apiMiddleware(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	info := infoFrom(ctx.Context())
	info.Route = op.Path
	if !strings.HasPrefix(op.Path, "/api/") {
		next(ctx)
		return
	}
	r, _ := unwrapContext(ctx)
	p, err := s.authenticate(r)
	if err != nil {
		s.refuse(ctx, err)
		return
	}
	info.UserID = p.UserID
	if wait, ok := s.limiter.allow(p.UserID, s.now()); !ok {
		ctx.SetHeader("Retry-After", strconv.Itoa(wait))
		writeProblemCtx(ctx, newProblem(http.StatusTooManyRequests,
			"too many requests for this user; retry after "+strconv.Itoa(wait)+" s"))
		return
	}
	sc := scope{userID: p.UserID, prefix: "/api"}
	if strings.HasPrefix(op.Path, userPathPrefix) {
		if ctx.Param("user_id") != p.UserID {
			writeProblemCtx(ctx, newProblem(http.StatusForbidden,
				"the user id in the path is not the user of the token"))
			return
		}
		sc.prefix = "/api/" + url.PathEscape(p.UserID)
	}
	next(huma.WithValue(ctx, scopeKey{}, sc))
}

// authenticate returns the principal of the request's bearer token.
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	token, err := auth.BearerToken(r)
	if err != nil {
		return auth.Principal{}, err
	}
	return s.auth.Verify(r.Context(), token)
}

// refuse answers a request whose token was not accepted: 401 with a
// WWW-Authenticate challenge (RFC 6750 §3) for a missing or invalid token,
// 503 with Retry-After when the keys to check it could not be fetched.
// Every refusal is counted by its reason code.
func (s *Server) refuse(ctx huma.Context, err error) {
	s.ops.authFailure(auth.FailureCode(err))
	var ite *auth.InvalidTokenError
	switch {
	case errors.As(err, &ite) && ite.Code == auth.CodeMissing:
		// RFC 6750 §3.1: a request without credentials gets no error code.
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		writeProblemCtx(ctx, newProblem(http.StatusUnauthorized, ite.Reason))
	case errors.As(err, &ite):
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token", error_description="`+quotable(ite.Reason)+`"`)
		writeProblemCtx(ctx, newProblem(http.StatusUnauthorized, ite.Reason))
	case errors.Is(err, auth.ErrUnavailable):
		retry := retryAfterKeys
		var ue *auth.UnavailableError
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			retry = strconv.Itoa(int(math.Ceil(ue.RetryAfter.Seconds())))
		}
		s.log.WarnContext(ctx.Context(), "token keys unavailable",
			"request_id", infoFrom(ctx.Context()).ID, "err", err.Error())
		ctx.SetHeader("Retry-After", retry)
		writeProblemCtx(ctx, newProblem(http.StatusServiceUnavailable,
			"the keys to verify the token cannot be fetched right now; retry shortly"))
	default:
		// Not an answer the verifier's contract allows: a bug, or the
		// client leaving. errorFor logs it and names only the request id.
		var p *huma.ErrorModel
		if !errors.As(s.errorFor(ctx.Context(), err), &p) {
			p = newProblem(http.StatusInternalServerError, "")
		}
		writeProblemCtx(ctx, p)
	}
}

// quotable makes s safe inside a quoted-string of a header parameter.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\':
			return '\''
		case r < 0x20 || r == 0x7f || r > 0x7e:
			return -1
		}
		return r
	}, s)
}

// ---- rate limit ----

// Bounds of the rate limiter's memory.
const (
	maxLimitedUsers = 100_000
	sweepInterval   = time.Minute
)

// userLimiter is a token bucket per user. A bucket unused for long enough to
// have refilled completely behaves like a new one, so it is dropped; the
// number of buckets is bounded, and when a flood of distinct users fills it
// the least recently seen bucket found is dropped, which can only ever
// favour a client, never block one wrongly.
type userLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // time for an empty bucket to refill
	max   int           // buckets kept at most

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newUserLimiter returns a limiter of perSecond requests per user with the
// given burst; perSecond <= 0 turns limiting off (nil).
func newUserLimiter(perSecond float64, burst int) *userLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &userLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		idle:    max(idle, time.Second),
		max:     maxLimitedUsers,
		buckets: make(map[string]*bucket),
	}
}

// allow takes one token from user's bucket. When it is empty it returns the
// whole seconds to wait before retrying (at least 1).
func (l *userLimiter) allow(user string, now time.Time) (wait int, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[user]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[user] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - b.lim.TokensAt(now)
	return max(1, int(math.Ceil(missing/float64(l.limit)))), false
}

// makeRoom drops refilled buckets at most once per sweepInterval, or at
// once when the map is full.
func (l *userLimiter) makeRoom(now time.Time) {
	full := len(l.buckets) >= l.max
	if !full && now.Sub(l.lastSweep) < sweepInterval {
		return
	}
	l.lastSweep = now
	var oldestUser string
	var oldest time.Time
	for u, b := range l.buckets {
		if now.Sub(b.seen) >= l.idle {
			delete(l.buckets, u)
			continue
		}
		if oldestUser == "" || b.seen.Before(oldest) {
			oldestUser, oldest = u, b.seen
		}
	}
	if len(l.buckets) >= l.max {
		delete(l.buckets, oldestUser)
	}
}
