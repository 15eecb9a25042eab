package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// Every error todod answers is an RFC 9457 problem, application/problem+json:
//
//	{"type":"about:blank","title":"Unprocessable Entity","status":422,
//	 "detail":"body.title: must not be empty or only white space",
//	 "instance":"/api/tasks","errors":[{"location":"body.title","message":"…","value":"  "}]}
//
// Inside the server a problem travels as a *huma.ErrorModel, the error type
// huma itself builds (for parameters that fail validation) and that handlers
// return. On the way out, whoever built it (a handler, the authentication
// middleware, huma, the router for 404 and 405), it becomes a problem value,
// completed by finishProblem: the one wire type, documented as "Problem".
// This file is the one place where an error becomes a status code.

// problem is the body of every error response (schema "Problem").
type problem struct {
	Type     string        `json:"type" example:"about:blank" doc:"Always about:blank: the status code and title say what kind of problem it is."`
	Title    string        `json:"title" example:"Unprocessable Entity" doc:"The HTTP status text of the status code."`
	Status   int           `json:"status" example:"422" doc:"The HTTP status code."`
	Detail   string        `json:"detail" example:"body.title: must not be empty or only white space" doc:"What went wrong, in a sentence meant for people; never empty. For a 500 only \"internal error (request id …)\": the cause is in the server's log under that id."`
	Instance string        `json:"instance" example:"/api/tasks" doc:"The path of the request."`
	Errors   []problemItem `json:"errors,omitempty" nullable:"false" doc:"For 422: every problem found, each with its location."`
}

// problemItem is one problem of a 422 (schema "ProblemItem").
type problemItem struct {
	Location string `json:"location" example:"body.title" doc:"Where: body.<field> (body.tags[2] for an element, body for the body as a whole), query.<parameter>, path.<parameter>."`
	Message  string `json:"message" example:"must not be empty or only white space" doc:"What is wrong there."`
	Value    any    `json:"value,omitempty" doc:"The offending value, when it is short and safe to echo."`
}

// problemContentType is the media type of every error body.
const problemContentType = "application/problem+json"

// statusClientClosed is the status recorded when the client went away before
// the answer was ready (nginx's convention); nobody reads the body.
const statusClientClosed = 499

// Retry-After values, in seconds.
const (
	retryAfterStore = "1" // database unreachable or slow: retrying soon is cheap
	retryAfterKeys  = "5" // the JWKS endpoint is down: the verifier refetches at most this often
)

// newProblem returns a problem with the given status and detail. detail goes
// to the client as is: it must never carry SQL, driver text or Go types.
func newProblem(status int, detail string, errs ...*huma.ErrorDetail) *huma.ErrorModel {
	return &huma.ErrorModel{
		Type:   "about:blank",
		Title:  statusTitle(status),
		Status: status,
		Detail: detail,
		Errors: errs,
	}
}

// invalid returns the 422 problem listing every problem in errs.
func invalid(errs ...*huma.ErrorDetail) *huma.ErrorModel {
	return newProblem(http.StatusUnprocessableEntity, "", errs...)
}

// withHeaders attaches response headers (Retry-After, WWW-Authenticate) to a
// problem returned from a handler.
func withHeaders(p *huma.ErrorModel, kv ...string) error {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return huma.ErrorWithHeaders(p, h)
}

func statusTitle(status int) string {
	if status == statusClientClosed {
		return "Client Closed Request"
	}
	return http.StatusText(status)
}

// finishProblem turns p into the problem sent to the client, enforcing the
// rules of the contract: "type" and "instance" are always present, "detail"
// is always a non-empty sentence (frontends written for FastAPI show it), and
// a 500 says nothing but the request id, whatever the layer that built it put
// in (huma puts the error's text).
func finishProblem(p *huma.ErrorModel, path, requestID string) *problem {
	out := &problem{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Instance: p.Instance}
	if out.Type == "" {
		out.Type = "about:blank"
	}
	if out.Status == 0 {
		out.Status = http.StatusInternalServerError
	}
	if out.Title == "" {
		out.Title = statusTitle(out.Status)
	}
	if out.Instance == "" {
		out.Instance = path
	}
	for _, e := range p.Errors {
		// huma leaves nil entries for nil errors.
		if e != nil {
			out.Errors = append(out.Errors, problemItem{Location: e.Location, Message: e.Message, Value: e.Value})
		}
	}
	switch {
	case out.Status >= 500 && out.Status != http.StatusServiceUnavailable:
		out.Detail = internalDetail(requestID)
		out.Errors = nil
	case out.Detail == "" || out.Detail == "validation failed":
		out.Detail = summarize(out)
	}
	return out
}

