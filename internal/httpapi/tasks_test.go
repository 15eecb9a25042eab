package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// taskJSON is the exact body of a task in these tests: id 1 of alice unless
// changed, created at apiEpoch.
func taskJSON(fields ...string) string {
	def := []string{
		"id", `1`,
		"user_id", `"alice"`,
		"title", `"Buy milk"`,
		"description", `null`,
		"completed", `false`,
		"priority", `"none"`,
		"tags", `[]`,
		"due_at", `null`,
		"completed_at", `null`,
		"created_at", `"2026-11-25T17:00:00.123456Z"`,
		"updated_at", `"2026-11-25T17:00:00.123456Z"`,
	}
	for i := 0; i+1 < len(fields); i += 2 {
		found := false
		for j := 0; j < len(def); j += 2 {
			if def[j] == fields[i] {
				def[j+1] = fields[i+1]
				found = true
			}
		}
		if !found {
			panic("unknown task field " + fields[i])
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for j := 0; j < len(def); j += 2 {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + def[j] + `":` + def[j+1])
	}
	b.WriteString("}\n")
	return b.String()
}

func wantBody(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("body:\n%s\nwant:\n%s", got, want)
	}
}

func wantHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Fatalf("%s: %q, want %q", name, got, want)
	}
}

func TestCreateTask(t *testing.T) {
	e := newAPIEnv(t)
	// Read-only and unknown fields are ignored; keys are case-sensitive.
	w := e.mustDo(call{method: "POST", path: "/api/tasks", user: "alice", body: `{
		"title": "  Buy milk\u00a0", "description": "2 l", "priority": "high", "tags": [" home ", "shop"],
		"due_at": "2026-11-26T10:00:00.5+01:00",
		"id": 99, "user_id": "mallory", "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z",
		"completed_at": "2000-01-01T00:00:00Z", "Title": "ignored", "extra": {"a": [1, {"b": null}]}}`}, http.StatusCreated)
	wantBody(t, w.Body.String(), taskJSON("description", `"2 l"`, "priority", `"high"`, "tags", `["home","shop"]`,
		"due_at", `"2026-11-26T09:00:00.500000Z"`))
	wantHeader(t, w.Header(), "Location", "/api/tasks/1")
	wantHeader(t, w.Header(), "ETag", `"1.1"`)
	wantHeader(t, w.Header(), "Content-Type", "application/json")

	// The plan's path style, with the trailing slash its frontends send:
	// served directly, and Location in the same style.
	e.clock.Advance(time.Second)
	w = e.mustDo(call{method: "POST", path: "/api/alice/tasks/", user: "alice", body: `{"title":"Call mum","completed":true}`}, http.StatusCreated)
	wantBody(t, w.Body.String(), taskJSON("id", "2", "title", `"Call mum"`, "completed", "true",
		"completed_at", `"2026-11-25T17:00:01.123456Z"`, "created_at", `"2026-11-25T17:00:01.123456Z"`,
		"updated_at", `"2026-11-25T17:00:01.123456Z"`))
	wantHeader(t, w.Header(), "Location", "/api/alice/tasks/2")

	w = e.mustDo(call{method: "GET", path: "/api/alice/tasks/2", user: "alice"}, http.StatusOK)
	wantHeader(t, w.Header(), "ETag", `"2.1"`)
	if strings.Contains(w.Body.String(), "$schema") || w.Header().Get("Link") != "" {
		t.Fatalf("huma's schema link leaked into the response: %v %s", w.Header(), w.Body)
	}
}

