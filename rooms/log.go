package rooms

import (
	"context"
	"errors"
)

// Errors a Log returns that callers branch on.
var (
	// ErrConflict: the room's last sequence was not the expected one; another
	// writer appended first. Reload and decide again.
	ErrConflict = errors.New("room changed concurrently")
	// ErrDuplicateCommand: the command key was already applied to the room.
	ErrDuplicateCommand = errors.New("command already applied")
)

// Log is the durable, per-room, append-only event log. Implementations live
// in package store; every one passes the conformance suite there.
type Log interface {
	// Append atomically appends events (sealed, with seqs expected+1...) if
	// and only if the room's last seq is expected and events[0].Prev equals
	// the last event's hash; else ErrConflict. A non-empty cmdKey is recorded
	// with the events; a cmdKey seen before yields ErrDuplicateCommand and
	// appends nothing. A nil return means the events are durable.
	Append(ctx context.Context, room string, expected uint64, cmdKey string, events []Event) error
	// Read returns up to limit events with seq > after, in order.
	Read(ctx context.Context, room string, after uint64, limit int) ([]Event, error)
	// Command returns the seqs of the events a command key appended.
	Command(ctx context.Context, room, cmdKey string) (first, last uint64, ok bool, err error)
	// Rooms lists the ids of every room with at least one event.
	Rooms(ctx context.Context) ([]string, error)
	// Watch returns a channel that receives a room's last seq after appends
	// (by any writer, coalesced: only the newest value matters); it is
	// closed when ctx ends.
	Watch(ctx context.Context, room string) (<-chan uint64, error)
}
