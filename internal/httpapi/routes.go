package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// routes registers every operation of the task API. Each is served under
// both path styles by the same handler: /api/tasks… (the user is the token's)
// and /api/{user_id}/tasks… (operation id suffixed -for-user; {user_id} must
// be the token's user).
//
//	list-tasks     GET    /api/tasks                 listTasks
//	create-task    POST   /api/tasks                 createTask
//	get-task       GET    /api/tasks/{id}            getTask
//	update-task    PUT    /api/tasks/{id}            updateTask
//	patch-task     PATCH  /api/tasks/{id}            updateTask
//	delete-task    DELETE /api/tasks/{id}            deleteTask
//	complete-task  PATCH  /api/tasks/{id}/complete   completeTask
//	list-changes   GET    /api/tasks/changes         listChanges
//	bulk-tasks     POST   /api/tasks/bulk            bulkTasks
//	get-task-stats GET    /api/tasks/stats           getTaskStats
//	stream-events  GET    /api/events                streamEvents
//
// The literal paths /api/tasks/changes, /bulk and /stats take precedence
// over /api/tasks/{id}, whose pattern never matches a word anyway.
func (s *Server) routes(api huma.API) {
	reg := api.OpenAPI().Components.Schemas

	both(api, huma.Operation{
		OperationID: "list-tasks",
		Method:      http.MethodGet,
		Path:        "/api/tasks",
		Summary:     "List tasks",
		Description: listDescription,
		Errors:      []int{http.StatusUnprocessableEntity},
		Responses:   success("200", "One page of tasks, in order. An empty page is [].", true),
	}, s.listTasks)

	both(api, huma.Operation{
		OperationID:   "create-task",
		Method:        http.MethodPost,
		Path:          "/api/tasks",
		Summary:       "Create a task",
		Description:   createDescription,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
		Responses:     cloneResponses(success("201", "The task as stored, with its id, timestamps and ETag (or, for a retry under the same Idempotency-Key, the first answer again).", false), inFlightResponse(reg)),
		Metadata:      jsonBodyDoc(reg, reflect.TypeFor[taskCreate](), true, "The task to create. Unknown fields and the read-only fields of Task are ignored."),
	}, s.createTask)

	both(api, huma.Operation{
		OperationID: "get-task",
		Method:      http.MethodGet,
		Path:        "/api/tasks/{id}",
		Summary:     "Get a task",
		Description: "Returns one of the user's tasks with its ETag. A task that does not exist and another user's task give the same 404.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
		Responses:   success("200", "The task.", true),
	}, s.getTask)

	both(api, huma.Operation{
		OperationID: "update-task",
		Method:      http.MethodPut,
		Path:        "/api/tasks/{id}",
		Summary:     "Update a task (partial, as the plan's PUT)",
		Description: updateDescription,
		Errors:      writeErrors(),
		Responses:   success("200", "The task after the change, with its new ETag.", false),
		Metadata:    jsonBodyDoc(reg, reflect.TypeFor[taskUpdate](), true, "The fields to change; absent fields are unchanged, null clears description and due_at."),
	}, s.updateTask)

	both(api, huma.Operation{
		OperationID: "patch-task",
		Method:      http.MethodPatch,
		Path:        "/api/tasks/{id}",
		Summary:     "Patch a task (JSON merge patch)",
		Description: patchDescription,
		Errors:      writeErrors(),
		Responses:   success("200", "The task after the change, with its new ETag.", false),
		Metadata:    jsonBodyDoc(reg, reflect.TypeFor[taskUpdate](), true, "An RFC 7396 merge patch of the task: absent fields are unchanged, null clears description and due_at."),
	}, s.updateTask)

	both(api, huma.Operation{
		OperationID: "delete-task",
		Method:      http.MethodDelete,
		Path:        "/api/tasks/{id}",
		Summary:     "Delete a task",
		Description: "Deletes the task and answers 200 with {\"message\":\"Task deleted successfully\",\"id\":42}, the plan's answer, which frontends parse (hence not 204). If-Match makes the delete conditional.",
		Errors:      []int{http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
		Responses:   success("200", "The task is deleted.", false),
	}, s.deleteTask)

	both(api, huma.Operation{
		OperationID: "complete-task",
		Method:      http.MethodPatch,
		Path:        "/api/tasks/{id}/complete",
		Summary:     "Complete, reopen or toggle a task",
		Description: completeDescription,
		Errors:      writeErrors(),
		Responses:   cloneResponses(success("200", "The task after the change, with its new ETag (or, for a retry under the same Idempotency-Key, the first answer again).", false), inFlightResponse(reg)),
		Metadata:    jsonBodyDoc(reg, reflect.TypeFor[taskCompletion](), false, "Optional. No body (whatever the Content-Type), or {}: toggle. {\"completed\": true|false}: set. Other fields are ignored."),
	}, s.completeTask)

	both(api, huma.Operation{
		OperationID: "list-changes",
		Method:      http.MethodGet,
		Path:        "/api/tasks/changes",
		Summary:     "List changes since a cursor (offline sync)",
		Description: changesDescription,
		Errors:      []int{http.StatusGone, http.StatusUnprocessableEntity},
		Responses:   success("200", "The changes after since, and the cursor to continue from.", false),
	}, s.listChanges)

	both(api, huma.Operation{
		OperationID: "bulk-tasks",
		Method:      http.MethodPost,
		Path:        "/api/tasks/bulk",
		Summary:     "Complete, reopen, delete, tag or untag many tasks at once",
		Description: bulkDescription,
		Errors:      []int{http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
		Responses:   success("200", "Every task was changed: one result per id, in the order of ids.", false),
		Metadata:    bulkBodyDoc(reg),
	}, s.bulkTasks)

	both(api, huma.Operation{
		OperationID: "get-task-stats",
		Method:      http.MethodGet,
		Path:        "/api/tasks/stats",
		Summary:     "Count tasks",
		Description: statsDescription,
		Responses:   success("200", "The counts.", false),
	}, s.getTaskStats)

	// The data of each event is a TaskEvent; registered by name so that it is
	// in the document (and in generated clients) although no JSON body uses it.
	reg.Schema(reflect.TypeFor[taskEvent](), true, "")
	both(api, huma.Operation{
		OperationID: "stream-events",
		Method:      http.MethodGet,
		Path:        "/api/events",
		Summary:     "Stream task changes live (Server-Sent Events)",
		Description: eventsDescription,
		Errors:      []int{http.StatusGone, http.StatusUnprocessableEntity},
		Responses: map[string]*huma.Response{"200": {
			Description: "A text/event-stream that stays open. Each event: id (its change cursor), event (task.created, task.updated or task.deleted) and data (a TaskEvent as JSON, on one line). Comment lines (: ping) every 15 s keep it open.",
			Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{
				Type:        huma.TypeString,
				Description: "Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html); the data of each event is a TaskEvent (#/components/schemas/TaskEvent).",
				Examples: []any{"retry: 2000\nid: AAAAAAAAAAeK3oPjT5n2VQm1xHc9aS8b\n\n" +
					"id: AAAAAAAAAAiO2ytvbyhVv3VdKTdr8Zqx\nevent: task.deleted\ndata: {\"type\":\"task.deleted\",\"id\":7}\n\n" +
					": ping\n\n"},
			}}},
		}},
	}, s.streamEvents)
}

