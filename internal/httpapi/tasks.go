package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// timeFormat is how every timestamp is written: RFC 3339 in UTC, always with
// six fractional digits, so that clients comparing strings compare times.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return string(appendTime(nil, t)) }

// appendTime appends t as t.UTC().Format(timeFormat) would, digit by digit
// for the years 0 to 9999: Format reads its layout anew on every call, which
// made it the larger part of converting a page of tasks.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeFormat)
	}
	hour, minute, sec := t.Clock()
	us := t.Nanosecond() / 1000
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), 'Z')
}

// timeTexts formats the timestamps of tasks into one growing string, and
// keeps the strings the optional timestamps point to in one slice, so that
// converting a page of tasks costs a few allocations instead of up to six per
// task. Strings taken from a strings.Builder stay valid and unchanged however
// it grows later, as do the elements of an outgrown opt.
type timeTexts struct {
	b   strings.Builder
	opt []string
}

// grow makes room for the timestamps of ts.
func (x *timeTexts) grow(ts []todo.Task) {
	n, opt := 0, 0
	for i := range ts {
		n += 2
		if ts[i].DueAt != nil {
			opt++
		}
		if ts[i].CompletedAt != nil {
			opt++
		}
	}
	x.opt = make([]string, 0, opt)
	x.b.Grow((n + opt) * len(timeFormat))
}

func (x *timeTexts) str(t time.Time) string {
	var buf [len(timeFormat) + 9]byte // years up to 12 digits and a sign; longer ones spill to the heap
	start := x.b.Len()
	x.b.Write(appendTime(buf[:0], t))
	return x.b.String()[start:]
}

func (x *timeTexts) ptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	x.opt = append(x.opt, x.str(*t))
	return &x.opt[len(x.opt)-1]
}

// task is a task as the API shows it (schema "Task").
type task struct {
	ID          int64    `json:"id" minimum:"1" example:"42" doc:"The task's id, unique across all users."`
	UserID      string   `json:"user_id" example:"Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i" doc:"The owner: the user id of the token that created it."`
	Title       string   `json:"title" minLength:"1" maxLength:"200" example:"Buy milk" doc:"1 to 200 Unicode code points, trimmed of white space at both ends (including U+00A0, U+200B and U+FEFF)."`
	Description *string  `json:"description" maxLength:"5000" example:"Two litres, semi-skimmed" doc:"Up to 5000 code points; null when unset."`
	Completed   bool     `json:"completed" example:"false" doc:"Whether the task is done."`
	Priority    string   `json:"priority" enum:"none,low,medium,high" example:"none" doc:"How urgent the task is."`
	Tags        []string `json:"tags" nullable:"false" maxItems:"20" example:"[\"home\"]" doc:"Up to 20 distinct tags of 1 to 50 code points, in the order given; [] when none."`
	DueAt       *string  `json:"due_at" format:"date-time" example:"2026-11-26T09:00:00.000000Z" doc:"When the task is due, in UTC; null when unset."`
	CompletedAt *string  `json:"completed_at" format:"date-time" example:"2026-11-25T18:30:00.000000Z" doc:"When the task was last completed, in UTC; set when it becomes completed and cleared (null) when it is reopened."`
	CreatedAt   string   `json:"created_at" format:"date-time" example:"2026-11-25T17:00:00.123456Z" doc:"Creation time, UTC, microseconds."`
	UpdatedAt   string   `json:"updated_at" format:"date-time" example:"2026-11-25T17:00:00.123456Z" doc:"Time of the last change, UTC, microseconds."`
}

func taskFrom(t todo.Task) task {
	var x timeTexts
	x.grow([]todo.Task{t})
	return x.task(t)
}

// tasksFrom is taskFrom for a page of tasks.
func tasksFrom(ts []todo.Task) []task {
	out := make([]task, len(ts))
	var x timeTexts
	x.grow(ts)
	for i := range ts {
		out[i] = x.task(ts[i])
	}
	return out
}

func (x *timeTexts) task(t todo.Task) task {
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	return task{
		ID:          t.ID,
		UserID:      t.UserID,
		Title:       t.Title,
		Description: t.Description,
		Completed:   t.Completed,
		Priority:    string(t.Priority),
		Tags:        tags,
		DueAt:       x.ptr(t.DueAt),
		CompletedAt: x.ptr(t.CompletedAt),
		CreatedAt:   x.str(t.CreatedAt),
		UpdatedAt:   x.str(t.UpdatedAt),
	}
}

