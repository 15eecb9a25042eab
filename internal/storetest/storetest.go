// Package storetest is the behaviour every todo.Store must share. Each engine's
// tests call Run with a function that opens a fresh, migrated, empty store.
package storetest

import (
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// Opener opens a fresh, migrated, empty store whose clock is now. The store is
// closed by the opener's own t.Cleanup.
type Opener func(t *testing.T, now func() time.Time) todo.Store

// Run runs the whole conformance suite against stores made by open.
func Run(t *testing.T, open Opener) {
	t.Helper()
	_ = open
}
