// Package httpapi is todod's HTTP interface: the task API (huma v2 on
// net/http, with its OpenAPI 3.1 document) and the operational layer around
// it (request ids, logs, metrics, CORS, health, docs).
package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/todod/todod/internal/todo"
)

// Config holds the dependencies and settings of a Server.
type Config struct {
	Store  todo.Store
	Auth   Authenticator
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil is time.Now
	Ops    OpsConfig        // its Logger and Version default to the ones here
	// RateLimit is the sustained number of requests per second allowed to
	// each user; 0 turns the limit off. RateBurst is the bucket size
	// (0: RateLimit rounded up).
	RateLimit float64
	RateBurst int
	Version   string // shown in the OpenAPI document; "" is "dev"
	// EventHeartbeat is how often an idle event stream (/api/events) gets a
	// comment line that keeps proxies from closing it; 0 is
	// DefaultEventHeartbeat (15 s).
	EventHeartbeat time.Duration
	// MaxStreamsPerUser bounds the event streams one user may hold open at
	// once; more are refused with 429. 0 is DefaultMaxStreamsPerUser (10).
	MaxStreamsPerUser int
}

// Server is the todod HTTP handler: the task API under /api, /openapi.json,
// and the operational routes. It is safe for concurrent use.
type Server struct {
	store   todo.Store
	auth    Authenticator
	log     *slog.Logger
	now     func() time.Time
	ops     *ops
	limiter *userLimiter

	// Event streams (events.go) and the key of change cursors (sync.go),
	// read from the store on first use.
	streams   *streamHub
	heartbeat time.Duration
	changeKey atomic.Pointer[[]byte]

	api huma.API
	// The API's routes live in two muxes, because the two path styles
	// overlap: /api/tasks/{id} and /api/{user_id}/tasks both match
	// /api/tasks/tasks, which one ServeMux refuses to hold. own has the
	// /api/tasks… style and everything outside /api; perUser the
	// /api/{user_id}/… style, tried second. So /api/tasks/… always means the
	// token's own tasks (a user whose id is "tasks" uses that style).
	own, perUser *http.ServeMux
	// ownAPISegments are the first path segments after /api/ of own's
	// routes (tasks, events); nil if one of them is a wildcard. Routes of own
	// under /api/ are registered through huma (muxAdapter), which records
	// them here; route sends other /api/ paths straight to perUser.
	ownAPISegments []string
	spec           []byte
	handler        http.Handler
}

// NewServer returns the server for cfg. It panics only on a programming error
// in the route table.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Ops.Logger == nil {
		cfg.Ops.Logger = cfg.Logger
	}
	if cfg.Ops.Version == "" {
		cfg.Ops.Version = cfg.Version
	}
	if cfg.EventHeartbeat <= 0 {
		cfg.EventHeartbeat = DefaultEventHeartbeat
	}
	s := &Server{
		store:     cfg.Store,
		auth:      cfg.Auth,
		log:       cfg.Logger,
		now:       cfg.Now,
		ops:       newOps(cfg.Ops),
		limiter:   newUserLimiter(cfg.RateLimit, cfg.RateBurst),
		streams:   newStreamHub(cfg.MaxStreamsPerUser),
		heartbeat: cfg.EventHeartbeat,
		own:       http.NewServeMux(),
		perUser:   http.NewServeMux(),
	}
	adapter := &muxAdapter{own: s.own, perUser: s.perUser}
	s.api = newAPI(adapter, cfg.Version)
	s.api.UseMiddleware(s.apiMiddleware)
	s.routes(s.api)
	if !adapter.wildcard {
		s.ownAPISegments = adapter.ownAPISegments
	}
	documentOps(s.api)
	s.spec = specJSON(s.api.OpenAPI())
	s.own.Handle("GET /openapi.json", routed("/openapi.json", http.HandlerFunc(s.serveSpec)))
	s.ops.register(s.own)
	s.own.Handle(fallbackPattern, s.perUser)
	s.perUser.HandleFunc(fallbackPattern, s.notRouted)
	s.handler = s.ops.wrap(http.HandlerFunc(s.route))
	return s
}

