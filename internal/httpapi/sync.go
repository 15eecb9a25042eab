package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// This file serves the routes of offline-first clients: the changes feed
// (list-changes), bulk edits (bulk-tasks) and counts (get-task-stats).

// ---- change cursors ----

// A change cursor is a position in one user's change sequence, handed to
// clients as an opaque string: base64url (no padding) of the sequence number
// (8 bytes, big-endian) followed by the first 16 bytes of
// HMAC-SHA256(server key, label || user id || sequence number). The MAC makes
// it tamper-evident and binds it to its user: a cursor edited by hand, made
// up, or issued to someone else fails to verify (422), so a client can never
// skip changes by accident or probe another user's sequence. The server key
// lives in the database (todo.SyncStore.ServerKey), so every replica issues
// and accepts the same cursors.
//
// A cursor in the middle of a sync from the beginning that started after
// tombstones were purged also carries the floor of the store's page
// (todo.Changes.Floor): 8 more bytes after the sequence number, under a
// label of its own, 43 characters in all. Without it the cursor would look
// older than the purge and be refused with 410, and a client could never
// finish the resync the 410 asks for.

const (
	changeSeqLen         = 8
	changeMACLen         = 16
	changeCursorLen      = changeSeqLen + changeMACLen
	changeFloorCursorLen = 2*changeSeqLen + changeMACLen
)

// The labels separate the MACs of change cursors, with and without a floor,
// from each other and from any other use of the server key. They have the
// same length and differ before their end, so no user id can make the MAC
// input of one form equal to that of the other.
const (
	changeCursorLabel      = "todod change cursor v1\x00"
	changeFloorCursorLabel = "todod change cursor v2\x00"
)

// errBadChangeCursor is the one answer to a change cursor that does not verify.
var errBadChangeCursor = errors.New("is not a change cursor this server issued to this user (use the cursor or event id as received)")

// changePos is a position of a user's changes feed: the arguments since and
// floor of todo.SyncStore.Changes.
type changePos struct {
	seq, floor int64
}

// nextPos is the position after page ch.
func nextPos(ch todo.Changes) changePos {
	return changePos{seq: ch.Next, floor: ch.Floor}
}

func changeMAC(key []byte, label, userID string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	// The user id has a variable length, but the payload after it has a
	// fixed one for each label, so the concatenation is unambiguous.
	m.Write([]byte(userID))
	m.Write(payload)
	return m.Sum(nil)[:changeMACLen]
}

