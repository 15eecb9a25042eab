package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultQueueTimeout is how long a request waits for a free slot when
// OpsConfig.MaxInFlight requests are already being served, before it is shed
// with a 503.
//
// A healthy request takes a few milliseconds, so a burst a little above the
// limit drains well within 100 ms and the waiting requests go through. A
// request that has waited 100 ms is evidence of saturation, not of a burst:
// waiting longer would only move the latency into an invisible queue (by
// Little's law the queue grows as long as arrivals outpace the slots), and
// every queued request holds a connection and its memory. An early 503 with
// Retry-After lets the client or the load balancer go elsewhere while the
// requests already admitted keep their normal latency.
const DefaultQueueTimeout = 100 * time.Millisecond

// retryAfterShed is the Retry-After of a shed request, in seconds: overload
// passes quickly or not at all, and a client retrying sooner would only add to it.
const retryAfterShed = "1"

// inFlightLimit bounds the number of requests served at once. It is a
// counting semaphore: a request takes a slot for as long as its handler runs.
type inFlightLimit struct {
	slots chan struct{}
	wait  time.Duration
	shed  prometheus.Counter
}

// newInFlightLimit returns a limit of max requests that waits at most wait
// for a slot (0: DefaultQueueTimeout). max <= 0 means no limit (nil).
func newInFlightLimit(m *opsMetrics, max int, wait time.Duration) *inFlightLimit {
	if max <= 0 {
		return nil
	}
	if wait <= 0 {
		wait = DefaultQueueTimeout
	}
	return &inFlightLimit{
		slots: make(chan struct{}, max),
		wait:  wait,
		shed: registerMetric(m, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todod_http_requests_shed_total",
			Help: "Requests answered 503 because the server was serving its maximum number of requests at once.",
		})),
	}
}

// shed admits at most MaxInFlight requests at once; the others wait up to the
// queue timeout for a slot, then get a 503 problem with Retry-After. Health,
// readiness and metrics are never shed, so an orchestrator can still see an
// overloaded server, and neither are event streams, which hold their request
// open for minutes while doing almost no work.
func (o *ops) shed(next http.Handler) http.Handler {
	l := o.limit
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unlimited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !l.acquire(r) {
			if r.Context().Err() != nil {
				// The client left while waiting; nobody reads this answer.
				writeOpsProblem(w, r, statusClientClosed, "the client closed the request")
				return
			}
			l.shed.Inc()
			w.Header().Set("Retry-After", retryAfterShed)
			writeOpsProblem(w, r, http.StatusServiceUnavailable,
				"the server is handling too many requests at once; retry shortly")
			return
		}
		defer l.release()
		next.ServeHTTP(w, r)
	})
}

// acquire takes a slot, waiting at most l.wait or until the client leaves. It
// reports whether it got one.
func (l *inFlightLimit) acquire(r *http.Request) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}

func (l *inFlightLimit) release() { <-l.slots }

// unlimited reports whether a path is exempt from the in-flight limit: the
// operational probes, and the event streams (/api/events and
// /api/{user_id}/events).
func unlimited(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/api/events", "/api/events/":
		return true
	}
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return false
	}
	user, tail, ok := strings.Cut(rest, "/")
	return ok && user != "" && (tail == "events" || tail == "events/")
}
