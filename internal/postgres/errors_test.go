package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todod/todod/internal/todo"
)

// notSent is a failure that pgconn reports as happening before anything was
// sent (SafeToRetry), like a write on a connection already closed.
type notSent struct{ err error }

func (e notSent) Error() string     { return "not sent: " + e.err.Error() }
func (e notSent) Unwrap() error     { return e.err }
func (e notSent) SafeToRetry() bool { return true }

func pgErr(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "synthetic " + code}
}

func TestTranslate(t *testing.T) {
	// A real connection failure: nothing listens on port 1.
	_, connectErr := pgconn.Connect(context.Background(), "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(connectErr, &ce) {
		t.Fatalf("connecting to port 1 gave %T %v, want *pgconn.ConnectError", connectErr, connectErr)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error // the contract error it must match; nil: none of them
	}{
		{"statement timeout", nil, pgErr("57014"), todo.ErrUnavailable},
		{"admin shutdown", nil, pgErr("57P01"), todo.ErrUnavailable},
		{"crash shutdown", nil, pgErr("57P02"), todo.ErrUnavailable},
		{"cannot connect now", nil, pgErr("57P03"), todo.ErrUnavailable},
		{"too many connections", nil, pgErr("53300"), todo.ErrUnavailable},
		{"connection failure", nil, pgErr("08006"), todo.ErrUnavailable},
		{"connection does not exist", nil, pgErr("08003"), todo.ErrUnavailable},
		{"protocol violation", nil, pgErr("08P01"), todo.ErrUnavailable},
		{"serialization failure after retries", nil, pgErr("40001"), todo.ErrUnavailable},
		{"deadlock after retries", nil, pgErr("40P01"), todo.ErrUnavailable},
		{"wrapped statement timeout", nil, fmt.Errorf("query: %w", pgErr("57014")), todo.ErrUnavailable},
		{"connect error", nil, connectErr, todo.ErrUnavailable},
		{"acquire timeout", nil, &acquireError{err: context.DeadlineExceeded}, todo.ErrUnavailable},
		{"internal deadline", nil, fmt.Errorf("x: %w", context.DeadlineExceeded), todo.ErrUnavailable},
		{"connection reset", nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, todo.ErrUnavailable},
		{"unexpected EOF", nil, fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), todo.ErrUnavailable},
		{"conn closed", nil, fmt.Errorf("x: %w", pgconn.ErrConnClosed), todo.ErrUnavailable},
		{"no rows", nil, fmt.Errorf("scan: %w", pgx.ErrNoRows), todo.ErrNotFound},
		{"not found passes", nil, todo.ErrNotFound, todo.ErrNotFound},
		{"precondition passes", nil, todo.ErrPreconditionFailed, todo.ErrPreconditionFailed},
		{"unique violation is a bug", nil, pgErr("23505"), nil},
		{"check violation is a bug", nil, pgErr("23514"), nil},
		{"undefined table is a bug", nil, pgErr("42P01"), nil},
		{"plain error", nil, errors.New("boom"), nil},
		{"caller cancelled", cancelled, pgErr("57014"), context.Canceled},
		{"caller cancelled, net error", cancelled, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, context.Canceled},
		{"caller out of time", expired, &acquireError{err: context.DeadlineExceeded}, context.DeadlineExceeded},
	}
	contract := []error{todo.ErrUnavailable, todo.ErrNotFound, todo.ErrPreconditionFailed, context.Canceled}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			got := translate(ctx, "get-task", tt.err)
			if got == nil {
				t.Fatal("nil")
			}
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Errorf("%v does not match %v", got, tt.want)
			}
			for _, c := range contract {
				if is := errors.Is(got, c); is != (c == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, c, is)
				}
			}
			if tt.want != todo.ErrNotFound && tt.want != todo.ErrPreconditionFailed &&
				tt.want != context.Canceled && tt.want != context.DeadlineExceeded && !errors.Is(got, tt.err) {
				t.Errorf("%v lost its cause %v", got, tt.err)
			}
			if !strings.HasPrefix(got.Error(), "postgres: get-task: ") {
				t.Errorf("message %q does not start with the op", got.Error())
			}
			var pe *pgconn.PgError
			if errors.As(tt.err, &pe) && tt.want == todo.ErrUnavailable && !errors.As(got, &pe) {
				t.Errorf("%v: the SQLSTATE is no longer reachable with errors.As", got)
			}
		})
	}
	if err := translate(context.Background(), "x", nil); err != nil {
		t.Errorf("translate(nil) = %v", err)
	}
	if err := translate(expired, "x", nil); err != nil {
		t.Errorf("translate(nil) with the context done = %v, want nil: the work succeeded", err)
	}
}

