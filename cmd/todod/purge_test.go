package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

type countingPurger struct {
	calls atomic.Int32
	err   error
}

func (p *countingPurger) PurgeExpired(context.Context, time.Time) error {
	p.calls.Add(1)
	return p.err
}

func TestPurgeLoopRunsAtOnceAndOnEveryTick(t *testing.T) {
	p := &countingPurger{err: errors.New("database down")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		purgeLoop(ctx, p, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d purges in 5 s; a failed purge must not stop the loop", p.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the loop did not stop with its context")
	}
	n := p.calls.Load()
	time.Sleep(30 * time.Millisecond)
	if p.calls.Load() != n {
		t.Fatal("purges after the loop stopped")
	}
}