func TestCreateTaskValidation(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	deep := `{"title":"a","x":` + long("[", 70) + long("]", 70) + `}`
	e := newAPIEnv(t)
	for _, tc := range []struct {
		name  string
		body  string
		title string   // on success, the stored title as JSON
		errs  []string // on failure, the 422's errors
	}{
		{name: "accented", body: `{"title":"café"}`, title: `"café"`},
		{name: "emoji", body: `{"title":"😀"}`, title: `"😀"`},
		{name: "surrogate pair escape", body: `{"title":"\ud83d\ude00"}`, title: `"😀"`},
		{name: "combining mark", body: "{\"title\":\"e\u0301\"}", title: "\"e\u0301\""},
		{name: "ZWJ emoji", body: `{"title":"👩‍💻"}`, title: `"👩‍💻"`},
		{name: "200 code points", body: `{"title":"` + long("é", 200) + `"}`, title: `"` + long("é", 200) + `"`},
		{name: "200 emoji", body: `{"title":"` + long("😀", 200) + `"}`, title: `"` + long("😀", 200) + `"`},
		{name: "201 code points", body: `{"title":"` + long("é", 201) + `"}`,
			errs: []string{"body.title: must be at most 200 characters (got 201)"}},
		{name: "only U+200B", body: `{"title":"\u200b"}`,
			errs: []string{"body.title: must not be empty or only white space"}},
		{name: "only spaces and NBSP", body: "{\"title\":\" \u00a0\\t\"}",
			errs: []string{"body.title: must not be empty or only white space"}},
		{name: "NUL", body: `{"title":"a\u0000b"}`, errs: []string{"body.title: must not contain NUL characters"}},
		{name: "invalid UTF-8", body: "{\"title\":\"a\xffb\"}", errs: []string{"body.title: invalid UTF-8"}},
		{name: "invalid UTF-8 in an unknown field", body: "{\"title\":\"a\",\"x\":[\"\xc3\"]}", errs: []string{"body.x[0]: invalid UTF-8"}},
		{name: "lone high surrogate", body: `{"title":"\ud800"}`,
			errs: []string{`body.title: unpaired surrogate in a \u escape: not a Unicode character`}},
		{name: "lone low surrogate", body: `{"title":"x\udc00"}`,
			errs: []string{`body.title: unpaired surrogate in a \u escape: not a Unicode character`}},
		{name: "high surrogate then a letter escape", body: `{"title":"\ud800\u0041"}`,
			errs: []string{`body.title: unpaired surrogate in a \u escape: not a Unicode character`}},
		{name: "surrogate in a key", body: `{"\ud800":1,"title":"a"}`,
			errs: []string{"body.\uFFFD: object key: unpaired surrogate in a \\u escape: not a Unicode character"}},
		{name: "missing title", body: `{}`, errs: []string{"body.title: is required"}},
		{name: "keys are case-sensitive", body: `{"Title":"a"}`, errs: []string{"body.title: is required"}},
		{name: "title number", body: `{"title":5}`, errs: []string{"body.title: must be a string, not a number"}},
		{name: "title null", body: `{"title":null}`, errs: []string{"body.title: must be a string, not null"}},
		{name: "wrong types", body: `{"title":"a","description":7,"completed":"yes","priority":1,"tags":"a","due_at":true}`, errs: []string{
			"body.description: must be a string or null, not a number",
			"body.completed: must be true or false, not a string",
			"body.priority: must be a string, not a number",
			"body.tags: must be an array of strings, not a string",
			"body.due_at: must be a string or null, not a boolean",
		}},
		{name: "tag elements", body: `{"title":"a","tags":["x",1,null,{}]}`, errs: []string{
			"body.tags[1]: must be a string, not a number",
			"body.tags[2]: must be a string, not null",
			"body.tags[3]: must be a string, not an object",
		}},
		{name: "every problem at once", body: `{"title":"","priority":"urgent","tags":["a","a"," "],"description":7,"due_at":"tomorrow"}`, errs: []string{
			"body.description: must be a string or null, not a number",
			"body.due_at: must be an RFC 3339 date-time such as 2026-11-25T17:00:00Z or 2026-11-25T18:00:00+01:00",
			"body.title: must not be empty or only white space",
			"body.priority: must be one of none, low, medium, high",
			"body.tags[1]: duplicate tag",
			"body.tags[2]: must not be empty or only white space",
		}},
		{name: "too many tags", body: `{"title":"a","tags":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21"]}`,
			errs: []string{"body.tags: must have at most 20 tags (got 21)"}},
		{name: "long tag", body: `{"title":"a","tags":["` + long("t", 51) + `"]}`, errs: []string{"body.tags[0]: must be at most 50 characters (got 51)"}},
		{name: "long description", body: `{"title":"a","description":"` + long("d", 5001) + `"}`,
			errs: []string{"body.description: must be at most 5000 characters (got 5001)"}},
		{name: "due_at year 0", body: `{"title":"a","due_at":"0000-01-01T00:00:00Z"}`, errs: []string{"body.due_at: must be between the years 0001 and 9999"}},
		{name: "duplicate key", body: `{"title":"a","title":"b"}`, errs: []string{"body.title: duplicate key"}},
		{name: "duplicate nested key", body: `{"title":"a","x":{"k":1,"k":2}}`, errs: []string{"body.x.k: duplicate key"}},
		{name: "duplicate key in an array", body: `{"title":"a","x":[{"k":1},{"k":1,"k":2,"k":3}]}`,
			errs: []string{"body.x[1].k: duplicate key", "body.x[1].k: duplicate key"}},
		{name: "duplicates and invalid values together", body: `{"title":"a","title":"b","priority":"p"}`,
			errs: []string{"body.title: duplicate key", "body.priority: must be one of none, low, medium, high"}},
		{name: "trailing object", body: `{"title":"a"} {}`, errs: []string{"body: invalid JSON at byte 14: unexpected data after the JSON value"}},
		{name: "trailing garbage", body: `{"title":"a"}x`, errs: []string{"body: invalid JSON at byte 13: unexpected data after the JSON value"}},
		{name: "syntax error", body: `{"title":}`, errs: []string{"body: invalid JSON at byte 9: unexpected character '}'"}},
		{name: "unterminated", body: `{"title":"a`, errs: []string{"body: invalid JSON at byte 11: unterminated string"}},
		{name: "raw control character", body: "{\"title\":\"a\nb\"}", errs: []string{"body: invalid JSON at byte 11: control character in a string (escape it)"}},
		{name: "bad escape", body: `{"title":"\x41"}`, errs: []string{`body: invalid JSON at byte 11: invalid escape \x in a string`}},
		{name: "single quotes", body: `{'title':'a'}`, errs: []string{"body: invalid JSON at byte 1: expected a string as an object key"}},
		{name: "leading zero number", body: `{"title":"a","n":01}`, errs: []string{"body: invalid JSON at byte 18: expected ',' or '}' after an object member"}},
		{name: "nesting", body: deep, errs: []string{"body: invalid JSON at byte 80: nested more than 64 levels deep"}},
		{name: "an array", body: `[{"title":"a"}]`, errs: []string{"body: must be a JSON object"}},
		{name: "null", body: `null`, errs: []string{"body: must be a JSON object"}},
		{name: "a string", body: `"a"`, errs: []string{"body: must be a JSON object"}},
		{name: "white space only", body: " \n", errs: []string{`body: a JSON object is required, e.g. {"title":"Buy milk"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One user per row, so that rows share the server but not tasks.
			user := "u-" + strings.ReplaceAll(tc.name, " ", "-")
			w := e.do(call{method: "POST", path: "/api/tasks", user: user, body: tc.body})
			if tc.errs == nil {
				if w.Code != http.StatusCreated {
					t.Fatalf("status %d, want 201: %s", w.Code, w.Body)
				}
				id := strings.TrimPrefix(w.Header().Get("Location"), "/api/tasks/")
				wantBody(t, w.Body.String(), taskJSON("id", id, "user_id", `"`+user+`"`, "title", tc.title))
				return
			}
			p := decodeProblem(t, w, http.StatusUnprocessableEntity)
			wantErrors(t, p, tc.errs...)
			if p.Instance != "/api/tasks" {
				t.Fatalf("instance %q", p.Instance)
			}
			// Nothing was stored.
			wantBody(t, e.mustDo(call{method: "GET", path: "/api/tasks", user: user}, http.StatusOK).Body.String(), "[]\n")
		})
	}
}

func TestCreateTaskProblemBody(t *testing.T) {
	e := newAPIEnv(t)
	w := e.do(call{method: "POST", path: "/api/alice/tasks", user: "alice", body: `{"title":" ","priority":"urgent","completed":1,"tags":["a","b","c","a"],"due_at":"x"}`})
	wantBody(t, w.Body.String(), `{"type":"about:blank","title":"Unprocessable Entity","status":422,`+
		`"detail":"body.completed: must be true or false, not a number; body.due_at: must be an RFC 3339 date-time such as 2026-11-25T17:00:00Z or 2026-11-25T18:00:00+01:00; body.title: must not be empty or only white space (and 2 more)",`+
		`"instance":"/api/alice/tasks","errors":[`+
		`{"location":"body.completed","message":"must be true or false, not a number","value":1},`+
		`{"location":"body.due_at","message":"must be an RFC 3339 date-time such as 2026-11-25T17:00:00Z or 2026-11-25T18:00:00+01:00","value":"x"},`+
		`{"location":"body.title","message":"must not be empty or only white space","value":" "},`+
		`{"location":"body.priority","message":"must be one of none, low, medium, high","value":"urgent"},`+
		`{"location":"body.tags[3]","message":"duplicate tag","value":"a"}]}`+"\n")
	wantHeader(t, w.Header(), "Content-Type", "application/problem+json")
}

func TestBodyMediaTypeAndSize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		status int
	}{
		{"json", "application/json", `{"title":"a"}`, http.StatusCreated},
		{"json utf-8", "application/json; charset=UTF-8", `{"title":"a"}`, http.StatusCreated},
		{"upper case", "Application/JSON", `{"title":"a"}`, http.StatusCreated},
		{"merge patch", "application/merge-patch+json", `{"title":"a"}`, http.StatusCreated},
		{"vendor json", "application/vnd.todo+json", `{"title":"a"}`, http.StatusCreated},
		{"text", "text/plain", `{"title":"a"}`, http.StatusUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", `title=a`, http.StatusUnsupportedMediaType},
		{"latin1", "application/json; charset=latin1", `{"title":"a"}`, http.StatusUnsupportedMediaType},
		{"bare +json", "application/+json", `{"title":"a"}`, http.StatusUnsupportedMediaType},
		{"malformed", "application/json;;", `{"title":"a"}`, http.StatusUnsupportedMediaType},
		{"none", "-", `{"title":"a"}`, http.StatusUnsupportedMediaType},
		{"wrong type, empty body", "text/plain", ``, http.StatusUnprocessableEntity},
		{"no type, empty body", "-", ``, http.StatusUnprocessableEntity},
		{"64 KiB", "application/json", `{"title":"a","pad":"` + strings.Repeat("x", maxBodyBytes-22) + `"}`, http.StatusCreated},
		{"64 KiB + 1", "application/json", `{"title":"a","pad":"` + strings.Repeat("x", maxBodyBytes-21) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t)
			w := e.do(call{method: "POST", path: "/api/tasks", user: "alice", body: tc.body, ct: tc.ct})
			if tc.status == http.StatusCreated {
				if w.Code != tc.status {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			p := decodeProblem(t, w, tc.status)
			switch tc.status {
			case http.StatusUnsupportedMediaType:
				if tc.ct == "-" {
					wantBody(t, p.Detail, "the request body has no Content-Type; send it as application/json")
				} else {
					wantBody(t, p.Detail, "the request body must be JSON (Content-Type: application/json, application/merge-patch+json or another */*+json type, in UTF-8)")
				}
			case http.StatusRequestEntityTooLarge:
				wantBody(t, p.Detail, "the request body is larger than 65536 bytes (64 KiB)")
			}
		})
	}
}

// A body announced larger than the limit is refused before it is read.
func TestBodyTooLargeByContentLength(t *testing.T) {
	e := newAPIEnv(t)
	r := newRequest(t, e, "POST", "/api/tasks", "alice", strings.NewReader(`{"title":"a"}`))
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = maxBodyBytes + 1
	w := serve(e, r)
	decodeProblem(t, w, http.StatusRequestEntityTooLarge)
}

func TestGetTask(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	for _, path := range []string{"/api/tasks/1", "/api/alice/tasks/1", "/api/alice/tasks/1/"} {
		w := e.mustDo(call{method: "GET", path: path, user: "alice"}, http.StatusOK)
		wantBody(t, w.Body.String(), taskJSON())
		wantHeader(t, w.Header(), "ETag", `"1.1"`)
	}
	w := e.mustDo(call{method: "HEAD", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	wantHeader(t, w.Header(), "ETag", `"1.1"`)
}

func TestUpdateTask(t *testing.T) {
	full := `{"title":"Buy milk","description":"2 l","priority":"low","tags":["shop"],"due_at":"2026-11-26T09:00:00Z"}`
	fullJSON := []string{"description", `"2 l"`, "priority", `"low"`, "tags", `["shop"]`, "due_at", `"2026-11-26T09:00:00.000000Z"`}
	later := `"2026-11-25T17:00:02.123456Z"`
	with := func(fields ...string) string {
		return taskJSON(append(append(append([]string{}, fullJSON...), "updated_at", later), fields...)...)
	}
	for _, tc := range []struct {
		name   string
		method string
		ct     string
		body   string
		want   string
		etag   string
	}{
		{"PUT title only keeps the rest", "PUT", "", `{"title":"Buy oat milk"}`, with("title", `"Buy oat milk"`), `"1.2"`},
		{"PUT omitting description keeps it", "PUT", "", `{"title":"Buy milk","completed":false}`, with(), `"1.2"`},
		{"PUT description null clears it", "PUT", "", `{"title":"Buy milk","description":null}`, with("description", "null"), `"1.2"`},
		{"PUT due_at null clears it", "PUT", "", `{"due_at":null}`, with("due_at", "null"), `"1.2"`},
		{"PUT empty object still writes", "PUT", "", `{}`, with(), `"1.2"`},
		{"PUT complete", "PUT", "", `{"completed":true}`, with("completed", "true", "completed_at", later), `"1.2"`},
		{"PUT read-only fields ignored", "PUT", "", `{"id":7,"user_id":"bob","created_at":"2000-01-01T00:00:00Z","completed_at":"2000-01-01T00:00:00Z"}`, with(), `"1.2"`},
		{"PATCH merge patch", "PATCH", "application/merge-patch+json", `{"priority":"high","tags":[],"due_at":"2026-12-01T00:00:00-05:00"}`,
			with("priority", `"high"`, "tags", "[]", "due_at", `"2026-12-01T05:00:00.000000Z"`), `"1.2"`},
		{"PATCH json", "PATCH", "application/json", `{"description":null,"title":" New "}`, with("description", "null", "title", `"New"`), `"1.2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t)
			e.create("alice", full)
			e.clock.Advance(2 * time.Second)
			for _, path := range []string{"/api/tasks/1", "/api/alice/tasks/1"} {
				w := e.mustDo(call{method: tc.method, path: path, user: "alice", body: tc.body, ct: tc.ct}, http.StatusOK)
				etag := tc.etag
				if path != "/api/tasks/1" {
					etag = strings.Replace(etag, ".2", ".3", 1)
				}
				wantBody(t, w.Body.String(), tc.want)
				wantHeader(t, w.Header(), "ETag", etag)
			}
			w := e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
			wantBody(t, w.Body.String(), tc.want)
		})
	}
}

func TestUpdateTaskInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		path   string
		ct     string
		body   string
		status int
		errs   []string
	}{
		{"title null", "PATCH", "/api/tasks/1", "", `{"title":null}`, 422, []string{"body.title: must be a string, not null"}},
		{"completed null", "PUT", "/api/tasks/1", "", `{"completed":null}`, 422, []string{"body.completed: must be true or false, not null"}},
		{"priority null", "PATCH", "/api/tasks/1", "", `{"priority":null}`, 422, []string{"body.priority: must be a string, not null"}},
		{"tags null", "PATCH", "/api/tasks/1", "", `{"tags":null}`, 422, []string{"body.tags: must be an array of strings, not null"}},
		{"empty title", "PUT", "/api/tasks/1", "", `{"title":"\u200b\ufeff"}`, 422, []string{"body.title: must not be empty or only white space"}},
		{"bad priority and description", "PUT", "/api/tasks/1", "", `{"priority":"HIGH","description":"a\u0000"}`, 422,
			[]string{"body.description: must not contain NUL characters", "body.priority: must be one of none, low, medium, high"}},
		{"not an object", "PATCH", "/api/tasks/1", "application/merge-patch+json", `["title"]`, 422, []string{"body: must be a JSON object"}},
		{"empty body", "PUT", "/api/tasks/1", "", ``, 422, []string{`body: a JSON object is required, e.g. {"title":"Buy oat milk"}`}},
		{"duplicate key", "PATCH", "/api/tasks/1", "", `{"completed":true,"completed":false}`, 422, []string{"body.completed: duplicate key"}},
		{"id too large and bad body", "PUT", "/api/tasks/9223372036854775808", "", `{"title":""}`, 422,
			[]string{"path.id: is too large: ids fit in a signed 64-bit integer", "body.title: must not be empty or only white space"}},
		{"text body", "PUT", "/api/tasks/1", "text/plain", `title=x`, 415, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t)
			e.create("alice", `{"title":"Buy milk"}`)
			w := e.do(call{method: tc.method, path: tc.path, user: "alice", body: tc.body, ct: tc.ct})
			p := decodeProblem(t, w, tc.status)
			wantErrors(t, p, tc.errs...)
			// Nothing changed.
			w = e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
			wantBody(t, w.Body.String(), taskJSON())
			wantHeader(t, w.Header(), "ETag", `"1.1"`)
		})
	}
}

func TestCompleteTask(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	at := func(sec int) string {
		return `"` + apiEpoch.Add(time.Duration(sec)*time.Second).Format(timeFormat) + `"`
	}
	for i, tc := range []struct {
		name string
		path string
		ct   string
		body string
		done bool
		// completedAt is the second of the clock completed_at shows; -1 null.
		completedAt int
	}{
		// What frontends written for the plan send: JSON content type, no body.
		{"empty body with a JSON content type toggles", "/api/alice/tasks/1/complete", "application/json", "", true, 1},
		{"no body, no content type toggles back", "/api/tasks/1/complete", "-", "", false, -1},
		{"empty body labelled text/plain toggles", "/api/tasks/1/complete", "text/plain;charset=UTF-8", "", true, 3},
		{"and back", "/api/tasks/1/complete", "", "{}", false, -1},
		{"empty object toggles", "/api/tasks/1/complete", "", "{}", true, 5},
		{"white space toggles", "/api/tasks/1/complete", "", " \n", false, -1},
		{"set true", "/api/tasks/1/complete", "", `{"completed":true}`, true, 7},
		{"set true again keeps completed_at", "/api/tasks/1/complete", "", `{"completed":true}`, true, 7},
		{"other fields are ignored", "/api/alice/tasks/1/complete/", "", `{"completed":false,"title":"ignored","priority":"nope"}`, false, -1},
	} {
		e.clock.Advance(time.Second)
		w := e.do(call{method: "PATCH", path: tc.path, user: "alice", body: tc.body, ct: tc.ct})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.name, w.Code, w.Body)
		}
		completedAt := "null"
		if tc.completedAt >= 0 {
			completedAt = at(tc.completedAt)
		}
		want := taskJSON("completed", map[bool]string{true: "true", false: "false"}[tc.done],
			"completed_at", completedAt, "updated_at", at(i+1))
		if w.Body.String() != want {
			t.Fatalf("%s: body\n%s\nwant\n%s", tc.name, w.Body, want)
		}
		wantHeader(t, w.Header(), "ETag", `"1.`+strconv.Itoa(i+2)+`"`)
	}

	for _, tc := range []struct {
		body, ct string
		status   int
		errs     []string
	}{
		{`{"completed":"yes"}`, "", 422, []string{"body.completed: must be true or false, not a string"}},
		{`{"completed":null}`, "", 422, []string{"body.completed: must be true or false, not null"}},
		{`true`, "", 422, []string{"body: must be a JSON object"}},
		{`{"completed":true`, "", 422, []string{"body: invalid JSON at byte 17: unexpected end of the body inside an object"}},
		{`{"completed":true}`, "text/plain", 415, nil},
	} {
		p := decodeProblem(t, e.do(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice", body: tc.body, ct: tc.ct}), tc.status)
		wantErrors(t, p, tc.errs...)
	}
}

func TestDeleteTask(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	e.create("alice", `{"title":"Call mum"}`)
	w := e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	wantBody(t, w.Body.String(), `{"message":"Task deleted successfully","id":1}`+"\n")
	w = e.mustDo(call{method: "DELETE", path: "/api/alice/tasks/2/", user: "alice"}, http.StatusOK)
	wantBody(t, w.Body.String(), `{"message":"Task deleted successfully","id":2}`+"\n")
	for _, id := range []string{"1", "2"} {
		e.mustDo(call{method: "GET", path: "/api/tasks/" + id, user: "alice"}, http.StatusNotFound)
		e.mustDo(call{method: "DELETE", path: "/api/tasks/" + id, user: "alice"}, http.StatusNotFound)
	}
}

// Another user's task and a missing task give byte-identical answers, on
// every method and in both path styles; the other user's attempts change
// nothing.
func TestNotFoundIsIdentical(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	calls := func(prefix string) []call {
		return []call{
			{method: "GET", path: prefix + "/tasks/1", user: "bob"},
			{method: "HEAD", path: prefix + "/tasks/1", user: "bob"},
			{method: "PUT", path: prefix + "/tasks/1", user: "bob", body: `{"title":"mine now"}`},
			{method: "PATCH", path: prefix + "/tasks/1", user: "bob", body: `{"completed":true}`},
			{method: "PATCH", path: prefix + "/tasks/1/complete", user: "bob", ct: "application/json"},
			{method: "PATCH", path: prefix + "/tasks/1", user: "bob", body: `{}`, header: []string{"If-Match", "*"}},
			{method: "DELETE", path: prefix + "/tasks/1", user: "bob"},
			{method: "DELETE", path: prefix + "/tasks/1", user: "bob", header: []string{"If-Match", `"1.1"`}},
		}
	}
	all := append(calls("/api"), calls("/api/bob")...)
	var others []string
	for _, c := range all {
		w := e.do(c)
		if c.method != "HEAD" {
			decodeProblem(t, w, http.StatusNotFound)
		}
		others = append(others, w.Body.String())
	}
	w := e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	wantBody(t, w.Body.String(), taskJSON())
	wantHeader(t, w.Header(), "ETag", `"1.1"`)

	e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	for i, c := range all {
		w := e.do(c)
		if w.Code != http.StatusNotFound || w.Body.String() != others[i] {
			t.Fatalf("%s %s: missing task answered %d %s; another user's task %s", c.method, c.path, w.Code, w.Body, others[i])
		}
	}
	wantBody(t, others[0], `{"type":"about:blank","title":"Not Found","status":404,"detail":"task not found","instance":"/api/tasks/1"}`+"\n")
}

func TestInvalidTaskIDs(t *testing.T) {
	e := newAPIEnv(t)
	for _, id := range []string{"abc", "%2B1", "01", "-1", "0", "1.5", "1e3", "%201", "0x1f", "9223372036854775808",
		"99999999999999999999999", "changes", "events", "bulk", "stats"} {
		for _, m := range []struct{ method, suffix, body string }{
			{"GET", "", ""}, {"PUT", "", `{"title":"a"}`}, {"PATCH", "", `{"title":"a"}`}, {"DELETE", "", ""}, {"PATCH", "/complete", ""},
		} {
			if m.method == "GET" && m.suffix == "" && (id == "changes" || id == "stats") {
				continue // list-changes and get-task-stats
			}
			for _, prefix := range []string{"/api/tasks/", "/api/alice/tasks/"} {
				path := prefix + id + m.suffix
				w := e.do(call{method: m.method, path: path, user: "alice", body: m.body})
				p := decodeProblem(t, w, http.StatusUnprocessableEntity)
				if len(p.Errors) != 1 || p.Errors[0].Location != "path.id" {
					t.Fatalf("%s %s: errors %+v, want one at path.id", m.method, path, p.Errors)
				}
			}
		}
	}
	// The largest id is an id: it is just not there.
	decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks/9223372036854775807", user: "alice"}), http.StatusNotFound)
	p := decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks/01", user: "alice"}), http.StatusUnprocessableEntity)
	wantErrors(t, p, "path.id: expected string to be a positive integer without sign or leading zeros")
	if p.Errors[0].Value != "01" {
		t.Fatalf("value %v", p.Errors[0].Value)
	}
}

func TestTaskConditionalGet(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	for _, tc := range []struct {
		inm    string
		status int
	}{
		{`"1.1"`, http.StatusNotModified},
		{`W/"1.1"`, http.StatusNotModified},
		{`"x", "1.1"`, http.StatusNotModified},
		{`*`, http.StatusNotModified},
		{`"1.2"`, http.StatusOK},
		{`"2.1"`, http.StatusOK},
		{`1.1`, http.StatusOK},
		{`"1.1`, http.StatusOK},
	} {
		for _, path := range []string{"/api/tasks/1", "/api/alice/tasks/1"} {
			w := e.do(call{method: "GET", path: path, user: "alice", header: []string{"If-None-Match", tc.inm}})
			if w.Code != tc.status {
				t.Fatalf("If-None-Match %s: status %d, want %d", tc.inm, w.Code, tc.status)
			}
			wantHeader(t, w.Header(), "ETag", `"1.1"`)
			if tc.status == http.StatusNotModified && w.Body.Len() != 0 {
				t.Fatalf("304 with a body: %s", w.Body)
			}
		}
	}
	// A missing task is a 404 whatever the precondition.
	decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks/2", user: "alice", header: []string{"If-None-Match", "*"}}), http.StatusNotFound)
}

func TestTaskPreconditions(t *testing.T) {
	e := newAPIEnv(t)
	e.create("alice", `{"title":"Buy milk"}`)
	stale := `{"type":"about:blank","title":"Precondition Failed","status":412,"detail":"the task has changed since the ETag given in If-Match: fetch it again and retry; nothing was changed","instance":"/api/tasks/1"}` + "\n"
	noMatch := `{"type":"about:blank","title":"Precondition Failed","status":412,"detail":"If-Match names no current version of this task (send the ETag of the task as received); nothing was changed","instance":"/api/tasks/1"}` + "\n"
	version := 1
	for _, tc := range []struct {
		name    string
		method  string
		suffix  string
		body    string
		ifMatch string
		want    string // "" for a 200 that bumps the version
	}{
		{"fresh PUT", "PUT", "", `{"title":"v2"}`, `"1.1"`, ""},
		{"stale PUT", "PUT", "", `{"title":"lost update"}`, `"1.1"`, stale},
		{"star PATCH", "PATCH", "", `{"title":"v3"}`, `*`, ""},
		{"weak tag", "PATCH", "", `{"title":"x"}`, `W/"1.3"`, noMatch},
		{"another task's tag", "PATCH", "", `{"title":"x"}`, `"2.3"`, noMatch},
		{"unquoted", "PATCH", "", `{"title":"x"}`, `1.3`, noMatch},
		{"garbage version", "PATCH", "", `{"title":"x"}`, `"1.x"`, noMatch},
		{"a list with the current one", "PATCH", "", `{"title":"v4"}`, `"1.2", "1.3"`, ""},
		{"a list of stale ones", "PATCH", "", `{"title":"x"}`, `"1.1", "1.2", W/"1.4"`, stale},
		{"stale complete", "PATCH", "/complete", ``, `"1.3"`, stale},
		{"fresh complete", "PATCH", "/complete", ``, `"1.4"`, ""},
		{"stale delete", "DELETE", "", ``, `"1.4"`, stale},
	} {
		w := e.do(call{method: tc.method, path: "/api/tasks/1" + tc.suffix, user: "alice", body: tc.body, ct: "application/json",
			header: []string{"If-Match", tc.ifMatch}})
		if tc.want != "" {
			decodeProblem(t, w, http.StatusPreconditionFailed)
			wantBody(t, w.Body.String(), strings.Replace(tc.want, `"instance":"/api/tasks/1"`, `"instance":"/api/tasks/1`+tc.suffix+`"`, 1))
		} else {
			if w.Code != http.StatusOK {
				t.Fatalf("%s: status %d: %s", tc.name, w.Code, w.Body)
			}
			version++
		}
		// A refused write changed nothing.
		got := e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK).Header().Get("ETag")
		if want := `"1.` + strconv.Itoa(version) + `"`; got != want {
			t.Fatalf("%s: ETag %s, want %s", tc.name, got, want)
		}
	}
	e.mustDo(call{method: "DELETE", path: "/api/alice/tasks/1", user: "alice", header: []string{"If-Match", `"1.5"`}}, http.StatusOK)
	// On a missing task the answer is 404, not 412.
	for _, im := range []string{`"1.5"`, "*", `"1.5", "1.6"`} {
		decodeProblem(t, e.do(call{method: "PUT", path: "/api/tasks/1", user: "alice", body: `{}`, header: []string{"If-Match", im}}), http.StatusNotFound)
	}
}

// A frontend written for the plan, over real HTTP: the hackathon path style
// with trailing slashes, PUT that nulls or omits the description, PATCH
// …/complete with a JSON content type and no body, DELETE that expects the
// plan's message. No request may be redirected.
func TestPlanFrontendOverHTTP(t *testing.T) {
	e := newAPIEnv(t)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		return fmt.Errorf("redirected to %s", r.URL)
	}
	token := e.token("alice")
	send := func(method, path, ct, body string, status int) (string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, b)
		}
		return string(b), resp.Header
	}
	body, _ := send("GET", "/api/alice/tasks/", "", "", http.StatusOK)
	wantBody(t, body, "[]\n")
	body, h := send("POST", "/api/alice/tasks/", "application/json", `{"title":"Buy milk","description":"2 l"}`, http.StatusCreated)
	wantHeader(t, h, "Location", "/api/alice/tasks/1")
	wantBody(t, body, taskJSON("description", `"2 l"`))
	body, _ = send("PUT", "/api/alice/tasks/1", "application/json", `{"title":"Buy milk","description":null,"completed":false}`, http.StatusOK)
	wantBody(t, body, taskJSON())
	body, _ = send("PUT", "/api/alice/tasks/1", "application/json", `{"title":"Buy oat milk"}`, http.StatusOK)
	wantBody(t, body, taskJSON("title", `"Buy oat milk"`))
	body, _ = send("PATCH", "/api/alice/tasks/1/complete", "application/json", "", http.StatusOK)
	wantBody(t, body, taskJSON("title", `"Buy oat milk"`, "completed", "true", "completed_at", `"2026-11-25T17:00:00.123456Z"`))
	body, _ = send("GET", "/api/alice/tasks/?status=completed", "", "", http.StatusOK)
	wantBody(t, body, "["+strings.TrimSuffix(taskJSON("title", `"Buy oat milk"`, "completed", "true", "completed_at", `"2026-11-25T17:00:00.123456Z"`), "\n")+"]\n")
	body, _ = send("DELETE", "/api/alice/tasks/1", "", "", http.StatusOK)
	wantBody(t, body, `{"message":"Task deleted successfully","id":1}`+"\n")

	// Over the wire, an oversized body is refused from its Content-Length.
	body, _ = send("POST", "/api/alice/tasks/", "application/json", `{"title":"`+strings.Repeat("x", maxBodyBytes)+`"}`, http.StatusRequestEntityTooLarge)
	if !strings.Contains(body, `"status":413`) {
		t.Fatalf("413 body %s", body)
	}
	// And raw invalid UTF-8 reaches the decoder as sent.
	body, _ = send("POST", "/api/tasks", "application/json", "{\"title\":\"\xc0\xaf\"}", http.StatusUnprocessableEntity)
	if !strings.Contains(body, `"location":"body.title","message":"invalid UTF-8"`) {
		t.Fatalf("422 body %s", body)
	}
}

// Benchmarks of whole requests through the server (SQLite underneath), for
// profiling the HTTP layer: go test -bench . -run '^$' ./internal/httpapi
func BenchmarkRequests(b *testing.B) {
	for _, bc := range []struct {
		name string
		call call
	}{
		{"get-task", call{method: "GET", path: "/api/tasks/1"}},
		{"list-tasks", call{method: "GET", path: "/api/alice/tasks?limit=50"}},
		{"create-task", call{method: "POST", path: "/api/tasks", body: `{"title":"Buy milk","description":"2 l","tags":["home"],"priority":"high"}`}},
		{"patch-task", call{method: "PATCH", path: "/api/tasks/1", body: `{"completed":true}`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newAPIEnv(b)
			for range 60 {
				e.do(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"seed","tags":["a","b"]}`})
			}
			bc.call.user = "alice"
			b.ResetTimer()
			for b.Loop() {
				if w := e.do(bc.call); w.Code >= 300 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
