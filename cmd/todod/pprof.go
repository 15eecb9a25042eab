package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiling endpoints (/debug/pprof/…) on addr, the
// value of PPROF_ADDR, for profiling a running server under load (see
// BENCHMARKS.md). It is off when addr is empty. Profiles expose memory
// contents and cost CPU while taken, so only a loopback address is accepted,
// on a listener of its own: the API's port never serves them. The handlers go
// on a private mux; nothing serves http.DefaultServeMux, where the pprof
// package also registers them. The returned function stops the listener.
//
// A bad address is logged, not fatal: the server runs without profiling
// rather than not at all.
func startPprof(addr string, logger *slog.Logger) (stop func()) {
	ln, err := pprofListener(addr)
	if err != nil {
		logger.Error("profiling endpoints not started", "err", err)
	}
	if ln == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace streams for as long as asked.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("pprof listener stopped", "err", err)
		}
	}()
	logger.Warn("profiling endpoints are on; do not leave PPROF_ADDR set in production", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }
}

// pprofListener listens on addr if it is a loopback address; nil when addr is empty.
func pprofListener(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("PPROF_ADDR %q: profiles are served on a loopback address only (e.g. 127.0.0.1:6060)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: %w", err)
	}
	return ln, nil
}