func internalDetail(requestID string) string {
	return "internal error (request id " + requestID + ")"
}

// summarize writes a detail for a problem that lists errors: the first few
// "location: message" pairs, so that a client showing only detail still
// tells its user what to fix.
func summarize(p *problem) string {
	if len(p.Errors) == 0 {
		if p.Title == "" {
			return "request failed with status " + strconv.Itoa(p.Status)
		}
		return strings.ToLower(p.Title)
	}
	const shown = 3
	parts := make([]string, 0, shown)
	for i, e := range p.Errors {
		if i == shown {
			break
		}
		if e.Location != "" {
			parts = append(parts, e.Location+": "+e.Message)
		} else {
			parts = append(parts, e.Message)
		}
	}
	s := strings.Join(parts, "; ")
	if n := len(p.Errors) - shown; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// transformProblem is the huma Transformer that completes every problem huma
// writes: those returned by handlers and those huma builds itself for
// parameters that fail validation (422).
func transformProblem(ctx huma.Context, _ string, v any) (any, error) {
	if p, ok := v.(*huma.ErrorModel); ok {
		u := ctx.URL()
		return finishProblem(p, u.Path, infoFrom(ctx.Context()).ID), nil
	}
	return v, nil
}

// writeProblem writes p as the response, outside huma's handlers.
func writeProblem(w http.ResponseWriter, r *http.Request, m *huma.ErrorModel) {
	p := finishProblem(m, r.URL.Path, infoFrom(r.Context()).ID)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as huma writes the problems of handlers
	if err := enc.Encode(p); err != nil {
		// A problem is strings, ints and the values of ErrorDetail, which
		// come from decoded JSON; it cannot fail to marshal.
		buf.Reset()
		buf.WriteString(`{"type":"about:blank","status":500}` + "\n")
	}
	w.Header().Set("Content-Type", problemContentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

// writeProblemCtx writes p as the response from a huma middleware.
func writeProblemCtx(ctx huma.Context, p *huma.ErrorModel) {
	r, w := unwrapContext(ctx)
	writeProblem(w, r, p)
}

// cursorExpiredDetail answers a change cursor (since, Last-Event-ID) older
// than a deletion the server no longer keeps.
const cursorExpiredDetail = "this cursor is too old: deletions after it are no longer kept (they are kept 30 days), " +
	"so the changes since it cannot be given exactly. Drop the local copy and sync again from scratch: " +
	"GET /api/tasks/changes without since (or list every task), then continue with the new cursor"

// errorFor turns an error from the store (or anything a handler called) into
// the error the handler returns: a problem. Store errors become their status;
// ErrUnavailable and deadlines become 503 with Retry-After; a client that
// went away is not an error worth a log line; anything else is a bug: it is
// logged with the request id, and the client gets a 500 naming that id only.
func (s *Server) errorFor(ctx context.Context, err error) error {
	var se huma.StatusError
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, todo.ErrNotFound):
		// The same body whether the task is missing or another user's.
		return newProblem(http.StatusNotFound, "task not found")
	case errors.Is(err, todo.ErrPreconditionFailed):
		return newProblem(http.StatusPreconditionFailed,
			"the task has changed since the ETag given in If-Match: fetch it again and retry; nothing was changed")
	case errors.Is(err, todo.ErrCursorExpired):
		return newProblem(http.StatusGone, cursorExpiredDetail)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		s.log.LogAttrs(ctx, slog.LevelDebug, "client went away",
			slog.String("request_id", infoFrom(ctx).ID), slog.String("err", err.Error()))
		return newProblem(statusClientClosed, "the client closed the request")
	case errors.Is(err, todo.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.LogAttrs(ctx, slog.LevelWarn, "storage unavailable",
			slog.String("request_id", infoFrom(ctx).ID), slog.String("err", err.Error()))
		return withHeaders(newProblem(http.StatusServiceUnavailable,
			"the database is unavailable right now; retry shortly"), "Retry-After", retryAfterStore)
	default:
		info := infoFrom(ctx)
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("request_id", info.ID), slog.String("route", info.Route), slog.String("err", err.Error()))
		return newProblem(http.StatusInternalServerError, internalDetail(info.ID))
	}
}

// validationErrors lists a domain ValidationError as error details whose
// locations start with prefix ("body" or "query"). Fields in skip (by the
// name before any index: "tags" for "tags[2]") already have a problem of
// their own and are left out.
func validationErrors(prefix string, err error, skip map[string]bool) []*huma.ErrorDetail {
	var ve *todo.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	out := make([]*huma.ErrorDetail, 0, len(ve.Errors))
	for _, fe := range ve.Errors {
		root, _, _ := strings.Cut(fe.Field, "[")
		if skip[root] {
			continue
		}
		out = append(out, &huma.ErrorDetail{Location: prefix + "." + fe.Field, Message: fe.Message, Value: fe.Value})
	}
	return out
}

// errorResponses documents the problems an operation can answer.
func errorResponses(reg huma.Registry, codes ...int) map[string]*huma.Response {
	schema := reg.Schema(reflect.TypeFor[problem](), true, "")
	out := make(map[string]*huma.Response, len(codes))
	for _, code := range codes {
		r := &huma.Response{
			Description: errorDescription(code),
			Content:     map[string]*huma.MediaType{problemContentType: {Schema: schema}},
		}
		switch code {
		case http.StatusUnauthorized:
			r.Headers = map[string]*huma.Header{"WWW-Authenticate": {
				Description: `Bearer realm="todod" without a token; with error="invalid_token" and error_description when the token was refused.`,
				Schema:      &huma.Schema{Type: huma.TypeString},
			}}
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			r.Headers = map[string]*huma.Header{"Retry-After": {
				Description: "Seconds to wait before retrying.",
				Schema:      &huma.Schema{Type: huma.TypeInteger},
			}}
		case http.StatusMethodNotAllowed:
			r.Headers = map[string]*huma.Header{"Allow": {
				Description: "The methods the path accepts.",
				Schema:      &huma.Schema{Type: huma.TypeString},
			}}
		}
		out[strconv.Itoa(code)] = r
	}
	return out
}

// errorDescription says when an error status is answered.
func errorDescription(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "No bearer token, or a token that was refused (expired, bad signature, …): detail and WWW-Authenticate say which."
	case http.StatusForbidden:
		return "The {user_id} of the path is not the user of the token. Decided before any database access."
	case http.StatusNotFound:
		return "No such task for this user. Another user's task gives exactly the same answer."
	case http.StatusPreconditionFailed:
		return "If-Match does not name the task's current version; nothing was changed."
	case http.StatusGone:
		return "The cursor (since, or Last-Event-ID) is older than a deletion the server no longer keeps (deletions are kept 30 days): drop the local copy and sync again from scratch, with list-changes without since (or by listing every task), then continue with its cursor."
	case http.StatusRequestEntityTooLarge:
		return "The body is larger than 64 KiB."
	case http.StatusUnsupportedMediaType:
		return "The body is not JSON: Content-Type must be application/json or another */*+json type, in UTF-8."
	case http.StatusUnprocessableEntity:
		return "Malformed or invalid input (body, query or path); errors lists every problem with its location."
	case http.StatusTooManyRequests:
		return "The user's rate limit is exceeded; Retry-After says when to retry."
	case http.StatusServiceUnavailable:
		return "The database is unreachable or too slow, or the keys to verify the token cannot be fetched; Retry-After says when to retry."
	case http.StatusInternalServerError:
		return "A bug. The detail names only the request id; the cause is in the server's log."
	}
	return http.StatusText(code)
}
