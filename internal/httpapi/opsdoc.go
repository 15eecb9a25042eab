package httpapi

import (
	"net/http"
	"reflect"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// opsTag groups the operational routes in the OpenAPI document.
const opsTag = "operations"

// documentOps adds the routes served outside huma (ops.register, and
// /openapi.json in NewServer) to the OpenAPI document, so that it names every
// route the server answers. It only documents them: their handlers stay where
// they are, and huma never sees a request for them.
//
//	healthz  GET /healthz       ops.healthz
//	readyz   GET /readyz        ops.readyz
//	metrics  GET /metrics       ops.metrics.handler
//	openapi  GET /openapi.json  Server.serveSpec
//	docs     GET /docs          ops.docs.serveIndex
func documentOps(api huma.API) {
	doc := api.OpenAPI()
	problemSchema := doc.Components.Schemas.Schema(reflect.TypeFor[problem](), true, "")
	doc.Tags = append(doc.Tags, &huma.Tag{
		Name:        opsTag,
		Description: "Health, readiness, metrics and documentation, for orchestrators, monitoring and people. Outside /api; no token needed.",
	})
	// An empty, non-nil list is written as "security": [], which says that
	// no authentication is needed rather than saying nothing.
	noToken := []map[string][]string{}
	for _, op := range []*huma.Operation{
		{
			OperationID: "healthz",
			Method:      http.MethodGet,
			Path:        "/healthz",
			Summary:     "Liveness probe",
			Description: "Answers 200 {\"status\":\"ok\"} while the process is serving. It never touches the database: a liveness probe that failed with the database would make an orchestrator restart healthy processes during a database outage. Never shed under load.",
			Responses: map[string]*huma.Response{"200": {
				Description: `The process is alive: {"status":"ok"}.`,
				Content:     map[string]*huma.MediaType{"application/json": {Schema: statusSchema("ok")}},
			}},
		},
		{
			OperationID: "readyz",
			Method:      http.MethodGet,
			Path:        "/readyz",
			Summary:     "Readiness probe",
			Description: "Answers 200 {\"status\":\"ready\"} when the server can take traffic: the database answers, its migrations are applied, and the server is not shutting down. Otherwise 503 with Retry-After; the reason goes to the server's log, not to the client (it may name the database host). The check is bounded by a short timeout. Never shed under load.",
			Responses: map[string]*huma.Response{
				"200": {
					Description: `Ready to take traffic: {"status":"ready"}.`,
					Content:     map[string]*huma.MediaType{"application/json": {Schema: statusSchema("ready")}},
				},
				"503": {
					Description: "Not ready: the database is unreachable or too slow, its migrations are not applied, or the server is shutting down. The detail does not say which; the log does.",
					Headers: map[string]*huma.Header{"Retry-After": {
						Description: "Seconds to wait before asking again (" + strconv.Itoa(readyRetryAfter) + ").",
						Schema:      &huma.Schema{Type: huma.TypeInteger},
					}},
					Content: map[string]*huma.MediaType{problemContentType: {Schema: problemSchema}},
				},
			},
		},
		{
			OperationID: "metrics",
			Method:      http.MethodGet,
			Path:        "/metrics",
			Summary:     "Prometheus metrics",
			Description: "The server's metrics for a Prometheus scraper: requests by method, route template and status, their latency (event streams excluded), requests in flight and shed, auth failures by reason, JWKS refreshes, database pool statistics, build info, and the Go runtime and process collectors. Never shed under load.",
			Responses: map[string]*huma.Response{"200": {
				Description: "The metrics in the Prometheus text exposition format (the scraper may negotiate another format Prometheus supports with Accept).",
				Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{
					Type:        huma.TypeString,
					Description: "Prometheus text exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/).",
					Examples:    []any{"# HELP todod_build_info Always 1; the version label says which build is running.\n# TYPE todod_build_info gauge\ntodod_build_info{version=\"dev\"} 1\n"},
				}}},
			}},
		},
		{
			OperationID: "openapi",
			Method:      http.MethodGet,
			Path:        "/openapi.json",
			Summary:     "This OpenAPI document",
			Description: "The OpenAPI 3.1 document of every route, generated from the Go types that handle requests, so it cannot drift from them. Like the API, it may be answered 503 with Retry-After while the server is serving its maximum number of requests at once.",
			Responses: map[string]*huma.Response{"200": {
				Description: "The OpenAPI 3.1 document, as JSON.",
				Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{
					Type:        huma.TypeObject,
					Description: "An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0).",
				}}},
			}},
		},
		{
			OperationID: "docs",
			Method:      http.MethodGet,
			Path:        "/docs",
			Summary:     "Interactive documentation",
			Description: "A page (Swagger UI) that reads /openapi.json and can try operations with a bearer token. Its assets are embedded in the binary and served under /docs/, so it works offline and loads nothing from a CDN. The page has an ETag (If-None-Match answers 304). Like the API, it may be answered 503 with Retry-After while the server is serving its maximum number of requests at once.",
			Responses: map[string]*huma.Response{"200": {
				Description: "The documentation page, as HTML.",
				Content: map[string]*huma.MediaType{"text/html": {Schema: &huma.Schema{
					Type:        huma.TypeString,
					Description: "An HTML page.",
				}}},
			}},
		},
	} {
		op.Tags = []string{opsTag}
		op.Security = noToken
		doc.AddOperation(op)
	}
}

// statusSchema is the schema of a constant {"status": value} body.
func statusSchema(value string) *huma.Schema {
	return &huma.Schema{
		Type:     huma.TypeObject,
		Required: []string{"status"},
		Properties: map[string]*huma.Schema{"status": {
			Type:        huma.TypeString,
			Enum:        []any{value},
			Description: "Always " + value + ".",
		}},
		AdditionalProperties: false,
		Examples:             []any{map[string]any{"status": value}},
	}
}
