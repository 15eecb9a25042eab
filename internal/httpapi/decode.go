package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// Request bodies are decoded here, strictly, from their raw bytes, and not by
// huma: encoding/json (and so huma's validation) silently keeps the last of
// duplicate keys and replaces invalid UTF-8 and unpaired surrogate escapes
// with U+FFFD. A body is accepted only if it is one JSON value of valid UTF-8
// with no duplicate key at any depth and no unpaired surrogate; every problem
// found is reported, each with its location ("body.title", "body.tags[2]").
// Unknown keys, and the read-only fields of a task, are ignored, as FastAPI
// does; keys are case-sensitive.

// maxBodyBytes is the largest request body accepted (413 beyond).
const maxBodyBytes = 64 << 10

// maxJSONDepth bounds nesting, so a body of 64 KiB of brackets cannot make the
// parser recurse 32,768 levels deep.
const maxJSONDepth = 64

// requestBody gives a handler the raw request body. Input types embed it;
// huma calls Resolve (a huma.Resolver) after the parameters are parsed and
// before the handler runs. The body is not read there: authentication and
// parameter errors are answered without reading it.
type requestBody struct {
	contentType   string
	contentLength int64 // -1: unknown
	body          io.Reader
}

// Resolve implements huma.Resolver.
func (b *requestBody) Resolve(ctx huma.Context) []error {
	r, _ := unwrapContext(ctx)
	b.contentType = r.Header.Get("Content-Type")
	b.contentLength = r.ContentLength
	b.body = r.Body
	return nil
}

// read returns the body: at most maxBodyBytes (else 413) of a JSON media type
// (else 415). An empty body is returned as such, whatever its content type
// (fetch() labels even an empty string text/plain): the caller decides
// whether a body is required.
func (b *requestBody) read() ([]byte, error) {
	if b.contentLength > maxBodyBytes {
		return nil, tooLarge()
	}
	if b.body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(b.body, maxBodyBytes+1))
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
	case errors.As(err, &tooBig):
		return nil, tooLarge()
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, newProblem(http.StatusRequestTimeout, "the request body did not arrive in time")
	default:
		// The connection broke or the chunked encoding was malformed: the
		// client's doing, not a bug, so not a 500.
		return nil, newProblem(http.StatusBadRequest, "the request body could not be read completely")
	}
	if len(data) > maxBodyBytes {
		return nil, tooLarge()
	}
	if len(data) > 0 && !isJSONMediaType(b.contentType) {
		return nil, unsupportedType(b.contentType)
	}
	return data, nil
}