// specJSON marshals the OpenAPI document. huma registers its own error
// schemas (ErrorModel, ErrorDetail) with every operation even though no
// response of this API uses them (they are documented with Problem); unused,
// they would only mislead readers, so they are dropped.
func specJSON(doc *huma.OpenAPI) []byte {
	marshal := func() []byte {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			panic(fmt.Sprintf("httpapi: marshal the OpenAPI document: %v", err))
		}
		return append(b, '\n')
	}
	b := marshal()
	if !bytes.Contains(b, []byte(`"#/components/schemas/ErrorModel"`)) {
		schemas := doc.Components.Schemas.Map()
		delete(schemas, "ErrorModel")
		delete(schemas, "ErrorDetail")
		b = marshal()
	}
	return b
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// OpenAPI returns the OpenAPI 3.1 document of the API, as JSON.
func (s *Server) OpenAPI() ([]byte, error) {
	return bytes.Clone(s.spec), nil
}

// OpenAPIDocument returns the OpenAPI 3.1 document of the API of the given
// version without a store or verifier (for `todod openapi`).
func OpenAPIDocument(version string) ([]byte, error) {
	return NewServer(Config{Version: version}).OpenAPI()
}

func (s *Server) serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.spec)
}

// route finds the handler of a request. A trailing slash is dropped from
// /api paths first, so that /api/{user_id}/tasks/ (which frontends written
// for the plan call) is served directly, never redirected: a redirect would
// turn into a second preflight in browsers, or lose the body. Requests no
// route takes get a problem: 405 with Allow when the path exists for other
// methods, else 404.
//
// A request is matched once: a path under /api/ whose first segment no route
// of own begins with (a user id) goes straight to perUser; any other goes to
// own, whose fallback hands what it cannot serve to perUser, whose fallback
// is notRouted. Allow is worked out only for a request no route takes.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(p) > len("/api/") && strings.HasPrefix(p, "/api/") && strings.HasSuffix(p, "/") {
		// A copy: the outer layers keep the URL as the client sent it.
		r = r.WithContext(r.Context())
		u := *r.URL
		p = p[:len(p)-1]
		u.Path = p
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		r.URL = &u
	}
	if !isCleanPath(r.URL.EscapedPath()) {
		// The muxes answer such a path with a redirect to its clean form,
		// which their fallbacks would make match every path; redirect only
		// to a route, as before the fallbacks existed.
		s.routeUnclean(w, r)
		return
	}
	if s.ownAPISegments != nil && strings.HasPrefix(p, "/api/") {
		seg, _, _ := strings.Cut(p[len("/api/"):], "/")
		if !slices.Contains(s.ownAPISegments, seg) {
			s.perUser.ServeHTTP(w, r)
			return
		}
	}
	s.own.ServeHTTP(w, r)
}

// fallbackPattern is the pattern of the muxes' fallbacks: it matches every
// path and method that no other route takes.
const fallbackPattern = "/"

// routeUnclean routes a request whose path is not in clean form (// or
// /./ or /../ in it): to the redirect of the mux that has a route for its
// clean form, own first; else 404.
func (s *Server) routeUnclean(w http.ResponseWriter, r *http.Request) {
	for _, mux := range []*http.ServeMux{s.own, s.perUser} {
		if _, pattern := mux.Handler(r); pattern != "" && pattern != fallbackPattern {
			mux.ServeHTTP(w, r)
			return
		}
	}
	s.writeNotRouted(w, r, nil)
}

// notRouted answers a request that neither mux has a route for.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request) {
	// The fallback's pattern is no route: logs and metrics say unmatched.
	r.Pattern = ""
	allow := allowed(s.own, r)
	for _, m := range allowed(s.perUser, r) {
		if !slices.Contains(allow, m) {
			allow = append(allow, m)
		}
	}
	s.writeNotRouted(w, r, allow)
}

func (s *Server) writeNotRouted(w http.ResponseWriter, r *http.Request, allow []string) {
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, r, newProblem(http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))))
		return
	}
	writeProblem(w, r, newProblem(http.StatusNotFound, "no route for "+r.URL.Path))
}

