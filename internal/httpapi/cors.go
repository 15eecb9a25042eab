package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// CORS policy (CONTRACT §3.4). A frontend sends a preflight before every call
// (GET and DELETE too, because of the Authorization header), so preflights
// are answered here, before routing and authentication, and cached.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-ID, Last-Event-ID"
	corsExposeHeaders = "ETag, Location, Link, X-Total-Count, X-Request-ID, Retry-After, Idempotent-Replayed"
)

// corsMaxAge is how long, in seconds, a browser may reuse a preflight answer.
const corsMaxAge = 600

// preflightRoute is the route label of a preflight: it never reaches routing.
const preflightRoute = "preflight"

// newCORS returns the CORS layer for the allowed origins, each
// scheme://host[:port]; one "*" in the host (https://*.example.com) matches
// its subdomains. An empty list allows no origin (rs/cors alone would read it
// as "any origin"), and "*" alone is refused: with credentials allowed, it
// would let every site on the web call the API from its users' browsers.
// Ignored entries are logged, so a typo does not fail silently.
func newCORS(origins []string, log *slog.Logger) func(http.Handler) http.Handler {
	allowed := make([]string, 0, len(origins))
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch {
		case o == "":
		case o == "*":
			log.Warn("CORS origin \"*\" ignored: credentials are allowed, so origins must be listed")
		case !isOrigin(o):
			log.Warn("CORS origin ignored: an origin is scheme://host[:port], with no path", "origin", o)
		default:
			allowed = append(allowed, o)
		}
	}
	opts := cors.Options{
		AllowedOrigins: allowed,
		// HEAD is CORS-safelisted and never preflighted, but rs/cors also
		// checks the method of actual requests before adding headers.
		AllowedMethods:     append(strings.Split(corsAllowMethods, ", "), http.MethodHead),
		AllowedHeaders:     strings.Split(corsAllowHeaders, ", "),
		ExposedHeaders:     strings.Split(corsExposeHeaders, ", "),
		AllowCredentials:   true,
		MaxAge:             corsMaxAge,
		OptionsPassthrough: true,
	}
	if len(allowed) == 0 {
		opts.AllowOriginFunc = func(string) bool { return false }
	}
	c := cors.New(opts)
	return func(next http.Handler) http.Handler {
		answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isPreflight(r) {
				next.ServeHTTP(w, r)
				return
			}
			infoFrom(r.Context()).Route = preflightRoute
			h := w.Header()
			if h.Get("Access-Control-Allow-Origin") != "" {
				// rs/cors echoes only the requested method and headers; the
				// browser caches what the answer lists, so listing them all
				// lets one preflight cover every later call to the URL.
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			}
			w.WriteHeader(http.StatusNoContent)
		})
		return c.Handler(answer)
	}
}

// isOrigin reports whether o has the shape of a browser's Origin header,
// which never carries a path, query or user; anything else could never match.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// isPreflight reports whether r is a CORS preflight, as rs/cors decides it.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}