// securityScheme names the bearer scheme of every /api operation.
const securityScheme = "bearerAuth"

// both registers op under the two path styles, with the same handler.
func both[I, O any](api huma.API, op huma.Operation, handler func(context.Context, *I) (*O, error)) {
	reg := api.OpenAPI().Components.Schemas
	errs := append(copyInts(op.Errors), commonErrors()...)

	own := op
	own.Tags = []string{"tasks"}
	own.Security = []map[string][]string{{securityScheme: {}}}
	own.Errors = nil // documented by errorResponses, with the Problem schema
	own.Responses = cloneResponses(op.Responses, errorResponses(reg, errs...))
	huma.Register(api, own, handler)

	user := op
	user.OperationID = op.OperationID + "-for-user"
	user.Path = strings.Replace(op.Path, "/api/", userPathPrefix, 1)
	user.Summary = op.Summary + " (user path)"
	user.Description = "The same operation as " + op.OperationID + ", under the path style of the original plan: " +
		"{user_id} must be the user of the token, else 403 before any database access.\n\n" + op.Description
	user.Tags = []string{"tasks (user path)"}
	user.Security = []map[string][]string{{securityScheme: {}}}
	user.Parameters = []*huma.Param{{
		Name:        "user_id",
		In:          "path",
		Required:    true,
		Description: "The user id of the token (its sub claim). /api/tasks/… always names the token's own tasks, so a user whose id is \"tasks\" uses that style.",
		Schema:      &huma.Schema{Type: huma.TypeString, MinLength: ptr(1), MaxLength: ptr(255)},
		Example:     "Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i",
	}}
	user.Errors = nil
	user.Responses = cloneResponses(op.Responses, errorResponses(reg, append(errs, http.StatusForbidden)...))
	huma.Register(api, user, handler)
}