func tooLarge() error {
	return newProblem(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes (64 KiB)", maxBodyBytes))
}

func unsupportedType(ct string) error {
	if ct == "" {
		return newProblem(http.StatusUnsupportedMediaType,
			"the request body has no Content-Type; send it as application/json")
	}
	return newProblem(http.StatusUnsupportedMediaType,
		"the request body must be JSON (Content-Type: application/json, application/merge-patch+json or another */*+json type, in UTF-8)")
}

// isJSONMediaType accepts application/json and any type with the +json
// structured syntax suffix (application/merge-patch+json among them), with
// no charset parameter or charset=utf-8.
func isJSONMediaType(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	if mt == "application/json" {
		return true
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && strings.HasSuffix(sub, "+json") && len(sub) > len("+json")
}

// emptyJSON reports whether a body has no JSON value at all (only white space).
func emptyJSON(body []byte) bool {
	return len(bytes.Trim(body, " \t\r\n")) == 0
}

// ---- the parser ----

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a parsed JSON value.
type jsonValue struct {
	kind    jsonKind
	str     string // a string's value, a number's literal text
	boolean bool
	items   []jsonValue
	members []jsonMember
	// bad marks a string that held an unpaired surrogate or invalid UTF-8;
	// the problem is already reported.
	bad bool
}

type jsonMember struct {
	key   string
	value jsonValue
	dup   bool // an earlier member has the same key; already reported
}

// pathSeg is one step of a location: an object key or an array index.
type pathSeg struct {
	key   string
	index int // -1 for a key
}

type jsonParser struct {
	data     []byte
	pos      int
	path     []pathSeg
	problems []*huma.ErrorDetail
}

// syntaxError stops the parser; it becomes one problem at "body".
type syntaxError struct {
	offset int
	msg    string
}

// parseJSON parses body as exactly one JSON value. It returns the value and
// every problem found; when a problem is a syntax error it is the last one
// and the value is unusable (ok false).
func parseJSON(body []byte) (v jsonValue, problems []*huma.ErrorDetail, ok bool) {
	p := &jsonParser{data: body}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		se, isSyntax := r.(syntaxError)
		if !isSyntax {
			panic(r)
		}
		problems = append(p.problems, &huma.ErrorDetail{
			Location: "body",
			Message:  fmt.Sprintf("invalid JSON at byte %d: %s", se.offset, se.msg),
		})
		v, ok = jsonValue{}, false
	}()
	p.skipSpace()
	if p.pos == len(p.data) {
		p.fail("the body is empty")
	}
	v = p.value()
	p.skipSpace()
	if p.pos < len(p.data) {
		p.fail("unexpected data after the JSON value")
	}
	return v, p.problems, true
}

func (p *jsonParser) fail(msg string) {
	panic(syntaxError{offset: p.pos, msg: msg})
}

func (p *jsonParser) location() string {
	var b strings.Builder
	b.WriteString("body")
	for _, s := range p.path {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		b.WriteByte('.')
		b.WriteString(strings.ToValidUTF8(s.key, "\uFFFD"))
	}
	return b.String()
}

func (p *jsonParser) report(msg string) {
	p.problems = append(p.problems, &huma.ErrorDetail{Location: p.location(), Message: msg})
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() jsonValue {
	if p.pos >= len(p.data) {
		p.fail("unexpected end of the body")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, bad := p.string()
		return jsonValue{kind: jsonString, str: s, bad: bad}
	case c == 't':
		p.literal("true")
		return jsonValue{kind: jsonBool, boolean: true}
	case c == 'f':
		p.literal("false")
		return jsonValue{kind: jsonBool}
	case c == 'n':
		p.literal("null")
		return jsonValue{kind: jsonNull}
	case c == '-' || (c >= '0' && c <= '9'):
		return jsonValue{kind: jsonNumber, str: p.number()}
	default:
		p.fail(fmt.Sprintf("unexpected character %s", quoteByte(c)))
		return jsonValue{}
	}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *jsonParser) literal(word string) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		p.fail(fmt.Sprintf("invalid literal (expected %s)", word))
	}
	p.pos += len(word)
}

func (p *jsonParser) number() string {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case p.pos < len(p.data) && p.data[p.pos] >= '1' && p.data[p.pos] <= '9':
		p.digits()
	default:
		p.fail("invalid number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			p.fail("invalid number: digits expected after the decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			p.fail("invalid number: digits expected in the exponent")
		}
	}
	return string(p.data[start:p.pos])
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

func (p *jsonParser) enter() {
	if len(p.path) >= maxJSONDepth {
		p.fail(fmt.Sprintf("nested more than %d levels deep", maxJSONDepth))
	}
}

func (p *jsonParser) array() jsonValue {
	p.enter()
	p.pos++ // [
	v := jsonValue{kind: jsonArray, items: []jsonValue{}}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v
	}
	for i := 0; ; i++ {
		p.skipSpace()
		p.path = append(p.path, pathSeg{index: i})
		v.items = append(v.items, p.value())
		p.path = p.path[:len(p.path)-1]
		p.skipSpace()
		if p.pos >= len(p.data) {
			p.fail("unexpected end of the body inside an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v
		default:
			p.fail("expected ',' or ']' after an array element")
		}
	}
}

