package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todod/todod/internal/todo"
)

// beforeSend marks a failure that pgconn reports as happening before any
// byte of the statement left (SafeToRetry), as on a pooled connection the
// server had already closed.
type beforeSend struct{ err error }

func (e beforeSend) Error() string     { return "before send: " + e.err.Error() }
func (e beforeSend) Unwrap() error     { return e.err }
func (e beforeSend) SafeToRetry() bool { return true }

func sqlstate(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "synthetic " + code}
}

// TestFaultMatrix is the PostgreSQL row set of RELIABILITY.md's error
// mapping: each fault of CONTRACT.md §5 as the driver reports it, how often
// the store runs the statement (retry policy), and the contract error the
// caller gets (ErrUnavailable is the API's 503 + Retry-After; an error
// outside the contract is its 500).
func TestFaultMatrix(t *testing.T) {
	const unmapped = "outside the contract (500)"
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	rows := []struct {
		fault string
		errs  []error // results of successive runs; success after the list
		calls int
		want  any // nil (success), a contract error, or unmapped
	}{
		{"connection lost before the statement was sent", []error{beforeSend{pgconn.ErrConnClosed}}, 2, nil},
		{"connection lost before sending, again on the resend", []error{beforeSend{pgconn.ErrConnClosed}, beforeSend{pgconn.ErrConnClosed}}, 2, todo.ErrUnavailable},
		{"connection reset after the statement was sent", []error{reset}, 1, todo.ErrUnavailable},
		{"connection closed mid-answer (EOF)", []error{io.ErrUnexpectedEOF}, 1, todo.ErrUnavailable},
		{"admin shutdown 57P01 (fast shutdown, pg_terminate_backend)", []error{sqlstate("57P01")}, 1, todo.ErrUnavailable},
		{"crash shutdown 57P02", []error{sqlstate("57P02")}, 1, todo.ErrUnavailable},
		{"starting up or recovering 57P03", []error{sqlstate("57P03")}, 1, todo.ErrUnavailable},
		{"too many connections 53300", []error{sqlstate("53300")}, 1, todo.ErrUnavailable},
		{"too many connections while the pool connects", []error{&acquireError{err: sqlstate("53300")}}, 1, todo.ErrUnavailable},
		{"pool exhausted: acquire timeout", []error{&acquireError{err: context.DeadlineExceeded}}, 1, todo.ErrUnavailable},
		{"statement timeout 57014", []error{sqlstate("57014")}, 1, todo.ErrUnavailable},
		{"serialization failure 40001, once", []error{sqlstate("40001")}, 2, nil},
		{"deadlock 40P01, twice", []error{sqlstate("40P01"), sqlstate("40P01")}, 3, nil},
		{"serialization failure that persists", []error{sqlstate("40001"), sqlstate("40001"), sqlstate("40001"), sqlstate("40001"), sqlstate("40001")}, 1 + maxConflictRetries, todo.ErrUnavailable},
		{"unique violation 23505", []error{sqlstate("23505")}, 1, unmapped},
		{"check violation 23514", []error{sqlstate("23514")}, 1, unmapped},
		{"syntax error 42601", []error{sqlstate("42601")}, 1, unmapped},
	}
	for _, row := range rows {
		t.Run(row.fault, func(t *testing.T) {
			calls := 0
			err := retry(context.Background(), slog.New(slog.DiscardHandler), "create-task", func() error {
				calls++
				if calls <= len(row.errs) {
					return row.errs[calls-1]
				}
				return nil
			})
			if calls != row.calls {
				t.Errorf("the statement ran %d times, want %d", calls, row.calls)
			}
			switch want := row.want.(type) {
			case nil:
				if err != nil {
					t.Errorf("err = %v, want success", err)
				}
			case error:
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			default:
				for _, c := range []error{todo.ErrUnavailable, todo.ErrNotFound, todo.ErrPreconditionFailed, context.Canceled, context.DeadlineExceeded} {
					if errors.Is(err, c) {
						t.Errorf("err = %v matches %v, want %s", err, c, unmapped)
					}
				}
				var pgErr *pgconn.PgError
				if err == nil || !errors.As(err, &pgErr) || pgErr.Code != row.errs[0].(*pgconn.PgError).Code {
					t.Errorf("err = %v, want the driver error kept for the log", err)
				}
			}
		})
	}
}

// TestConflictBackoff checks that retries after conflicts pause with a
// growing, jittered backoff (equal jitter: each pause is in [d/2, d] for
// d = 10, 20, 40 ms), so colliding transactions do not collide again.
func TestConflictBackoff(t *testing.T) {
	var stamps []time.Time
	err := retry(context.Background(), slog.New(slog.DiscardHandler), "update-task", func() error {
		stamps = append(stamps, time.Now())
		if len(stamps) <= maxConflictRetries {
			return sqlstate("40001")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("err = %v, want success on the last attempt", err)
	}
	if len(stamps) != 1+maxConflictRetries {
		t.Fatalf("%d attempts, want %d", len(stamps), 1+maxConflictRetries)
	}
	for i := 1; i < len(stamps); i++ {
		d := conflictBackoff << (i - 1)
		if gap := stamps[i].Sub(stamps[i-1]); gap < d/2 || gap > d+200*time.Millisecond {
			t.Errorf("pause before attempt %d: %v, want within [%v, %v] (+ scheduling slack)", i+1, gap, d/2, d)
		}
	}
}