// commonErrors can answer any /api operation.
func commonErrors() []int {
	return []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable}
}

func writeErrors() []int {
	return []int{http.StatusNotFound, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity}
}

func copyInts(s []int) []int { return append([]int(nil), s...) }

func ptr[T any](v T) *T { return &v }

// success documents the success status of an operation and, for GETs, 304.
func success(status, desc string, conditionalGet bool) map[string]*huma.Response {
	r := map[string]*huma.Response{status: {Description: desc}}
	if conditionalGet {
		r["304"] = &huma.Response{Description: "Not Modified: If-None-Match holds the current ETag. No body."}
	}
	return r
}

// cloneResponses merges response maps into a new one, so that the two
// registrations of an operation never share (and so never both mutate) one.
func cloneResponses(maps ...map[string]*huma.Response) map[string]*huma.Response {
	out := map[string]*huma.Response{}
	for _, m := range maps {
		for k, v := range m {
			c := *v
			out[k] = &c
		}
	}
	return out
}

// metaRequestBody is the Metadata key under which an operation carries the
// documentation of a body that its handler decodes itself.
const metaRequestBody = "todod.requestBody"

// jsonBodyDoc documents a JSON request body with the schema of t. It is not
// set on the operation directly: huma would then read and validate the body
// itself (with encoding/json's leniency); documentRequestBody sets it once
// huma has analysed the operation.
func jsonBodyDoc(reg huma.Registry, t reflect.Type, required bool, desc string) map[string]any {
	schema := reg.Schema(t, true, "")
	return map[string]any{metaRequestBody: &huma.RequestBody{
		Description: desc,
		Required:    required,
		Content: map[string]*huma.MediaType{
			"application/json":             {Schema: schema},
			"application/merge-patch+json": {Schema: schema},
		},
	}}
}

// documentRequestBody is an OnAddOperation hook: it puts the documentation of
// jsonBodyDoc in place.
func documentRequestBody(_ *huma.OpenAPI, op *huma.Operation) {
	if rb, ok := op.Metadata[metaRequestBody].(*huma.RequestBody); ok {
		op.RequestBody = rb
	}
}

const apiDescription = `The task API of todod, a Go backend for multi-user todo applications whose frontend signs in with Better Auth. A frontend written for the original FastAPI plan works unchanged.

**Authentication.** Every /api operation needs ` + "`Authorization: Bearer <JWT>`" + ` (scheme case-insensitive, exactly one header; tokens are never read from the query string or cookies). Without it: 401 with ` + "`WWW-Authenticate: Bearer realm=\"todod\"`" + ` and no error code (RFC 6750 §3.1); with a token that is refused: 401 with ` + "`error=\"invalid_token\"`" + ` and an ` + "`error_description`" + ` that, like the problem's detail, says why (expired, bad signature…). When the keys to check a token cannot be fetched: 503 with Retry-After, not 401.

**Two path styles.** Every operation is served at /api/tasks… (the user is the token's) and at /api/{user_id}/tasks… (the plan's spelling; {user_id} must be the token's user, else 403 before any database access). /api/tasks/… always means the first style. A single trailing slash on an /api path is ignored (/api/{user_id}/tasks/ is served directly, never redirected).

**Isolation.** Another user's task is indistinguishable from a missing one: the same 404 body.

**Ids.** Task ids are positive 64-bit integers written as ^[1-9][0-9]*$; anything else (abc, +1, 01, -1, 0, beyond int64) is a 422. The words changes, events, bulk and stats are never ids.

**Bodies.** JSON (application/json or any */*+json type, UTF-8), at most 64 KiB (413 beyond; 415 for another media type). Decoding is strict: invalid UTF-8, unpaired surrogate escapes (\ud800), duplicate keys at any depth, trailing data, wrong types and invalid values are 422s that list every problem. Unknown fields and the read-only fields of a task (id, user_id, created_at, updated_at, completed_at) are ignored; keys are case-sensitive.

**Errors.** Every error is an RFC 9457 problem (application/problem+json) with type, title, status, instance and a human-readable detail; 422s list each problem in errors[] with its location (body.title, query.limit, path.id), message and, when safe, value. A 500 says only "internal error" and the request id (X-Request-ID); the cause is logged.

**Concurrency.** Task responses carry a strong ETag ("<id>.<version>"); If-Match on PUT, PATCH, DELETE and complete makes the write conditional (412 when stale, nothing changed; * means the task must exist); If-None-Match on GETs (a task or a list page) answers 304 when unchanged.

**Idempotency.** Idempotency-Key on create-task and complete-task makes a retry return the first response instead of acting twice (24 h, shared by all replicas); the same key with another request is a 422, a concurrent duplicate a 409.

**Sync.** list-changes is a changes feed for offline-first clients (tasks changed and ids deleted after an opaque, tamper-evident cursor); stream-events pushes the same changes live as Server-Sent Events, with the change cursor as event id so that a reconnection resumes with no gap; bulk-tasks changes up to 500 tasks all or nothing; get-task-stats counts them. docs/sync.md shows how a frontend uses all of it.

**Rate limit.** Each user has a token bucket (by default 100 requests/s, burst 200); beyond it: 429 with Retry-After.

**Time.** Timestamps are RFC 3339 in UTC with six fractional digits (2026-11-25T17:00:00.123456Z); due_at is accepted in any RFC 3339 offset.`

