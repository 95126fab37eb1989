package watch

import (
	"context"
	"sync"

	"github.com/bidroom/bidroom/store"
)

// Hub is a registry of per-room subscribers. Publish never blocks: each
// subscriber's channel holds one value, and a newer value replaces an unread
// older one. The zero Hub is not usable; call New.
type Hub struct {
	onIdle func(room string)

	mu     sync.Mutex // guards rooms and closed
	rooms  map[string]map[*sub]struct{}
	closed bool

	done chan struct{}  // closed by Close; stops every waiter
	wg   sync.WaitGroup // one per live subscription's waiter
}

// sub is one Watch call's channel. Its mutex makes offer and close
// exclusive, so a value is never sent on a closed channel; the sends under
// it never block.
type sub struct {
	room     string
	ch       chan uint64
	stop     chan struct{} // closed by Stop
	stopOnce sync.Once

	mu     sync.Mutex // guards last and closed, and sends on ch
	last   uint64     // newest value offered; older ones are dropped
	closed bool
}

// New returns a Hub. onIdle, if not nil, is called (without locks held, from
// the waiter goroutine) when a room loses its last subscriber before Close;
// it is not called during Close.
func New(onIdle func(room string)) *Hub {
	return &Hub{onIdle: onIdle, rooms: make(map[string]map[*sub]struct{}), done: make(chan struct{})}
}

// Subscription is one registered subscriber.
type Subscription struct {
	// C receives the room's newest last seq; it is closed when the Watch
	// context ends, Stop is called or the Hub closes.
	C <-chan uint64
	s *sub
}

// Offer gives the subscriber v unless it has seen a value at least as new
// (for a store to prime it with the room's current last seq).
func (s Subscription) Offer(v uint64) { s.s.offer(v) }

// Stop unregisters the subscriber and closes C before its context ends (for
// a store whose Watch fails after registering); it does not wait.
func (s Subscription) Stop() { s.s.stopOnce.Do(func() { close(s.s.stop) }) }

// Watch registers a subscriber for room. Its channel is closed when ctx
// ends, Stop is called or the Hub closes; a goroutine owned by the Hub waits
// for that. Watch fails with store.ErrClosed after Close.
func (h *Hub) Watch(ctx context.Context, room string) (Subscription, error) {
	s := &sub{room: room, ch: make(chan uint64, 1), stop: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return Subscription{}, store.ErrClosed
	}
	subs := h.rooms[room]
	if subs == nil {
		subs = make(map[*sub]struct{})
		h.rooms[room] = subs
	}
	subs[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()

	go func() {
		defer h.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.stop:
		case <-h.done:
		}
		if h.remove(s) && h.onIdle != nil {
			h.onIdle(room)
		}
	}()
	return Subscription{C: s.ch, s: s}, nil
}

// remove unregisters and closes s and reports whether its room is left
// without subscribers while the Hub is still open.
func (h *Hub) remove(s *sub) bool {
	h.mu.Lock()
	subs := h.rooms[s.room]
	delete(subs, s)
	idle := len(subs) == 0
	if idle {
		delete(h.rooms, s.room)
	}
	closed := h.closed
	h.mu.Unlock()
	s.close()
	return idle && !closed
}

// Publish offers seq to every subscriber of room. It never blocks.
func (h *Hub) Publish(room string, seq uint64) {
	h.mu.Lock()
	subs := make([]*sub, 0, len(h.rooms[room]))
	for s := range h.rooms[room] {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.offer(seq)
	}
}

// Watched reports whether room has at least one subscriber.
func (h *Hub) Watched(room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms[room]) > 0
}

// Rooms returns the rooms that have at least one subscriber.
func (h *Hub) Rooms() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.rooms))
	for r := range h.rooms {
		out = append(out, r)
	}
	return out
}

// Close closes every subscriber's channel, waits for the waiter goroutines
// to stop, and makes later Watch calls fail. It is safe to call twice.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// offer makes v the value waiting on the channel unless a value at least as
// new was offered already. It never blocks: if the reader has not taken the
// previous value, that value is replaced.
func (s *sub) offer(v uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || v <= s.last {
		return
	}
	s.last = v
	for {
		select {
		case s.ch <- v:
			return
		default:
		}
		// Full: drop the stale value (unless the reader just took it) and
		// try again; only offer sends, under s.mu, so this ends.
		select {
		case <-s.ch:
		default:
		}
	}
}

func (s *sub) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}
