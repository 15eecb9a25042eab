package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/todod/todod/internal/todo"
)

// codedError is what the driver's errors carry: the SQLite result code,
// extended when SQLite gave one (SQLITE_BUSY_SNAPSHOT = SQLITE_BUSY | 2<<8).
type codedError interface {
	error
	Code() int
}

var _ codedError = (*sqlite.Error)(nil)

// unavailableCode reports whether a result code means that the database cannot
// serve the request now, rather than that the request or the code is wrong.
// Extended codes count as their primary code.
func unavailableCode(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, // another process held the lock past busy_timeout
		sqlite3.SQLITE_LOCKED,   // a conflicting lock inside this process
		sqlite3.SQLITE_PROTOCOL, // a transient WAL locking race
		sqlite3.SQLITE_NOMEM,
		sqlite3.SQLITE_IOERR,    // the file system failed under us
		sqlite3.SQLITE_FULL,     // disk full
		sqlite3.SQLITE_CANTOPEN, // the file, its directory or its WAL cannot be opened
		sqlite3.SQLITE_READONLY: // the file or its file system became read-only
		return true
	}
	return false
}

// mapErr translates err from the database into the Store's error contract,
// prefixed with op. Errors of the todo package pass through, wrapped.
func (s *Store) mapErr(ctx context.Context, op string, err error) error {
	return translate(ctx, op, err, s.closed.Load())
}

// translate is the one place where driver errors become Store errors:
//   - the caller's context was cancelled (the client went away): the context's
//     error, not ErrUnavailable, since nobody is left to retry;
//   - a deadline passed (the caller's request timeout, or while waiting for the
//     writer connection or a lock): ErrUnavailable, and the deadline error;
//   - a result code of unavailableCode, a broken connection, a closed Store:
//     ErrUnavailable, keeping the driver error for the log;
//   - anything else: err itself, wrapped.
//
// Codes are read from the error, never from its text.
func translate(ctx context.Context, op string, err error, closed bool) error {
	var verr *todo.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, todo.ErrNotFound), errors.Is(err, todo.ErrPreconditionFailed), errors.Is(err, todo.ErrCursorExpired),
		errors.As(err, &verr):
		return fmt.Errorf("%s: %w", op, err)
	}
	var coded codedError
	hasCode := errors.As(err, &coded)
	interrupted := hasCode && coded.Code()&0xff == sqlite3.SQLITE_INTERRUPT
	// When the context ends mid-statement the driver interrupts SQLite, which
	// reports SQLITE_INTERRUPT; the context says why.
	if interrupted && ctx.Err() != nil {
		err = ctx.Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, todo.ErrUnavailable, err)
	case hasCode && unavailableCode(coded.Code()):
		return fmt.Errorf("%s: %w: %w", op, todo.ErrUnavailable, err)
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn), closed:
		return fmt.Errorf("%s: %w: %w", op, todo.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
