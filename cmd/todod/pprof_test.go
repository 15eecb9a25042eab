package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestPprofOffByDefault(t *testing.T) {
	var logs bytes.Buffer
	stop := startPprof("", slog.New(slog.NewTextHandler(&logs, nil)))
	stop()
	if logs.Len() != 0 {
		t.Fatalf("logged %q with PPROF_ADDR unset", logs.String())
	}
}

func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		var logs bytes.Buffer
		stop := startPprof(addr, slog.New(slog.NewTextHandler(&logs, nil)))
		stop()
		if !strings.Contains(logs.String(), "profiling endpoints not started") {
			t.Errorf("PPROF_ADDR=%s: want a refusal, logged %q", addr, logs.String())
		}
	}
}

func TestPprofServes(t *testing.T) {
	// A free loopback port, released just before startPprof takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var logs bytes.Buffer
	stop := startPprof(addr, slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()
	if !strings.Contains(logs.String(), "profiling endpoints are on") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ".test") {
		t.Fatalf("cmdline: %d %q", resp.StatusCode, body)
	}

	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("the listener still answers after stop")
	}
}
