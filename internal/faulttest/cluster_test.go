//go:build linux

package faulttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a private PostgreSQL server for one test, so that restarting or
// killing it disturbs nobody else (other packages use the shared server on
// port 5432 at the same time).
type cluster struct {
	t    *testing.T
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // socket directory, log and data; owned by the server's user
	data string
	port int
	// asPostgres runs a command as the postgres OS user when this process
	// is root: PostgreSQL refuses to run as root.
	asPostgres []string
	uid, gid   int
}

// postgresBin returns the directory holding initdb, the newest version found.
func postgresBin() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// needPostgres skips the test when no PostgreSQL server binaries are
// installed, or fails it when TEST_REQUIRE_POSTGRES=1.
func needPostgres(t *testing.T) string {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		if os.Getenv("TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("TEST_REQUIRE_POSTGRES=1 but initdb is not installed (apt-get install postgresql)")
		}
		t.Skip("initdb not found: install the PostgreSQL server (apt-get install postgresql) to run the PostgreSQL fault tests")
	}
	return bin
}

// newCluster creates and starts a private cluster on a free port. It is
// stopped and removed when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: needPostgres(t), port: freePort(t), uid: -1, gid: -1}
	dir, err := os.MkdirTemp("", "todod-faulttest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs a non-root user, and there is no postgres user: %v", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			t.Fatal(err)
		}
		c.asPostgres = []string{"runuser", "-u", "postgres", "--"}
	}
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	c.start()
	t.Cleanup(func() {
		pm := c.postmaster()
		// Immediate: the test is over and its data is thrown away.
		_ = c.cmd("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop").Run()
		reap(pm)
	})
	return c
}

func (c *cluster) cmd(tool string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.asPostgres...), filepath.Join(c.bin, tool))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd
}

func (c *cluster) run(tool string, args ...string) {
	c.t.Helper()
	if out, err := c.cmd(tool, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", tool, strings.Join(args, " "), err, out, c.log())
	}
}

// options are the server's settings: a private port and socket directory,
// TCP on 127.0.0.1 only, and room for the pools of the tests.
func (c *cluster) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=150", c.port, c.dir)
}

// start starts the server and waits until it accepts connections; after a
// crash this includes the WAL recovery.
func (c *cluster) start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-o", c.options(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start")
}

// restartFast stops the server with a fast shutdown (active transactions
// are rolled back, clients disconnected) and starts it again.
func (c *cluster) restartFast() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-o", c.options(), "-l", filepath.Join(c.dir, "log"), "-m", "fast", "-w", "-t", "60", "restart")
}

// stopFast stops the server with a fast shutdown.
func (c *cluster) stopFast() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
}

// kill9 kills the postmaster and all its backends with SIGKILL, as the OOM
// killer or a lost machine would, and waits until they are gone. The next
// start runs crash recovery.
func (c *cluster) kill9() {
	c.t.Helper()
	pm := c.postmaster()
	if pm <= 0 {
		c.t.Fatal("no postmaster.pid: the server is not running")
	}
	victims := append([]int{pm}, children(pm)...)
	for _, pid := range victims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range victims {
		for alive(pid) {
			if time.Now().After(deadline) {
				c.t.Fatalf("process %d survived SIGKILL for 10 s", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
		reap(pid)
	}
	if exists(pm) {
		// A zombie nobody reaps (this process is not its subreaper): its pid
		// would make the next start believe a server still runs. A real
		// machine's restart has no such process; remove the stale lock.
		_ = os.Remove(filepath.Join(c.data, "postmaster.pid"))
	}
}

// reap collects the exit status of pid if it is a zombie child of this
// process (see TestMain), so that the pid disappears.
func reap(pid int) {
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}

// exists reports whether pid names a process, a zombie included.
func exists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// postmaster returns the pid in postmaster.pid, or 0.
func (c *cluster) postmaster() int {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, _ := strconv.Atoi(strings.TrimSpace(first))
	return pm
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces; the parent pid
		// is the second field after it.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func (c *cluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "log"))
	return string(b)
}

// url is the connection URL of database db, with extra query parameters.
func (c *cluster) url(db string, params ...string) string {
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// createDB creates a database and returns its URL.
func (c *cluster) createDB(name string, params ...string) string {
	c.t.Helper()
	conn := c.connect("postgres")
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatal(err)
	}
	return c.url(name, params...)
}

// connect opens an administrative connection to database db.
func (c *cluster) connect(db string) *pgx.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url(db))
	if err != nil {
		c.t.Fatal(err)
	}
	return conn
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
