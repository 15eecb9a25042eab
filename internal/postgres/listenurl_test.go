package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestListenURL: with Options.ListenURL the LISTEN session is opened on that
// URL (the direct one, beside a pooled DSN), not on the pool's: a ListenURL
// naming a missing database leaves subscribers without a session, while the
// same store without it listens and hears another store's writes.
func TestListenURL(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	missing := strings.Replace(dsn, "/"+dbName(t, dsn), "/todod_no_such_database", 1)
	broken := openStore(t, dsn, Options{ListenURL: missing})
	ch, cancel := broken.Subscribe("u1")
	t.Cleanup(cancel)
	if waitFor(ch, 2*time.Second) {
		t.Fatal("a LISTEN session came up although ListenURL names a missing database")
	}

	a := openStore(t, dsn, Options{})
	b := openStore(t, dsn, Options{ListenURL: dsn})
	u1 := listening(t, b, "u1")
	if _, err := a.CreateTask(context.Background(), "u1", newTask); err != nil {
		t.Fatal(err)
	}
	if !waitFor(u1, 5*time.Second) {
		t.Fatal("a write through another store did not reach a subscriber listening on ListenURL")
	}
}

// dbName is the database name in a postgres:// URL.
func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

func TestListenURLInvalid(t *testing.T) {
	_, err := Open(context.Background(), testDatabase(t), Options{ListenURL: "postgres://u:hunter2@host:notaport/db"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("an invalid ListenURL must be refused without echoing it: %v", err)
	}
}
