package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
)

// readyRetryAfter is the Retry-After, in seconds, of a 503 from /readyz.
const readyRetryAfter = 5

// healthz reports that the process is alive and serving. It never touches the
// database: a liveness probe that failed with the database would make an
// orchestrator restart healthy processes during a database outage.
func (o *ops) healthz(w http.ResponseWriter, r *http.Request) {
	writeOpsJSON(w, http.StatusOK, `{"status":"ok"}`)
}

// readyz reports whether the server can take traffic, asking cfg.Ready with a
// short timeout. The reason for a refusal goes to the log, not to the client:
// it may name the database host.
func (o *ops) readyz(w http.ResponseWriter, r *http.Request) {
	if o.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), o.cfg.ReadyTimeout)
		err := o.cfg.Ready(ctx)
		cancel()
		if err != nil {
			o.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
				slog.String("request_id", infoFrom(r.Context()).ID),
				slog.String("error", err.Error()),
			)
			w.Header().Set("Retry-After", strconv.Itoa(readyRetryAfter))
			writeOpsProblem(w, r, http.StatusServiceUnavailable, "the server is not ready to take traffic")
			return
		}
	}
	writeOpsJSON(w, http.StatusOK, `{"status":"ready"}`)
}

// writeOpsJSON writes a constant JSON body.
func writeOpsJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}
