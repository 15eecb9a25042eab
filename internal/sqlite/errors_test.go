package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/todod/todod/internal/todo"
)

// fakeSQLiteError carries a result code as the driver's *sqlite.Error does.
type fakeSQLiteError struct{ code int }

func (e fakeSQLiteError) Error() string { return fmt.Sprintf("fake SQLite error (%d)", e.code) }
func (e fakeSQLiteError) Code() int     { return e.code }

func TestTranslate(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancelExpired := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancelExpired()
	boom := errors.New("boom")

	code := func(c int) error { return fakeSQLiteError{c} }
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		err         error
		closed      bool
		unavailable bool
		canceled    bool
		deadline    bool
		keepsCause  bool // errors.Is(result, err)
	}{
		{name: "busy", ctx: live, err: code(sqlite3.SQLITE_BUSY), unavailable: true, keepsCause: true},
		{name: "busy snapshot", ctx: live, err: code(sqlite3.SQLITE_BUSY_SNAPSHOT), unavailable: true, keepsCause: true},
		{name: "busy recovery", ctx: live, err: code(sqlite3.SQLITE_BUSY | 1<<8), unavailable: true, keepsCause: true},
		{name: "busy timeout", ctx: live, err: code(sqlite3.SQLITE_BUSY | 3<<8), unavailable: true, keepsCause: true},
		{name: "locked", ctx: live, err: code(sqlite3.SQLITE_LOCKED), unavailable: true, keepsCause: true},
		{name: "locked shared cache", ctx: live, err: code(sqlite3.SQLITE_LOCKED_SHAREDCACHE), unavailable: true, keepsCause: true},
		{name: "protocol", ctx: live, err: code(sqlite3.SQLITE_PROTOCOL), unavailable: true, keepsCause: true},
		{name: "I/O error", ctx: live, err: code(sqlite3.SQLITE_IOERR), unavailable: true, keepsCause: true},
		{name: "fsync failed", ctx: live, err: code(sqlite3.SQLITE_IOERR | 4<<8), unavailable: true, keepsCause: true},
		{name: "disk full", ctx: live, err: code(sqlite3.SQLITE_FULL), unavailable: true, keepsCause: true},
		{name: "cannot open", ctx: live, err: code(sqlite3.SQLITE_CANTOPEN), unavailable: true, keepsCause: true},
		{name: "read-only", ctx: live, err: code(sqlite3.SQLITE_READONLY), unavailable: true, keepsCause: true},
		{name: "out of memory", ctx: live, err: code(sqlite3.SQLITE_NOMEM), unavailable: true, keepsCause: true},
		{name: "busy, wrapped", ctx: live, err: fmt.Errorf("step: %w", code(sqlite3.SQLITE_BUSY)), unavailable: true, keepsCause: true},
		{name: "constraint", ctx: live, err: code(sqlite3.SQLITE_CONSTRAINT), keepsCause: true},
		{name: "check constraint", ctx: live, err: code(sqlite3.SQLITE_CONSTRAINT | 1<<8), keepsCause: true},
		{name: "SQL error", ctx: live, err: code(sqlite3.SQLITE_ERROR), keepsCause: true},
		{name: "corrupt", ctx: live, err: code(sqlite3.SQLITE_CORRUPT), keepsCause: true},
		{name: "misuse", ctx: live, err: code(sqlite3.SQLITE_MISUSE), keepsCause: true},
		{name: "extended bits that equal busy do not count", ctx: live, err: code(sqlite3.SQLITE_CONSTRAINT | 5<<8), keepsCause: true},
		{name: "interrupt, caller gone", ctx: cancelled, err: code(sqlite3.SQLITE_INTERRUPT), canceled: true},
		{name: "interrupt, deadline passed", ctx: expired, err: code(sqlite3.SQLITE_INTERRUPT), unavailable: true, deadline: true},
		{name: "interrupt, context live", ctx: live, err: code(sqlite3.SQLITE_INTERRUPT), keepsCause: true},
		{name: "context cancelled", ctx: cancelled, err: context.Canceled, canceled: true, keepsCause: true},
		{name: "context cancelled, wrapped", ctx: cancelled, err: fmt.Errorf("conn: %w", context.Canceled), canceled: true, keepsCause: true},
		{name: "deadline exceeded", ctx: expired, err: context.DeadlineExceeded, unavailable: true, deadline: true, keepsCause: true},
		{name: "waiting for the writer timed out", ctx: expired, err: fmt.Errorf("pool: %w", context.DeadlineExceeded), unavailable: true, deadline: true, keepsCause: true},
		{name: "connection done", ctx: live, err: sql.ErrConnDone, unavailable: true, keepsCause: true},
		{name: "bad connection", ctx: live, err: driver.ErrBadConn, unavailable: true, keepsCause: true},
		{name: "store closed", ctx: live, err: boom, closed: true, unavailable: true, keepsCause: true},
		{name: "not found passes through", ctx: live, err: fmt.Errorf("task 1: %w", todo.ErrNotFound), keepsCause: true},
		{name: "not found passes through a closed store", ctx: live, err: todo.ErrNotFound, closed: true, keepsCause: true},
		{name: "precondition passes through", ctx: live, err: todo.ErrPreconditionFailed, keepsCause: true},
		{name: "validation passes through", ctx: live, err: &todo.ValidationError{Errors: []todo.FieldError{{Field: "title"}}}, closed: true, keepsCause: true},
		{name: "anything else", ctx: live, err: boom, keepsCause: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(tc.ctx, "get task", tc.err, tc.closed)
			if got == nil {
				t.Fatal("nil error")
			}
			if !strings.HasPrefix(got.Error(), "get task: ") {
				t.Errorf("error %q does not start with the operation", got)
			}
			if is := errors.Is(got, todo.ErrUnavailable); is != tc.unavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", got, is, tc.unavailable)
			}
			if is := errors.Is(got, context.Canceled); is != tc.canceled {
				t.Errorf("errors.Is(%v, context.Canceled) = %v, want %v", got, is, tc.canceled)
			}
			if is := errors.Is(got, context.DeadlineExceeded); is != tc.deadline {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) = %v, want %v", got, is, tc.deadline)
			}
			if tc.keepsCause && !errors.Is(got, tc.err) {
				t.Errorf("%v lost its cause %v", got, tc.err)
			}
		})
	}
	if err := translate(live, "op", nil, true); err != nil {
		t.Errorf("translate(nil) = %v, want nil", err)
	}
}

