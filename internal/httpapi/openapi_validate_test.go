package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// These tests hold the OpenAPI document to more than its golden file: it is a
// valid OpenAPI 3.1 document by the official JSON Schema of the OpenAPI
// Initiative (testdata/openapi-3.1-schema-2022-10-07.json, published at
// oasSchemaURL under the Apache License 2.0, unchanged), its schemas are valid JSON Schema 2020-12, its examples
// satisfy their schemas, and it says for every route what CONTRACT.md says:
// both path styles, a description, the problem shape for every error; the
// operational routes of §6 are in it too, as what they are.

const (
	// oasSchemaURL is the $id of the vendored OpenAPI 3.1 schema.
	oasSchemaURL = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
	// specURL names the document under test inside the schema compiler. It
	// is never fetched: the compiler has no loader for https.
	specURL = "https://todod.invalid/openapi.json"
)

// servedSpec returns the document that GET /openapi.json serves.
func servedSpec(t *testing.T) []byte {
	t.Helper()
	srv := NewServer(Config{Version: "test"})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET /openapi.json: Content-Type %q, want application/json", ct)
	}
	return rec.Body.Bytes()
}

// decodeSpec decodes a document as the schema compiler sees it (numbers as
// json.Number), a fresh copy each time so that tests may change it.
func decodeSpec(t *testing.T, b []byte) map[string]any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode the OpenAPI document: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("the OpenAPI document is a %T, not an object", v)
	}
	return doc
}

// oasValidator compiles the official OpenAPI 3.1 schema, with formats
// asserted (uri, uri-reference, email…): the vendored copy is the only
// resource, nothing is fetched.
func oasValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "openapi-3.1-schema-2022-10-07.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schema, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("decode the OpenAPI 3.1 schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(oasSchemaURL, schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(oasSchemaURL)
	if err != nil {
		t.Fatalf("compile the OpenAPI 3.1 schema: %v", err)
	}
	return sch
}

func TestOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	doc := decodeSpec(t, servedSpec(t))
	if got := doc["openapi"]; got != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", got)
	}
	if err := oasValidator(t).Validate(doc); err != nil {
		t.Fatalf("GET /openapi.json is not a valid OpenAPI 3.1 document:\n%v", err)
	}
}

// errorLocations lists the instance locations (JSON pointers) of the leaf
// errors of a validation error.
func errorLocations(err error) []string {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil
	}
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, pointer(e.InstanceLocation...))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// pointer builds a JSON pointer (RFC 6901) from unescaped tokens.
func pointer(tokens ...string) string {
	var sb strings.Builder
	for _, tok := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return sb.String()
}

// fragment turns a JSON pointer into a URI fragment, as the compiler
// unescapes it.
func fragment(ptr string) string {
	toks := strings.Split(ptr, "/")
	for i, tok := range toks {
		toks[i] = url.PathEscape(tok)
	}
	return "#" + strings.Join(toks, "/")
}

// lookup returns the value at a JSON pointer of doc.
func lookup(doc any, ptr string) any {
	v := doc
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// The validator must bite: each of these mistakes makes the document invalid,
// and the validator says where.
func TestOpenAPIValidatorRejectsBrokenDocuments(t *testing.T) {
	spec := servedSpec(t)
	validator := oasValidator(t)
	listTasks := pointer("paths", "/api/tasks", "get")
	getTask := pointer("paths", "/api/tasks/{id}", "get")
	cases := []struct {
		name   string
		mutate func(doc map[string]any)
		where  string // the instance location of one of the errors
	}{
		{"info without version", func(doc map[string]any) {
			delete(doc["info"].(map[string]any), "version")
		}, "/info"},
		{"a status code that is not one", func(doc map[string]any) {
			responses := lookup(doc, listTasks+"/responses").(map[string]any)
			responses["2000"] = responses["200"]
		}, listTasks + "/responses/2000"},
		{"a path parameter that is not required", func(doc map[string]any) {
			for _, p := range lookup(doc, getTask+"/parameters").([]any) {
				if p := p.(map[string]any); p["in"] == "path" {
					p["required"] = false
				}
			}
		}, getTask + "/parameters/0/required"},
		{"a parameter in the body", func(doc map[string]any) {
			lookup(doc, getTask+"/parameters/0").(map[string]any)["in"] = "body"
		}, getTask + "/parameters/0/in"},
		{"a path without its leading slash", func(doc map[string]any) {
			paths := doc["paths"].(map[string]any)
			paths["api/tasks"] = paths["/api/tasks"]
		}, "/paths/api~1tasks"},
		{"a response without a description", func(doc map[string]any) {
			delete(lookup(doc, listTasks+"/responses/200").(map[string]any), "description")
		}, listTasks + "/responses/200"},
		{"an unknown security scheme type", func(doc map[string]any) {
			lookup(doc, "/components/securitySchemes/bearerAuth").(map[string]any)["type"] = "bearer"
		}, "/components/securitySchemes/bearerAuth/type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := decodeSpec(t, spec)
			tc.mutate(doc)
			err := validator.Validate(doc)
			if err == nil {
				t.Fatal("the broken document validates")
			}
			if locs := errorLocations(err); !slices.Contains(locs, tc.where) {
				t.Fatalf("errors at %q, want one at %q:\n%v", locs, tc.where, err)
			}
		})
	}
}

