package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todod/todod/internal/todo"
)

// SQLSTATE codes the store reacts to. See
// https://www.postgresql.org/docs/current/errcodes-appendix.html.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeQueryCanceled        = "57014" // statement_timeout, or pg_cancel_backend
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03" // starting up, or in recovery
	codeTooManyConnections   = "53300"
	codeUndefinedTable       = "42P01"
	codeProtocolViolation    = "08P01" // PgBouncer: "unsupported startup parameter"
	classConnectionException = "08"
)

// Retry policy for serialization failures and deadlocks: a few attempts with
// full jitter, so that the transactions that collided do not collide again.
const (
	maxConflictRetries = 3
	conflictBackoff    = 10 * time.Millisecond
)

// acquireError marks a failure to get a connection from the pool: the wait
// exceeded Options.AcquireTimeout, the pool is closed, or a new connection
// could not be established.
type acquireError struct{ err error }

func (e *acquireError) Error() string { return "acquire connection: " + e.err.Error() }
func (e *acquireError) Unwrap() error { return e.err }

// translate maps an error from pgx, pgconn or pgxpool to the todo.Store error
// contract. It is the only place where driver errors are interpreted. ctx is
// the caller's context; op is a short operation name, the only context added to
// the message (never SQL). Causes are kept in the chain for logging.
//
//   - nil stays nil; todo's sentinel errors pass through, wrapped with op.
//   - A caller's context that is done gives its error: the client is gone or
//     out of time, which is not the database's fault.
//   - pgx.ErrNoRows becomes todo.ErrNotFound: every single-row statement of the
//     store selects by id and user_id.
//   - Connection failures, pool acquire timeouts, internal timeouts, statement
//     timeouts, shutdowns, too many connections and exhausted conflict retries
//     become todo.ErrUnavailable.
//   - Anything else is returned wrapped as it is: a bug or an unexpected state.
func translate(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, todo.ErrNotFound), errors.Is(err, todo.ErrPreconditionFailed),
		errors.Is(err, todo.ErrCursorExpired), errors.Is(err, todo.ErrUnavailable):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case ctx.Err() != nil:
		return fmt.Errorf("postgres: %s: %w", op, ctx.Err())
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, todo.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, todo.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err means the database cannot serve the request
// now, though it may later.
func unavailable(err error) bool {
	var acqErr *acquireError
	var connErr *pgconn.ConnectError
	// Checked before the SQLSTATE: a server error during connection setup
	// (authentication, unknown database, a pooler refusing a parameter) still
	// means there is no usable connection.
	if errors.As(err, &acqErr) || errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeQueryCanceled, codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow,
			codeTooManyConnections, codeSerializationFailure, codeDeadlockDetected:
			return true
		}
		return strings.HasPrefix(pgErr.Code, classConnectionException)
	}
	var netErr net.Error
	return pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr)
}

// conflict reports whether err is a serialization failure or a deadlock: the
// transaction was rolled back and may succeed if run again.
func conflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) &&
		(pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected)
}

// resendable reports whether err is a transient failure that happened before
// anything reached the server, so running the statement again cannot apply it
// twice. Acquire failures are excluded: the pool has already tried to connect,
// and trying again would only double the wait.
func resendable(err error) bool {
	var acqErr *acquireError
	return pgconn.SafeToRetry(err) && !errors.As(err, &acqErr) && unavailable(err)
}

// undefinedTable reports whether err says a table does not exist.
func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUndefinedTable
}

// refusedStartupParameter reports whether a connection attempt failed because
// the server refused a run-time parameter sent at startup, as PgBouncer does
// with parameters it cannot track.
func refusedStartupParameter(err error) bool {
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	return errors.As(err, &connErr) && errors.As(err, &pgErr) && pgErr.Code == codeProtocolViolation
}

// retry runs fn, runs it once more when it failed before reaching the server
// (resendable), and up to maxConflictRetries more times, after a jittered
// pause, when it was rolled back by a conflict. It returns the last error,
// translated. fn must be a whole statement or a whole transaction.
func retry(ctx context.Context, log *slog.Logger, op string, fn func() error) error {
	resent := false
	for conflicts := 0; ; {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return translate(ctx, op, err)
		}
		switch {
		case !resent && resendable(err):
			resent = true
			log.DebugContext(ctx, "postgres: resending after a failure before the statement was sent",
				"op", op, "err", err)
			continue
		case conflicts < maxConflictRetries && conflict(err):
			conflicts++
			log.DebugContext(ctx, "postgres: retrying after a serialization failure or deadlock",
				"op", op, "attempt", conflicts, "err", err)
			if !sleep(ctx, jitter(conflictBackoff<<(conflicts-1))) {
				return translate(ctx, op, err)
			}
			continue
		}
		return translate(ctx, op, err)
	}
}

// jitter returns a random duration in [d/2, d]: "equal jitter", which keeps a
// minimum pause while spreading the colliding transactions apart.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d or until ctx is done, reporting whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