// TestBusyIsUnavailable makes another process's lock real: a second Store on
// the same file holds the write lock while the first one writes.
func TestBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/busy.db"
	holder := openPathStore(t, path, Options{})
	waiter := openPathStore(t, path, Options{BusyTimeout: 50 * time.Millisecond})
	if err := holder.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	task, err := waiter.CreateTask(ctx, "u", todo.NewTask{Title: "before", Priority: todo.PriorityNone})
	if err != nil {
		t.Fatal(err)
	}

	lock, err := holder.write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = waiter.CreateTask(ctx, "u", todo.NewTask{Title: "blocked", Priority: todo.PriorityNone})
	waited := time.Since(start)
	if !errors.Is(err, todo.ErrUnavailable) {
		t.Fatalf("create while another process writes: %v, want ErrUnavailable", err)
	}
	var serr *sqlite.Error
	if !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Errorf("error %v does not carry SQLITE_BUSY", err)
	}
	if waited < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout of 50ms", waited)
	}
	_, err = waiter.UpdateTask(ctx, "u", task.ID, todo.TaskPatch{}, 0)
	if !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("update while another process writes: %v, want ErrUnavailable", err)
	}
	// Readers are not blocked by a writer in WAL mode.
	if _, err := waiter.GetTask(ctx, "u", task.ID); err != nil {
		t.Errorf("read while another process writes: %v", err)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := waiter.CreateTask(ctx, "u", todo.NewTask{Title: "after", Priority: todo.PriorityNone}); err != nil {
		t.Errorf("create after the lock is released: %v", err)
	}
	if n, err := holder.CountTasks(ctx, "u", todo.TaskFilter{}); err != nil || n != 2 {
		t.Errorf("count: %d, %v; want 2 (the blocked create wrote nothing)", n, err)
	}
}

// TestConstraintIsNotUnavailable checks that the schema's own checks answer
// with the driver's constraint error, which is a bug to fix, not a 503.
func TestConstraintIsNotUnavailable(t *testing.T) {
	s := openTestStore(t, nil)
	ctx := context.Background()
	for _, user := range []string{"", strings.Repeat("x", 256)} {
		_, err := s.CreateTask(ctx, user, todo.NewTask{Title: "t", Priority: todo.PriorityNone})
		var serr *sqlite.Error
		if err == nil || errors.Is(err, todo.ErrUnavailable) || !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
			t.Errorf("user id of %d bytes: %v, want the driver's constraint error", len(user), err)
		}
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s := openPathStore(t, t.TempDir()+"/closed.db", Options{})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTask(ctx, "u", 1); !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("get on a closed store: %v, want ErrUnavailable", err)
	}
	if _, err := s.CreateTask(ctx, "u", todo.NewTask{Title: "t", Priority: todo.PriorityNone}); !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("create on a closed store: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("ping on a closed store: %v, want ErrUnavailable", err)
	}
}