func (p *jsonParser) object() jsonValue {
	p.enter()
	p.pos++ // {
	v := jsonValue{kind: jsonObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v
	}
	var seen map[string]bool
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			p.fail("expected a string as an object key")
		}
		keyStart := len(p.problems)
		key, badKey := p.string()
		p.path = append(p.path, pathSeg{key: key, index: -1})
		if badKey {
			// string() reported at the parent's location; name the key.
			for _, e := range p.problems[keyStart:] {
				e.Location = p.location()
				e.Message = "object key: " + e.Message
			}
		}
		m := jsonMember{key: key}
		if seen == nil {
			seen = make(map[string]bool, 8)
		}
		if seen[key] {
			m.dup = true
			p.report("duplicate key")
		}
		seen[key] = true
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			p.fail("expected ':' after an object key")
		}
		p.pos++
		p.skipSpace()
		m.value = p.value()
		p.path = p.path[:len(p.path)-1]
		v.members = append(v.members, m)
		p.skipSpace()
		if p.pos >= len(p.data) {
			p.fail("unexpected end of the body inside an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v
		default:
			p.fail("expected ',' or '}' after an object member")
		}
	}
}

// string parses a JSON string at p.pos (on its opening quote). bad reports an
// unpaired surrogate escape or invalid UTF-8, each reported once per string.
func (p *jsonParser) string() (s string, bad bool) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: plain ASCII without escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s = string(p.data[start:p.pos])
			p.pos++
			return s, false
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.pos++
	}
	var b strings.Builder
	b.Write(p.data[start:p.pos])
	var badSurrogate, badUTF8 bool
	for {
		if p.pos >= len(p.data) {
			p.fail("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if badSurrogate {
				p.report(`unpaired surrogate in a \u escape: not a Unicode character`)
			}
			if badUTF8 {
				p.report("invalid UTF-8")
			}
			return b.String(), badSurrogate || badUTF8
		case c < 0x20:
			p.fail("control character in a string (escape it)")
		case c == '\\':
			if p.escape(&b) {
				badSurrogate = true
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				badUTF8 = true
				b.WriteRune(utf8.RuneError)
			} else {
				b.Write(p.data[p.pos : p.pos+size])
			}
			p.pos += size
		}
	}
}

// escape decodes one backslash escape into b; it reports whether the escape
// was an unpaired surrogate (written as U+FFFD).
func (p *jsonParser) escape(b *strings.Builder) (unpaired bool) {
	p.pos++ // backslash
	if p.pos >= len(p.data) {
		p.fail("unterminated string")
	}
	c := p.data[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r := p.hex4()
		switch {
		case utf16.IsSurrogate(r) && r < 0xDC00: // high: a low one must follow
			if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				r2 := p.hex4()
				if r2 >= 0xDC00 && r2 <= 0xDFFF {
					b.WriteRune(utf16.DecodeRune(r, r2))
					return false
				}
				p.pos = save // not a pair: the next escape stands alone
			}
			b.WriteRune(utf8.RuneError)
			return true
		case utf16.IsSurrogate(r): // a low surrogate without a high one
			b.WriteRune(utf8.RuneError)
			return true
		default:
			b.WriteRune(r)
		}
	default:
		p.pos--
		p.fail(fmt.Sprintf("invalid escape \\%s in a string", strings.Trim(quoteByte(c), "'")))
	}
	return false
}

func (p *jsonParser) hex4() rune {
	if p.pos+4 > len(p.data) {
		p.fail(`\u escape needs four hex digits`)
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			p.fail(`\u escape needs four hex digits`)
		}
	}
	p.pos += 4
	return r
}

// ---- from JSON to the domain ----

// fieldReader reads the members of a request object into typed fields and
// collects a problem for every member of the wrong type. failed remembers the
// fields that already have a problem, so that the domain's validation of the
// same field is not reported twice.
type fieldReader struct {
	members  map[string]jsonValue
	problems []*huma.ErrorDetail
	failed   map[string]bool
}