// taskCreate documents the body of create-task (schema "TaskCreate"). The
// body is decoded by decodeNewTask, not through this type.
type taskCreate struct {
	_           struct{} `additionalProperties:"true"`
	Title       string   `json:"title" minLength:"1" maxLength:"200" example:"Buy milk" doc:"Required. Trimmed of white space; 1 to 200 code points remain. No NUL."`
	Description *string  `json:"description,omitempty" nullable:"true" maxLength:"5000" example:"Two litres" doc:"Optional; null or absent means none."`
	Completed   bool     `json:"completed,omitempty" doc:"Default false."`
	Priority    string   `json:"priority,omitempty" enum:"none,low,medium,high" default:"none" doc:"Default none."`
	Tags        []string `json:"tags,omitempty" nullable:"false" maxItems:"20" doc:"Default []. Each tag is trimmed, 1 to 50 code points, distinct."`
	DueAt       *string  `json:"due_at,omitempty" nullable:"true" format:"date-time" example:"2026-11-26T10:00:00+01:00" doc:"RFC 3339 in any offset; stored and returned in UTC with microseconds."`
}

// taskUpdate documents the body of update-task and patch-task (schema
// "TaskUpdate"): every field optional, decoded by decodeTaskPatch.
type taskUpdate struct {
	_           struct{} `additionalProperties:"true"`
	Title       *string  `json:"title,omitempty" minLength:"1" maxLength:"200" example:"Buy oat milk" doc:"New title; null is refused."`
	Description *string  `json:"description,omitempty" nullable:"true" maxLength:"5000" doc:"New description; null clears it."`
	Completed   *bool    `json:"completed,omitempty" doc:"Completes (sets completed_at) or reopens (clears it); null is refused."`
	Priority    *string  `json:"priority,omitempty" enum:"none,low,medium,high" doc:"New priority; null is refused."`
	Tags        []string `json:"tags,omitempty" nullable:"false" maxItems:"20" doc:"Replaces all tags ([] removes them); null is refused."`
	DueAt       *string  `json:"due_at,omitempty" nullable:"true" format:"date-time" doc:"New due date in any RFC 3339 offset; null clears it."`
}

// taskCompletion documents the optional body of complete-task (schema "TaskCompletion").
type taskCompletion struct {
	_         struct{} `additionalProperties:"true"`
	Completed *bool    `json:"completed,omitempty" doc:"The state to set. Absent (or no body, or {}) toggles."`
}

// taskDeleted is the answer of delete-task, the plan's answer that frontends parse.
type taskDeleted struct {
	Message string `json:"message" example:"Task deleted successfully" doc:"Always \"Task deleted successfully\"."`
	ID      int64  `json:"id" example:"42" doc:"The id of the deleted task."`
}

// ---- inputs and outputs ----

// The {id} of a task path. The only accepted spelling is ^[1-9][0-9]*$ (no
// sign, no leading zero, no white space) within int64, so that one task has
// one URL and the reserved words of other routes (changes, events, bulk,
// stats) can never be ids. Each input type declares its parameters itself:
// huma does not look into unexported embedded structs.

type getTaskInput struct {
	ID          string `path:"id" pattern:"^[1-9][0-9]*$" patternDescription:"a positive integer without sign or leading zeros" example:"42" doc:"The task id: a positive 64-bit integer written without sign, leading zeros or spaces."`
	IfNoneMatch string `header:"If-None-Match" example:"\"42.3\"" doc:"ETag(s) the client holds: 304 Not Modified when one is the task's current ETag."`
}

type createTaskInput struct {
	IdempotencyKey string `header:"Idempotency-Key" pattern:"^[!-~]{1,255}$" patternDescription:"1 to 255 visible ASCII characters" example:"5f0c6a5e-2f4b-4c1e-9d83-0b6a1d2c7e44" doc:"1 to 255 visible ASCII characters (a UUID is a good choice), one per intended write, kept 24 h per user on every replica. A retry with the same key and the same request (method, route, task, exact body bytes) gets the first response again with Idempotent-Replayed: true; the same key with another request is a 422; a retry while the first is in progress is a 409."`
	requestBody
}

type updateTaskInput struct {
	ID      string `path:"id" pattern:"^[1-9][0-9]*$" patternDescription:"a positive integer without sign or leading zeros" example:"42" doc:"The task id: a positive 64-bit integer written without sign, leading zeros or spaces."`
	IfMatch string `header:"If-Match" example:"\"42.3\"" doc:"Only act if the task's current ETag is one of these (strong comparison); * means the task must exist. Otherwise 412 and nothing changes."`
	requestBody
}