// probeMethods are the methods allowed tries, in the order ServeMux lists
// them in Allow. Every route has one of them, or none (then it takes every
// method, and a request on its path is never unrouted).
var probeMethods = []string{
	http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
	http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace,
}

// allowed returns the methods mux has a route for on r's path, as ServeMux
// would announce them in Allow if it had no fallback: HEAD with GET, sorted.
func allowed(mux *http.ServeMux, r *http.Request) []string {
	probe := *r
	var out []string
	for _, m := range probeMethods {
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != fallbackPattern {
			out = append(out, m)
		}
	}
	return out
}

// isCleanPath reports whether ServeMux would take p as it is, without a
// redirect to a cleaned form.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || (p[len(p)-1] == '/' && len(p) == len(c)+1 && strings.HasPrefix(p, c))
}

// muxAdapter is huma's adapter onto the two muxes (see Server.own).
type muxAdapter struct {
	own, perUser *http.ServeMux
	// ownAPISegments are the first segments after /api/ of own's
	// operations, unless one is a wildcard (see Server.route).
	ownAPISegments []string
	wildcard       bool
}

func (a *muxAdapter) Handle(op *huma.Operation, handler func(huma.Context)) {
	mux := a.own
	if strings.HasPrefix(op.Path, userPathPrefix) {
		mux = a.perUser
	} else if rest, ok := strings.CutPrefix(op.Path, "/api/"); ok && !a.wildcard {
		seg, _, _ := strings.Cut(rest, "/")
		switch {
		case seg == "" || strings.Contains(seg, "{"):
			a.wildcard = true
		case !slices.Contains(a.ownAPISegments, seg):
			a.ownAPISegments = append(a.ownAPISegments, seg)
		}
	}
	mux.HandleFunc(op.Method+" "+op.Path, func(w http.ResponseWriter, r *http.Request) {
		handler(humago.NewContext(op, r, w))
	})
}

func (a *muxAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.own.ServeHTTP(w, r)
}

// unwrapContext returns the request and response of a huma context.
func unwrapContext(ctx huma.Context) (*http.Request, http.ResponseWriter) {
	return humago.Unwrap(ctx)
}

// newAPI configures huma: OpenAPI 3.1 served by the Server itself (huma's own
// spec routes build the document lazily without a lock), no docs page (the
// operational layer serves /docs), no $schema field or describedby link in
// responses (huma's default link transformer is dropped with CreateHooks),
// JSON only, a bearer security scheme, and every error completed into the
// problem shape by transformProblem.
func newAPI(adapter huma.Adapter, version string) huma.API {
	cfg := huma.DefaultConfig("todod", version)
	cfg.CreateHooks = nil
	cfg.OpenAPIPath = ""
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	// JSON without HTML escaping, as huma's default format writes it; task
	// bodies are written by hand (taskjson.go), byte for byte the same.
	jsonFormat := huma.Format{Marshal: marshalJSON, Unmarshal: json.Unmarshal}
	cfg.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	cfg.Transformers = []huma.Transformer{transformProblem}
	cfg.Info.Description = apiDescription
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type:         "http",
			Scheme:       "bearer",
			BearerFormat: "JWT",
			Description: "A JWT from Better Auth: an EdDSA/ES256/RS256/PS256 token of its jwt() plugin (verified with the JWKS of BETTER_AUTH_URL), " +
				"or an HS256/HS384/HS512 token signed with BETTER_AUTH_SECRET. The user is sub (else user_id, else id); exp is required. " +
				"Send it as Authorization: Bearer <token> (scheme case-insensitive, one header); never in the query string or a cookie.",
		},
	}
	cfg.Tags = []*huma.Tag{
		{Name: "tasks", Description: "The task API, for the user of the token."},
		{Name: "tasks (user path)", Description: "The same operations under /api/{user_id}/…, the path style of the original plan; {user_id} must be the user of the token."},
	}
	cfg.OnAddOperation = append(cfg.OnAddOperation, documentRequestBody)
	return huma.NewAPI(cfg, adapter)
}
