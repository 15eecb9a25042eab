package todo

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on task fields, in Unicode code points.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 5000
	MaxTags           = 20
	MaxTagLen         = 50
	MaxQueryLen       = 200
)

// FieldError is one problem with one input field. Field names the field as the
// client spelled it ("title", "tags[2]", "due_before").
type FieldError struct {
	Field   string
	Message string
	Value   any
}

// ValidationError lists every problem found in one input; it is never empty.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return fmt.Sprintf("invalid %s: %s", e.Errors[0].Field, e.Errors[0].Message)
	}
	return fmt.Sprintf("%d invalid fields", len(e.Errors))
}

// problems collects FieldErrors; err returns nil when there are none.
type problems []FieldError

func (p *problems) add(field, msg string, value any) {
	*p = append(*p, FieldError{Field: field, Message: msg, Value: value})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Errors: p}
}

// isTrimmed reports the characters trimmed from both ends of a title or tag:
// Unicode white space (which includes U+00A0) and the invisible U+200B and U+FEFF
// that paste buffers carry.
func isTrimmed(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200B' || r == '\uFEFF'
}

// TrimText removes white space and invisible padding from both ends of s.
func TrimText(s string) string { return strings.TrimFunc(s, isTrimmed) }

// checkText reports why s is not acceptable text, or "" when it is.
func checkText(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	return ""
}

// normalizeTitle trims the title and checks its length.
func normalizeTitle(ps *problems, field string, raw string) string {
	if msg := checkText(raw); msg != "" {
		ps.add(field, msg, nil)
		return raw
	}
	t := TrimText(raw)
	switch n := utf8.RuneCountInString(t); {
	case n == 0:
		ps.add(field, "must not be empty or only white space", raw)
	case n > MaxTitleLen:
		ps.add(field, fmt.Sprintf("must be at most %d characters (got %d)", MaxTitleLen, n), nil)
	}
	return t
}

func checkDescription(ps *problems, field string, d *string) {
	if d == nil {
		return
	}
	if msg := checkText(*d); msg != "" {
		ps.add(field, msg, nil)
		return
	}
	if n := utf8.RuneCountInString(*d); n > MaxDescriptionLen {
		ps.add(field, fmt.Sprintf("must be at most %d characters (got %d)", MaxDescriptionLen, n), nil)
	}
}

func checkPriority(ps *problems, field string, p Priority) {
	if !p.Valid() {
		ps.add(field, "must be one of none, low, medium, high", string(p))
	}
}

