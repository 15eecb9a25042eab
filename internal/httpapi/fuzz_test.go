package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/sqlite"
	"github.com/todod/todod/internal/todo"
)

// The fuzz targets of this file drive the hostile-input paths of the API:
// the request body decoder and the list query (cursor included) through
// the whole server on a real SQLite store, and the cursor codec alone.
// Their seed corpora are in testdata/fuzz/<target>/; scripts/fuzz-ci.sh runs
// each one for a few seconds.

const fuzzSecret = "fuzz-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// fuzzServer is the API on a fresh SQLite store, with a token for its user.
func fuzzServer(f *testing.F) (http.Handler, string) {
	f.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	v, err := auth.New(auth.Config{Secret: []byte(fuzzSecret)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	tok, err := auth.Mint([]byte(fuzzSecret), "fuzz-user", time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	return NewServer(Config{Store: st, Auth: v}), tok
}

// wireProblem is the body of an error response.
type wireProblem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// checkProblem fails unless rec is a problem with the given status whose
// 422 locations all start with prefix.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, prefix string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problemContentType {
		t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
	}
	var p wireProblem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body.Bytes(), err)
	}
	if p.Status != rec.Code || p.Detail == "" {
		t.Fatalf("problem %+v for status %d", p, rec.Code)
	}
	if rec.Code != http.StatusUnprocessableEntity {
		return
	}
	if len(p.Errors) == 0 {
		t.Fatalf("422 without errors: %s", rec.Body.Bytes())
	}
	for _, e := range p.Errors {
		if !strings.HasPrefix(e.Location, prefix) || e.Message == "" {
			t.Fatalf("422 item %+v, want a location under %q and a message", e, prefix)
		}
	}
}

// FuzzCreateTaskBody sends any body with any content type to create-task.
// The answer must be 201 with a task whose title is valid, or a problem
// (413, 415, 422 with body locations): never a 500, never a panic.
func FuzzCreateTaskBody(f *testing.F) {
	h, tok := fuzzServer(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/tasks", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
			var task struct {
				ID    int64    `json:"id"`
				Title string   `json:"title"`
				Tags  []string `json:"tags"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &task); err != nil {
				t.Fatalf("201 body %q: %v", rec.Body.Bytes(), err)
			}
			n := utf8.RuneCountInString(task.Title)
			if task.ID <= 0 || n == 0 || n > 200 || strings.ContainsRune(task.Title, 0) || task.Tags == nil {
				t.Fatalf("created %+v from %q", task, body)
			}
			if rec.Header().Get("Location") == "" {
				t.Fatal("201 without Location")
			}
		case http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			checkProblem(t, rec, "body")
		default:
			t.Fatalf("status %d for Content-Type %q body %q: %s", rec.Code, contentType, body, rec.Body.Bytes())
		}
	})
}

// FuzzListQuery sends any query string to list-tasks. The answer must be 200
// with a JSON array, or a 422 problem whose every item is located in the
// query: never a 500, never a panic.
func FuzzListQuery(f *testing.F) {
	h, tok := fuzzServer(f)
	// A few tasks, so that sorting and paging have something to do.
	for _, body := range []string{
		`{"title":"b","priority":"high","tags":["x"],"due_at":"2030-01-01T00:00:00Z"}`,
		`{"title":"a","description":"find me","completed":true}`,
		`{"title":"c","tags":["x","y"]}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/tasks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			f.Fatalf("seeding: %d %s", rec.Code, rec.Body.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var page []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatalf("200 body %q: %v", rec.Body.Bytes(), err)
			}
			if len(page) > 3 {
				t.Fatalf("%d tasks listed, there are 3", len(page))
			}
		case http.StatusUnprocessableEntity:
			checkProblem(t, rec, "query.")
		default:
			t.Fatalf("status %d for query %q: %s", rec.Code, rawQuery, rec.Body.Bytes())
		}
	})
}

// FuzzCursor decodes any string as a list cursor. What it accepts must be a
// valid position that encodes back to a cursor decoding to the same
// position and fingerprint; it must never panic.
func FuzzCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		c, fp, err := decodeCursor(s)
		if err != nil {
			if err != errBadCursor {
				t.Fatalf("error %v, want errBadCursor", err)
			}
			return
		}
		if !c.Sort.Valid() || c.ID <= 0 || fp == "" || c.Rank < 0 || c.Rank >= len(todo.Priorities) {
			t.Fatalf("accepted an invalid cursor %+v (fingerprint %q) from %q", c, fp, s)
		}
		again, fp2, err := decodeCursor(encodeCursor(c, fp))
		if err != nil {
			t.Fatalf("re-encoded cursor of %+v refused: %v", c, err)
		}
		if fp2 != fp || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip: %+v %q, want %+v %q", again, fp2, c, fp)
		}
	})
}
