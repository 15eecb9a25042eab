package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/todod/todod/internal/todo"
)

// A list cursor is opaque to clients: base64url (no padding) of a small JSON
// object holding the keyset position (todo.Cursor) and a fingerprint of the
// filters and sort it was made for. A cursor presented with other filters or
// another sort would silently skip or repeat tasks; the fingerprint turns
// that into a 422. The page size may change between pages.

// cursorVersion is the format of the encoded cursor; older formats are refused.
const cursorVersion = 1

type cursorWire struct {
	V     int    `json:"v"`
	F     string `json:"f"`           // filter fingerprint
	Sort  string `json:"s"`           // sort key
	Desc  bool   `json:"d,omitempty"` // descending
	ID    int64  `json:"i"`
	Micro int64  `json:"t,omitempty"` // Time, in Unix microseconds
	Text  string `json:"x,omitempty"`
	Rank  int    `json:"r,omitempty"`
	NoDue bool   `json:"n,omitempty"`
}

// errBadCursor is the one answer to a cursor that is not one of ours.
var errBadCursor = errors.New("is not a cursor this server issued (use the URL of the Link header as is)")

// encodeCursor returns the opaque form of c for filters with fingerprint fp.
func encodeCursor(c todo.Cursor, fp string) string {
	w := cursorWire{V: cursorVersion, F: fp, Sort: string(c.Sort), Desc: c.Desc, ID: c.ID,
		Text: c.Text, Rank: c.Rank, NoDue: c.NoDue}
	if !c.NoDue && !c.Time.IsZero() {
		w.Micro = c.Time.UnixMicro()
	}
	b, err := json.Marshal(w)
	if err != nil {
		// A struct of strings, ints and bools always marshals.
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses an opaque cursor and returns it with its fingerprint.
func decodeCursor(s string) (todo.Cursor, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return todo.Cursor{}, "", errBadCursor
	}
	var w cursorWire
	if err := json.Unmarshal(b, &w); err != nil {
		return todo.Cursor{}, "", errBadCursor
	}
	sort := todo.SortField(w.Sort)
	if w.V != cursorVersion || !sort.Valid() || w.ID <= 0 || w.F == "" ||
		w.Rank < 0 || w.Rank >= len(todo.Priorities) {
		return todo.Cursor{}, "", errBadCursor
	}
	c := todo.Cursor{Sort: sort, Desc: w.Desc, ID: w.ID, Text: w.Text, Rank: w.Rank, NoDue: w.NoDue}
	if w.Micro != 0 {
		c.Time = time.UnixMicro(w.Micro).UTC()
	}
	return c, w.F, nil
}

// fingerprint identifies what a normalised filter selects and how it is
// ordered: everything but the page position, the page size and the clock.
// Priorities and tags are sets, so their order does not matter.
func fingerprint(f todo.TaskFilter) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(string(f.Status))
	prios := make([]string, len(f.Priorities))
	for i, p := range f.Priorities {
		prios[i] = string(p)
	}
	slices.Sort(prios)
	field(strings.Join(slices.Compact(prios), ","))
	tags := slices.Clone(f.Tags)
	slices.Sort(tags)
	for _, t := range slices.Compact(tags) {
		field(t)
	}
	field("|")
	field(f.Query)
	for _, t := range []*time.Time{f.DueBefore, f.DueAfter} {
		if t == nil {
			field("")
		} else {
			field(t.UTC().Format(time.RFC3339Nano))
		}
	}
	field(boolString(f.Overdue))
	field(string(f.Sort))
	field(boolString(f.Desc))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