// normalizeTags trims each tag and checks count, length and distinctness.
func normalizeTags(ps *problems, field string, tags []string) []string {
	out := make([]string, 0, len(tags))
	if len(tags) > MaxTags {
		ps.add(field, fmt.Sprintf("must have at most %d tags (got %d)", MaxTags, len(tags)), nil)
		return out
	}
	seen := make(map[string]bool, len(tags))
	for i, raw := range tags {
		f := fmt.Sprintf("%s[%d]", field, i)
		if msg := checkText(raw); msg != "" {
			ps.add(f, msg, nil)
			continue
		}
		t := TrimText(raw)
		switch n := utf8.RuneCountInString(t); {
		case n == 0:
			ps.add(f, "must not be empty or only white space", raw)
			continue
		case n > MaxTagLen:
			ps.add(f, fmt.Sprintf("must be at most %d characters (got %d)", MaxTagLen, n), nil)
			continue
		}
		if seen[t] {
			ps.add(f, "duplicate tag", t)
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// NormalizeTime gives the form every stored time has: UTC, microsecond precision.
func NormalizeTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normalizeTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := NormalizeTime(*t)
	return &n
}

// Normalize validates a new task in place: the title is trimmed, the priority
// defaulted, tags trimmed, the due date normalised. It returns a
// *ValidationError listing every problem.
func (t *NewTask) Normalize() error {
	var ps problems
	t.Title = normalizeTitle(&ps, "title", t.Title)
	checkDescription(&ps, "description", t.Description)
	if t.Priority == "" {
		t.Priority = PriorityNone
	}
	checkPriority(&ps, "priority", t.Priority)
	t.Tags = normalizeTags(&ps, "tags", t.Tags)
	t.DueAt = normalizeTimePtr(t.DueAt)
	return ps.err()
}

// Normalize validates a patch in place, like NewTask.Normalize for the fields
// that are present.
func (p *TaskPatch) Normalize() error {
	var ps problems
	if p.Title != nil {
		t := normalizeTitle(&ps, "title", *p.Title)
		p.Title = &t
	}
	if p.Description.Set {
		checkDescription(&ps, "description", p.Description.Value)
	}
	if p.Priority != nil {
		checkPriority(&ps, "priority", *p.Priority)
	}
	if p.Tags != nil {
		tags := normalizeTags(&ps, "tags", *p.Tags)
		p.Tags = &tags
	}
	if p.DueAt.Set {
		p.DueAt.Value = normalizeTimePtr(p.DueAt.Value)
	}
	return ps.err()
}

// Normalize fills defaults into a filter and validates it. A cursor must belong
// to the same sort and order as the filter.
func (f *TaskFilter) Normalize() error {
	var ps problems
	switch f.Status {
	case "":
		f.Status = StatusAll
	case StatusAll, StatusPending, StatusCompleted:
	default:
		ps.add("status", "must be one of all, pending, completed", string(f.Status))
	}
	for i, p := range f.Priorities {
		checkPriority(&ps, fmt.Sprintf("priority[%d]", i), p)
	}
	if len(f.Tags) > MaxTags {
		ps.add("tag", fmt.Sprintf("at most %d tags", MaxTags), nil)
	}
	// Filter tags are trimmed like stored tags, so tag=" work " finds "work".
	for i, t := range f.Tags {
		if msg := checkText(t); msg != "" {
			ps.add(fmt.Sprintf("tag[%d]", i), msg, nil)
			continue
		}
		f.Tags[i] = TrimText(t)
		if n := utf8.RuneCountInString(f.Tags[i]); n == 0 || n > MaxTagLen {
			ps.add(fmt.Sprintf("tag[%d]", i), fmt.Sprintf("must be 1 to %d characters", MaxTagLen), t)
		}
	}
	if msg := checkText(f.Query); msg != "" {
		ps.add("q", msg, nil)
	} else if strings.ContainsFunc(f.Query, unicode.IsControl) {
		// SearchKey separates title and description with a newline; a query
		// without control characters can never match across the two.
		ps.add("q", "must not contain control characters", nil)
	} else if n := utf8.RuneCountInString(f.Query); n > MaxQueryLen {
		ps.add("q", fmt.Sprintf("must be at most %d characters", MaxQueryLen), nil)
	}
	f.DueBefore = normalizeTimePtr(f.DueBefore)
	f.DueAfter = normalizeTimePtr(f.DueAfter)
	if f.Sort == "" {
		f.Sort = SortCreated
		f.Desc = true
	} else if !f.Sort.Valid() {
		ps.add("sort", "must be one of created, updated, title, due, priority", string(f.Sort))
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit < 1 || f.Limit > MaxLimit:
		ps.add("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit), f.Limit)
	}
	if f.After != nil && (f.After.Sort != f.Sort || f.After.Desc != f.Desc) {
		ps.add("cursor", "belongs to a different sort or order", nil)
	}
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	f.Now = NormalizeTime(f.Now)
	return ps.err()
}

// TitleKey is the key titles sort by: the title in Unicode lower case. Both
// engines store it, computed here, so that they order titles identically.
func TitleKey(title string) string { return strings.ToLower(title) }

// SearchKey is the text that q searches: title and description in lower case,
// separated by a newline so that a match cannot span the two. Engines store it,
// computed here, and match the lower-cased query as a plain substring.
func SearchKey(title string, description *string) string {
	if description == nil {
		return strings.ToLower(title)
	}
	return strings.ToLower(title + "\n" + *description)
}

// SearchQuery is the form of q that is matched against SearchKey.
func SearchQuery(q string) string { return strings.ToLower(q) }
