package todo

import "sync"

// ChangeHub fans change signals out to the subscribers of each user, within
// one process; stores use it to implement ChangeNotifier. A signal is a send
// on a channel with a buffer of one that never blocks: a subscriber that has
// not yet read the last signal gets nothing more, which loses nothing, since
// a signal only says "read the changes again". It is safe for concurrent use.
type ChangeHub struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]struct{}
	closed bool
}

// NewChangeHub returns a hub without subscribers.
func NewChangeHub() *ChangeHub {
	return &ChangeHub{subs: make(map[string]map[chan struct{}]struct{})}
}

// Subscribe registers a channel for userID's signals; cancel removes it
// (calling it again does nothing, and it does not close the channel).
// After Close, the channel comes closed.
func (h *ChangeHub) Subscribe(userID string) (<-chan struct{}, func()) {
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

// Notify signals every subscriber of userID.
func (h *ChangeHub) Notify(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[userID] {
		signal(ch)
	}
}

// NotifyAll signals every subscriber of every user, for when changes may
// have gone unnoticed (a lost connection to other processes' notices).
func (h *ChangeHub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, chans := range h.subs {
		for ch := range chans {
			signal(ch)
		}
	}
}

// Close closes every subscriber's channel and refuses new subscribers.
// Calling it again does nothing.
func (h *ChangeHub) Close() {
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