// readObject parses body and returns a reader of its top-level members. A
// body that is not an object (merge patch included: RFC 7396 would replace
// the task with it) is a problem.
func readObject(body []byte) (*fieldReader, []*huma.ErrorDetail) {
	v, problems, ok := parseJSON(body)
	if !ok {
		return nil, problems
	}
	if v.kind != jsonObject {
		return nil, append(problems, &huma.ErrorDetail{Location: "body", Message: "must be a JSON object"})
	}
	fr := &fieldReader{members: make(map[string]jsonValue, len(v.members)), problems: problems, failed: map[string]bool{}}
	for _, m := range v.members {
		if m.dup {
			fr.failed[m.key] = true
			continue
		}
		fr.members[m.key] = m.value
	}
	return fr, nil
}

// get returns the member named field, unless it is absent, a duplicate or a
// string already reported as broken.
func (fr *fieldReader) get(field string) (jsonValue, bool) {
	if fr.failed[field] {
		return jsonValue{}, false
	}
	v, ok := fr.members[field]
	if !ok || v.bad {
		if ok {
			fr.failed[field] = true
		}
		return jsonValue{}, false
	}
	return v, true
}

func (fr *fieldReader) fail(field, msg string, v jsonValue) {
	fr.failed[field] = true
	fr.problems = append(fr.problems, &huma.ErrorDetail{Location: "body." + field, Message: msg, Value: echo(v)})
}

// echo returns v as the "value" of a problem when that is safe and short: a
// boolean, a number or a short string. Containers and long strings are left
// out: the client has them.
func echo(v jsonValue) any {
	switch v.kind {
	case jsonBool:
		return v.boolean
	case jsonNumber:
		return json.Number(v.str)
	case jsonString:
		if utf8.RuneCountInString(v.str) <= 100 {
			return v.str
		}
	}
	return nil
}

func describe(v jsonValue) string {
	switch v.kind {
	case jsonNull:
		return "null"
	case jsonBool:
		return "a boolean"
	case jsonNumber:
		return "a number"
	case jsonString:
		return "a string"
	case jsonArray:
		return "an array"
	default:
		return "an object"
	}
}

// str reads a string field; nullable fields accept null (set, nil).
func (fr *fieldReader) str(field string, nullable bool) (present bool, value *string) {
	v, ok := fr.get(field)
	if !ok {
		return false, nil
	}
	switch {
	case v.kind == jsonString:
		s := v.str
		return true, &s
	case v.kind == jsonNull && nullable:
		return true, nil
	case v.kind == jsonNull:
		fr.fail(field, "must be a string, not null", v)
	case nullable:
		fr.fail(field, "must be a string or null, not "+describe(v), v)
	default:
		fr.fail(field, "must be a string, not "+describe(v), v)
	}
	return false, nil
}

func (fr *fieldReader) boolean(field string) *bool {
	v, ok := fr.get(field)
	if !ok {
		return nil
	}
	if v.kind != jsonBool {
		fr.fail(field, "must be true or false, not "+describe(v), v)
		return nil
	}
	b := v.boolean
	return &b
}

func (fr *fieldReader) strings(field string) *[]string {
	v, ok := fr.get(field)
	if !ok {
		return nil
	}
	if v.kind != jsonArray {
		fr.fail(field, "must be an array of strings, not "+describe(v), v)
		return nil
	}
	out := make([]string, 0, len(v.items))
	for i, item := range v.items {
		switch {
		case item.bad:
			fr.failed[field] = true
		case item.kind != jsonString:
			fr.fail(fmt.Sprintf("%s[%d]", field, i), "must be a string, not "+describe(item), item)
			fr.failed[field] = true
		default:
			out = append(out, item.str)
		}
	}
	if fr.failed[field] {
		return nil
	}
	return &out
}