// completeTaskInput is updateTaskInput with Idempotency-Key: a toggle
// repeated by a retry would undo itself.
type completeTaskInput struct {
	ID             string `path:"id" pattern:"^[1-9][0-9]*$" patternDescription:"a positive integer without sign or leading zeros" example:"42" doc:"The task id: a positive 64-bit integer written without sign, leading zeros or spaces."`
	IfMatch        string `header:"If-Match" example:"\"42.3\"" doc:"Only act if the task's current ETag is one of these (strong comparison); * means the task must exist. Otherwise 412 and nothing changes."`
	IdempotencyKey string `header:"Idempotency-Key" pattern:"^[!-~]{1,255}$" patternDescription:"1 to 255 visible ASCII characters" example:"0d9b7c1e-7a51-4f0e-b0f6-3c2a9e5d8f10" doc:"1 to 255 visible ASCII characters (a UUID is a good choice), one per intended write, kept 24 h per user on every replica. A retry with the same key and the same request (method, route, task, exact body bytes) gets the first response again with Idempotent-Replayed: true; the same key with another request is a 422; a retry while the first is in progress is a 409."`
	requestBody
}

type deleteTaskInput struct {
	ID      string `path:"id" pattern:"^[1-9][0-9]*$" patternDescription:"a positive integer without sign or leading zeros" example:"42" doc:"The task id: a positive 64-bit integer written without sign, leading zeros or spaces."`
	IfMatch string `header:"If-Match" example:"\"42.3\"" doc:"Only act if the task's current ETag is one of these (strong comparison); * means the task must exist. Otherwise 412 and nothing changes."`
}

type taskOutput struct {
	Status int
	ETag   string `header:"ETag" doc:"Strong validator of this version of the task: \"<id>.<version>\". Send it in If-Match to update safely, or in If-None-Match to revalidate."`
	Body   *task
}

type createdOutput struct {
	Status   int
	Location string `header:"Location" doc:"Path of the new task, in the path style of the request: /api/tasks/42 or /api/{user_id}/tasks/42."`
	ETag     string `header:"ETag" doc:"Strong validator of the new task."`
	Replayed string `header:"Idempotent-Replayed" enum:"true" doc:"true when this is the saved response to an earlier request with the same Idempotency-Key (the write was not repeated); absent otherwise."`
	Body     task
}

// completedOutput is taskOutput with the Idempotent-Replayed header.
type completedOutput struct {
	Status   int
	ETag     string `header:"ETag" doc:"Strong validator of this version of the task: \"<id>.<version>\". Send it in If-Match to update safely, or in If-None-Match to revalidate."`
	Replayed string `header:"Idempotent-Replayed" enum:"true" doc:"true when this is the saved response to an earlier request with the same Idempotency-Key (the write was not repeated); absent otherwise."`
	Body     *task
}

type listOutput struct {
	Status     int
	ETag       string `header:"ETag" doc:"Strong validator of this page (derived from the ids and versions of its tasks, its next link and its count)."`
	Link       string `header:"Link" doc:"<URL of the next page>; rel=\"next\". Absent on the last page."`
	TotalCount string `header:"X-Total-Count" doc:"With count=true: how many tasks match the filters in all pages."`
	Body       []task `nullable:"false"`
}

type deleteOutput struct {
	Body taskDeleted
}

// ---- handlers ----

// parseID checks a task id in the path. Its pattern is also checked by huma
// from the parameter's schema; this adds the int64 range.
func parseID(s string) (int64, *huma.ErrorDetail) {
	bad := func(msg string) *huma.ErrorDetail {
		return &huma.ErrorDetail{Location: "path.id", Message: msg, Value: s}
	}
	if s == "" || s[0] < '1' || s[0] > '9' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, bad("must be a positive integer without sign or leading zeros")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, bad("is too large: ids fit in a signed 64-bit integer")
	}
	return id, nil
}

func (s *Server) listTasks(ctx context.Context, in *listTasksInput) (*listOutput, error) {
	sc := scopeFrom(ctx)
	f, problems := in.filter(s.now())
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	page, err := s.store.ListTasks(ctx, sc.userID, f)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	out := &listOutput{Status: http.StatusOK, Body: tasksFrom(page.Tasks)}
	var next string
	if page.Next != nil {
		next = encodeCursor(*page.Next, fingerprint(f))
		out.Link = nextLink(sc.prefix+"/tasks", in.rawQuery, next)
	}
	var count int64 = -1
	if in.Count {
		count, err = s.store.CountTasks(ctx, sc.userID, f)
		if err != nil {
			return nil, s.errorFor(ctx, err)
		}
		out.TotalCount = strconv.FormatInt(count, 10)
	}
	out.ETag = listETag(page.Tasks, next, count)
	if in.IfNoneMatch != "" && noneMatch(in.IfNoneMatch, out.ETag) {
		out.Status = http.StatusNotModified
		out.Body = nil
	}
	return out, nil
}

