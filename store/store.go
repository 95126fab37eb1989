package store

import (
	"errors"
	"fmt"

	"github.com/bidroom/bidroom/rooms"
)

// Limits every backend enforces.
const (
	// MaxRoomID is the longest room id, in bytes.
	MaxRoomID = 128
	// MaxCommandKey is the longest command key, in bytes.
	MaxCommandKey = 256
	// MaxBatch is the most events one Append may carry.
	MaxBatch = 1000
	// MaxReadLimit is the most events one Read returns; a limit <= 0 or
	// above it means MaxReadLimit.
	MaxReadLimit = 10000
)

var (
	// ErrInvalid reports a request no store state could make valid: a
	// malformed room id, an oversized command key, an empty or oversized
	// batch. Problems with the events themselves wrap rooms.ErrBadEvent.
	ErrInvalid = errors.New("invalid request")
	// ErrClosed reports a call on a store after Close.
	ErrClosed = errors.New("store closed")
)

// CheckRoom reports whether id is a valid room id: 1 to MaxRoomID bytes of
// [A-Za-z0-9._-], and not "." or ".." (ids may end up in file names).
func CheckRoom(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty room id", ErrInvalid)
	case len(id) > MaxRoomID:
		return fmt.Errorf("%w: room id is %d bytes, longer than %d", ErrInvalid, len(id), MaxRoomID)
	case id == "." || id == "..":
		return fmt.Errorf("%w: room id %q", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		if !roomByte(id[i]) {
			return fmt.Errorf("%w: room id %q has %q at byte %d (allowed: A-Z a-z 0-9 . _ -)", ErrInvalid, id, id[i], i)
		}
	}
	return nil
}

func roomByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// CheckCommandKey reports whether key is a valid command key: at most
// MaxCommandKey bytes. The empty key is valid and means "do not dedup".
func CheckCommandKey(key string) error {
	if len(key) > MaxCommandKey {
		return fmt.Errorf("%w: command key is %d bytes, longer than %d", ErrInvalid, len(key), MaxCommandKey)
	}
	return nil
}

// ReadLimit returns the number of events a Read asked for limit returns at
// most: limit itself, or MaxReadLimit when limit is <= 0 or above it.
func ReadLimit(limit int) int {
	if limit <= 0 || limit > MaxReadLimit {
		return MaxReadLimit
	}
	return limit
}

// EncodeBatch checks an Append request that needs no store state to judge
// and returns the events' storage encodings. The room id and command key
// must be valid; events must be 1 to MaxBatch events of this room, sealed
// into a chain with seqs expected+1, expected+2, ... (events[0].Prev is
// left for the store to compare with its last hash); and each encoding must
// decode back to an identical hash, so that nothing stored is unreadable.
// Request errors wrap ErrInvalid, event errors rooms.ErrBadEvent.
func EncodeBatch(room string, expected uint64, cmdKey string, events []rooms.Event) ([][]byte, error) {
	if err := CheckRoom(room); err != nil {
		return nil, err
	}
	if err := CheckCommandKey(cmdKey); err != nil {
		return nil, err
	}
	switch {
	case len(events) == 0:
		return nil, fmt.Errorf("%w: no events to append", ErrInvalid)
	case len(events) > MaxBatch:
		return nil, fmt.Errorf("%w: %d events in one append, more than %d", ErrInvalid, len(events), MaxBatch)
	}
	for i := range events {
		if events[i].Room != room {
			return nil, fmt.Errorf("%w: event %d is for room %q", rooms.ErrBadEvent, i, events[i].Room)
		}
	}
	if err := rooms.VerifyChain(expected, events[0].Prev, events); err != nil {
		return nil, err
	}
	out := make([][]byte, len(events))
	for i := range events {
		b, err := events[i].Encode()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", rooms.ErrBadEvent, err)
		}
		// Encode is JSON, which compacts Data, escapes <>& and replaces
		// invalid UTF-8; an event whose hash covers the original bytes
		// would then never verify again. Refuse it now rather than store it.
		if _, err := rooms.DecodeEvent(b); err != nil {
			return nil, fmt.Errorf("%w (its encoding does not read back: not compact JSON data, <>& or invalid UTF-8?)", err)
		}
		out[i] = b
	}
	return out, nil
}

// DecodeAt decodes the event a store holds at seq of room, checking its own
// hash, that it belongs at that position, and that it links to before (the
// event read just before it, nil if none). Errors wrap rooms.ErrBadEvent.
func DecodeAt(room string, seq uint64, b []byte, before *rooms.Event) (rooms.Event, error) {
	e, err := rooms.DecodeEvent(b)
	if err != nil {
		return e, fmt.Errorf("event #%d: %w", seq, err)
	}
	if e.Room != room || e.Seq != seq {
		return e, fmt.Errorf("%w: the place of event #%d holds %s#%d", rooms.ErrBadEvent, seq, e.Room, e.Seq)
	}
	if before != nil && e.Prev != before.Hash {
		return e, fmt.Errorf("%w: event #%d does not link to #%d", rooms.ErrBadEvent, seq, before.Seq)
	}
	return e, nil
}
