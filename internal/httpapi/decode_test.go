package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// plain converts a parsed value to what encoding/json decodes the same text
// to (numbers as json.Number), to compare the two parsers.
func plain(v jsonValue) any {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonBool:
		return v.boolean
	case jsonNumber:
		return json.Number(v.str)
	case jsonString:
		return v.str
	case jsonArray:
		out := make([]any, len(v.items))
		for i, it := range v.items {
			out[i] = plain(it)
		}
		return out
	default:
		out := make(map[string]any, len(v.members))
		for _, m := range v.members {
			out[m.key] = plain(m.value)
		}
		return out
	}
}

func TestParseJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the value re-encoded, or the problems
	}{
		{`0`, `0`},
		{`-0`, `-0`},
		{`-12.5e+10`, `-12.5e+10`},
		{`1E-2`, `1E-2`},
		{` true `, `true`},
		{"\t\r\nfalse", `false`},
		{`null`, `null`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`[1,[2,{"a":[]}],"x"]`, `[1,[2,{"a":[]}],"x"]`},
		{`"\"\\\/\b\f\n\r\t\u0041\u00e9\u00E9\ud83d\ude00"`, `"\"\\/\b\f\n\r\tAéé😀"`},
		{`"plain ascii"`, `"plain ascii"`},
		{`01`, `body: invalid JSON at byte 1: unexpected data after the JSON value`},
		{`1.`, `body: invalid JSON at byte 2: invalid number: digits expected after the decimal point`},
		{`.5`, `body: invalid JSON at byte 0: unexpected character '.'`},
		{`-`, `body: invalid JSON at byte 1: invalid number`},
		{`1e`, `body: invalid JSON at byte 2: invalid number: digits expected in the exponent`},
		{`+1`, `body: invalid JSON at byte 0: unexpected character '+'`},
		{`tru`, `body: invalid JSON at byte 0: invalid literal (expected true)`},
		{`nul`, `body: invalid JSON at byte 0: invalid literal (expected null)`},
		{`fals`, `body: invalid JSON at byte 0: invalid literal (expected false)`},
		{`"\u00G0"`, `body: invalid JSON at byte 3: \u escape needs four hex digits`},
		{`"\u12"`, `body: invalid JSON at byte 3: \u escape needs four hex digits`},
		{`"\`, `body: invalid JSON at byte 2: unterminated string`},
		{"\"\\\x01\"", `body: invalid JSON at byte 2: invalid escape \byte 0x01 in a string`},
		{"\"é", `body: invalid JSON at byte 3: unterminated string`},
		{`[1,]`, `body: invalid JSON at byte 3: unexpected character ']'`},
		{`[1`, `body: invalid JSON at byte 2: unexpected end of the body inside an array`},
		{`[1 2]`, `body: invalid JSON at byte 3: expected ',' or ']' after an array element`},
		{`[`, `body: invalid JSON at byte 1: unexpected end of the body`},
		{`{"a":1,}`, `body: invalid JSON at byte 7: expected a string as an object key`},
		{`{"a" 1}`, `body: invalid JSON at byte 5: expected ':' after an object key`},
		{`{1:2}`, `body: invalid JSON at byte 1: expected a string as an object key`},
		{`{"a":1`, `body: invalid JSON at byte 6: unexpected end of the body inside an object`},
		{``, `body: invalid JSON at byte 0: the body is empty`},
		{"\xef\xbb\xbf{}", `body: invalid JSON at byte 0: unexpected character byte 0xef`},
		{`{"a":{"b":1,"b":2},"a":3}`, "body.a.b: duplicate key\nbody.a: duplicate key"},
		{`["\ud800", "\udfff", "\ud800\ud800"]`, "body[0]: unpaired surrogate in a \\u escape: not a Unicode character\n" +
			"body[1]: unpaired surrogate in a \\u escape: not a Unicode character\n" +
			"body[2]: unpaired surrogate in a \\u escape: not a Unicode character"},
		{"{\"a\":\"\xed\xa0\x80\"}", "body.a: invalid UTF-8"},
		{"{\"k\xff\":1}", "body.k\uFFFD: object key: invalid UTF-8"},
		{`{"a":"\ud800"} x`, "body.a: unpaired surrogate in a \\u escape: not a Unicode character\nbody: invalid JSON at byte 15: unexpected data after the JSON value"},
	} {
		v, problems, ok := parseJSON([]byte(tc.in))
		var got string
		if len(problems) == 0 && ok {
			b, err := json.Marshal(plain(v))
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
			if v.kind == jsonNumber {
				got = v.str
			}
		} else {
			lines := make([]string, len(problems))
			for i, p := range problems {
				lines[i] = p.Location + ": " + p.Message
			}
			got = strings.Join(lines, "\n")
		}
		if got != tc.want {
			t.Errorf("parseJSON(%q):\n%s\nwant:\n%s", tc.in, got, tc.want)
		}
	}
}

func TestIsJSONMediaType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                   true,
		"application/json; charset=utf-8":    true,
		"application/json;charset=\"UTF-8\"": true,
		"APPLICATION/JSON":                   true,
		"application/merge-patch+json":       true,
		"application/problem+json":           true,
		"text/vnd.x+json":                    true,
		"application/json; charset=utf-16":   false,
		"application/+json":                  false,
		"/+json":                             false,
		"application/jsonx":                  false,
		"application/json-seq":               false,
		"text/json+plain":                    false,
		"text/plain":                         false,
		"multipart/form-data; boundary=x":    false,
		"application/json;;":                 false,
		"":                                   false,
	} {
		if got := isJSONMediaType(ct); got != want {
			t.Errorf("isJSONMediaType(%q) = %v", ct, got)
		}
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestRequestBodyRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"too large while reading", failingReader{&http.MaxBytesError{Limit: 10}}, http.StatusRequestEntityTooLarge},
		{"timeout", failingReader{fmt.Errorf("read: %w", timeoutError{})}, http.StatusRequestTimeout},
		{"broken", failingReader{io.ErrUnexpectedEOF}, http.StatusBadRequest},
	} {
		_, err := (&requestBody{contentType: "application/json", contentLength: -1, body: tc.body}).read()
		var p *huma.ErrorModel
		if !errors.As(err, &p) || p.Status != tc.status {
			t.Errorf("%s: %v, want a %d problem", tc.name, err, tc.status)
		}
	}
	if b, err := (&requestBody{contentLength: -1}).read(); b != nil || err != nil {
		t.Fatalf("no body: %q %v", b, err)
	}
}

// decodeSeeds are bodies the fuzz targets start from.
func decodeSeeds() []string {
	return []string{
		`{"title":"Buy milk","description":null,"completed":true,"priority":"high","tags":["a","b"],"due_at":"2026-11-26T10:00:00+01:00"}`,
		`{"title":"a","title":"b"}`,
		`{"title":"\ud800"}`,
		`{"title":"\ud83d\ude00","x":{"y":[1,2.5e3,-0,true,false,null]}}`,
		"{\"title\":\"\xff\"}",
		`{"tags":[1,null,{}]}`,
		`{"completed":null}`,
		`[]`,
		`{"a":1} {}`,
		``,
		`{"title":"a\u0000"}`,
		`{"due_at":"2026-02-30T00:00:00Z"}`,
	}
}

// FuzzParseJSON checks the strict parser against encoding/json: it accepts
// exactly the syntactically valid documents (up to its depth limit), finds
// problems only in documents that have them, and agrees on the value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, problems, ok := parseJSON(data)
		valid := json.Valid(data)
		if ok != valid && !(valid && depthOver(data, maxJSONDepth)) {
			t.Fatalf("parseJSON ok=%v, json.Valid=%v for %q (problems %v)", ok, valid, data, messages(problems))
		}
		if !ok {
			if len(problems) == 0 || problems[len(problems)-1].Location != "body" {
				t.Fatalf("a syntax error must end the problems: %v", messages(problems))
			}
			return
		}
		if len(problems) > 0 {
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("no problem reported for invalid UTF-8 %q", data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", data, err)
		}
		gotJSON, _ := json.Marshal(plain(v))
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("value of %q: %s, encoding/json %s", data, gotJSON, wantJSON)
		}
	})
}

// FuzzDecodeTaskPatch runs the whole body decoding of update-task: it must
// never panic, and whenever it accepts a body the patch is valid (Normalize
// finds nothing more) and its text is valid UTF-8 without NUL.
func FuzzDecodeTaskPatch(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, problems := decodeTaskPatch(data)
		nt, createProblems := decodeNewTask(data)
		completed, completeProblems := decodeCompletion(data)
		if len(problems) > 0 {
			for _, e := range problems {
				if e.Location != "body" && !strings.HasPrefix(e.Location, "body.") && !strings.HasPrefix(e.Location, "body[") {
					t.Fatalf("location %q", e.Location)
				}
				if e.Message == "" {
					t.Fatal("empty message")
				}
			}
			return
		}
		if err := p.Normalize(); err != nil {
			t.Fatalf("accepted %q but Normalize says %v", data, err)
		}
		if p.Title != nil && (!utf8.ValidString(*p.Title) || strings.ContainsRune(*p.Title, 0)) {
			t.Fatalf("accepted title %q", *p.Title)
		}
		if len(createProblems) == 0 && !utf8.ValidString(nt.Title) {
			t.Fatalf("accepted create title %q", nt.Title)
		}
		_, _ = completed, completeProblems
	})
}

// depthOver reports whether a valid document nests deeper than max.
func depthOver(data []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			if depth > max {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

func messages(ps []*huma.ErrorDetail) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Location + ": " + p.Message
	}
	return out
}