// encodeChangeCursor returns the opaque cursor of position pos of userID's
// changes: with its floor only when the floor is above the sequence number,
// as todo.Changes.Floor is.
func encodeChangeCursor(key []byte, userID string, pos changePos) string {
	if pos.floor <= pos.seq {
		var b [changeCursorLen]byte
		binary.BigEndian.PutUint64(b[:changeSeqLen], uint64(pos.seq))
		copy(b[changeSeqLen:], changeMAC(key, changeCursorLabel, userID, b[:changeSeqLen]))
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	var b [changeFloorCursorLen]byte
	binary.BigEndian.PutUint64(b[:changeSeqLen], uint64(pos.seq))
	binary.BigEndian.PutUint64(b[changeSeqLen:2*changeSeqLen], uint64(pos.floor))
	copy(b[2*changeSeqLen:], changeMAC(key, changeFloorCursorLabel, userID, b[:2*changeSeqLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeChangeCursor verifies an opaque cursor of userID and returns its
// position.
func decodeChangeCursor(key []byte, userID, s string) (changePos, error) {
	var label string
	var payloadLen int
	switch len(s) {
	case base64.RawURLEncoding.EncodedLen(changeCursorLen):
		label, payloadLen = changeCursorLabel, changeSeqLen
	case base64.RawURLEncoding.EncodedLen(changeFloorCursorLen):
		label, payloadLen = changeFloorCursorLabel, 2*changeSeqLen
	default:
		return changePos{}, errBadChangeCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != payloadLen+changeMACLen {
		return changePos{}, errBadChangeCursor
	}
	if !hmac.Equal(b[payloadLen:], changeMAC(key, label, userID, b[:payloadLen])) {
		return changePos{}, errBadChangeCursor
	}
	seq := binary.BigEndian.Uint64(b[:changeSeqLen])
	var floor uint64
	if payloadLen > changeSeqLen {
		floor = binary.BigEndian.Uint64(b[changeSeqLen:payloadLen])
		if floor <= seq {
			// Never issued: a floor is only written above the position.
			return changePos{}, errBadChangeCursor
		}
	}
	if seq > 1<<63-1 || floor > 1<<63-1 {
		// Only a server with another key could have made it; refuse it all the same.
		return changePos{}, errBadChangeCursor
	}
	return changePos{seq: int64(seq), floor: int64(floor)}, nil
}

// cursorKey returns the server key of change cursors. It is read from the
// store once and kept: it never changes. Concurrent first calls may both read
// it, which is harmless.
func (s *Server) cursorKey(ctx context.Context) ([]byte, error) {
	if k := s.changeKey.Load(); k != nil {
		return *k, nil
	}
	k, err := s.store.ServerKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("server key of %d bytes: too short to sign cursors", len(k))
	}
	s.changeKey.Store(&k)
	return k, nil
}

// ---- list-changes ----

type listChangesInput struct {
	Since string `query:"since" example:"AAAAAAAAAAeK3oPjT5n2VQm1xHc9aS8b" doc:"The cursor of the last response (or the id of the last event seen on /api/events). Absent: from the beginning, which returns every task the user has. Opaque and bound to its user: a cursor that was altered, made up or issued to another user is a 422 at query.since, and one older than a deletion the server no longer keeps (deletions are kept 30 days) is a 410: sync again without since."`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"500" example:"500" doc:"Most changes (tasks plus deletions) in one response."`
}

type changesOutput struct {
	Body taskChanges
}

// taskChanges is one page of the changes feed (schema "TaskChanges").
type taskChanges struct {
	Tasks   []task          `json:"tasks" nullable:"false" doc:"Tasks created or updated after since, each in its current state, oldest change first. A task changed several times appears once."`
	Deleted []taskTombstone `json:"deleted" nullable:"false" doc:"Tasks deleted after since, oldest first. A task created and deleted after since appears only here."`
	Cursor  string          `json:"cursor" example:"AAAAAAAAAAeK3oPjT5n2VQm1xHc9aS8b" doc:"Send it as since in the next call. It is the position after the last change of this page, or since itself when nothing changed."`
	HasMore bool            `json:"has_more" example:"false" doc:"true: more changes follow; call again at once with cursor. false: the client is up to date as of this response."`
}

// taskTombstone is a tombstone in the changes feed (schema "TaskTombstone").
type taskTombstone struct {
	ID        int64  `json:"id" minimum:"1" example:"7" doc:"The id of the deleted task."`
	DeletedAt string `json:"deleted_at" format:"date-time" example:"2026-11-25T18:00:00.000000Z" doc:"When it was deleted, UTC, microseconds."`
}

func (s *Server) listChanges(ctx context.Context, in *listChangesInput) (*changesOutput, error) {
	sc := scopeFrom(ctx)
	key, err := s.cursorKey(ctx)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	var since changePos
	if in.Since != "" {
		if since, err = decodeChangeCursor(key, sc.userID, in.Since); err != nil {
			return nil, invalid(&huma.ErrorDetail{Location: "query.since", Message: err.Error()})
		}
	}
	ch, err := s.store.Changes(ctx, sc.userID, since.seq, since.floor, in.Limit)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	out := &changesOutput{Body: taskChanges{
		Tasks:   tasksFrom(ch.Tasks),
		Deleted: make([]taskTombstone, len(ch.Deleted)),
		Cursor:  encodeChangeCursor(key, sc.userID, nextPos(ch)),
		HasMore: ch.HasMore,
	}}
	for i, d := range ch.Deleted {
		out.Body.Deleted[i] = taskTombstone{ID: d.ID, DeletedAt: formatTime(d.DeletedAt)}
	}
	return out, nil
}

// ---- bulk-tasks ----

type bulkTasksInput struct {
	requestBody
}

// taskBulk documents the body of bulk-tasks (schema "TaskBulk"). The
// body is decoded by decodeBulk, not through this type.
type taskBulk struct {
	_      struct{} `additionalProperties:"true"`
	Action string   `json:"action" enum:"complete,reopen,delete,tag,untag" example:"complete" doc:"What to do to every task named: complete, reopen, delete, tag (add the tags) or untag (remove them)."`
	IDs    []int64  `json:"ids" minItems:"1" maxItems:"500" uniqueItems:"true" example:"[1,2,3]" doc:"1 to 500 distinct ids of the user's tasks. Each must be a positive integer written without sign, fraction or exponent."`
	Tags   []string `json:"tags,omitempty" nullable:"false" minItems:"1" maxItems:"20" example:"[\"home\"]" doc:"tag and untag only (required there, refused with the other actions): 1 to 20 distinct tags of 1 to 50 code points, trimmed like a task's tags."`
}

type bulkOutput struct {
	Body taskBulkResponse
}

// taskBulkResponse is the answer of bulk-tasks (schema "TaskBulkResponse").
type taskBulkResponse struct {
	Results []taskBulkResult `json:"results" nullable:"false" doc:"One result per id, in the order of ids."`
}

// taskBulkResult is the outcome for one id (schema "TaskBulkResult").
type taskBulkResult struct {
	ID      int64 `json:"id" minimum:"1" example:"1" doc:"The task id, as in ids."`
	Task    *task `json:"task,omitempty" doc:"The task after the change (every action but delete)."`
	Deleted bool  `json:"deleted,omitempty" example:"true" doc:"true when the action was delete; then task is absent."`
}

func (s *Server) bulkTasks(ctx context.Context, in *bulkTasksInput) (*bulkOutput, error) {
	sc := scopeFrom(ctx)
	body, err := in.read()
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	b, problems := decodeBulk(body)
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	results, err := s.store.BulkTasks(ctx, sc.userID, b)
	var missing *todo.MissingTasksError
	var ve *todo.ValidationError
	switch {
	case errors.As(err, &missing):
		details := make([]*huma.ErrorDetail, 0, len(missing.Indexes))
		for _, i := range missing.Indexes {
			if i < 0 || i >= len(b.IDs) {
				return nil, s.errorFor(ctx, fmt.Errorf("bulk: the store named position %d of %d ids: %w", i, len(b.IDs), err))
			}
			// The same words for a missing task and another user's, as with 404.
			details = append(details, &huma.ErrorDetail{
				Location: "body.ids[" + strconv.Itoa(i) + "]", Message: "no such task", Value: b.IDs[i],
			})
		}
		return nil, newProblem(http.StatusUnprocessableEntity,
			fmt.Sprintf("%d of the %d tasks named do not exist; nothing was changed", len(details), len(b.IDs)), details...)
	case errors.As(err, &ve):
		// A rule that holds per task, such as the number of tags after
		// tagging: the store names the field, and nothing was applied.
		return nil, invalid(validationErrors("body", err, nil)...)
	case err != nil:
		return nil, s.errorFor(ctx, err)
	}
	out := &bulkOutput{Body: taskBulkResponse{Results: make([]taskBulkResult, len(results))}}
	for i, r := range results {
		res := taskBulkResult{ID: r.ID, Deleted: r.Deleted}
		if r.Task != nil && !r.Deleted {
			t := taskFrom(*r.Task)
			res.Task = &t
		}
		out.Body.Results[i] = res
	}
	return out, nil
}

// decodeBulk reads the body of bulk-tasks: strictly, like every body, and
// listing every problem.
func decodeBulk(body []byte) (todo.Bulk, []*huma.ErrorDetail) {
	var b todo.Bulk
	if emptyJSON(body) {
		return b, []*huma.ErrorDetail{{Location: "body", Message: `a JSON object is required, e.g. {"action":"complete","ids":[1,2]}`}}
	}
	fr, problems := readObject(body)
	if fr == nil {
		return b, problems
	}
	if present, a := fr.str("action", false); present {
		switch act := todo.BulkAction(*a); act {
		case todo.BulkComplete, todo.BulkReopen, todo.BulkDelete, todo.BulkTag, todo.BulkUntag:
			b.Action = act
		default:
			fr.fail("action", "must be one of complete, reopen, delete, tag, untag", jsonValue{kind: jsonString, str: *a})
		}
	} else if _, sent := fr.members["action"]; !sent && !fr.failed["action"] {
		fr.failed["action"] = true
		fr.problems = append(fr.problems, &huma.ErrorDetail{Location: "body.action", Message: "is required"})
	}
	b.IDs = fr.ids("ids")

	tagging := b.Action == todo.BulkTag || b.Action == todo.BulkUntag
	_, sentTags := fr.members["tags"]
	switch {
	case tagging && !sentTags && !fr.failed["tags"]:
		fr.failed["tags"] = true
		fr.problems = append(fr.problems, &huma.ErrorDetail{Location: "body.tags", Message: "is required with action " + string(b.Action)})
	case tagging:
		if tags := fr.strings("tags"); tags != nil {
			if len(*tags) == 0 {
				fr.fail("tags", "must name at least one tag", jsonValue{kind: jsonArray})
				break
			}
			// The rules of a task's tags (trimmed, 1 to 50 code points,
			// distinct, at most 20), from the domain.
			p := todo.TaskPatch{Tags: tags}
			if err := p.Normalize(); err != nil {
				fr.problems = append(fr.problems, validationErrors("body", err, fr.failed)...)
				break
			}
			b.Tags = *p.Tags
		}
	case sentTags && b.Action != "":
		fr.fail("tags", "is only allowed with action tag or untag", jsonValue{kind: jsonArray})
	}
	return b, fr.problems
}

// ids reads an array of 1 to todo.MaxBulkIDs distinct task ids.
func (fr *fieldReader) ids(field string) []int64 {
	v, ok := fr.get(field)
	if !ok {
		if _, sent := fr.members[field]; !sent && !fr.failed[field] {
			fr.failed[field] = true
			fr.problems = append(fr.problems, &huma.ErrorDetail{Location: "body." + field, Message: "is required"})
		}
		return nil
	}
	switch {
	case v.kind != jsonArray:
		fr.fail(field, "must be an array of task ids, not "+describe(v), v)
		return nil
	case len(v.items) == 0:
		fr.fail(field, "must name at least one task", v)
		return nil
	case len(v.items) > todo.MaxBulkIDs:
		fr.fail(field, fmt.Sprintf("must name at most %d tasks (got %d)", todo.MaxBulkIDs, len(v.items)), v)
		return nil
	}
	out := make([]int64, 0, len(v.items))
	seen := make(map[int64]int, len(v.items))
	for i, item := range v.items {
		loc := fmt.Sprintf("%s[%d]", field, i)
		if item.kind != jsonNumber {
			fr.fail(loc, "must be a task id (a positive integer), not "+describe(item), item)
			continue
		}
		id, bad := parseID(item.str)
		if bad != nil {
			fr.fail(loc, bad.Message, item)
			continue
		}
		if first, dup := seen[id]; dup {
			fr.fail(loc, fmt.Sprintf("duplicate id (also at %s[%d])", field, first), item)
			continue
		}
		seen[id] = i
		out = append(out, id)
	}
	if len(out) != len(v.items) {
		fr.failed[field] = true
		return nil
	}
	return out
}

// ---- get-task-stats ----

type statsOutput struct {
	Body taskStats
}

// taskStats counts a user's tasks (schema "TaskStats").
type taskStats struct {
	Total      int64              `json:"total" minimum:"0" example:"12" doc:"Every task of the user."`
	Completed  int64              `json:"completed" minimum:"0" example:"5" doc:"Completed tasks."`
	Pending    int64              `json:"pending" minimum:"0" example:"7" doc:"Tasks not completed: total - completed."`
	Overdue    int64              `json:"overdue" minimum:"0" example:"2" doc:"Pending tasks whose due date is before the server's clock at the time of the request (the same rule as overdue=true in list-tasks)."`
	ByPriority taskPriorityCounts `json:"by_priority" doc:"Every task by priority, completed or not; the four counts add up to total."`
}

// taskPriorityCounts counts tasks per priority (schema "TaskPriorityCounts").
type taskPriorityCounts struct {
	None   int64 `json:"none" minimum:"0" example:"6" doc:"Tasks of priority none."`
	Low    int64 `json:"low" minimum:"0" example:"2" doc:"Tasks of priority low."`
	Medium int64 `json:"medium" minimum:"0" example:"3" doc:"Tasks of priority medium."`
	High   int64 `json:"high" minimum:"0" example:"1" doc:"Tasks of priority high."`
}

type getTaskStatsInput struct{}

func (s *Server) getTaskStats(ctx context.Context, _ *getTaskStatsInput) (*statsOutput, error) {
	sc := scopeFrom(ctx)
	st, err := s.store.TaskStats(ctx, sc.userID, s.now())
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	return &statsOutput{Body: taskStats{
		Total:     st.Total,
		Completed: st.Completed,
		Pending:   st.Pending,
		Overdue:   st.Overdue,
		ByPriority: taskPriorityCounts{
			None:   st.ByPriority[todo.PriorityNone],
			Low:    st.ByPriority[todo.PriorityLow],
			Medium: st.ByPriority[todo.PriorityMedium],
			High:   st.ByPriority[todo.PriorityHigh],
		},
	}}, nil
}

// ---- documentation ----

// bulkBodyDoc documents the body of bulk-tasks: JSON only (a merge patch
// makes no sense there), with the schema of taskBulk.
func bulkBodyDoc(reg huma.Registry) map[string]any {
	return map[string]any{metaRequestBody: &huma.RequestBody{
		Description: "The action and the ids it applies to. Unknown fields are ignored; duplicate keys, wrong types and invalid values are 422s that list every problem.",
		Required:    true,
		Content: map[string]*huma.MediaType{
			"application/json": {Schema: reg.Schema(reflect.TypeFor[taskBulk](), true, "")},
		},
	}}
}