// schemaPointers lists the JSON pointers of every schema of the document
// that stands on its own: the components, and the schemas of parameters,
// headers and media types (which are often references to the components).
func schemaPointers(doc map[string]any) []string {
	var out []string
	if schemas, ok := lookup(doc, "/components/schemas").(map[string]any); ok {
		for name := range schemas {
			out = append(out, pointer("components", "schemas", name))
		}
	}
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch c := v.(type) {
		case map[string]any:
			for k, e := range c {
				p := ptr + pointer(k)
				if k == "schema" && !strings.HasPrefix(ptr, "/components/schemas") {
					out = append(out, p)
					continue
				}
				walk(e, p)
			}
		case []any:
			for i, e := range c {
				walk(e, fmt.Sprintf("%s/%d", ptr, i))
			}
		}
	}
	walk(doc["paths"], "/paths")
	sort.Strings(out)
	return out
}

// compileAll compiles every schema of the document; compiling checks each
// against the JSON Schema 2020-12 meta-schema, and resolves its $refs.
func compileAll(t *testing.T, doc map[string]any) (map[string]*jsonschema.Schema, []error) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatal(err)
	}
	compiled := map[string]*jsonschema.Schema{}
	var errs []error
	for _, ptr := range schemaPointers(doc) {
		sch, err := c.Compile(specURL + fragment(ptr))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ptr, err))
			continue
		}
		compiled[ptr] = sch
	}
	return compiled, errs
}

func TestOpenAPISchemasAreValidJSONSchema(t *testing.T) {
	doc := decodeSpec(t, servedSpec(t))
	compiled, errs := compileAll(t, doc)
	for _, err := range errs {
		t.Error(err)
	}
	for _, name := range []string{"Problem", "ProblemItem", "Task", "TaskCreate", "TaskUpdate", "TaskCompletion", "TaskDeleted"} {
		if compiled[pointer("components", "schemas", name)] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	for _, ptr := range []string{
		pointer("paths", "/api/tasks/{id}", "get", "parameters", "0", "schema"),
		pointer("paths", "/api/tasks", "post", "requestBody", "content", "application/json", "schema"),
		pointer("paths", "/api/tasks", "post", "responses", "422", "content", "application/problem+json", "schema"),
	} {
		if compiled[ptr] == nil {
			t.Errorf("%s was not compiled", ptr)
		}
	}

	t.Run("an invalid schema is refused", func(t *testing.T) {
		doc := decodeSpec(t, servedSpec(t))
		lookup(doc, "/components/schemas/Task/properties/title").(map[string]any)["type"] = json.Number("5")
		_, errs := compileAll(t, doc)
		if len(errs) == 0 {
			t.Fatal("a schema with \"type\": 5 compiles")
		}
		if !strings.HasPrefix(errs[0].Error(), "/components/schemas/Task: ") {
			t.Fatalf("first error: %v", errs[0])
		}
	})
}

// exampleProblems checks every example and default of the document against
// its schema: the examples and defaults of schemas (keywords examples and
// default) and the example of parameters, headers and media types (keyword
// example next to schema). It returns the problems and the pointers of the
// values checked.
func exampleProblems(t *testing.T, doc map[string]any) (problems, checked []string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatal(err)
	}
	check := func(schemaPtr, valuePtr string, value any) {
		sch, err := c.Compile(specURL + fragment(schemaPtr))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: compile: %v", schemaPtr, err))
			return
		}
		checked = append(checked, valuePtr)
		if err := sch.Validate(value); err != nil {
			problems = append(problems, fmt.Sprintf("%s does not satisfy %s: %v", valuePtr, schemaPtr, err))
		}
	}
	inSchema := func(ptr string) bool {
		return strings.HasPrefix(ptr, "/components/schemas/") || strings.Contains(ptr, "/schema/") || strings.HasSuffix(ptr, "/schema")
	}
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch c := v.(type) {
		case map[string]any:
			if inSchema(ptr) {
				if examples, ok := c["examples"].([]any); ok {
					for i, ex := range examples {
						check(ptr, fmt.Sprintf("%s/examples/%d", ptr, i), ex)
					}
				}
				if def, ok := c["default"]; ok {
					check(ptr, ptr+"/default", def)
				}
			} else if ex, ok := c["example"]; ok {
				if _, ok := c["schema"]; ok {
					check(ptr+"/schema", ptr+"/example", ex)
				}
			}
			for k, e := range c {
				walk(e, ptr+pointer(k))
			}
		case []any:
			for i, e := range c {
				walk(e, fmt.Sprintf("%s/%d", ptr, i))
			}
		}
	}
	walk(doc, "")
	sort.Strings(problems)
	sort.Strings(checked)
	return problems, checked
}

