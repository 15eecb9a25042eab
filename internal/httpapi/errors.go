package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
// The wire type is huma.ErrorModel, so the problem schema in the OpenAPI
// document is the type that is marshalled. Problems are built here and
// completed by finishProblem on their way out, whoever built them: a handler,
// the authentication middleware, huma itself (parameter validation) or the
// router (404, 405). This file is the one place where an error becomes a
// status code.

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

// finishProblem fills what every problem carries and enforces the rules of
// the contract: "type" and "instance" are always present, "detail" is always
// a non-empty sentence (frontends written for FastAPI show it), and a 500
// says nothing but the request id, whatever the layer that built it put in.
func finishProblem(p *huma.ErrorModel, path, requestID string) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Title == "" {
		p.Title = statusTitle(p.Status)
	}
	if p.Instance == "" {
		p.Instance = path
	}
	// huma builds its own errors with nil entries when given a nil error.
	errs := p.Errors[:0]
	for _, e := range p.Errors {
		if e != nil {
			errs = append(errs, e)
		}
	}
	p.Errors = errs
	switch {
	case p.Status >= 500 && p.Status != http.StatusServiceUnavailable:
		p.Detail = internalDetail(requestID)
		p.Errors = nil
	case p.Detail == "" || p.Detail == "validation failed":
		p.Detail = summarize(p)
	}
	if len(p.Errors) == 0 {
		p.Errors = nil
	}
}

func internalDetail(requestID string) string {
	return "internal error (request id " + requestID + ")"
}

// summarize writes a detail for a problem that lists errors: the first few
// "location: message" pairs, so that a client showing only detail still
// tells its user what to fix.
func summarize(p *huma.ErrorModel) string {
	if len(p.Errors) == 0 {
		if p.Title == "" {
			return "request failed with status " + strconv.Itoa(p.Status)
		}
		return strings.ToLower(p.Title[:1]) + p.Title[1:]
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
		finishProblem(p, u.Path, infoFrom(ctx.Context()).ID)
	}
	return v, nil
}

// writeProblem writes p as the response, outside huma's handlers.
func writeProblem(w http.ResponseWriter, r *http.Request, p *huma.ErrorModel) {
	finishProblem(p, r.URL.Path, infoFrom(r.Context()).ID)
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
