//go:build linux

package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// binary is the todod executable built for this run by TestMain.
var binary string

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// TestMain builds todod once, runs the tests, and then checks that no test
// left a goroutine behind: the in-process tests share this process with the
// store and the server under test, so a leaked connection or query shows up
// here.
func TestMain(m *testing.M) {
	// The private PostgreSQL servers are started by pg_ctl, which exits and
	// leaves the postmaster to be adopted. Where PID 1 does not reap orphans
	// (as in many containers), a postmaster killed by a test would stay a
	// zombie, and a zombie's pid in postmaster.pid stops the next start.
	// As a child subreaper this process adopts them and reaps them itself.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "faulttest: prctl(PR_SET_CHILD_SUBREAPER):", errno)
	}
	dir, err := os.MkdirTemp("", "todod-faulttest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "todod")
	build := exec.Command("go", "build", "-o", binary, "github.com/todod/todod/cmd/todod")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest: building todod:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "faulttest: goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}
