package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listIDs runs a list request and returns the ids in the order received.
func listIDs(t *testing.T, e *apiEnv, user, target string) ([]int64, http.Header) {
	t.Helper()
	w := e.mustDo(call{method: "GET", path: target, user: user}, http.StatusOK)
	var tasks []struct {
		ID     int64  `json:"id"`
		UserID string `json:"user_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tasks); err != nil {
		t.Fatalf("%s: %v: %s", target, err, w.Body)
	}
	ids := make([]int64, 0, len(tasks))
	for _, tk := range tasks {
		if tk.UserID != user {
			t.Fatalf("%s: %s got a task of %s", target, user, tk.UserID)
		}
		ids = append(ids, tk.ID)
	}
	return ids, w.Header()
}

// seedList creates alice's five tasks (ids 1–5, one second apart, then an
// update of task 2) and bob's two, which alice must never see.
func seedList(t *testing.T, e *apiEnv) {
	t.Helper()
	for _, body := range []string{
		`{"title":"Buy milk","priority":"low","tags":["home","shop"],"due_at":"2026-11-26T09:00:00Z"}`,
		`{"title":"call Mum","priority":"high","tags":["family"],"due_at":"2026-11-24T09:00:00Z"}`,
		`{"title":"Anniversary gift","description":"Ask about the MILK allergy","priority":"medium","tags":["family","shop"],"completed":true}`,
		`{"title":"water plants","tags":[],"due_at":"2026-11-20T09:00:00+02:00","completed":true}`,
		`{"title":"Zebra book","priority":"high","tags":["home"]}`,
	} {
		e.create("alice", body)
		e.clock.Advance(time.Second)
	}
	e.create("bob", `{"title":"Buy milk","priority":"high","tags":["home","shop"],"due_at":"2026-11-01T00:00:00Z"}`)
	e.create("bob", `{"title":"bob's secret"}`)
	e.clock.Advance(time.Second)
	e.mustDo(call{method: "PATCH", path: "/api/tasks/2", user: "alice", body: `{"description":"Sunday"}`}, http.StatusOK)
}

func TestListFilters(t *testing.T) {
	e := newAPIEnv(t)
	seedList(t, e)
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", "5 4 3 2 1"},
		{"status=all", "5 4 3 2 1"},
		{"status=pending", "5 2 1"},
		{"completed=false", "5 2 1"},
		{"status=completed", "4 3"},
		{"completed=true&status=completed", "4 3"},
		{"priority=high", "5 2"},
		{"priority=high&priority=low", "5 2 1"},
		{"priority=none", "4"},
		{"tag=shop", "3 1"},
		{"tag=family&tag=shop", "3"},
		{"tag=home", "5 1"},
		{"tag=Home", ""},
		{"tag=nope", ""},
		{"q=milk", "3 1"},
		{"q=MUM", "2"},
		{"q=sunday", "2"},
		{"due_before=2026-11-25T00:00:00Z", "4 2"},
		{"due_before=2026-11-20T07:00:00Z", ""},
		{"due_before=2026-11-20T07:00:00.000001Z", "4"},
		{"due_after=2026-11-25T00:00:00Z", "1"},
		{"due_after=2026-11-24T09:30:00%2B01:00", "2 1"},
		{"due_after=2026-11-21T00:00:00Z&due_before=2026-11-26T00:00:00Z", "2"},
		{"overdue=true", "2"},
		{"overdue=false", "5 4 3 2 1"},
		{"sort=created&order=asc", "1 2 3 4 5"},
		{"sort=updated", "2 5 4 3 1"},
		{"sort=updated&order=asc", "1 3 4 5 2"},
		{"sort=title", "3 1 2 4 5"},
		{"sort=title&order=desc", "5 4 2 1 3"},
		{"sort=due", "4 2 1 3 5"},
		{"sort=due&order=desc", "1 2 4 5 3"},
		{"sort=priority", "5 2 3 1 4"},
		{"sort=priority&order=asc", "4 1 3 2 5"},
		{"status=pending&tag=home&sort=title", "1 5"},
		{"limit=2", "5 4"},
		{"limit=1000&unknown=1&Status=completed", "5 4 3 2 1"},
	} {
		for _, prefix := range []string{"/api/tasks", "/api/alice/tasks/"} {
			target := prefix + "?" + tc.query
			ids, _ := listIDs(t, e, "alice", target)
			if got := joinIDs(ids); got != tc.want {
				t.Errorf("%s: ids %q, want %q", target, got, tc.want)
			}
		}
	}
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, " ")
}

// Tasks created in the same microsecond are ordered by id, in the direction
// of the sort, and paging through them loses none.
func TestListTies(t *testing.T) {
	e := newAPIEnv(t)
	for range 5 {
		e.create("alice", `{"title":"same","priority":"low"}`)
	}
	for q, want := range map[string]string{
		"":                        "5 4 3 2 1",
		"order=asc":               "1 2 3 4 5",
		"sort=title":              "1 2 3 4 5",
		"sort=priority":           "5 4 3 2 1",
		"sort=due&order=desc":     "5 4 3 2 1",
		"sort=updated&order=desc": "5 4 3 2 1",
	} {
		if ids, _ := listIDs(t, e, "alice", "/api/tasks?"+q); joinIDs(ids) != want {
			t.Errorf("%s: %v, want %s", q, ids, want)
		}
		if got := walk(t, e, "/api/tasks?limit=2&"+q); joinIDs(got) != want {
			t.Errorf("paged %s: %v, want %s", q, got, want)
		}
	}
}

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// walk follows Link rel="next" from target and returns every id seen.
func walk(t *testing.T, e *apiEnv, target string) []int64 {
	t.Helper()
	var all []int64
	for pages := 0; target != ""; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		ids, h := listIDs(t, e, "alice", target)
		all = append(all, ids...)
		target = ""
		if l := h.Get("Link"); l != "" {
			m := linkNext.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link %q", l)
			}
			target = m[1]
		}
	}
	return all
}

func TestListPaging(t *testing.T) {
	e := newAPIEnv(t)
	prios := []string{"none", "low", "medium", "high"}
	for i := range 23 {
		due := ""
		if i%3 != 0 {
			due = fmt.Sprintf(`,"due_at":"2026-12-%02dT10:00:00Z"`, 1+i%5)
		}
		e.create("alice", fmt.Sprintf(`{"title":"task %c","priority":"%s","tags":["t%d"]%s}`, 'a'+rune(i%7), prios[i%4], i%2, due))
		if i%4 != 0 {
			e.clock.Advance(time.Millisecond)
		}
	}
	e.create("bob", `{"title":"task a"}`)
	for _, q := range []string{
		"", "order=asc", "sort=title", "sort=title&order=desc", "sort=due", "sort=due&order=desc",
		"sort=priority", "sort=priority&order=asc", "sort=updated", "tag=t1", "status=pending&sort=due&tag=t0",
	} {
		want, _ := listIDs(t, e, "alice", "/api/tasks?limit=1000&"+q)
		for _, limit := range []int{1, 4, 7} {
			for _, prefix := range []string{"/api/tasks", "/api/alice/tasks"} {
				got := walk(t, e, fmt.Sprintf("%s?%s&limit=%d", prefix, q, limit))
				if joinIDs(got) != joinIDs(want) {
					t.Errorf("%s %s limit %d: walked %v, want %v", prefix, q, limit, got, want)
				}
			}
		}
	}
}

func TestListLinkAndCount(t *testing.T) {
	e := newAPIEnv(t)
	seedList(t, e)
	w := e.mustDo(call{method: "GET", path: "/api/alice/tasks/?q=%3Cb%3E&sort=title&limit=2&count=true&tag=", user: "alice"}, http.StatusOK)
	wantBody(t, w.Body.String(), "[]\n")
	wantHeader(t, w.Header(), "X-Total-Count", "0")
	wantHeader(t, w.Header(), "Link", "")

	w = e.mustDo(call{method: "GET", path: "/api/alice/tasks/?sort=title&limit=2&count=true&x=%3E%20y&cursor=", user: "alice"}, http.StatusOK)
	wantHeader(t, w.Header(), "X-Total-Count", "5")
	link := w.Header().Get("Link")
	m := regexp.MustCompile(`^</api/alice/tasks\?sort=title&limit=2&count=true&x=%3E\+y&cursor=([A-Za-z0-9_-]+)>; rel="next"$`).FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("Link %q", link)
	}
	// The next page keeps the count and the filters.
	w = e.mustDo(call{method: "GET", path: "/api/alice/tasks?sort=title&limit=2&count=true&cursor=" + m[1], user: "alice"}, http.StatusOK)
	wantHeader(t, w.Header(), "X-Total-Count", "5")
	ids, _ := listIDs(t, e, "alice", "/api/tasks?sort=title&limit=2&cursor="+m[1])
	if joinIDs(ids) != "2 4" {
		t.Fatalf("second page %v", ids)
	}
	// Without count=true there is no count.
	w = e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice"}, http.StatusOK)
	if _, ok := w.Header()["X-Total-Count"]; ok {
		t.Fatal("X-Total-Count without count=true")
	}
	// The last page has no Link.
	w = e.mustDo(call{method: "GET", path: "/api/tasks?limit=5", user: "alice"}, http.StatusOK)
	wantHeader(t, w.Header(), "Link", "")
}

func TestListCursorIsBoundToItsFilters(t *testing.T) {
	e := newAPIEnv(t)
	seedList(t, e)
	w := e.mustDo(call{method: "GET", path: "/api/tasks?sort=title&status=all&priority=high&priority=medium&limit=1", user: "alice"}, http.StatusOK)
	cursor := linkNext.FindStringSubmatch(w.Header().Get("Link"))
	if cursor == nil {
		t.Fatalf("no Link: %v", w.Header())
	}
	u, _ := url.Parse(cursor[1])
	c := url.QueryEscape(u.Query().Get("cursor"))
	// The page size may change, and the order of repeated values does not matter.
	for _, q := range []string{"sort=title&priority=medium&priority=high&limit=5", "priority=high&priority=medium&priority=high&sort=title&order=asc"} {
		e.mustDo(call{method: "GET", path: "/api/tasks?" + q + "&cursor=" + c, user: "alice"}, http.StatusOK)
	}
	for _, q := range []string{"sort=title&order=desc&priority=high&priority=medium", "priority=high&priority=medium", "sort=title&priority=high",
		"sort=title&priority=high&priority=medium&status=pending", "sort=title&priority=high&priority=medium&q=a", "sort=title&priority=high&priority=medium&tag=x",
		"sort=title&priority=high&priority=medium&overdue=true", "sort=title&priority=high&priority=medium&due_before=2030-01-01T00:00:00Z"} {
		p := decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks?" + q + "&cursor=" + c, user: "alice"}), http.StatusUnprocessableEntity)
		wantErrors(t, p, "query.cursor: was issued for other filters or another sort; start again without a cursor")
	}
}

func TestListInvalidQuery(t *testing.T) {
	e := newAPIEnv(t, noStore(t))
	for _, tc := range []struct {
		query string
		errs  []string
	}{
		{"limit=0", []string{"query.limit: expected number >= 1"}},
		{"limit=1001", []string{"query.limit: expected number <= 1000"}},
		{"limit=abc", []string{"query.limit: invalid integer"}},
		{"status=done", []string{`query.status: expected value to be one of "all, pending, completed"`}},
		{"completed=yes", []string{`query.completed: expected value to be one of "true, false"`}},
		{"status=pending&completed=true", []string{"query.completed: conflicts with status=pending; send one of the two"}},
		{"status=all&completed=false", []string{"query.completed: conflicts with status=all; send one of the two"}},
		{"priority=high&priority=urgent", []string{`query.priority[1]: expected value to be one of "none, low, medium, high"`}},
		{"sort=name", []string{`query.sort: expected value to be one of "created, updated, title, due, priority"`}},
		{"order=up", []string{`query.order: expected value to be one of "asc, desc"`}},
		{"due_before=tomorrow", []string{"query.due_before: expected string to be RFC 3339 date-time"}},
		{"due_after=2026-11-25T00:00:00+01:00", []string{"query.due_after: expected string to be RFC 3339 date-time"}},
		{"due_after=0000-01-01T00:00:00Z", []string{"query.due_after: must be between the years 0001 and 9999"}},
		{"overdue=maybe", []string{"query.overdue: invalid boolean"}},
		{"count=2", []string{"query.count: invalid boolean"}},
		{"q=" + strings.Repeat("x", 201), []string{"query.q: expected length <= 200"}},
		{"q=%00", []string{"query.q: must not contain NUL characters"}},
		// A query with a newline could match across title and description.
		{"q=k%0AA", []string{"query.q: must not contain control characters"}},
		{"tag=a&tag=%00", []string{"query.tag[1]: must not contain NUL characters"}},
		{"tag=" + strings.Repeat("t&tag=", 20) + "t", []string{"query.tag: at most 20 tags"}},
		{"cursor=%21%21", []string{"query.cursor: is not a cursor this server issued (use the URL of the Link header as is)"}},
		{"cursor=e30", []string{"query.cursor: is not a cursor this server issued (use the URL of the Link header as is)"}},
		{"limit=0&status=x&sort=y", []string{
			`query.status: expected value to be one of "all, pending, completed"`,
			`query.sort: expected value to be one of "created, updated, title, due, priority"`,
			"query.limit: expected number >= 1",
		}},
		{"status=pending&completed=true&cursor=zz", []string{
			"query.completed: conflicts with status=pending; send one of the two",
			"query.cursor: is not a cursor this server issued (use the URL of the Link header as is)",
		}},
	} {
		for _, prefix := range []string{"/api/tasks", "/api/alice/tasks"} {
			p := decodeProblem(t, e.do(call{method: "GET", path: prefix + "?" + tc.query, user: "alice"}), http.StatusUnprocessableEntity)
			wantErrors(t, p, tc.errs...)
		}
	}
}

func TestListConditional(t *testing.T) {
	e := newAPIEnv(t)
	seedList(t, e)
	first := e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice"}, http.StatusOK)
	etag := first.Header().Get("ETag")
	if !regexp.MustCompile(`^"l-[A-Za-z0-9_-]{20}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		for _, path := range []string{"/api/tasks", "/api/alice/tasks"} {
			w := e.mustDo(call{method: "GET", path: path, user: "alice", header: []string{"If-None-Match", inm}}, http.StatusNotModified)
			wantBody(t, w.Body.String(), "")
			wantHeader(t, w.Header(), "ETag", etag)
		}
	}
	// Another page, the count, or a change to any listed task is another ETag.
	others := map[string]bool{etag: true}
	for _, c := range []call{
		{method: "GET", path: "/api/tasks?limit=2"},
		{method: "GET", path: "/api/tasks?count=true"},
		{method: "GET", path: "/api/tasks?status=pending"},
	} {
		c.user = "alice"
		c.header = []string{"If-None-Match", etag}
		tag := e.mustDo(c, http.StatusOK).Header().Get("ETag")
		if others[tag] {
			t.Fatalf("%s: ETag %s seen before", c.path, tag)
		}
		others[tag] = true
	}
	e.mustDo(call{method: "PATCH", path: "/api/tasks/3", user: "alice", body: `{}`}, http.StatusOK)
	w := e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice", header: []string{"If-None-Match", etag}}, http.StatusOK)
	if w.Header().Get("ETag") == etag {
		t.Fatal("the ETag did not change with a task")
	}
	// Bob's list is not alice's.
	w = e.mustDo(call{method: "GET", path: "/api/tasks", user: "bob", header: []string{"If-None-Match", etag}}, http.StatusOK)
	if w.Header().Get("ETag") == etag {
		t.Fatal("bob's list has alice's ETag")
	}
}
