package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/todod/todod/internal/storetest"
	"github.com/todod/todod/internal/todo"
)

// openTestStore opens and migrates a store on a new file in t's temporary
// directory; never :memory:, which would hide what the file, WAL and the two
// pools do.
func openTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "todod.db"), Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) todo.Store {
		return openTestStore(t, now)
	})
}
