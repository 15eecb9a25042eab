//go:build linux

package faulttest

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver of the consistency check
)

// Bounds of the load runs: a few workers, for about a second before the
// fault and a second and a half after it.
const (
	workers       = 4
	maxOpsPerLoad = 20_000
	loadBefore    = time.Second
	loadAfter     = 1500 * time.Millisecond
	// minAckedBefore writes are acknowledged before a fault (warmUp waits up
	// to warmUpMax more for them on a slow machine), so that every check
	// has acknowledged writes to check.
	minAckedBefore = 100
	warmUpMax      = 30 * time.Second
	// recoveryBound is the contract: todod serves again within 5 s of the
	// database returning.
	recoveryBound = 5 * time.Second
)

func TestPostgresFastRestartUnderLoad(t *testing.T) {
	postgresFault(t, false, func(c *cluster) { c.restartFast() })
}

func TestPostgresKilledUnderLoad(t *testing.T) {
	postgresFault(t, true, func(c *cluster) {
		c.kill9()
		// Down long enough for every worker to meet the outage.
		time.Sleep(time.Second)
		c.start()
	})
}

// postgresFault runs the journaled load against todod on a private cluster,
// applies fault (which returns once the database accepts connections
// again), and checks the answers, the recovery time and the journal.
func postgresFault(t *testing.T, wantOutage bool, fault func(c *cluster)) {
	c := newCluster(t)
	dsn := c.createDB("todod")
	p := startTodod(t, t.TempDir(), map[string]string{"DATABASE_URL": dsn})
	client := newClient(t, 10*time.Second)

	l := startLoad(t, client, func() string { return p.base }, workers, maxOpsPerLoad)
	l.warmUp(t)
	faultAt := time.Now()
	fault(c)
	back := time.Now()
	l.j.markBack(back)
	ready := waitReady(t, client, p.base, 2*recoveryBound)
	time.Sleep(loadAfter)
	o := l.stop()

	t.Logf("database down for %v; ready %v after it returned; first acknowledged write %v after it returned; %s",
		back.Sub(faultAt).Round(time.Millisecond), ready.Sub(back).Round(time.Millisecond),
		o.firstAckAfter.Sub(back).Round(time.Millisecond), o.summary())
	checkAnswers(t, o, false)
	if d := ready.Sub(back); d > recoveryBound {
		t.Errorf("/readyz answered 200 only %v after the database returned, want within %v", d, recoveryBound)
	}
	if o.firstAckAfter.IsZero() {
		t.Errorf("no write was acknowledged after the database returned")
	} else if d := o.firstAckAfter.Sub(back); d > recoveryBound {
		t.Errorf("the first write after the database returned was acknowledged after %v, want within %v", d, recoveryBound)
	}
	if wantOutage && o.statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 while the database was down for a second: the fault did not reach the clients")
	}
	n := verify(t, client, p.base, o)
	t.Logf("journal: %d acknowledged tasks checked", n)
	if lines := p.errorLines(); len(lines) > 0 {
		t.Errorf("todod logged %d errors, the first: %s", len(lines), lines[0])
	}
}

func TestTododKilledUnderLoad(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "todod.db")
		tododKilled(t, dir, "sqlite:///"+path, func(t *testing.T) {
			checkSQLiteIntegrity(t, path)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		c := newCluster(t)
		dsn := c.createDB("todod")
		tododKilled(t, t.TempDir(), dsn, func(t *testing.T) {
			// The killed process's sessions end with its sockets, so no
			// transaction stays open holding locks.
			waitNoSessions(t, c, "todod", 5*time.Second)
		})
	})
}

// tododKilled runs the journaled load, kills todod with SIGKILL in the middle
// of it, runs check on the database, starts todod again on the same database
// and verifies the journal.
func tododKilled(t *testing.T, dir, dbURL string, check func(t *testing.T)) {
	env := map[string]string{"DATABASE_URL": dbURL}
	p := startTodod(t, dir, env)
	var base atomic.Value
	base.Store(p.base)
	client := newClient(t, 10*time.Second)

	l := startLoad(t, client, func() string { return base.Load().(string) }, workers, maxOpsPerLoad)
	l.warmUp(t)
	p.kill9()
	time.Sleep(200 * time.Millisecond) // the workers meet the dead server
	o := l.stop()
	check(t)

	p2 := startTodod(t, dir, env)
	base.Store(p2.base)
	waitReady(t, client, p2.base, 10*time.Second)
	t.Logf("%s", o.summary())
	checkAnswers(t, o, true)
	n := verify(t, client, p2.base, o)
	t.Logf("journal: %d acknowledged tasks checked after the restart", n)
}

// checkSQLiteIntegrity opens the file the killed process left (WAL
// included) and runs SQLite's own consistency checks.
func checkSQLiteIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&result); err != nil {
		t.Fatal(err)
	}
	if result != "ok" {
		t.Errorf("integrity_check after SIGKILL: %s", result)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check after SIGKILL found violations")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// waitNoSessions waits until no session of application app is connected.
func waitNoSessions(t *testing.T, c *cluster, app string, within time.Duration) {
	t.Helper()
	conn := c.connect("postgres")
	defer conn.Close(context.Background())
	deadline := time.Now().Add(within)
	for {
		var n int
		if err := conn.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %s still connected after %v", n, app, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