const listDescription = `Lists the user's tasks, one page at a time, as a JSON array.

Filters combine with AND: status (or completed), priority (any of, repeatable), tag (all of, repeatable), q (case-insensitive substring of title or description), due_before / due_after (strict), overdue. Sorting: sort and order; ties are broken by id in the same direction; tasks without a due date come last when sorting by due, in either order.

Paging is by keyset: when there is a next page, its URL is in the Link header (rel="next"), in the path style of the request and with the other query parameters kept. A cursor only works with the filters and sort it was issued for (422 otherwise). count=true adds X-Total-Count. Unknown query parameters are ignored; bad values are 422s located at query.<name>.

The page has an ETag; If-None-Match with it answers 304 while the page is unchanged.`

const createDescription = `Creates a task and answers 201 with the task, its ETag and a Location header in the path style of the request (/api/tasks/42 or /api/{user_id}/tasks/42).

Only title is required. The title is trimmed (white space, U+00A0, U+200B, U+FEFF) and must keep 1 to 200 code points; description up to 5000; at most 20 distinct tags of 1 to 50 code points; no text may contain NUL. completed: true creates a completed task (completed_at set).

**Idempotency-Key** makes a retry safe: the first response to a key is kept for 24 hours (per user, in the database, so on every replica). A retry with the same key and the same request (method, route, exact body bytes) gets that response again — same status, Location, ETag and body, plus Idempotent-Replayed: true — and creates nothing. The same key with another request is a 422 (location header.Idempotency-Key); a retry while the first is still in progress is a 409 with Retry-After: 1. Requests that fail are not kept. A key is 1 to 255 visible ASCII characters; a new UUID per intended task is the usual choice.`

const updateDescription = `Changes the fields sent and answers with the task: the plan's PUT is a partial update, and todod keeps it so. Absent fields are unchanged; null clears description or due_at (a frontend that omits a cleared description, or sends it as null, both work); null for title, completed, priority or tags is a 422. completed: true sets completed_at, false clears it. An empty object still counts as a write (updated_at and the ETag change).

If-Match makes the update conditional: 412, and nothing changed, unless the task's ETag matches.`

const patchDescription = `Applies an RFC 7396 JSON merge patch (application/merge-patch+json, or application/json) with the same rules as update-task: absent fields are unchanged, null clears description or due_at and is refused for the other fields, arrays (tags) are replaced whole. A body that is not an object is a 422 (it would replace the whole task).

If-Match makes the patch conditional.`

const completeDescription = `Completes, reopens or toggles a task and answers with it. No body at all (whatever its Content-Type: the plan's frontends send application/json) or {} toggles; {"completed": true} or {"completed": false} sets the state. Other fields are ignored. completed_at is set when the task becomes completed (kept if it already was) and cleared when it is reopened.

If-Match makes the change conditional.

**Idempotency-Key** matters most here, since repeating a toggle would undo it: as for create-task, a retry with the same key and request (the same task, the exact body bytes) gets the first response again with Idempotent-Replayed: true (even if the task changed since, and even with an If-Match that is stale by now), the same key with another request is a 422, and a retry while the first is in progress is a 409 with Retry-After: 1.`

