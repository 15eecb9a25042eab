package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// stdJSON is what the API's format wrote before taskjson.go: encoding/json
// without HTML escaping.
func stdJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func handJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := marshalJSON(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameJSON fails unless v encodes to the same bytes both ways.
func sameJSON(t testing.TB, v any) {
	t.Helper()
	want, got := stdJSON(t, v), handJSON(t, v)
	if !bytes.Equal(got, want) {
		t.Fatalf("%T encoded by hand:\n%q\nencoding/json:\n%q", v, got, want)
	}
}

// textPieces are the fragments random text is made of: each case of the
// string escaper, and the bytes around it.
var textPieces = []string{
	"a", "Buy milk", " ", "~", "\x7f", `"`, `\`, "/", "<", ">", "&", "'",
	"\x00", "\x01", "\x07", "\b", "\t", "\n", "\v", "\f", "\r", "\x1b", "\x1f",
	"é", "ß", "世界", "😀", "\u00a0", "\u200b", "\ufeff", "\ufffd", "\u2027", "\u2028", "\u2029", "\u202a",
	"\xff", "\xfe", "\xc0", "\xc3", "\xe2\x80", "\xe2\x80\xa8\xa8", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98",
}

func randomText(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(textPieces[r.IntN(len(textPieces))])
	}
	return b.String()
}

// randomTime spans the years encoding/json can write, far beyond 0–9999, in
// UTC and other zones, and the zero time.
func randomTime(r *rand.Rand) time.Time {
	var t time.Time
	switch r.IntN(5) {
	case 0:
		t = time.Time{}
	case 1: // any time.Time a 64-bit unix second count can hold
		t = time.Unix(r.Int64N(1<<62)-1<<61, r.Int64N(1e9))
	case 2: // years 0 to 9999
		t = time.Unix(r.Int64N(315537897600)-62167219200, r.Int64N(1e9))
	default: // around now, at microsecond precision as stored
		t = time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(1e16) - 5e15)).Truncate(time.Microsecond)
	}
	if r.IntN(2) == 0 {
		t = t.In(time.FixedZone("", (r.IntN(48)-24)*1800))
	}
	return t
}

func randomTask(r *rand.Rand) todo.Task {
	t := todo.Task{
		ID:        r.Int64() - r.Int64(),
		UserID:    randomText(r),
		Title:     randomText(r),
		Completed: r.IntN(2) == 0,
		Priority:  todo.Priorities[r.IntN(len(todo.Priorities))],
		CreatedAt: randomTime(r),
		UpdatedAt: randomTime(r),
	}
	if r.IntN(3) == 0 {
		t.Priority = todo.Priority(randomText(r))
	}
	if r.IntN(2) == 0 {
		d := randomText(r)
		t.Description = &d
	}
	switch r.IntN(3) {
	case 0: // nil: shown as []
	case 1:
		t.Tags = []string{}
	default:
		for range 1 + r.IntN(4) {
			t.Tags = append(t.Tags, randomText(r))
		}
	}
	if r.IntN(2) == 0 {
		d := randomTime(r)
		t.DueAt = &d
	}
	if r.IntN(2) == 0 {
		d := randomTime(r)
		t.CompletedAt = &d
	}
	return t
}

// TestTaskJSONMatchesEncodingJSON is the property the hand-written encoder
// rests on: for any task, alone, by pointer or in a page, it writes what
// encoding/json writes.
func TestTaskJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		tk := taskFrom(randomTask(r))
		sameJSON(t, tk)
		sameJSON(t, &tk)
		sameJSON(t, []task{tk})
		sameJSON(t, taskDeleted{Message: randomText(r), ID: tk.ID})
	}
	for range 50 {
		page := make([]todo.Task, r.IntN(30))
		for i := range page {
			page[i] = randomTask(r)
		}
		sameJSON(t, tasksFrom(page))
	}
}

// TestTaskJSONEdgeValues covers the values random tasks rarely reach: nil
// pointers and slices, empty and nil pages, extreme ids, and every byte.
func TestTaskJSONEdgeValues(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	desc := string(all)
	for _, v := range []any{
		task{}, &task{}, (*task)(nil), []task(nil), []task{}, []task{{}, {Tags: []string{}}},
		task{ID: -1 << 63, Tags: []string{"", desc}, Description: &desc, DueAt: &desc, CompletedAt: new(string)},
		task{ID: 1<<63 - 1, Title: strings.Repeat("\u2028\u2029", 100), Completed: true},
		taskFrom(todo.Task{}),
		taskDeleted{}, taskDeleted{Message: "Task deleted successfully", ID: 1<<63 - 1}, taskDeleted{Message: desc, ID: -1 << 63},
	} {
		sameJSON(t, v)
	}
}

// TestJSONFormatOtherTypes checks that other values still go through
// encoding/json, without HTML escaping.
func TestJSONFormatOtherTypes(t *testing.T) {
	for _, v := range []any{
		map[string]any{"a": []int{1}},
		nil,
	} {
		sameJSON(t, v)
	}
	if got := string(handJSON(t, "<&>")); got != "\"<&>\"\n" {
		t.Errorf("a string: %q", got)
	}
}

// TestJSONFormatIsTheAPIs checks that the API's application/json format is
// marshalJSON, and that a task body written through it is the task's JSON.
func TestJSONFormatIsTheAPIs(t *testing.T) {
	s := NewServer(Config{})
	tk := taskFrom(benchTask(7))
	for _, ct := range []string{"application/json", "application/problem+json", "json"} {
		var buf bytes.Buffer
		if err := s.api.Marshal(&buf, ct, &tk); err != nil {
			t.Fatal(err)
		}
		want := `{"id":7,"user_id":"Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i","title":"Buy milk and bread for the weekend #7",` +
			`"description":"Two litres, semi-skimmed, from the shop on the corner","completed":true,"priority":"high",` +
			`"tags":["home","shop"],"due_at":"2026-11-27T17:00:07.123456Z","completed_at":"2026-11-25T18:00:07.123456Z",` +
			`"created_at":"2026-11-25T17:00:07.123456Z","updated_at":"2026-11-25T18:00:07.123456Z"}` + "\n"
		if buf.String() != want {
			t.Errorf("%s: %s\nwant %s", ct, buf.String(), want)
		}
	}
}

type failingWriter struct{}

var errWrite = errors.New("connection reset")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestTaskJSONWriteError(t *testing.T) {
	for _, v := range []any{task{}, &task{}, []task{}, taskDeleted{}, struct{}{}} {
		if err := marshalJSON(failingWriter{}, v); !errors.Is(err, errWrite) {
			t.Errorf("%T: error %v, want the writer's", v, err)
		}
	}
}

// TestTaskJSONBufferReuse checks that a pooled buffer never carries bytes of
// an earlier body into a later one, after a body big enough not to be pooled.
func TestTaskJSONBufferReuse(t *testing.T) {
	big := strings.Repeat("x", maxPooledJSONBuf)
	sameJSON(t, task{Title: big})
	for range 10 {
		sameJSON(t, task{Title: "short"})
		sameJSON(t, []task{{ID: 1}, {ID: 2}})
	}
}

// TestTasksFromIsTaskFrom checks that converting a page at once gives each
// task what converting it alone gives, timestamps included.
func TestTasksFromIsTaskFrom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	page := make([]todo.Task, 200)
	for i := range page {
		page[i] = randomTask(r)
	}
	got := tasksFrom(page)
	if len(got) != len(page) {
		t.Fatalf("%d tasks, want %d", len(got), len(page))
	}
	for i, tk := range page {
		want := taskFrom(tk)
		if !bytes.Equal(stdJSON(t, got[i]), stdJSON(t, want)) {
			t.Fatalf("task %d: %+v, want %+v", i, got[i], want)
		}
		if got[i].CreatedAt != formatTime(tk.CreatedAt) || got[i].UpdatedAt != formatTime(tk.UpdatedAt) {
			t.Fatalf("task %d: times %q %q, want %q %q", i, got[i].CreatedAt, got[i].UpdatedAt,
				formatTime(tk.CreatedAt), formatTime(tk.UpdatedAt))
		}
		if (tk.DueAt == nil) != (got[i].DueAt == nil) || tk.DueAt != nil && *got[i].DueAt != formatTime(*tk.DueAt) {
			t.Fatalf("task %d: due_at %v for %v", i, got[i].DueAt, tk.DueAt)
		}
		if (tk.CompletedAt == nil) != (got[i].CompletedAt == nil) || tk.CompletedAt != nil && *got[i].CompletedAt != formatTime(*tk.CompletedAt) {
			t.Fatalf("task %d: completed_at %v for %v", i, got[i].CompletedAt, tk.CompletedAt)
		}
		if got[i].Tags == nil {
			t.Fatalf("task %d: nil tags", i)
		}
	}
	if got := tasksFrom(nil); got == nil || len(got) != 0 {
		t.Fatalf("tasksFrom(nil) = %#v, want an empty page", got)
	}
}

// TestAppendTimeIsFormat checks the hand-written timestamp against
// time.Format with timeFormat, across the years it writes itself and beyond.
func TestAppendTimeIsFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	times := []time.Time{
		{}, time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), time.Unix(0, 1<<63-1), time.Unix(0, -1<<63),
		time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.FixedZone("", -5*3600)),
	}
	for range 100000 {
		times = append(times, randomTime(r))
	}
	for _, at := range times {
		if got, want := formatTime(at), at.UTC().Format(timeFormat); got != want {
			t.Fatalf("%v: %q, want %q", at, got, want)
		}
	}
}

// FuzzTaskJSON compares the hand-written encoder with encoding/json on tasks
// built from fuzzed text, ids and times.
func FuzzTaskJSON(f *testing.F) {
	f.Add(int64(42), "Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i", "Buy milk", "Two litres", "home\x00shop", "none", int64(1795626000123456000), uint8(0))
	f.Add(int64(-1), "", "", "", "", "", int64(0), uint8(255))
	f.Add(int64(1<<63-1), "\u2028\u2029", "\"\\\b\f\n\r\t\x01\x1f\x7f", "\xff\xe2\x80\xed\xa0\x80", "<>&", "high", int64(-1<<63), uint8(0x15))
	f.Add(int64(7), "é世😀", "\ufffd\xc3", "a\x00b", "\x00\x00", "low", int64(253402300800000000), uint8(0x2a))
	f.Fuzz(func(t *testing.T, id int64, user, title, desc, tags, priority string, nanos int64, flags uint8) {
		at := time.Unix(0, nanos)
		if flags&0x40 != 0 {
			at = at.AddDate(int(flags)*40, 0, 0) // beyond the years a nanosecond count reaches
		}
		tk := todo.Task{
			ID: id, UserID: user, Title: title, Completed: flags&1 != 0, Priority: todo.Priority(priority),
			CreatedAt: at, UpdatedAt: at.Add(time.Duration(id)),
		}
		if flags&2 != 0 {
			tk.Description = &desc
		}
		if flags&4 != 0 {
			tk.Tags = strings.Split(tags, "\x00")
		}
		if flags&8 != 0 {
			tk.DueAt = &at
		}
		if flags&16 != 0 {
			tk.CompletedAt = &tk.UpdatedAt
		}
		body := taskFrom(tk)
		if want := at.UTC().Format(timeFormat); body.CreatedAt != want {
			t.Fatalf("created_at %q, want %q", body.CreatedAt, want)
		}
		sameJSON(t, body)
		sameJSON(t, &body)
		sameJSON(t, tasksFrom([]todo.Task{tk, tk}))
		sameJSON(t, taskDeleted{Message: title, ID: id})
	})
}