func TestOpenAPIExamplesSatisfyTheirSchemas(t *testing.T) {
	doc := decodeSpec(t, servedSpec(t))
	problems, checked := exampleProblems(t, doc)
	for _, p := range problems {
		t.Error(p)
	}
	for _, want := range []string{
		"/components/schemas/Problem/properties/status/examples/0",
		"/components/schemas/Task/properties/priority/examples/0",
		pointer("paths", "/api/{user_id}/tasks", "get", "parameters", "0", "example"),
	} {
		if !slices.Contains(checked, want) {
			t.Errorf("%s was not checked; checked: %q", want, checked)
		}
	}

	t.Run("a wrong example is found", func(t *testing.T) {
		doc := decodeSpec(t, servedSpec(t))
		lookup(doc, "/components/schemas/Problem/properties/status").(map[string]any)["examples"] = []any{"422"}
		problems, _ := exampleProblems(t, doc)
		if len(problems) != 1 || !strings.HasPrefix(problems[0],
			"/components/schemas/Problem/properties/status/examples/0 does not satisfy /components/schemas/Problem/properties/status: ") {
			t.Fatalf("problems: %q", problems)
		}
	})
}

// operation is one operation of the document.
type operation struct {
	method, path string
	op           map[string]any
}

func operations(doc map[string]any) []operation {
	var out []operation
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if op, ok := op.(map[string]any); ok && slices.Contains([]string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}, method) {
				out = append(out, operation{strings.ToUpper(method), path, op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].path+" "+out[i].method < out[j].path+" "+out[j].method
	})
	return out
}

func (o operation) String() string { return o.method + " " + o.path }

func (o operation) str(key string) string {
	s, _ := o.op[key].(string)
	return s
}

func (o operation) params(in string) map[string]map[string]any {
	out := map[string]map[string]any{}
	ps, _ := o.op["parameters"].([]any)
	for _, p := range ps {
		p := p.(map[string]any)
		if p["in"] == in {
			out[p["name"].(string)] = p
		}
	}
	return out
}

func (o operation) responses() map[string]map[string]any {
	out := map[string]map[string]any{}
	for status, r := range o.op["responses"].(map[string]any) {
		out[status] = r.(map[string]any)
	}
	return out
}

var pathVar = regexp.MustCompile(`\{([^}]+)\}`)

// opsOperations are the operational routes of CONTRACT.md §6, the only
// operations allowed outside /api, with the media type of each response they
// answer, by status. They need no token, so they have no -for-user twin and
// answer no 401 or 429.
var opsOperations = map[string]map[string]string{
	"GET /healthz":      {"200": "application/json"},
	"GET /readyz":       {"200": "application/json", "503": "application/problem+json"},
	"GET /metrics":      {"200": "text/plain"},
	"GET /openapi.json": {"200": "application/json"},
	"GET /docs":         {"200": "text/html"},
}

