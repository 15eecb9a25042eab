package todo

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// state is what a subscriber's channel holds when read without waiting.
func state(ch <-chan struct{}) string {
	select {
	case _, ok := <-ch:
		if !ok {
			return "closed"
		}
		return "signal"
	default:
		return "empty"
	}
}

func TestChangeHub(t *testing.T) {
	type sub struct {
		user   string
		cancel bool // cancelled before the steps run
	}
	tests := []struct {
		name  string
		subs  []sub
		steps func(h *ChangeHub)
		want  []string // per subscriber, one read each
	}{
		{"no notify, no signal",
			[]sub{{user: "alice"}}, func(*ChangeHub) {}, []string{"empty"}},
		{"notify signals the user's subscribers only",
			[]sub{{user: "alice"}, {user: "alice"}, {user: "bob"}, {user: "Alice"}},
			func(h *ChangeHub) { h.Notify("alice") },
			[]string{"signal", "signal", "empty", "empty"}},
		{"signals coalesce into one",
			[]sub{{user: "alice"}},
			func(h *ChangeHub) {
				for range 5 {
					h.Notify("alice")
				}
			},
			[]string{"signal"}},
		{"a cancelled subscriber gets nothing",
			[]sub{{user: "alice", cancel: true}, {user: "alice"}},
			func(h *ChangeHub) { h.Notify("alice") },
			[]string{"empty", "signal"}},
		{"notify of a user without subscribers",
			[]sub{{user: "alice"}}, func(h *ChangeHub) { h.Notify("nobody") }, []string{"empty"}},
		{"notify all signals every user",
			[]sub{{user: "alice"}, {user: "bob"}, {user: "carol", cancel: true}},
			func(h *ChangeHub) { h.NotifyAll() },
			[]string{"signal", "signal", "empty"}},
		{"close closes every live channel",
			[]sub{{user: "alice"}, {user: "bob"}},
			func(h *ChangeHub) { h.Close() },
			[]string{"closed", "closed"}},
		{"close leaves a cancelled channel open",
			[]sub{{user: "alice", cancel: true}},
			func(h *ChangeHub) { h.Close() },
			[]string{"empty"}},
		{"close twice, notify after close",
			[]sub{{user: "alice"}},
			func(h *ChangeHub) { h.Close(); h.Close(); h.Notify("alice"); h.NotifyAll() },
			[]string{"closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewChangeHub()
			chans := make([]<-chan struct{}, len(tt.subs))
			for i, s := range tt.subs {
				ch, cancel := h.Subscribe(s.user)
				if s.cancel {
					cancel()
					cancel() // a second call does nothing
				} else {
					defer cancel()
				}
				chans[i] = ch
			}
			tt.steps(h)
			for i, ch := range chans {
				if got := state(ch); got != tt.want[i] {
					t.Errorf("subscriber %d (%s): %s, want %s", i, tt.subs[i].user, got, tt.want[i])
				}
			}
		})
	}
}

func TestChangeHubSubscribeAfterClose(t *testing.T) {
	h := NewChangeHub()
	h.Close()
	ch, cancel := h.Subscribe("alice")
	if got := state(ch); got != "closed" {
		t.Errorf("Subscribe after Close: %s, want closed", got)
	}
	cancel()
}

func TestChangeHubCancelForgetsTheUser(t *testing.T) {
	h := NewChangeHub()
	_, cancel1 := h.Subscribe("alice")
	_, cancel2 := h.Subscribe("alice")
	cancel1()
	cancel2()
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n != 0 {
		t.Errorf("after every subscriber cancelled: %d users kept, want 0", n)
	}
}

// TestChangeHubNeverBlocks notifies many times without anyone reading, from
// many goroutines, while others subscribe, cancel and close: Notify must
// return, and under -race the hub must be free of data races.
func TestChangeHubNeverBlocks(t *testing.T) {
	h := NewChangeHub()
	idle, cancel := h.Subscribe("alice") // never read
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				user := fmt.Sprint("user-", g%2)
				for range 200 {
					ch, cancel := h.Subscribe(user)
					h.Notify("alice")
					h.Notify(user)
					h.NotifyAll()
					state(ch)
					cancel()
				}
			})
		}
		wg.Wait()
		h.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify blocked on a subscriber that does not read")
	}
	if got := state(idle); got != "signal" {
		t.Errorf("idle subscriber after the notifies: %s, want its one signal", got)
	}
	if got := state(idle); got != "closed" {
		t.Errorf("idle subscriber after Close: %s, want closed", got)
	}
}
