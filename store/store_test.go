package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/storetest"
)

func TestCheckRoom(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"r", true},
		{"Room-1_a.b", true},
		{strings.Repeat("x", store.MaxRoomID), true},
		{"...", true},
		{"", false},
		{strings.Repeat("x", store.MaxRoomID+1), false},
		{".", false},
		{"..", false},
		{"a b", false},
		{"a/b", false},
		{"a{b", false},
		{"é", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		err := store.CheckRoom(tt.id)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("CheckRoom(%q) = %v, want ok %v (errors wrapping ErrInvalid)", tt.id, err, tt.ok)
		}
	}
}

func TestCheckCommandKey(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{0, true}, {1, true}, {store.MaxCommandKey, true}, {store.MaxCommandKey + 1, false}} {
		err := store.CheckCommandKey(strings.Repeat("k", tt.n))
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("CheckCommandKey(%d bytes) = %v, want ok %v", tt.n, err, tt.ok)
		}
	}
}

func TestReadLimit(t *testing.T) {
	for _, tt := range []struct{ in, want int }{
		{-5, store.MaxReadLimit}, {0, store.MaxReadLimit}, {1, 1}, {500, 500},
		{store.MaxReadLimit, store.MaxReadLimit}, {store.MaxReadLimit + 1, store.MaxReadLimit},
	} {
		if got := store.ReadLimit(tt.in); got != tt.want {
			t.Errorf("ReadLimit(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestEncodeBatch(t *testing.T) {
	evs := storetest.Chain("r", 4, "prevhash", 3)
	got, err := store.EncodeBatch("r", 4, "k", evs)
	if err != nil {
		t.Fatalf("EncodeBatch of a good batch: %v", err)
	}
	for i, b := range got {
		want, _ := evs[i].Encode()
		if string(b) != string(want) {
			t.Errorf("encoding %d = %s, want e.Encode() = %s", i, b, want)
		}
	}
	if _, err := store.EncodeBatch("r", 3, "k", evs); !errors.Is(err, rooms.ErrBadEvent) {
		t.Errorf("EncodeBatch with expected one less = %v, want ErrBadEvent", err)
	}
}

func TestDecodeAt(t *testing.T) {
	evs := storetest.Chain("r", 0, "", 2)
	b0, _ := evs[0].Encode()
	b1, _ := evs[1].Encode()
	tests := []struct {
		name   string
		seq    uint64
		b      []byte
		before *rooms.Event
		ok     bool
	}{
		{"first", 1, b0, nil, true},
		{"second after first", 2, b1, &evs[0], true},
		{"second alone", 2, b1, nil, true},
		{"at the wrong seq", 3, b1, nil, false},
		{"in the wrong room", 1, []byte(strings.Replace(string(b0), `"room":"r"`, `"room":"q"`, 1)), nil, false},
		{"after the wrong event", 2, b1, &evs[1], false},
		{"garbage", 1, []byte("{"), nil, false},
	}
	for _, tt := range tests {
		_, err := store.DecodeAt("r", tt.seq, tt.b, tt.before)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, rooms.ErrBadEvent)) {
			t.Errorf("%s: DecodeAt = %v, want ok %v (errors wrapping ErrBadEvent)", tt.name, err, tt.ok)
		}
	}
}

// FuzzDecodeAt feeds stored-record bytes from anywhere: DecodeAt must not
// panic, and what it accepts must be the event it was asked for.
func FuzzDecodeAt(f *testing.F) {
	for _, e := range storetest.Chain("r", 0, "", 3) {
		b, _ := e.Encode()
		f.Add(b, e.Seq)
	}
	f.Add([]byte(`{"room":"r","seq":1}`), uint64(1))
	f.Add([]byte(`null`), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, seq uint64) {
		e, err := store.DecodeAt("r", seq, b, nil)
		if err == nil && (e.Room != "r" || e.Seq != seq || e.ComputeHash() != e.Hash) {
			t.Fatalf("DecodeAt(r, %d) accepted %s#%d with hash %s", seq, e.Room, e.Seq, e.Hash)
		}
	})
}
