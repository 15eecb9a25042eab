package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// maxRequestIDLen bounds a client-supplied X-Request-ID: it is echoed in
// headers and logs, so it must stay short and free of separators.
const maxRequestIDLen = 128

// requestID gives the request its id: the client's X-Request-ID when it is
// well formed, a fresh random one otherwise. The id goes back on the response
// and into the request's info, which this layer creates.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{ID: id}
		next.ServeHTTP(w, r.WithContext(withRequestInfo(r.Context(), info)))
	})
}

// validRequestID reports whether id is 1–128 characters of [A-Za-z0-9._:-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}

// The Content-Security-Policy values. API responses are data, never a
// document, so they may load nothing at all. The docs page loads only its own
// embedded assets; Swagger UI's stylesheet draws its icons as data: images,
// and it fetches the spec and "try it" calls from this origin only.
const (
	apiCSP  = "default-src 'none'; frame-ancestors 'none'"
	docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// securityHeaders sets the headers every response carries. A handler may
// override them (the docs assets set their own Cache-Control).
//
// Cross-Origin-Resource-Policy is same-origin: it only governs no-cors loads
// (an <img> or <script> pointing at the API from another site), never CORS
// fetches, so the frontend's fetch calls are unaffected while other sites
// cannot pull API responses into their process.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if r.URL.Path == "/docs" || strings.HasPrefix(r.URL.Path, "/docs/") {
			h.Set("Content-Security-Policy", docsCSP)
		} else {
			h.Set("Content-Security-Policy", apiCSP)
			// Task data is private; no browser or proxy cache may keep it.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// observe records every request in the metrics and writes its access log
// line once the handler is done, when the route and user are known.
func (o *ops) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		tw := &trackedWriter{ResponseWriter: w}
		o.metrics.inFlight.Inc()
		// Deferred so that a request aborted with http.ErrAbortHandler is
		// still logged and counted while the panic passes through.
		defer func() {
			o.metrics.inFlight.Dec()
			elapsed := time.Since(start)
			info := infoFrom(r.Context())
			route := routeLabel(info, r)
			status := tw.status
			if status == 0 {
				status = http.StatusOK // what net/http sends when the handler wrote nothing
				if tw.aborted {
					status = http.StatusInternalServerError
				}
			}
			o.metrics.observe(r.Method, route, status, elapsed)
			o.accessLog(r, info, route, status, elapsed, tw)
		}()
		next.ServeHTTP(tw, r)
	})
}

// accessLog writes the one line that describes a finished request. It is at
// Info whatever the status: the cause of a 5xx is logged at Error by the
// layer that saw it, with the same request_id, so the access log stays one
// uniform stream that can be filtered by status.
//
// The path is logged without its query string, and no header is logged, so
// neither a token nor anything a client put in a query can reach the log.
func (o *ops) accessLog(r *http.Request, info *requestInfo, route string, status int, elapsed time.Duration, tw *trackedWriter) {
	attrs := []slog.Attr{
		slog.String("request_id", info.ID),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", tw.bytes),
		slog.String("user_id", info.UserID),
		slog.String("remote", r.RemoteAddr),
	}
	if tw.aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	o.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// routeLabel names the request's route by its template, never by its raw
// path, which would give every task id its own time series. The API sets
// info.Route; a plain ServeMux route is known by the pattern it matched.
func routeLabel(info *requestInfo, r *http.Request) string {
	if info.Route != "" {
		return info.Route
	}
	if p := r.Pattern; p != "" {
		if i := strings.IndexByte(p, ' '); i >= 0 {
			p = p[i+1:] // drop the method: it has its own label
		}
		return p
	}
	return "unmatched"
}

// recoverPanic turns a panic into a 500 problem that names only the request
// id; the panic value and stack go to the log. http.ErrAbortHandler passes
// through untouched: it is how a handler asks net/http to cut the connection.
func (o *ops) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw, ok := w.(*trackedWriter)
		if !ok {
			tw = &trackedWriter{ResponseWriter: w}
		}
		// Headers the handler adds before panicking (ETag, Content-Length,
		// Location…) describe a response that never happened; the 500 goes
		// out with only the headers the outer layers set.
		var before headerSnapshot
		before.take(tw.Header())
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				tw.aborted = true
				panic(p)
			}
			info := infoFrom(r.Context())
			o.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", info.ID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())),
			)
			if tw.status != 0 {
				// The status line is already sent; cutting the connection is
				// the only way left to tell the client the response is broken.
				tw.aborted = true
				panic(http.ErrAbortHandler)
			}
			before.restore(tw.Header())
			writeOpsProblem(tw, r, http.StatusInternalServerError,
				fmt.Sprintf("internal error (request id %s)", info.ID))
		}()
		next.ServeHTTP(tw, r)
	})
}

// headerSnapshot remembers the entries of a header map without copying the
// map or its values, so that taking one costs no allocation for the usual
// dozen headers. Keeping the value slices is enough: http.Header's Set and
// Del replace or drop a key's slice and Add appends past its length, so none
// of them changes the values a kept slice shows.
type headerSnapshot struct {
	n       int
	entries [24]headerEntry
	more    http.Header // a clone instead, when there are more headers than entries
}

type headerEntry struct {
	key    string
	values []string
}

func (s *headerSnapshot) take(h http.Header) {
	if len(h) > len(s.entries) {
		s.more = h.Clone()
		return
	}
	for k, v := range h {
		s.entries[s.n] = headerEntry{k, v}
		s.n++
	}
}

// restore makes h hold exactly the entries taken.
func (s *headerSnapshot) restore(h http.Header) {
	clear(h)
	if s.more != nil {
		maps.Copy(h, s.more)
		return
	}
	for _, e := range s.entries[:s.n] {
		h[e.key] = e.values
	}
}

// trackedWriter remembers the status and body size of a response. It
// implements http.Flusher (server-sent events need it) and Unwrap, so
// http.ResponseController reaches the connection beneath.
type trackedWriter struct {
	http.ResponseWriter
	status  int   // final status sent; 0 until then
	bytes   int64 // body bytes written
	aborted bool  // the response was cut off by a panic
}

// WriteHeader records the final status; informational 1xx responses are
// passed on without counting as the answer.
func (tw *trackedWriter) WriteHeader(code int) {
	if tw.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		tw.status = code
	}
	tw.ResponseWriter.WriteHeader(code)
}

// Write counts the body bytes; a first Write implies status 200.
func (tw *trackedWriter) Write(b []byte) (int, error) {
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	n, err := tw.ResponseWriter.Write(b)
	tw.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client; it implies status 200 if none was set.
func (tw *trackedWriter) Flush() {
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	_ = http.NewResponseController(tw.ResponseWriter).Flush() // http.Flusher has no error to return
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (tw *trackedWriter) Unwrap() http.ResponseWriter {
	return tw.ResponseWriter
}
