package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/internal/watch"
)

// The file's layout. Top-level buckets:
//
//	schema  version -> "1"
//	rooms   <room id> -> bucket (the room index is this bucket's keys):
//	          events  8-byte big-endian seq -> rooms.Event.Encode()
//	          meta    "seq" -> 8-byte big-endian last seq, "hash" -> last hash
//	          cmds    <command key> -> 8-byte first seq, 8-byte last seq
var (
	bucketSchema = []byte("schema")
	bucketRooms  = []byte("rooms")
	bucketEvents = []byte("events")
	bucketMeta   = []byte("meta")
	bucketCmds   = []byte("cmds")

	keyVersion = []byte("version")
	keySeq     = []byte("seq")
	keyHash    = []byte("hash")

	schemaVersion = []byte("1")
)

// lockTimeout bounds how long Open waits for another process to release the
// file; bbolt would otherwise wait forever.
const lockTimeout = time.Second

// Log is a rooms.Log stored in one bbolt file. It is safe for concurrent
// use; one process may have the file open at a time.
type Log struct {
	path string
	db   *bbolt.DB
	hub  *watch.Hub

	closeOnce sync.Once
	closeErr  error
}

var _ rooms.Log = (*Log)(nil)

// Open opens the event log at path, creating the file (and its directory)
// if needed. It fails if another process has the file open.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	// NoSync stays false: every Update commit fsyncs before it returns.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open event log %s: still locked by another process after %v", path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		s, err := tx.CreateBucketIfNotExists(bucketSchema)
		if err != nil {
			return err
		}
		switch v := s.Get(keyVersion); {
		case v == nil:
			if err := s.Put(keyVersion, schemaVersion); err != nil {
				return err
			}
		case !bytes.Equal(v, schemaVersion):
			return fmt.Errorf("file has schema version %q, this build reads %q", v, schemaVersion)
		}
		_, err = tx.CreateBucketIfNotExists(bucketRooms)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	return &Log{path: path, db: db, hub: watch.New(nil)}, nil
}

// Close closes every Watch channel, stops the goroutines behind them and
// closes the file. Later calls fail with store.ErrClosed; Close itself may
// be called again.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.hub.Close()
		if err := l.db.Close(); err != nil {
			l.closeErr = fmt.Errorf("close event log %s: %w", l.path, err)
		}
	})
	return l.closeErr
}

// Append implements rooms.Log. The checks and writes are one bbolt
// transaction, durable on disk when Append returns nil. A duplicate cmdKey
// is reported before a conflict, so a retried command learns it was
// applied even if the room has moved on since.
func (l *Log) Append(ctx context.Context, room string, expected uint64, cmdKey string, events []rooms.Event) error {
	encoded, err := store.EncodeBatch(room, expected, cmdKey, events)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return wrap("append to", room, err)
	}
	last := expected + uint64(len(events))
	err = l.db.Update(func(tx *bbolt.Tx) error {
		rb, err := tx.Bucket(bucketRooms).CreateBucketIfNotExists([]byte(room))
		if err != nil {
			return err
		}
		evb, meta, cmds, err := roomBuckets(rb, true)
		if err != nil {
			return err
		}
		if cmdKey != "" && cmds.Get([]byte(cmdKey)) != nil {
			return rooms.ErrDuplicateCommand
		}
		seq, hash, err := readMeta(meta)
		if err != nil {
			return err
		}
		if seq != expected || hash != events[0].Prev {
			return rooms.ErrConflict
		}
		evb.FillPercent = 1 // keys only ever grow: pack pages full
		for i, b := range encoded {
			if err := evb.Put(seqKey(expected+1+uint64(i)), b); err != nil {
				return err
			}
		}
		if cmdKey != "" {
			v := make([]byte, 16)
			binary.BigEndian.PutUint64(v, expected+1)
			binary.BigEndian.PutUint64(v[8:], last)
			if err := cmds.Put([]byte(cmdKey), v); err != nil {
				return err
			}
		}
		if err := meta.Put(keySeq, seqKey(last)); err != nil {
			return err
		}
		return meta.Put(keyHash, []byte(events[len(events)-1].Hash))
	})
	if err != nil {
		return wrap("append to", room, err)
	}
	l.hub.Publish(room, last)
	return nil
}

