// Package postgres implements todo.Store on PostgreSQL through pgx v5 and its
// connection pool. The SQL lives in task.go, the schema in migrations/, and the
// translation of driver errors to the todo contract in errors.go.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/todod/todod/internal/todo"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Defaults of Options.
const (
	DefaultStatementTimeout = 5 * time.Second
	DefaultAcquireTimeout   = 2 * time.Second
)

// Options configures a Store.
type Options struct {
	// Now is the clock; nil means time.Now. Timestamps are taken from it in UTC,
	// truncated to microseconds (todo.NormalizeTime).
	Now func() time.Time
	// Logger receives migration progress and retry notices; nil discards them.
	Logger *slog.Logger
	// StatementTimeout is sent as the statement_timeout run-time parameter of
	// every connection, so the server cancels a runaway statement. 0 means
	// DefaultStatementTimeout; a negative value sends nothing and leaves the
	// server's setting. A statement_timeout in the URL wins.
	StatementTimeout time.Duration
	// AcquireTimeout bounds how long a call waits for a pooled connection
	// (including opening a new one) before failing with todo.ErrUnavailable.
	// 0 means DefaultAcquireTimeout.
	AcquireTimeout time.Duration
	// ListenURL is a direct (unpooled) URL for the LISTEN session that carries
	// change notifications between replicas: LISTEN needs a session, which a
	// transaction-mode pooler such as Neon's does not keep. "" means dsn.
	ListenURL string
}

// Store is a todo.Store on a PostgreSQL database. It is safe for concurrent use.
//
// Change notifications (Subscribe) cross processes through LISTEN/NOTIFY on
// one extra connection per Store, outside the pool. LISTEN needs a session,
// so the URL must reach PostgreSQL directly, not through a transaction-mode
// pooler; behind one, subscribers still hear this process's own writes.
type Store struct {
	pool           *pgxpool.Pool
	db             *sql.DB // the pool seen through database/sql, for goose
	migrations     *goose.Provider
	latest         int64 // the newest embedded migration version
	clock          func() time.Time
	log            *slog.Logger
	acquireTimeout time.Duration
	hub            *todo.ChangeHub
	listener       *listener
	notifier       *notifier
	key            serverKey
	// customPlans is the exec mode of the list and count statements whose best
	// plan depends on their arguments (planFor); 0 when the
	// connection's own mode already plans every execution.
	customPlans pgx.QueryExecMode
}

var _ todo.Store = (*Store)(nil)

// Open connects to the database at dsn, a postgres:// URL (or a libpq
// key=value string) as pgxpool.ParseConfig accepts it: sslmode,
// channel_binding, pool_max_conns, default_query_exec_mode and the rest are
// honoured. It checks that a connection can be made, within ctx, but does not
// migrate: call Migrate. Connection failures wrap todo.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, sentTimeout, err := poolConfig(dsn, opts.StatementTimeout)
	if err != nil {
		return nil, err
	}
	pool, err := connect(ctx, cfg)
	if err != nil && sentTimeout && refusedStartupParameter(err) {
		// Transaction-mode poolers (PgBouncer, and so Neon's "-pooler"
		// endpoints) refuse run-time parameters they cannot keep per session.
		// Connecting without a statement timeout beats not connecting.
		log.WarnContext(ctx, "postgres: the server refused the statement_timeout connection parameter; "+
			"running without a statement timeout (set one on the role instead: ALTER ROLE … SET statement_timeout = '5s')",
			"err", err)
		delete(cfg.ConnConfig.RuntimeParams, "statement_timeout")
		pool, err = connect(ctx, cfg)
	}
	if err != nil {
		return nil, translate(ctx, "open", err)
	}

	db := stdlib.OpenDBFromPool(pool)
	migrations, latest, err := newMigrations(db, log)
	if err != nil {
		_ = db.Close()
		pool.Close()
		return nil, err
	}
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	acquireTimeout := opts.AcquireTimeout
	if acquireTimeout <= 0 {
		acquireTimeout = DefaultAcquireTimeout
	}
	listenCfg := pool.Config().ConnConfig
	if opts.ListenURL != "" {
		if listenCfg, err = pgx.ParseConfig(opts.ListenURL); err != nil {
			_ = db.Close()
			pool.Close()
			// pgx's parse errors can quote the URL, password included.
			return nil, errors.New("postgres: the LISTEN URL is not a valid PostgreSQL URL")
		}
	}
	h := todo.NewChangeHub()
	s := &Store{
		pool:           pool,
		db:             db,
		migrations:     migrations,
		latest:         latest,
		clock:          clock,
		log:            log,
		acquireTimeout: acquireTimeout,
		hub:            h,
		listener:       newListener(listenCfg, log, h),
		customPlans:    customPlanMode(pool.Config().ConnConfig),
	}
	s.notifier = newNotifier(s)
	return s, nil
}

