package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OpsConfig configures the operational side of the server: health, metrics,
// logs, CORS and the headers every response carries.
type OpsConfig struct {
	Logger      *slog.Logger
	CORSOrigins []string             // allowed browser origins
	Registry    *prometheus.Registry // nil: a new registry
	// Ready reports whether the server can take traffic: the database answers,
	// migrations are applied, and the server is not shutting down.
	Ready   func(ctx context.Context) error
	Version string
	// ReadyTimeout bounds one call of Ready from /readyz; zero means 2 s.
	ReadyTimeout time.Duration
	// Collectors are further metrics exposed on /metrics, such as the
	// database pool statistics.
	Collectors []prometheus.Collector
	// MaxInFlight is the most requests served at once; more wait up to
	// QueueTimeout for a slot, then get 503 with Retry-After (shed.go).
	// Health, readiness, metrics and event streams are exempt. 0: no limit.
	MaxInFlight int
	// QueueTimeout is the longest a request waits for a slot; 0 means
	// DefaultQueueTimeout.
	QueueTimeout time.Duration
}

// defaultReadyTimeout is short because a readiness probe that hangs is
// itself the answer: an orchestrator should route traffic elsewhere.
const defaultReadyTimeout = 2 * time.Second

// ops is the operational layer around the API.
type ops struct {
	cfg     OpsConfig
	log     *slog.Logger
	metrics *opsMetrics
	cors    func(http.Handler) http.Handler
	docs    *docsSite
	limit   *inFlightLimit // nil: no limit
}

func newOps(cfg OpsConfig) *ops {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = defaultReadyTimeout
	}
	metrics := newOpsMetrics(cfg.Registry, cfg.Version, cfg.Collectors, cfg.Logger)
	return &ops{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: metrics,
		cors:    newCORS(cfg.CORSOrigins, cfg.Logger),
		docs:    newDocsSite(),
		limit:   newInFlightLimit(metrics, cfg.MaxInFlight, cfg.QueueTimeout),
	}
}

// wrap puts the per-request layers around h: request id, panic recovery,
// security headers, CORS, load shedding, metrics and the access log.
//
// The order matters. The request id comes first so every later layer can
// name the request. The access log and metrics sit outside everything that
// can write a response, so they see the final status, the recovered 500
// included. Security and CORS headers are set before recovery so that the 500
// it writes carries them too: a browser frontend can then read the problem.
// Shedding comes after CORS for the same reason (a browser can read the 503),
// and after the access log and metrics, so that shed requests are counted.
func (o *ops) wrap(h http.Handler) http.Handler {
	layers := []func(http.Handler) http.Handler{ // outermost first
		requestID,
		o.observe,
		securityHeaders,
		o.cors,
		o.shed,
		o.recoverPanic,
	}
	for i := len(layers) - 1; i >= 0; i-- {
		h = layers[i](h)
	}
	return h
}

// register adds the operational routes (/healthz, /readyz, /metrics, /docs) to mux.
// They live outside /api and need no token.
func (o *ops) register(mux *http.ServeMux) {
	mux.Handle("/healthz", routed("/healthz", onlyGet(http.HandlerFunc(o.healthz))))
	mux.Handle("/readyz", routed("/readyz", onlyGet(http.HandlerFunc(o.readyz))))
	mux.Handle("/metrics", routed("/metrics", onlyGet(o.metrics.handler())))
	mux.Handle("/docs", routed("/docs", onlyGet(http.HandlerFunc(o.docs.serveIndex))))
	mux.Handle("/docs/", routed("/docs/", onlyGet(http.HandlerFunc(o.docs.serve))))
}

// authFailure counts a refused token by its reason code.
func (o *ops) authFailure(code string) {
	o.metrics.authFailure(code)
}

// jwksRefresh counts one attempt to fetch the JWKS, by whether it succeeded.
func (o *ops) jwksRefresh(ok bool) {
	o.metrics.jwksRefresh(ok)
}

// routed records route as the request's route template for the access log
// and metrics.
func routed(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).Route = route
		h.ServeHTTP(w, r)
	})
}

// onlyGet answers methods other than GET and HEAD with a 405 problem.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeOpsProblem(w, r, http.StatusMethodNotAllowed,
				"method "+r.Method+" is not allowed here; use GET or HEAD")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// opsProblem is an RFC 9457 problem as the operational layer writes it.
type opsProblem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// writeOpsProblem writes an application/problem+json response. detail must
// never carry internals: it goes to the client as is.
func writeOpsProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	body, err := json.Marshal(opsProblem{
		Type:     "about:blank",
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
	})
	if err != nil {
		// Marshalling a struct of strings and an int cannot fail; keep the
		// status honest if it ever does.
		w.WriteHeader(status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