// TestOpenAPIDescribesTheContract checks what CONTRACT.md asks of the
// document, for every operation there is and will be.
func TestOpenAPIDescribesTheContract(t *testing.T) {
	doc := decodeSpec(t, servedSpec(t))
	ops := operations(doc)
	byKey := map[string]operation{}
	ids := map[string]string{}
	for _, o := range ops {
		byKey[o.String()] = o
		id := o.str("operationId")
		if prev, dup := ids[id]; dup {
			t.Errorf("%s and %s share the operation id %q", prev, o, id)
		}
		ids[id] = o.String()
	}

	// The operational routes of §6.
	for want := range opsOperations {
		if _, ok := byKey[want]; !ok {
			t.Errorf("%s is not documented", want)
		}
	}

	// The task API of §4: every route of the table, in both path styles.
	for _, want := range []string{
		"GET /api/tasks", "POST /api/tasks", "GET /api/tasks/{id}", "PUT /api/tasks/{id}",
		"PATCH /api/tasks/{id}", "DELETE /api/tasks/{id}", "PATCH /api/tasks/{id}/complete",
	} {
		if _, ok := byKey[want]; !ok {
			t.Errorf("%s is not documented", want)
		}
	}

	for _, o := range ops {
		t.Run(o.String(), func(t *testing.T) {
			opsMedia, operational := opsOperations[o.String()]
			if !operational && !strings.HasPrefix(o.path, "/api/") {
				t.Fatalf("an operation outside /api that is not an operational route: %s", o)
			}
			for _, key := range []string{"operationId", "summary", "description"} {
				if strings.TrimSpace(o.str(key)) == "" {
					t.Errorf("no %s", key)
				}
			}
			if operational {
				checkOpsOperation(t, o, opsMedia)
			} else {
				checkAPIOperation(t, o, byKey)
			}

			// Path parameters: exactly the variables of the template.
			var vars []string
			for _, m := range pathVar.FindAllStringSubmatch(o.path, -1) {
				vars = append(vars, m[1])
			}
			var declared []string
			for name := range o.params("path") {
				declared = append(declared, name)
			}
			sort.Strings(vars)
			sort.Strings(declared)
			if !slices.Equal(vars, declared) {
				t.Errorf("path parameters %q, want %q", declared, vars)
			}
			ps, _ := o.op["parameters"].([]any)
			for _, p := range ps {
				p := p.(map[string]any)
				if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("parameter %v %v has no description", p["in"], p["name"])
				}
			}
			if up, ok := o.params("path")["user_id"]; ok {
				if up["example"] == nil {
					t.Error("path parameter user_id has no example")
				}
			}

			rs := o.responses()
			for status, header := range map[string]string{"401": "WWW-Authenticate", "429": "Retry-After", "503": "Retry-After"} {
				if r := rs[status]; r != nil && lookup(r, pointer("headers", header)) == nil {
					t.Errorf("%s does not document the %s header", status, header)
				}
			}

			success := 0
			for status, r := range rs {
				if d, _ := r["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("response %s has no description", status)
				}
				switch {
				case status == "304":
					if r["content"] != nil {
						t.Error("304 has content")
					}
				case strings.HasPrefix(status, "2"):
					success++
					content, _ := r["content"].(map[string]any)
					if len(content) == 0 {
						t.Errorf("response %s has no content", status)
					}
					for mt, m := range content {
						if lookup(m, "/schema") == nil {
							t.Errorf("response %s %s has no schema", status, mt)
						}
					}
				default:
					// Every error is an RFC 9457 problem, and only that.
					content, _ := json.Marshal(r["content"])
					if string(content) != `{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}` {
						t.Errorf("response %s: content %s, want the Problem schema as application/problem+json", status, content)
					}
				}
			}
			if success != 1 {
				t.Errorf("%d success responses, want 1", success)
			}
		})
	}

	t.Run("Problem", func(t *testing.T) {
		required, _ := json.Marshal(lookup(doc, "/components/schemas/Problem/required"))
		if string(required) != `["type","title","status","detail","instance"]` {
			t.Errorf("Problem requires %s", required)
		}
		for _, field := range []string{"type", "title", "status", "detail", "instance", "errors"} {
			p := lookup(doc, "/components/schemas/Problem/properties/"+field)
			if p == nil {
				t.Errorf("Problem has no %s", field)
				continue
			}
			if d, _ := p.(map[string]any)["description"].(string); d == "" {
				t.Errorf("Problem.%s has no description", field)
			}
		}
		for _, field := range []string{"location", "message", "value"} {
			if lookup(doc, "/components/schemas/ProblemItem/properties/"+field) == nil {
				t.Errorf("ProblemItem has no %s", field)
			}
		}
	})

	t.Run("every property is described", func(t *testing.T) {
		for name, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
			props, _ := s.(map[string]any)["properties"].(map[string]any)
			for prop, p := range props {
				if d, _ := p.(map[string]any)["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s.%s has no description", name, prop)
				}
			}
		}
	})
}

