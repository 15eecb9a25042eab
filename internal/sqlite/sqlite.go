// Package sqlite is todo.Store on SQLite through modernc.org/sqlite, a pure-Go
// (cgo-free) driver: the default engine, one file beside the binary.
//
// A Store keeps two pools on the same file: one writer connection, which runs
// every write as a BEGIN IMMEDIATE transaction, so that writers queue in Go
// instead of fighting over SQLite's lock, and a pool of read-only connections,
// which WAL mode lets read while the writer writes. Every connection gets its
// pragmas from the DSN, so a connection the pool opens later has them too.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/todod/todod/internal/todo"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Defaults of Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	minReadConns       = 4
)

// Options configures a Store.
type Options struct {
	// Now is the clock; nil means time.Now. Timestamps are taken from it, in
	// UTC, truncated to microseconds (todo.NormalizeTime).
	Now func() time.Time
	// Logger receives the migrations applied; nil discards.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another
	// process (another replica, `todod migrate`) before failing with
	// todo.ErrUnavailable; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool; 0 means GOMAXPROCS, at least 4.
	ReadConns int
}

// Store is todo.Store on one SQLite database file. It is safe for concurrent use.
//
// Change notifications (Subscribe) reach the subscribers of this Store only:
// another process on the same file writes without telling this one.
type Store struct {
	write    *sql.DB // exactly one connection; every write transaction runs here
	read     *sql.DB // query_only connections
	now      func() time.Time
	log      *slog.Logger
	latest   int64 // the newest embedded migration: Ping requires the schema to be there
	closed   atomic.Bool
	hub      *todo.ChangeHub
	inFlight inFlight
	key      serverKey
}

var _ todo.Store = (*Store)(nil)

// Open opens the database at path, a file name or a "file:" URI, creating the
// file when it is missing. It does not migrate; call Migrate.
//
// Pragmas given in the path as _pragma=name(value) win over the Store's own:
// busy_timeout, journal_mode(WAL), synchronous(FULL), foreign_keys(ON).
// In-memory databases are refused: each pooled connection would get its own.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s := &Store{now: opts.Now, log: opts.Logger, hub: todo.NewChangeHub()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = max(runtime.GOMAXPROCS(0), minReadConns)
	}

	var err error
	if s.write, err = sql.Open("sqlite", dsn(path, busy, false)); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file and turns on WAL, which a
	// query_only reader could not do.
	if err := s.write.PingContext(ctx); err != nil {
		_ = s.write.Close()
		return nil, translate(ctx, "open sqlite", err, false)
	}
	if s.read, err = sql.Open("sqlite", dsn(path, busy, true)); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.read.SetMaxOpenConns(readConns)
	s.read.SetMaxIdleConns(readConns)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	if err := s.read.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, translate(ctx, "open sqlite", err, false)
	}

	p, err := s.migrator()
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	sources := p.ListSources()
	s.latest = sources[len(sources)-1].Version
	return s, nil
}

// checkPath refuses names that would not give one shared database file.
func checkPath(path string) error {
	name, rawQuery, _ := strings.Cut(path, "?")
	name = strings.TrimPrefix(name, "file:")
	q, _ := url.ParseQuery(rawQuery)
	switch {
	case name == "":
		return errors.New("empty database path")
	case name == ":memory:" || q.Get("mode") == "memory":
		return errors.New("in-memory databases are not supported: give a file path")
	}
	return nil
}

// dsn adds the Store's connection settings to path. Pragmas run on every new
// connection of the pool; the writer also begins its transactions IMMEDIATE,
// taking the write lock up front, so a transaction that reads and then writes
// never fails half-way with SQLITE_BUSY.
func dsn(path string, busy time.Duration, readOnly bool) string {
	base, rawQuery, _ := strings.Cut(path, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// The driver reports the malformed query when it connects.
		return path
	}
	given := make(map[string]bool)
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		given[strings.ToLower(strings.TrimSpace(name))] = true
	}
	add := func(name, value string) {
		if !given[name] {
			q.Add("_pragma", name+"("+value+")")
		}
	}
	add("busy_timeout", fmt.Sprint(busy.Milliseconds()))
	add("journal_mode", "WAL")
	// FULL: a commit is on disk, WAL included, before it is acknowledged, so
	// it survives a kill -9 and a power cut.
	add("synchronous", "FULL")
	add("foreign_keys", "ON")
	if readOnly {
		q.Del("_txlock")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return base + "?" + q.Encode()
}

// migrator returns a goose provider over the embedded migrations, running on
// the writer connection.
func (s *Store) migrator() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, s.write, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(s.log))
}

// migrateAttempts bounds how often Migrate retries after losing a race.
const migrateAttempts = 5

// Migrate applies the embedded migrations that the database lacks. Running it
// again, or from several processes at once, is safe.
//
// goose has no lock for SQLite, so the guard is SQLite's own write lock: goose
// runs each migration, together with the insert of its version row, in one
// transaction on the writer connection, which begins IMMEDIATE. Two processes'
// migrations therefore run one after the other, and each applies whole or not
// at all. The process that loses a race fails inside its transaction (the
// table it creates exists by then) and rolls back; it then re-reads the
// version table, finds the schema current and succeeds, or tries again when a
// later migration is still missing.
func (s *Store) Migrate(ctx context.Context) error {
	var err error
	for range migrateAttempts {
		var p *goose.Provider
		if p, err = s.migrator(); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var results []*goose.MigrationResult
		results, err = p.Up(ctx)
		for _, r := range results {
			if r.Error == nil {
				s.log.InfoContext(ctx, "migration applied", "engine", "sqlite",
					"version", r.Source.Version, "duration", r.Duration)
			}
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		if current, target, verr := p.GetVersions(ctx); verr == nil && current >= target {
			return nil
		}
	}
	return s.mapErr(ctx, "migrate", err)
}

// Ping reports whether the database answers and has every embedded migration.
func (s *Store) Ping(ctx context.Context) error {
	var version int64
	if err := s.read.QueryRowContext(ctx, pingSQL).Scan(&version); err != nil {
		err = s.mapErr(ctx, "ping", err)
		if ctx.Err() == nil && !errors.Is(err, todo.ErrUnavailable) {
			// An unmigrated file has no version table: not ready either.
			err = fmt.Errorf("%w: %w", err, todo.ErrUnavailable)
		}
		return err
	}
	if version < s.latest {
		return fmt.Errorf("ping: schema version %d, want %d: %w", version, s.latest, todo.ErrUnavailable)
	}
	return nil
}

// Close closes both pools; closing again does nothing. Afterwards every
// method fails with ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.hub.Close()
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	// The writer closes last: the last connection to close checkpoints the WAL
	// into the database file.
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}

// clock returns the time a write records: UTC, microsecond precision.
func (s *Store) clock() time.Time { return todo.NormalizeTime(s.now()) }

// writeTx runs fn in one BEGIN IMMEDIATE transaction on the writer connection
// and commits it when fn succeeds.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// userTx is writeTx for a write to userID's tasks: once it commits, the
// user's subscribers are told.
func (s *Store) userTx(ctx context.Context, userID string, fn func(tx *sql.Tx) error) error {
	if err := s.writeTx(ctx, fn); err != nil {
		return err
	}
	s.hub.Notify(userID)
	return nil
}

// readTx runs fn in one read transaction, so that every statement of fn sees
// the same snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	// Nothing to commit: ending a read transaction either way releases its snapshot.
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}