// poolConfig parses dsn and fills in what the URL leaves out: the pool size,
// the statement timeout and the application name. sentTimeout reports whether
// the statement timeout was added here (rather than taken from the URL).
func poolConfig(dsn string, statementTimeout time.Duration) (cfg *pgxpool.Config, sentTimeout bool, err error) {
	cfg, err = pgxpool.ParseConfig(dsn)
	if err != nil {
		// ParseConfigError masks the password in its text.
		return nil, false, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	// pgxpool removes pool_max_conns from the parameters it parses and fills in
	// its own default, so whether the URL set it is read from a plain parse.
	plain, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	if _, ok := plain.RuntimeParams["pool_max_conns"]; !ok {
		cfg.MaxConns = defaultMaxConns(runtime.GOMAXPROCS(0))
	}

	params := cfg.ConnConfig.RuntimeParams
	if _, ok := params["statement_timeout"]; !ok && !strings.Contains(params["options"], "statement_timeout") {
		if statementTimeout == 0 {
			statementTimeout = DefaultStatementTimeout
		}
		if statementTimeout > 0 {
			params["statement_timeout"] = strconv.FormatInt(max(statementTimeout.Milliseconds(), 1), 10)
			sentTimeout = true
		}
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "todod"
	}
	return cfg, sentTimeout, nil
}

// customPlanMode returns the exec mode that has a statement planned for the
// arguments of each execution, or 0 when cfg's default mode does so already.
//
// Only the default mode, cache_statement, keeps a prepared statement per
// connection, for which PostgreSQL may settle on a generic plan after five
// executions; the other modes use the unnamed statement or the simple
// protocol, planned every time. cache_describe keeps the single round trip
// and the binary formats of the default mode; exec is for when its cache is
// off (description_cache_capacity=0).
func customPlanMode(cfg *pgx.ConnConfig) pgx.QueryExecMode {
	switch {
	case cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement:
		return 0
	case cfg.DescriptionCacheCapacity > 0:
		return pgx.QueryExecModeCacheDescribe
	}
	return pgx.QueryExecModeExec
}

// defaultMaxConns is the pool size when the URL does not set pool_max_conns:
// four connections per usable CPU, at least 4.
//
// A request holds a connection only while its statements run, and most of that
// time is spent waiting on the network and the server, not on this process's
// CPU; with a remote database (Neon is a few milliseconds away) one CPU keeps
// several connections busy, so pgxpool's own default (one per CPU) would queue
// requests while the CPUs idle. Beyond a few per CPU the extra connections only
// add server memory and queue inside PostgreSQL instead, and every replica
// multiplies the count against the server's max_connections (about 100 on a
// small Neon compute). GOMAXPROCS, unlike NumCPU, follows the container's CPU
// limit. The minimum of 4 keeps a one-CPU container able to serve a few
// requests, a health check and a migration at once.
func defaultMaxConns(procs int) int32 {
	return int32(max(4*procs, 4))
}

// connect creates a pool and checks that one connection can be made.
func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// newMigrations builds the goose provider over the embedded migrations and
// returns it with the newest version it knows.
func newMigrations(db *sql.DB, log *slog.Logger) (*goose.Provider, int64, error) {
	// Polling every second, up to five minutes: replicas that start together
	// wait for the one that migrates, then find nothing left to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: migration lock: %w", err)
	}
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: migrations: %w", err)
	}
	var latest int64
	for _, src := range p.ListSources() {
		latest = max(latest, src.Version)
	}
	return p, latest, nil
}

// Migrate applies the embedded migrations that the database lacks. Several
// processes may run it at once: a session-level advisory lock lets one migrate
// while the others wait. The lock needs a session, so the URL must reach
// PostgreSQL directly, not through a transaction-mode pooler. Migrations run
// under the statement timeout; one that needs longer raises it for itself with
// SET LOCAL statement_timeout.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.migrations.Up(ctx)
	return translate(ctx, "migrate", err)
}

// Ping checks that the database answers and that its schema is at least at the
// newest version this binary embeds (a newer one is fine: a replica started
// from a newer release may have migrated first). Errors wrap todo.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	return s.run(ctx, "ping", func(conn *pgxpool.Conn) error {
		var version *int64
		err := conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version)
		switch {
		case undefinedTable(err):
			return fmt.Errorf("%w: schema not migrated", todo.ErrUnavailable)
		case err != nil:
			return err
		case version == nil || *version < s.latest:
			return fmt.Errorf("%w: schema at version %d, want %d", todo.ErrUnavailable, deref(version), s.latest)
		}
		return nil
	})
}

// Close stops the change notifications, closing every subscriber's channel,
// waits for connections in use to be released, then closes the pool.
func (s *Store) Close() error {
	s.notifier.stop()
	s.listener.stop()
	s.hub.Close()
	err := s.db.Close()
	s.pool.Close()
	if err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return nil
}

// now is the store's clock reading in the stored form.
func (s *Store) now() time.Time { return todo.NormalizeTime(s.clock()) }

// acquire takes a connection from the pool, waiting at most acquireTimeout.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, s.acquireTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err != nil {
		return nil, &acquireError{err: err}
	}
	return conn, nil
}

// run runs fn on a pooled connection under the retry policy (errors.go) and
// returns its translated error. fn must be safe to run again from scratch.
func (s *Store) run(ctx context.Context, op string, fn func(conn *pgxpool.Conn) error) error {
	return retry(ctx, s.log, op, func() error {
		conn, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		return fn(conn)
	})
}

// inTx runs fn in one transaction, as run does: committed when fn returns
// nil, rolled back otherwise.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return s.run(ctx, op, func(conn *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, conn, fn)
	})
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
