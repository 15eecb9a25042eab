package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/todod/todod/internal/todo"
)

// resultCode is a driver error carrying an SQLite result code, as
// *sqlite.Error does.
type resultCode int

func (c resultCode) Error() string { return fmt.Sprintf("synthetic SQLite result %d", int(c)) }
func (c resultCode) Code() int     { return int(c) }

// TestFaultMatrix is the SQLite row set of RELIABILITY.md's error mapping:
// each fault of CONTRACT.md §5 as the driver reports it and the contract
// error the caller gets (ErrUnavailable is the API's 503 + Retry-After; an
// error outside the contract is its 500). SQLite is embedded: there is no
// connection to lose and nothing to resend, so the store retries nothing;
// waiting for a lock is SQLite's busy_timeout.
func TestFaultMatrix(t *testing.T) {
	const unmapped = "outside the contract (500)"
	live := context.Background()
	expired, cancel := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel()
	rows := []struct {
		fault string
		ctx   context.Context
		err   error
		want  any // a contract error, or unmapped
	}{
		{"SQLITE_BUSY: another process held the lock past busy_timeout", live, resultCode(sqlite3.SQLITE_BUSY), todo.ErrUnavailable},
		{"SQLITE_BUSY_SNAPSHOT", live, resultCode(sqlite3.SQLITE_BUSY_SNAPSHOT), todo.ErrUnavailable},
		{"SQLITE_BUSY_TIMEOUT", live, resultCode(sqlite3.SQLITE_BUSY | 3<<8), todo.ErrUnavailable},
		{"SQLITE_LOCKED", live, resultCode(sqlite3.SQLITE_LOCKED), todo.ErrUnavailable},
		{"SQLITE_IOERR: the file system failed", live, resultCode(sqlite3.SQLITE_IOERR), todo.ErrUnavailable},
		{"SQLITE_FULL: disk full", live, resultCode(sqlite3.SQLITE_FULL), todo.ErrUnavailable},
		{"SQLITE_READONLY", live, resultCode(sqlite3.SQLITE_READONLY), todo.ErrUnavailable},
		{"SQLITE_CANTOPEN", live, resultCode(sqlite3.SQLITE_CANTOPEN), todo.ErrUnavailable},
		{"connection done (store closing)", live, sql.ErrConnDone, todo.ErrUnavailable},
		{"bad connection", live, driver.ErrBadConn, todo.ErrUnavailable},
		{"statement interrupted at the request deadline", expired, resultCode(sqlite3.SQLITE_INTERRUPT), todo.ErrUnavailable},
		{"waiting for the writer past the request deadline", expired, fmt.Errorf("conn: %w", context.DeadlineExceeded), todo.ErrUnavailable},
		{"unique violation SQLITE_CONSTRAINT_UNIQUE", live, resultCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE), unmapped},
		{"primary key violation SQLITE_CONSTRAINT_PRIMARYKEY", live, resultCode(sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY), unmapped},
		{"check violation SQLITE_CONSTRAINT_CHECK", live, resultCode(sqlite3.SQLITE_CONSTRAINT_CHECK), unmapped},
		{"SQLITE_CORRUPT", live, resultCode(sqlite3.SQLITE_CORRUPT), unmapped},
		{"SQL error", live, resultCode(sqlite3.SQLITE_ERROR), unmapped},
	}
	for _, row := range rows {
		t.Run(row.fault, func(t *testing.T) {
			err := translate(row.ctx, "create task", row.err, false)
			if want, ok := row.want.(error); ok {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
				return
			}
			for _, c := range []error{todo.ErrUnavailable, todo.ErrNotFound, todo.ErrPreconditionFailed, context.Canceled, context.DeadlineExceeded} {
				if errors.Is(err, c) {
					t.Errorf("err = %v matches %v, want %s", err, c, unmapped)
				}
			}
			var coded resultCode
			if !errors.As(err, &coded) || coded != row.err.(resultCode) {
				t.Errorf("err = %v, want the driver error kept for the log", err)
			}
		})
	}
}