const changesDescription = `The changes feed, for offline-first clients: the tasks created or updated after the cursor since (each in its current state, once), the ids of the tasks deleted after it, and the cursor to continue from.

**How to sync.** Call it without since: the first pages are every task the user has. A sync from the beginning is always exact (it holds every task the user has, and there is nothing to delete), so it is also the way back from a 410. Keep the cursor of each response and send it as since next time. While has_more is true, call again at once. A client that applies every page in order (upsert tasks by id, remove the ids of deleted) holds exactly the server's state as of the last page. Pages are ordered by the user's change sequence, which has no gaps: every write of the user takes the next number, in commit order, so a change can never be skipped, even when two writes happen at the same time.

**Cursors** are opaque strings (32 or 43 characters of base64url) that carry a position and a MAC under a key kept in the database: a cursor that was altered, made up or issued to another user is a 422 at query.since, never a silent gap. They work on every replica and stay valid until a deletion after them is purged (see Deletions). They are the same values as the ids of /api/events, so a client may switch between the two at any point.

**Deletions** are kept for at least 30 days, then purged. A cursor older than a purged deletion is answered 410 Gone, never with a silent gap: the client drops its copy and syncs again from scratch (this operation without since, or list every task), then continues with the new cursor.

limit (default 500, at most 1000) bounds the tasks plus deletions of one page.`

const bulkDescription = `Applies one action to up to 500 of the user's tasks, all or nothing, in one transaction.

- complete / reopen: set completed (completed_at as for complete-task: kept when the task was already completed, cleared when reopened).
- delete: delete the tasks; their results are {"id":…,"deleted":true}.
- tag / untag: add the tags that a task lacks (keeping its order, new ones at the end) or remove those it has. tags is required with these two and refused with the others.

Every task named is written (its version, updated_at and ETag change) even when the action changes nothing on it, as with PUT of an empty object, so that other clients see one consistent change.

If any id is missing or belongs to another user, nothing is applied: 422 whose errors name each such id at body.ids[<index>], with the same words for both cases. Duplicate ids, ids that are not positive integers, and more than 500 are 422s as well. A tag that would take a task beyond 20 tags is a 422 and nothing is applied.

Idempotency-Key is not taken here: complete, reopen, tag and untag set a state, so repeating them is harmless; a repeated delete answers 422 naming the ids already deleted, and changes nothing.`

const statsDescription = `Counts the user's tasks in one query: total, completed, pending, overdue (pending tasks due before the server's clock at the time of the request) and per priority (all four always present, zero included).`

const eventsDescription = `A Server-Sent Events stream (text/event-stream) of the user's task changes, for live updates across tabs and devices. It never carries another user's events.

**Events.** task.created (a task's first version), task.updated (any later change: a task created and changed before the stream saw it arrives as task.updated, so treat both as an upsert) and task.deleted. data is a TaskEvent on one line: {"type":"task.updated","task":Task} or {"type":"task.deleted","id":7}. Several changes made quickly to one task may arrive as one event with the latest state.

**Ids and resuming.** Each event's id is the change cursor of that change (the same values as list-changes' cursors). The stream opens with a retry: field and an id-only block (no event is dispatched) that names the current position, so even a client that drops before the first change resumes from there. On reconnection, send Last-Event-ID (EventSource and @microsoft/fetch-event-source do it by themselves): the stream first replays every change after it, in order, then goes on live, with no gap. Without Last-Event-ID the stream starts at the current position and replays nothing: load the tasks first (or call list-changes), then stream. A Last-Event-ID that is not a cursor of this user is a 422 before the stream starts; one older than a deletion the server no longer keeps (deletions are kept 30 days) is a 410 before the stream starts: drop the local copy, sync again from scratch (list-changes without since), then stream with its cursor.

**Keeping it open.** A comment line (: ping) is sent every 15 s so that proxies and load balancers keep the connection; the stream has no time limit. Responses carry Cache-Control: no-store and X-Accel-Buffering: no (nginx passes events on at once). On shutdown the server ends every stream; reconnect (with Last-Event-ID) to another replica or after Retry-After. Changes made on any replica reach every stream (PostgreSQL LISTEN/NOTIFY; in-process on SQLite).

**Limits.** At most 10 open streams per user (one per tab is plenty): more are 429 with Retry-After. Streams are exempt from the server's in-flight request limit.

**Browsers.** The token goes in the Authorization header, never in the URL, and the browser's EventSource cannot send headers: use fetch, e.g. @microsoft/fetch-event-source or a small reader of response.body (see docs/sync.md).`