// Read implements rooms.Log. Every event's hash, position and link to the
// one before it in the page are checked; a mismatch wraps rooms.ErrBadEvent.
func (l *Log) Read(ctx context.Context, room string, after uint64, limit int) ([]rooms.Event, error) {
	if err := cmp.Or(store.CheckRoom(room), ctx.Err()); err != nil {
		return nil, wrap("read", room, err)
	}
	limit = store.ReadLimit(limit)
	var out []rooms.Event
	err := l.db.View(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		evb, meta, _, err := roomBuckets(rb, false)
		if err != nil {
			return err
		}
		last, _, err := readMeta(meta)
		if err != nil || after >= last {
			return err
		}
		n := min(uint64(limit), last-after)
		out = make([]rooms.Event, 0, n)
		c := evb.Cursor()
		k, v := c.Seek(seqKey(after + 1))
		for seq := after + 1; seq <= after+n; seq++ {
			if k == nil || binary.BigEndian.Uint64(k) != seq {
				return fmt.Errorf("%w: event #%d is missing (last is #%d)", rooms.ErrBadEvent, seq, last)
			}
			var before *rooms.Event
			if len(out) > 0 {
				before = &out[len(out)-1]
			}
			e, err := store.DecodeAt(room, seq, v, before)
			if err != nil {
				return err
			}
			out = append(out, e)
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read", room, err)
	}
	return out, nil
}

// Command implements rooms.Log. The empty key is never recorded.
func (l *Log) Command(ctx context.Context, room, cmdKey string) (first, last uint64, ok bool, err error) {
	if err := cmp.Or(store.CheckRoom(room), store.CheckCommandKey(cmdKey), ctx.Err()); err != nil {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	if cmdKey == "" {
		return 0, 0, false, nil
	}
	err = l.db.View(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		_, _, cmds, err := roomBuckets(rb, false)
		if err != nil {
			return err
		}
		v := cmds.Get([]byte(cmdKey))
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return fmt.Errorf("%w: command record is %d bytes, want 16", rooms.ErrBadEvent, len(v))
		}
		first, last, ok = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), true
		return nil
	})
	if err != nil {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	return first, last, ok, nil
}

// Rooms implements rooms.Log; the ids come sorted.
func (l *Log) Rooms(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list rooms in %s: %w", l.path, closed(err))
	}
	var out []string
	err := l.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRooms).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms in %s: %w", l.path, closed(err))
	}
	return out, nil
}

// Watch implements rooms.Log. The channel first receives the room's current
// last seq if it has events, so a caller that reads after watching misses
// nothing; then the last seq after each Append through this Log (the only
// writer: the file is locked to one process).
func (l *Log) Watch(ctx context.Context, room string) (<-chan uint64, error) {
	if err := store.CheckRoom(room); err != nil {
		return nil, wrap("watch", room, err)
	}
	sub, err := l.hub.Watch(ctx, room)
	if err != nil {
		return nil, wrap("watch", room, err)
	}
	var last uint64
	err = l.db.View(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		_, meta, _, err := roomBuckets(rb, false)
		if err != nil {
			return err
		}
		last, _, err = readMeta(meta)
		return err
	})
	if err != nil {
		sub.Stop()
		return nil, wrap("watch", room, err)
	}
	if last > 0 {
		sub.Offer(last)
	}
	return sub.C, nil
}

// wrap adds the operation and room to err.
func wrap(op, room string, err error) error {
	return fmt.Errorf("%s room %q: %w", op, room, closed(err))
}

// closed reports bbolt's "database not open" as store.ErrClosed.
func closed(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// roomBuckets returns a room's nested buckets, creating them if create.
func roomBuckets(rb *bbolt.Bucket, create bool) (events, meta, cmds *bbolt.Bucket, err error) {
	get := func(name []byte) (*bbolt.Bucket, error) {
		if create {
			return rb.CreateBucketIfNotExists(name)
		}
		if b := rb.Bucket(name); b != nil {
			return b, nil
		}
		return nil, fmt.Errorf("%w: room bucket has no %s bucket", rooms.ErrBadEvent, name)
	}
	if events, err = get(bucketEvents); err != nil {
		return
	}
	if meta, err = get(bucketMeta); err != nil {
		return
	}
	cmds, err = get(bucketCmds)
	return
}

// readMeta returns a room's last seq and hash (0 and "" for a new room).
func readMeta(meta *bbolt.Bucket) (uint64, string, error) {
	v := meta.Get(keySeq)
	if v == nil {
		return 0, "", nil
	}
	if len(v) != 8 {
		return 0, "", fmt.Errorf("%w: last seq record is %d bytes, want 8", rooms.ErrBadEvent, len(v))
	}
	return binary.BigEndian.Uint64(v), string(meta.Get(keyHash)), nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}
