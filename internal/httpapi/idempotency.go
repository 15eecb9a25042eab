package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// Idempotency-Key (create-task and complete-task) makes a retried write act
// once. The store keeps, per user and key, a fingerprint of the request and
// the first response, written in the same transaction as the write itself,
// for todo.IdempotencyTTL; because it is in the database, the guarantee holds
// across replicas. A retry with the same key and the same request gets the
// saved response (status, Location, ETag, body) with Idempotent-Replayed:
// true; the same key with another request is a 422; a retry that arrives
// while the first is still being processed is a 409 with Retry-After. Only
// successful writes are saved: a request that failed (422, 404, 412, 503)
// changed nothing, so its retry simply runs again. Without the header a
// write costs nothing more than before.

// requestFingerprint identifies a request for its idempotency key: method,
// route template, the task id of the path (0 for none) and the exact body
// bytes. The id is part of it because the template hides it: completing task
// 1 and then task 2 under one key are different requests.
func requestFingerprint(method, route string, id int64, body []byte) string {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(method))
	field([]byte(route))
	var idb [8]byte
	binary.BigEndian.PutUint64(idb[:], uint64(id))
	field(idb[:])
	field(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotency returns what a store needs to run a write once under key: the
// fingerprint of the request and how to render its response from the task
// written, with status and the headers that go with it (Location, ETag).
func idempotency(key, fp string, status int, headers func(todo.Task) map[string]string) todo.Idempotency {
	return todo.Idempotency{
		Key:         key,
		Fingerprint: fp,
		Render: func(t todo.Task) (todo.SavedResponse, error) {
			body, err := json.Marshal(taskFrom(t))
			if err != nil {
				return todo.SavedResponse{}, fmt.Errorf("render the response: %w", err)
			}
			return todo.SavedResponse{Status: status, Header: headers(t), Body: body}, nil
		},
	}
}

// savedTask reads back the task of a saved response. The body was written by
// Render above; it is decoded into the same type and answered through the
// operation's own output, so a replay has exactly the shape and headers of
// the first answer.
func savedTask(resp todo.SavedResponse) (task, error) {
	var t task
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return task{}, fmt.Errorf("saved idempotent response: %w", err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		return task{}, fmt.Errorf("saved idempotent response has status %d", resp.Status)
	}
	return t, nil
}

// replayed is the value of Idempotent-Replayed.
func replayed(r bool) string {
	if r {
		return "true"
	}
	return ""
}

// idempotencyError turns the store's idempotency errors into problems; the
// others go to errorFor.
func (s *Server) idempotencyError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, todo.ErrIdempotencyInFlight):
		return withHeaders(newProblem(http.StatusConflict,
			"a request with this Idempotency-Key is still being processed; retry after "+retryAfterInFlight+" s to get its response"),
			"Retry-After", retryAfterInFlight)
	case errors.Is(err, todo.ErrIdempotencyMismatch):
		return newProblem(http.StatusUnprocessableEntity,
			"this Idempotency-Key was used for a different request (another body, task or route); use a new key for a new request",
			&huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "was used for a different request"})
	}
	var ve *todo.ValidationError
	if errors.As(err, &ve) {
		// The store's own check of the key (field "Idempotency-Key"); the
		// header's pattern normally catches it first.
		return invalid(validationErrors("header", err, nil)...)
	}
	return s.errorFor(ctx, err)
}

// inFlightResponse documents the 409 of an operation that takes
// Idempotency-Key.
func inFlightResponse(reg huma.Registry) map[string]*huma.Response {
	return map[string]*huma.Response{"409": {
		Description: "A request with the same Idempotency-Key is still being processed; retry after Retry-After to get its response.",
		Content:     map[string]*huma.MediaType{problemContentType: {Schema: reg.Schema(reflect.TypeFor[problem](), true, "")}},
		Headers: map[string]*huma.Header{"Retry-After": {
			Description: "Seconds to wait before retrying (1).",
			Schema:      &huma.Schema{Type: huma.TypeInteger},
		}},
	}}
}

// retryAfterInFlight is the Retry-After of a 409: the first request is
// usually done within milliseconds.
const retryAfterInFlight = "1"