func TestRefusedStartupParameter(t *testing.T) {
	if refusedStartupParameter(pgErr("08P01")) {
		t.Error("08P01 outside a connection attempt counted as a refused startup parameter")
	}
	if refusedStartupParameter(errors.New("unsupported startup parameter: statement_timeout")) {
		t.Error("matched on message text")
	}
}

func TestRetry(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	tests := []struct {
		name      string
		errs      []error // returned by successive calls; nil after the list ends
		wantCalls int
		want      error // nil: success, unless other
		other     bool  // an error that is none of the contract's
	}{
		{"success", nil, 1, nil, false},
		{"resent once after a failure before sending", []error{notSent{pgconn.ErrConnClosed}}, 2, nil, false},
		{"resent only once", []error{notSent{pgconn.ErrConnClosed}, notSent{pgconn.ErrConnClosed}}, 2, todo.ErrUnavailable, false},
		{"sent statements are not resent", []error{io.ErrUnexpectedEOF}, 1, todo.ErrUnavailable, false},
		{"safe but not transient is not resent", []error{notSent{errors.New("conn busy")}}, 1, nil, true},
		{"acquire failures are not resent", []error{&acquireError{err: notSent{pgconn.ErrConnClosed}}}, 1, todo.ErrUnavailable, false},
		{"serialization failure retried", []error{pgErr("40001"), pgErr("40001")}, 3, nil, false},
		{"deadlock retried", []error{pgErr("40P01")}, 2, nil, false},
		{"conflicts give up", []error{pgErr("40001"), pgErr("40001"), pgErr("40P01"), pgErr("40001"), pgErr("40001")}, 1 + maxConflictRetries, todo.ErrUnavailable, false},
		{"statement timeout not retried", []error{pgErr("57014")}, 1, todo.ErrUnavailable, false},
		{"not found not retried", []error{todo.ErrNotFound}, 1, todo.ErrNotFound, false},
		{"precondition not retried", []error{todo.ErrPreconditionFailed}, 1, todo.ErrPreconditionFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retry(ctx, log, "update-task", func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			switch {
			case tt.other:
				if err == nil || errors.Is(err, todo.ErrUnavailable) || !strings.Contains(err.Error(), "conn busy") {
					t.Errorf("err = %v, want the driver error untranslated", err)
				}
			case tt.want == nil && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("caller cancels during the backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := retry(ctx, log, "update-task", func() error {
			calls++
			cancel()
			return pgErr("40001")
		})
		if calls != 1 || !errors.Is(err, context.Canceled) || errors.Is(err, todo.ErrUnavailable) {
			t.Errorf("%d calls, err %v; want 1 call and context.Canceled", calls, err)
		}
	})
}

func TestJitter(t *testing.T) {
	const d = 10 * time.Millisecond
	seen := map[bool]bool{}
	for range 1000 {
		j := jitter(d)
		if j < d/2 || j > d {
			t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, d/2, d)
		}
		seen[j < 3*d/4] = true
	}
	if !seen[true] || !seen[false] {
		t.Errorf("1000 jitters of %v all fell in one half of the range", d)
	}
}
