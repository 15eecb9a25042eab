package sqlite

import "sync"

// hub fans change signals out to the subscribers of each user. A signal is
// a send on a channel with a buffer of one that never blocks: a subscriber
// that has not yet read the last signal gets nothing more, which loses
// nothing, since a signal only says "read the changes again".
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]struct{}
	closed bool
}

func newHub() *hub {
	return &hub{subs: make(map[string]map[chan struct{}]struct{})}
}

// subscribe registers a channel for userID's signals; cancel removes it.
// After close, the channel comes closed.
func (h *hub) subscribe(userID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	if h.subs[userID] == nil {
		h.subs[userID] = make(map[chan struct{}]struct{})
	}
	h.subs[userID][ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.subs[userID], ch)
			if len(h.subs[userID]) == 0 {
				delete(h.subs, userID)
			}
		})
	}
}

// notify signals every subscriber of userID.
func (h *hub) notify(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[userID] {
		signal(ch)
	}
}

// close closes every subscriber's channel and refuses new subscribers.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, chans := range h.subs {
		for ch := range chans {
			close(ch)
		}
	}
	h.subs = nil
}

// signal sends on ch unless a signal is already waiting there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Subscribe returns a channel signalled after each committed write to
// userID's tasks through this Store (see todo.ChangeNotifier).
func (s *Store) Subscribe(userID string) (<-chan struct{}, func()) {
	return s.hub.subscribe(userID)
}
