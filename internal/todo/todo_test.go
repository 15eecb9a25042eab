package todo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func fieldsOf(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, e := range ve.Errors {
		out = append(out, e.Field)
	}
	return out
}

func TestNewTaskTitle(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "Buy milk", "Buy milk", true},
		{"trimmed", " \t Buy milk\n ", "Buy milk", true},
		{"nbsp zwsp bom trimmed", "\u00a0\u200b\ufeffBuy milk\u200b\u00a0", "Buy milk", true},
		{"inner spaces kept", "Buy  milk", "Buy  milk", true},
		{"accented", "Café é", "Café é", true},
		{"emoji", "😀", "😀", true},
		{"combining mark", "e\u0301", "e\u0301", true},
		{"zwj emoji", "👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧", true},
		{"empty", "", "", false},
		{"only white space", "   ", "", false},
		{"only zero-width space", "\u200b\u200b", "", false},
		{"200 code points", strings.Repeat("😀", 200), strings.Repeat("😀", 200), true},
		{"201 code points", strings.Repeat("é", 201), "", false},
		{"200 after trimming", "  " + strings.Repeat("a", 200) + "  ", strings.Repeat("a", 200), true},
		{"NUL", "a\x00b", "", false},
		{"invalid UTF-8", "a\xffb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nt := NewTask{Title: tt.in}
			err := nt.Normalize()
			if tt.ok != (err == nil) {
				t.Fatalf("Normalize(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && nt.Title != tt.want {
				t.Fatalf("title %q, want %q", nt.Title, tt.want)
			}
			if !tt.ok && !reflect.DeepEqual(fieldsOf(err), []string{"title"}) {
				t.Fatalf("fields %v, want [title]", fieldsOf(err))
			}
		})
	}
}

func TestNewTaskDefaultsAndEveryProblem(t *testing.T) {
	due := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	nt := NewTask{Title: "x", Tags: []string{" work ", "home"}, DueAt: &due}
	if err := nt.Normalize(); err != nil {
		t.Fatal(err)
	}
	if nt.Priority != PriorityNone || !reflect.DeepEqual(nt.Tags, []string{"work", "home"}) {
		t.Fatalf("defaults: %+v", nt)
	}
	if want := time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC); !nt.DueAt.Equal(want) || nt.DueAt.Location() != time.UTC {
		t.Fatalf("due normalised to UTC µs: %v", nt.DueAt)
	}

	bad := NewTask{
		Title:       "",
		Description: ptr(strings.Repeat("d", MaxDescriptionLen+1)),
		Priority:    "urgent",
		Tags:        []string{"a", "a", "", strings.Repeat("t", MaxTagLen+1), "x\x00"},
	}
	got := fieldsOf(bad.Normalize())
	want := []string{"title", "description", "priority", "tags[1]", "tags[2]", "tags[3]", "tags[4]"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems %v, want %v", got, want)
	}
	many := NewTask{Title: "x", Tags: make([]string, MaxTags+1)}
	if got := fieldsOf(many.Normalize()); !reflect.DeepEqual(got, []string{"tags"}) {
		t.Fatalf("too many tags: %v", got)
	}
	okDesc := NewTask{Title: "x", Description: ptr(strings.Repeat("é", MaxDescriptionLen))}
	if err := okDesc.Normalize(); err != nil {
		t.Fatalf("5000 code points of description are allowed: %v", err)
	}
}

