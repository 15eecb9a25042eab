package httpapi

import (
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// listTasksInput is the query of list-tasks. huma parses and validates the
// types, enums and ranges declared here (422 at "query.<name>"); filter does
// the rest. Unknown parameters are ignored.
type listTasksInput struct {
	Status    string   `query:"status" enum:"all,pending,completed" example:"pending" doc:"Which tasks by completion. Default: all."`
	Completed string   `query:"completed" enum:"true,false" example:"false" doc:"Another spelling of status: true = completed, false = pending. Sending both status and completed is allowed only when they agree."`
	Priority  []string `query:"priority,explode" enum:"none,low,medium,high" example:"[\"high\"]" doc:"Only tasks with one of these priorities. Repeat the parameter for several: priority=high&priority=medium."`
	Tag       []string `query:"tag,explode" example:"[\"home\"]" doc:"Only tasks that carry every one of these tags (exact match). Repeat the parameter for several: tag=home&tag=urgent."`
	Q         string   `query:"q" maxLength:"200" example:"milk" doc:"Case-insensitive substring searched in the title and the description."`
	DueBefore string   `query:"due_before" format:"date-time" example:"2026-12-01T00:00:00Z" doc:"Only tasks due strictly before this RFC 3339 date-time (tasks without a due date never match). Encode '+' in an offset as %2B."`
	DueAfter  string   `query:"due_after" format:"date-time" example:"2026-11-25T00:00:00Z" doc:"Only tasks due strictly after this RFC 3339 date-time."`
	Overdue   bool     `query:"overdue" example:"true" doc:"true: only pending tasks whose due date has passed. false (the default): no effect."`
	Sort      string   `query:"sort" enum:"created,updated,title,due,priority" example:"due" doc:"Sort key. created and updated: newest first by default; priority: most urgent first; title: A to Z, case-insensitive; due: soonest first, tasks without a due date last in either order. Ties are broken by id in the same direction. Default: created."`
	Order     string   `query:"order" enum:"asc,desc" example:"asc" doc:"Sort direction; the default depends on sort (see sort)."`
	Limit     int      `query:"limit" minimum:"1" maximum:"1000" default:"100" example:"50" doc:"Page size."`
	Cursor    string   `query:"cursor" doc:"Opaque position of the next page. Do not build it: follow the URL in the Link rel=\"next\" header, which keeps the other parameters. A cursor is valid only with the filters and sort it was issued for (422 otherwise); the page size may change."`
	Count     bool     `query:"count" example:"true" doc:"true: also count every task matching the filters (ignoring the page) into the X-Total-Count header. It costs a second query."`

	IfNoneMatch string `header:"If-None-Match" example:"\"l-3q2XkV9pL0aB7cD1eF4g\"" doc:"ETag of a list page held by the client: 304 Not Modified when the page would be the same."`

	rawQuery string
}

// Resolve implements huma.Resolver: the handler needs the raw query to build
// the next page's link with the client's other parameters kept.
func (in *listTasksInput) Resolve(ctx huma.Context) []error {
	u := ctx.URL()
	in.rawQuery = u.RawQuery
	return nil
}

// filter builds the store's filter from the query. It returns every problem
// as a detail at "query.<name>".
func (in *listTasksInput) filter(now time.Time) (todo.TaskFilter, []*huma.ErrorDetail) {
	var problems []*huma.ErrorDetail
	add := func(name, msg string, value any) {
		problems = append(problems, &huma.ErrorDetail{Location: "query." + name, Message: msg, Value: value})
	}
	f := todo.TaskFilter{
		Status: todo.Status(in.Status),
		Tags:   in.Tag,
		Query:  in.Q,
		// Overdue compares with this reading of the clock, the same in the
		// list and its count.
		Now:     now,
		Overdue: in.Overdue,
		Limit:   in.Limit,
	}
	if in.Completed != "" {
		want := todo.StatusPending
		if in.Completed == "true" {
			want = todo.StatusCompleted
		}
		if f.Status != "" && f.Status != want {
			add("completed", "conflicts with status="+in.Status+"; send one of the two", in.Completed)
		}
		f.Status = want
	}
	for _, p := range in.Priority {
		f.Priorities = append(f.Priorities, todo.Priority(p))
	}
	for _, t := range []struct {
		name string
		raw  string
		dst  **time.Time
	}{{"due_before", in.DueBefore, &f.DueBefore}, {"due_after", in.DueAfter, &f.DueAfter}} {
		if t.raw == "" {
			continue
		}
		v, err := parseDateTime(t.raw)
		if err != nil {
			add(t.name, err.Error(), t.raw)
			continue
		}
		*t.dst = &v
	}
	f.Sort = todo.SortCreated
	if in.Sort != "" {
		f.Sort = todo.SortField(in.Sort)
	}
	switch in.Order {
	case "asc":
		f.Desc = false
	case "desc":
		f.Desc = true
	default:
		f.Desc = f.Sort.DefaultOrderDesc()
	}
	problems = append(problems, validationErrors("query", f.Normalize(), nil)...)

	if in.Cursor != "" {
		c, fp, err := decodeCursor(in.Cursor)
		switch {
		case err != nil:
			add("cursor", err.Error(), nil)
		case len(problems) > 0:
			// The filters are wrong already; comparing fingerprints would
			// only add noise.
		case fp != fingerprint(f):
			add("cursor", "was issued for other filters or another sort; start again without a cursor", nil)
		default:
			f.After = &c
		}
	}
	return f, problems
}

// nextLink is the Link header of a page that has a next one: the request's
// path (the same path style) and query with the cursor replaced.
func nextLink(path, rawQuery, cursor string) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(path)
	b.WriteByte('?')
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || key == "cursor" {
			continue
		}
		// Re-escaped, so that nothing the client sent can break out of <…>.
		b.WriteString(url.QueryEscape(key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(val))
		b.WriteByte('&')
	}
	b.WriteString("cursor=")
	b.WriteString(cursor)
	b.WriteString(`>; rel="next"`)
	return b.String()
}
