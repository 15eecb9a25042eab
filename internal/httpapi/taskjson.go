package httpapi

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The task is what almost every response carries, so its JSON is written by
// hand rather than by encoding/json's reflection. The bytes are exactly those
// of a json.Encoder with SetEscapeHTML(false), trailing newline included:
// taskjson_test.go compares the two on random tasks, and FuzzTaskJSON keeps
// comparing them.

// marshalJSON is the Marshal of the API's JSON format. The bodies of the task
// operations (a task, a page of them, the answer of a delete) are written
// here; every other value goes through encoding/json.
func marshalJSON(w io.Writer, v any) error {
	var p *[]byte
	switch v := v.(type) {
	case *task:
		p = getJSONBuf()
		if v == nil {
			*p = append(*p, "null"...)
		} else {
			*p = appendTask(*p, v)
		}
	case task:
		p = getJSONBuf()
		*p = appendTask(*p, &v)
	case []task:
		p = getJSONBuf()
		*p = appendTasks(*p, v)
	case taskDeleted:
		p = getJSONBuf()
		*p = append(*p, `{"message":`...)
		*p = appendJSONString(*p, v.Message)
		*p = append(*p, `,"id":`...)
		*p = strconv.AppendInt(*p, v.ID, 10)
		*p = append(*p, '}')
	default:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	*p = append(*p, '\n')
	_, err := w.Write(*p)
	putJSONBuf(p)
	return err
}

// jsonBufs holds the buffers task bodies are built in. One of a few KiB fits
// a task; a page of 100 grows it to some tens.
var jsonBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// maxPooledJSONBuf bounds the buffers kept for reuse: a rare huge page (1000
// tasks with long descriptions) should not pin megabytes in the pool.
const maxPooledJSONBuf = 256 << 10

func getJSONBuf() *[]byte {
	p := jsonBufs.Get().(*[]byte)
	*p = (*p)[:0]
	return p
}

func putJSONBuf(p *[]byte) {
	if cap(*p) <= maxPooledJSONBuf {
		jsonBufs.Put(p)
	}
}

// appendTasks appends ts as encoding/json writes a []task: null when nil.
func appendTasks(b []byte, ts []task) []byte {
	if ts == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTask(b, &ts[i])
	}
	return append(b, ']')
}

// appendTask appends t as encoding/json writes it: the fields in declaration
// order, under their json names, nil pointers and a nil slice as null.
func appendTask(b []byte, t *task) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, t.UserID)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, t.Title)
	b = append(b, `,"description":`...)
	b = appendJSONStringPtr(b, t.Description)
	b = append(b, `,"completed":`...)
	b = strconv.AppendBool(b, t.Completed)
	b = append(b, `,"priority":`...)
	b = appendJSONString(b, t.Priority)
	b = append(b, `,"tags":`...)
	if t.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, tag := range t.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, tag)
		}
		b = append(b, ']')
	}
	b = append(b, `,"due_at":`...)
	b = appendJSONStringPtr(b, t.DueAt)
	b = append(b, `,"completed_at":`...)
	b = appendJSONStringPtr(b, t.CompletedAt)
	b = append(b, `,"created_at":`...)
	b = appendJSONString(b, t.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONString(b, t.UpdatedAt)
	return append(b, '}')
}

func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// jsonSafe marks the ASCII bytes encoding/json copies as they are when HTML
// escaping is off: all but the control characters, '"' and '\'.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\'
	}
	return safe
}()

const lowerHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json does
// without HTML escaping: '"' and '\' escaped with a backslash; \b, \f, \n, \r
// and \t in short form and the other control characters as \u00XX; U+2028 and
// U+2029 as \u2028 and \u2029 (JSON allows them raw, JavaScript did not);
// each byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