func TestTaskPatch(t *testing.T) {
	if !(TaskPatch{}).Empty() {
		t.Fatal("zero patch must be empty")
	}
	p := TaskPatch{Title: ptr("  New  "), Description: Optional[string]{Set: true}, Tags: &[]string{"b", "b"}}
	if got := fieldsOf(p.Normalize()); !reflect.DeepEqual(got, []string{"tags[1]"}) {
		t.Fatalf("problems %v", got)
	}
	if *p.Title != "New" {
		t.Fatalf("title trimmed: %q", *p.Title)
	}
	p = TaskPatch{Priority: ptr(Priority("x")), Title: ptr(" ")}
	if got := fieldsOf(p.Normalize()); !reflect.DeepEqual(got, []string{"title", "priority"}) {
		t.Fatalf("problems %v", got)
	}

	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	base := Task{Title: "t", Description: ptr("d"), Tags: []string{"a"}, DueAt: &now, Priority: PriorityLow}
	got := TaskPatch{Description: Optional[string]{Set: true}, DueAt: Optional[time.Time]{Set: true}, Completed: ptr(true)}.Apply(base, now)
	if got.Description != nil || got.DueAt != nil || !got.Completed || got.CompletedAt == nil || !got.CompletedAt.Equal(now) {
		t.Fatalf("null clears, completion stamps: %+v", got)
	}
	if got.Title != "t" || got.Priority != PriorityLow || !reflect.DeepEqual(got.Tags, []string{"a"}) {
		t.Fatalf("absent fields unchanged: %+v", got)
	}
	again := TaskPatch{Completed: ptr(true)}.Apply(got, later)
	if !again.CompletedAt.Equal(now) {
		t.Fatalf("completing a completed task keeps completed_at: %v", again.CompletedAt)
	}
	reopened := TaskPatch{Completed: ptr(false)}.Apply(again, later)
	if reopened.Completed || reopened.CompletedAt != nil {
		t.Fatalf("reopening clears completed_at: %+v", reopened)
	}
}

func TestTaskFilterNormalize(t *testing.T) {
	var f TaskFilter
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	if f.Status != StatusAll || f.Sort != SortCreated || !f.Desc || f.Limit != DefaultLimit || f.Now.IsZero() {
		t.Fatalf("defaults: %+v", f)
	}
	f = TaskFilter{Tags: []string{" work "}, Sort: SortTitle, Limit: MaxLimit}
	if err := f.Normalize(); err != nil || f.Tags[0] != "work" || f.Desc {
		t.Fatalf("tags trimmed, title ascending: %+v %v", f, err)
	}
	bad := TaskFilter{
		Status: "done", Priorities: []Priority{"low", "x"}, Tags: []string{" "}, Query: strings.Repeat("q", MaxQueryLen+1),
		Sort: "size", Limit: MaxLimit + 1,
	}
	want := []string{"status", "priority[1]", "tag[0]", "q", "sort", "limit"}
	if got := fieldsOf(bad.Normalize()); !reflect.DeepEqual(got, want) {
		t.Fatalf("problems %v, want %v", got, want)
	}
	if got := fieldsOf((&TaskFilter{Query: "milk\n2 litres"}).Normalize()); !reflect.DeepEqual(got, []string{"q"}) {
		t.Fatalf("a query with a newline could match across title and description: %v", got)
	}
	mismatch := TaskFilter{Sort: SortTitle, After: &Cursor{Sort: SortCreated, Desc: true}}
	if got := fieldsOf(mismatch.Normalize()); !reflect.DeepEqual(got, []string{"cursor"}) {
		t.Fatalf("a cursor of another sort: %v", got)
	}
}

func TestSortDefaultsAndRanks(t *testing.T) {
	for s, desc := range map[SortField]bool{SortCreated: true, SortUpdated: true, SortPriority: true, SortTitle: false, SortDue: false} {
		if s.DefaultOrderDesc() != desc || !s.Valid() {
			t.Errorf("%s: default desc %v", s, s.DefaultOrderDesc())
		}
	}
	for i, p := range []Priority{PriorityNone, PriorityLow, PriorityMedium, PriorityHigh} {
		if p.Rank() != i || PriorityFromRank(i) != p || !p.Valid() {
			t.Errorf("%s rank %d", p, p.Rank())
		}
	}
	if Priority("x").Rank() != -1 || PriorityFromRank(9) != PriorityNone {
		t.Error("invalid ranks")
	}
}

func TestCursorAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	task := Task{ID: 7, Title: "ÉCOLE", Priority: PriorityHigh, CreatedAt: now, UpdatedAt: now.Add(time.Second)}
	cases := map[SortField]Cursor{
		SortCreated:  {Sort: SortCreated, ID: 7, Time: now},
		SortUpdated:  {Sort: SortUpdated, ID: 7, Time: now.Add(time.Second)},
		SortTitle:    {Sort: SortTitle, ID: 7, Text: "école"},
		SortPriority: {Sort: SortPriority, ID: 7, Rank: 3},
		SortDue:      {Sort: SortDue, ID: 7, NoDue: true},
	}
	for s, want := range cases {
		if got := CursorAfter(task, s, false); got != want {
			t.Errorf("%s: %+v, want %+v", s, got, want)
		}
	}
	task.DueAt = &now
	if got := CursorAfter(task, SortDue, true); got != (Cursor{Sort: SortDue, Desc: true, ID: 7, Time: now}) {
		t.Errorf("due with a date: %+v", got)
	}
}

func TestSearchKey(t *testing.T) {
	if got := SearchKey("Buy MILK", ptr("Ÿes")); got != "buy milk\nÿes" {
		t.Fatalf("SearchKey = %q", got)
	}
	if got := SearchKey("École", nil); got != "école" || SearchQuery("ÉC") != "éc" {
		t.Fatalf("SearchKey without description = %q", got)
	}
}

func TestCompletion(t *testing.T) {
	earlier := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := earlier.Add(24 * time.Hour)
	pending := Task{Title: "t"}
	done := Task{Title: "t", Completed: true, CompletedAt: &earlier}
	tests := []struct {
		name          string
		cur           Task
		completed     *bool
		wantCompleted bool
		wantAt        *time.Time
	}{
		{"toggle pending", pending, nil, true, &now},
		{"toggle completed", done, nil, false, nil},
		{"complete pending", pending, ptr(true), true, &now},
		{"complete completed keeps its time", done, ptr(true), true, &earlier},
		{"reopen completed", done, ptr(false), false, nil},
		{"reopen pending", pending, ptr(false), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Completion(tt.completed)(tt.cur, now)
			if got.Completed != tt.wantCompleted || !reflect.DeepEqual(got.CompletedAt, tt.wantAt) {
				t.Errorf("completed %v at %v, want %v at %v", got.Completed, got.CompletedAt, tt.wantCompleted, tt.wantAt)
			}
			if got.Title != tt.cur.Title {
				t.Errorf("title %q changed", got.Title)
			}
		})
	}
}

func TestTaskFilterPage(t *testing.T) {
	tasks := []Task{{ID: 1, Title: "a"}, {ID: 2, Title: "b"}, {ID: 3, Title: "c"}}
	tests := []struct {
		name     string
		f        TaskFilter
		in       []Task
		wantIDs  []int64
		wantNext *Cursor
	}{
		{"empty", TaskFilter{Limit: 2, Sort: SortTitle}, []Task{}, nil, nil},
		{"fewer than the limit", TaskFilter{Limit: 5, Sort: SortTitle}, tasks, []int64{1, 2, 3}, nil},
		{"exactly the limit", TaskFilter{Limit: 3, Sort: SortTitle}, tasks, []int64{1, 2, 3}, nil},
		{"one beyond the limit", TaskFilter{Limit: 2, Sort: SortTitle, Desc: true}, tasks, []int64{1, 2},
			&Cursor{Sort: SortTitle, Desc: true, ID: 2, Text: "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := tt.f.Page(tt.in)
			var ids []int64
			for _, task := range page.Tasks {
				ids = append(ids, task.ID)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) || !reflect.DeepEqual(page.Next, tt.wantNext) {
				t.Errorf("ids %v next %+v, want %v next %+v", ids, page.Next, tt.wantIDs, tt.wantNext)
			}
		})
	}
}