func (s *Server) createTask(ctx context.Context, in *createTaskInput) (*createdOutput, error) {
	sc := scopeFrom(ctx)
	body, err := in.read()
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	nt, problems := decodeNewTask(body)
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	location := func(t todo.Task) string { return sc.prefix + "/tasks/" + strconv.FormatInt(t.ID, 10) }
	if in.IdempotencyKey != "" {
		fp := requestFingerprint(http.MethodPost, infoFrom(ctx).Route, 0, body)
		idem := idempotency(in.IdempotencyKey, fp, http.StatusCreated, func(t todo.Task) map[string]string {
			return map[string]string{"Location": location(t), "ETag": taskETag(t)}
		})
		resp, again, err := s.store.CreateTaskOnce(ctx, sc.userID, nt, idem)
		if err != nil {
			return nil, s.idempotencyError(ctx, err)
		}
		saved, err := savedTask(resp)
		if err != nil {
			return nil, s.errorFor(ctx, err)
		}
		return &createdOutput{
			Status:   resp.Status,
			Location: resp.Header["Location"],
			ETag:     resp.Header["ETag"],
			Replayed: replayed(again),
			Body:     saved,
		}, nil
	}
	t, err := s.store.CreateTask(ctx, sc.userID, nt)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	return &createdOutput{
		Status:   http.StatusCreated,
		Location: location(t),
		ETag:     taskETag(t),
		Body:     taskFrom(t),
	}, nil
}

func (s *Server) getTask(ctx context.Context, in *getTaskInput) (*taskOutput, error) {
	sc := scopeFrom(ctx)
	id, bad := parseID(in.ID)
	if bad != nil {
		return nil, invalid(bad)
	}
	t, err := s.store.GetTask(ctx, sc.userID, id)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	etag := taskETag(t)
	if in.IfNoneMatch != "" && noneMatch(in.IfNoneMatch, etag) {
		return &taskOutput{Status: http.StatusNotModified, ETag: etag}, nil
	}
	body := taskFrom(t)
	return &taskOutput{Status: http.StatusOK, ETag: etag, Body: &body}, nil
}

// updateTask serves both PUT (update-task) and PATCH (patch-task): the plan's
// PUT was already a partial update, so both apply the fields sent.
func (s *Server) updateTask(ctx context.Context, in *updateTaskInput) (*taskOutput, error) {
	sc := scopeFrom(ctx)
	id, bad := parseID(in.ID)
	body, err := in.read()
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	patch, problems := decodeTaskPatch(body)
	if bad != nil {
		problems = append([]*huma.ErrorDetail{bad}, problems...)
	}
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	version, err := s.ifMatchVersion(ctx, sc.userID, id, in.IfMatch)
	if err != nil {
		return nil, err
	}
	t, err := s.store.UpdateTask(ctx, sc.userID, id, patch, version)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	return taskResponse(t), nil
}

func (s *Server) completeTask(ctx context.Context, in *completeTaskInput) (*completedOutput, error) {
	sc := scopeFrom(ctx)
	id, bad := parseID(in.ID)
	body, err := in.read()
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	completed, problems := decodeCompletion(body)
	if bad != nil {
		problems = append([]*huma.ErrorDetail{bad}, problems...)
	}
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	version, err := s.ifMatchVersion(ctx, sc.userID, id, in.IfMatch)
	if err != nil {
		return nil, err
	}
	if in.IdempotencyKey != "" {
		fp := requestFingerprint(http.MethodPatch, infoFrom(ctx).Route, id, body)
		idem := idempotency(in.IdempotencyKey, fp, http.StatusOK, func(t todo.Task) map[string]string {
			return map[string]string{"ETag": taskETag(t)}
		})
		resp, again, err := s.store.CompleteTaskOnce(ctx, sc.userID, id, completed, version, idem)
		if err != nil {
			return nil, s.idempotencyError(ctx, err)
		}
		saved, err := savedTask(resp)
		if err != nil {
			return nil, s.errorFor(ctx, err)
		}
		return &completedOutput{Status: resp.Status, ETag: resp.Header["ETag"], Replayed: replayed(again), Body: &saved}, nil
	}
	t, err := s.store.CompleteTask(ctx, sc.userID, id, completed, version)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	out := taskFrom(t)
	return &completedOutput{Status: http.StatusOK, ETag: taskETag(t), Body: &out}, nil
}