// checkAPIOperation checks what every /api operation owes: a twin in the
// other path style, a bearer token, and the failures that any request can
// meet documented.
func checkAPIOperation(t *testing.T, o operation, byKey map[string]operation) {
	t.Helper()
	// Both path styles, the same operation.
	own := !strings.HasPrefix(o.path, userPathPrefix)
	twinPath, twinID := strings.Replace(o.path, "/api/", userPathPrefix, 1), o.str("operationId")+"-for-user"
	if !own {
		twinPath, twinID = strings.Replace(o.path, userPathPrefix, "/api/", 1), strings.TrimSuffix(o.str("operationId"), "-for-user")
	}
	twin, ok := byKey[o.method+" "+twinPath]
	switch {
	case !ok:
		t.Errorf("no %s %s: every operation is served in both path styles", o.method, twinPath)
	case twin.str("operationId") != twinID:
		t.Errorf("its twin %s has operation id %q, want %q", twin, twin.str("operationId"), twinID)
	}
	if own && strings.HasSuffix(o.str("operationId"), "-for-user") {
		t.Errorf("operation id %q: -for-user belongs to the /api/{user_id}/ style", o.str("operationId"))
	}

	// Authentication: a bearer token, and its failure documented.
	sec, _ := json.Marshal(o.op["security"])
	if string(sec) != `[{"bearerAuth":[]}]` {
		t.Errorf("security %s, want [{\"bearerAuth\":[]}]", sec)
	}

	rs := o.responses()
	required := []string{"401", "429", "500", "503"}
	if !own {
		required = append(required, "403")
	}
	for _, status := range required {
		if rs[status] == nil {
			t.Errorf("no %s response", status)
		}
	}
}

// checkOpsOperation checks an operational route: in its own tag, documented
// as needing no token (an explicit empty security list), and with exactly
// the responses it answers, in their media types; none of them is a 401 or
// 429, which only /api answers.
func checkOpsOperation(t *testing.T, o operation, media map[string]string) {
	t.Helper()
	if tags, _ := json.Marshal(o.op["tags"]); string(tags) != `["operations"]` {
		t.Errorf("tags %s, want [\"operations\"]", tags)
	}
	if sec, _ := json.Marshal(o.op["security"]); string(sec) != `[]` {
		t.Errorf("security %s, want [] (no token needed)", sec)
	}
	if strings.HasSuffix(o.str("operationId"), "-for-user") {
		t.Errorf("operation id %q: -for-user belongs to the /api/{user_id}/ style", o.str("operationId"))
	}
	rs := o.responses()
	for status, r := range rs {
		want, ok := media[status]
		if !ok {
			t.Errorf("response %s is documented; the route answers only %v", status, slices.Sorted(maps.Keys(media)))
			continue
		}
		content, _ := r["content"].(map[string]any)
		if got := slices.Sorted(maps.Keys(content)); !slices.Equal(got, []string{want}) {
			t.Errorf("response %s: media types %q, want [%q]", status, got, want)
		}
	}
	for status := range media {
		if rs[status] == nil {
			t.Errorf("no %s response", status)
		}
	}
}

// Every documented operation is a real route in the path style it names:
// without a token each /api operation answers 401 with a problem, where a
// route that does not exist would answer 404 or 405. The operational routes
// need no token: each answers its documented success (or, for /readyz, the
// documented 503 when Ready fails) in the media type documented for it.
func TestOpenAPIOperationsAreServed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ready error
	}{
		{"ready", nil},
		{"not ready", errors.New("database unreachable")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newAPIEnv(t, func(c *Config) {
				c.Ops.Ready = func(context.Context) error { return tc.ready }
			})
			checkOperationsServed(t, env, tc.ready == nil)
		})
	}
}

// checkOperationsServed requests every documented operation without a token;
// ready says whether env's Ready succeeds.
func checkOperationsServed(t *testing.T, env *apiEnv, ready bool) {
	t.Helper()
	doc := decodeSpec(t, servedSpec(t))
	values := map[string]string{"id": "42", "user_id": "someone"}
	for _, o := range operations(doc) {
		path := pathVar.ReplaceAllStringFunc(o.path, func(v string) string {
			val, ok := values[strings.Trim(v, "{}")]
			if !ok {
				t.Fatalf("%s: no test value for %s", o, v)
			}
			return val
		})
		req := httptest.NewRequest(o.method, path, nil)
		rec := httptest.NewRecorder()
		env.srv.ServeHTTP(rec, req)
		if media, ok := opsOperations[o.String()]; ok {
			want := http.StatusOK
			if o.path == "/readyz" && !ready {
				want = http.StatusServiceUnavailable
			}
			ct, _, _ := strings.Cut(rec.Header().Get("Content-Type"), ";")
			if rec.Code != want || ct != media[strconv.Itoa(want)] {
				t.Errorf("%s without a token: %d %s, want %d %s", o, rec.Code, rec.Header().Get("Content-Type"), want, media[strconv.Itoa(want)])
			}
			if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Errorf("%s: 503 without the documented Retry-After", o)
			}
			continue
		}
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s (documented as %s): %d %s %s, want a 401 problem",
				o.method+" "+path, o, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}