// dateTimeExample shows the accepted form in messages.
const dateTimeExample = "2026-11-25T17:00:00Z"

// dateTime reads an RFC 3339 date-time in any offset, or null.
func (fr *fieldReader) dateTime(field string) (present bool, value *time.Time) {
	present, s := fr.str(field, true)
	if !present || s == nil {
		return present, nil
	}
	t, err := parseDateTime(*s)
	if err != nil {
		fr.fail(field, err.Error(), jsonValue{kind: jsonString, str: *s})
		return false, nil
	}
	return true, &t
}

// parseDateTime parses an RFC 3339 date-time, in any offset, with or without
// fractional seconds, for years 1 to 9999.
func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 date-time such as %s or 2026-11-25T18:00:00+01:00", dateTimeExample)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("must be between the years 0001 and 9999")
	}
	return t, nil
}

// decodeNewTask reads the body of create-task.
func decodeNewTask(body []byte) (todo.NewTask, []*huma.ErrorDetail) {
	var nt todo.NewTask
	if emptyJSON(body) {
		return nt, []*huma.ErrorDetail{{Location: "body", Message: `a JSON object is required, e.g. {"title":"Buy milk"}`}}
	}
	fr, problems := readObject(body)
	if fr == nil {
		return nt, problems
	}
	if present, title := fr.str("title", false); present {
		nt.Title = *title
	} else if _, sent := fr.members["title"]; !sent && !fr.failed["title"] {
		fr.failed["title"] = true
		fr.problems = append(fr.problems, &huma.ErrorDetail{Location: "body.title", Message: "is required"})
	}
	_, nt.Description = fr.str("description", true)
	if c := fr.boolean("completed"); c != nil {
		nt.Completed = *c
	}
	if present, p := fr.str("priority", false); present {
		nt.Priority = todo.Priority(*p)
	}
	if tags := fr.strings("tags"); tags != nil {
		nt.Tags = *tags
	}
	_, nt.DueAt = fr.dateTime("due_at")
	problems = append(fr.problems, validationErrors("body", nt.Normalize(), fr.failed)...)
	return nt, problems
}

// decodeTaskPatch reads the body of update-task (PUT) and patch-task (PATCH):
// both are partial updates with JSON merge patch rules. An absent field is
// unchanged; null clears description and due_at and is refused for the
// fields that cannot be empty.
func decodeTaskPatch(body []byte) (todo.TaskPatch, []*huma.ErrorDetail) {
	var p todo.TaskPatch
	if emptyJSON(body) {
		return p, []*huma.ErrorDetail{{Location: "body", Message: `a JSON object is required, e.g. {"title":"Buy oat milk"}`}}
	}
	fr, problems := readObject(body)
	if fr == nil {
		return p, problems
	}
	if present, title := fr.str("title", false); present {
		p.Title = title
	}
	if present, d := fr.str("description", true); present {
		p.Description = todo.Optional[string]{Set: true, Value: d}
	}
	p.Completed = fr.boolean("completed")
	if present, s := fr.str("priority", false); present {
		pr := todo.Priority(*s)
		p.Priority = &pr
	}
	p.Tags = fr.strings("tags")
	if present, t := fr.dateTime("due_at"); present {
		p.DueAt = todo.Optional[time.Time]{Set: true, Value: t}
	}
	problems = append(fr.problems, validationErrors("body", p.Normalize(), fr.failed)...)
	return p, problems
}

// decodeCompletion reads the body of complete-task: empty, or an object
// whose "completed" (if present) is the state to set; nil means toggle.
func decodeCompletion(body []byte) (*bool, []*huma.ErrorDetail) {
	if emptyJSON(body) {
		return nil, nil
	}
	fr, problems := readObject(body)
	if fr == nil {
		return nil, problems
	}
	c := fr.boolean("completed")
	return c, fr.problems
}