func (s *Server) deleteTask(ctx context.Context, in *deleteTaskInput) (*deleteOutput, error) {
	sc := scopeFrom(ctx)
	id, bad := parseID(in.ID)
	if bad != nil {
		return nil, invalid(bad)
	}
	version, err := s.ifMatchVersion(ctx, sc.userID, id, in.IfMatch)
	if err != nil {
		return nil, err
	}
	t, err := s.store.DeleteTask(ctx, sc.userID, id, version)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	return &deleteOutput{Body: taskDeleted{Message: "Task deleted successfully", ID: t.ID}}, nil
}

func taskResponse(t todo.Task) *taskOutput {
	body := taskFrom(t)
	return &taskOutput{Status: http.StatusOK, ETag: taskETag(t), Body: &body}
}

// ---- ETags and preconditions ----

// taskETag is the strong ETag of a task version. The id is globally unique
// and every write bumps the version, so "<id>.<version>" names exactly one
// representation.
func taskETag(t todo.Task) string {
	return `"` + strconv.FormatInt(t.ID, 10) + "." + strconv.FormatInt(t.Version, 10) + `"`
}

// listETag is the strong ETag of a list page. A page's body is determined by
// the ids and versions of its tasks in order; the next link and the count
// (-1 when not asked for) are part of what the client caches with it.
func listETag(tasks []todo.Task, next string, count int64) string {
	h := sha256.New()
	var b [16]byte
	for _, t := range tasks {
		binary.BigEndian.PutUint64(b[:8], uint64(t.ID))
		binary.BigEndian.PutUint64(b[8:], uint64(t.Version))
		h.Write(b[:])
	}
	binary.BigEndian.PutUint64(b[:8], uint64(count))
	h.Write(b[:8])
	h.Write([]byte(next))
	return `"l-` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:15]) + `"`
}

// entityTag is one element of an If-Match or If-None-Match list.
type entityTag struct {
	opaque string // with its quotes
	weak   bool
}

// parseETags parses a list of entity tags (RFC 9110 §8.8.3). star reports
// "*"; ok is false when the header is malformed.
func parseETags(h string) (tags []entityTag, star, ok bool) {
	rest := strings.TrimSpace(h)
	if rest == "*" {
		return nil, true, true
	}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		var t entityTag
		if strings.HasPrefix(rest, "W/") {
			t.weak = true
			rest = rest[2:]
		}
		if !strings.HasPrefix(rest, `"`) {
			return nil, false, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false, false
		}
		t.opaque = rest[:end+2]
		rest = strings.TrimLeft(rest[end+2:], " \t")
		if rest != "" && rest[0] != ',' {
			return nil, false, false
		}
		tags = append(tags, t)
	}
	return tags, false, len(tags) > 0
}

// noneMatch reports whether If-None-Match matches etag (weak comparison), in
// which case a GET answers 304.
func noneMatch(header, etag string) bool {
	tags, star, ok := parseETags(header)
	if star {
		return true
	}
	if !ok {
		return false
	}
	for _, t := range tags {
		if t.opaque == etag {
			return true
		}
	}
	return false
}

// ifMatchVersion turns If-Match into the version the store must find: 0 for
// no header or "*" (the store's ErrNotFound covers "must exist"). Tags are
// compared strongly: a weak tag, a malformed header or a tag of another task
// can never match, so the answer is 412 without touching the task.
func (s *Server) ifMatchVersion(ctx context.Context, userID string, id int64, header string) (int64, error) {
	if header == "" {
		return 0, nil
	}
	tags, star, ok := parseETags(header)
	if star {
		return 0, nil
	}
	var versions []int64
	if ok {
		prefix := `"` + strconv.FormatInt(id, 10) + "."
		for _, t := range tags {
			if t.weak || !strings.HasPrefix(t.opaque, prefix) {
				continue
			}
			v, err := strconv.ParseInt(strings.TrimSuffix(t.opaque[len(prefix):], `"`), 10, 64)
			if err == nil && v > 0 {
				versions = append(versions, v)
			}
		}
	}
	switch len(versions) {
	case 0:
		return 0, newProblem(http.StatusPreconditionFailed,
			"If-Match names no current version of this task (send the ETag of the task as received); nothing was changed")
	case 1:
		return versions[0], nil
	}
	// Several candidate versions: the current one must be among them, and the
	// store then checks it again atomically with the write.
	t, err := s.store.GetTask(ctx, userID, id)
	if err != nil {
		return 0, s.errorFor(ctx, err)
	}
	for _, v := range versions {
		if v == t.Version {
			return v, nil
		}
	}
	return 0, s.errorFor(ctx, todo.ErrPreconditionFailed)
}
