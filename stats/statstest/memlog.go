package statstest

import (
	"context"
	"slices"
	"sync"

	"github.com/bidroom/bidroom/rooms"
)

// MemLog is a rooms.Log in memory, for seeding: the data set is tens of
// thousands of appends, which the embedded store would fsync one by one
// (stats' TestSeedOnTheEmbeddedStore says what that costs). Watch
// channels never receive anything.
type MemLog struct {
	mu     sync.Mutex
	events map[string][]rooms.Event
	cmds   map[string][2]uint64
}

// NewMemLog returns an empty MemLog.
func NewMemLog() *MemLog {
	return &MemLog{events: map[string][]rooms.Event{}, cmds: map[string][2]uint64{}}
}

// Append implements rooms.Log.
func (l *MemLog) Append(_ context.Context, room string, expected uint64, cmdKey string, events []rooms.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := room + "\x00" + cmdKey
	if _, ok := l.cmds[key]; cmdKey != "" && ok {
		return rooms.ErrDuplicateCommand
	}
	have := l.events[room]
	prev := ""
	if n := len(have); n > 0 {
		prev = have[n-1].Hash
	}
	if uint64(len(have)) != expected || events[0].Prev != prev {
		return rooms.ErrConflict
	}
	l.events[room] = append(have, events...)
	if cmdKey != "" {
		l.cmds[key] = [2]uint64{expected + 1, expected + uint64(len(events))}
	}
	return nil
}

// Read implements rooms.Log.
func (l *MemLog) Read(_ context.Context, room string, after uint64, limit int) ([]rooms.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.events[room]
	if after >= uint64(len(have)) {
		return nil, nil
	}
	end := min(uint64(len(have)), after+uint64(limit))
	return slices.Clone(have[after:end]), nil
}

// Command implements rooms.Log.
func (l *MemLog) Command(_ context.Context, room, cmdKey string) (uint64, uint64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.cmds[room+"\x00"+cmdKey]
	return c[0], c[1], ok, nil
}

// Rooms implements rooms.Log.
func (l *MemLog) Rooms(context.Context) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.events))
	for id := range l.events {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Watch implements rooms.Log.
func (l *MemLog) Watch(ctx context.Context, _ string) (<-chan uint64, error) {
	ch := make(chan uint64)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}
