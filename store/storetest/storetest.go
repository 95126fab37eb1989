package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
)

// wait bounds every wait for a Watch value or a channel close. Backends
// that fall back to polling (redis, every second) must deliver well within.
const wait = 5 * time.Second

// Event returns an unsealed test event: Type "test", Actor u1 as host, Data
// {"n":seq}, Time now in UTC truncated to microseconds.
func Event(room string, seq uint64) rooms.Event {
	return rooms.Event{
		Room:  room,
		Seq:   seq,
		Time:  time.Now().UTC().Truncate(time.Microsecond),
		Actor: rooms.Actor{Sub: "u1", Role: rooms.RoleHost},
		Type:  "test",
		Vis:   rooms.Public(),
		Data:  json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq)),
	}
}

// Chain returns n test events for room with seqs after+1...after+n, each
// sealed after the one before and the first after prev (the hash of event
// #after, "" when after is 0).
func Chain(room string, after uint64, prev string, n int) []rooms.Event {
	out := make([]rooms.Event, n)
	for i := range out {
		out[i] = Event(room, after+uint64(i)+1)
		out[i].Seal(prev)
		prev = out[i].Hash
	}
	return out
}

// Run runs the conformance suite against the Log open returns. open is
// called once per subtest, possibly in parallel, and must return an empty
// Log that it closes in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) rooms.Log) {
	tests := []struct {
		name string
		test func(t *testing.T, l rooms.Log)
	}{
		{"RoundTrip", testRoundTrip},
		{"ReadPaging", testReadPaging},
		{"EmptyRoom", testEmptyRoom},
		{"ConflictOnExpectedSeq", testConflictOnExpectedSeq},
		{"ConflictOnPrevHash", testConflictOnPrevHash},
		{"MalformedBatchRefused", testMalformedBatch},
		{"UnreadableEventRefused", testUnreadableEvent},
		{"DuplicateCommand", testDuplicateCommand},
		{"EmptyCommandKeyNeverDedups", testEmptyCommandKey},
		{"CommandKeyLength", testCommandKeyLength},
		{"Rooms", testRooms},
		{"RoomsIsolated", testRoomsIsolated},
		{"InvalidRoomID", testInvalidRoomID},
		{"CanceledContext", testCanceledContext},
		{"WatchSeesAppends", testWatchSeesAppends},
		{"WatchNeverBlocksWriter", testWatchNeverBlocksWriter},
		{"WatchRoomsSeparate", testWatchRoomsSeparate},
		{"ConcurrentAppenders", testConcurrentAppenders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

func testRoundTrip(t *testing.T, l rooms.Log) {
	in := make([]rooms.Event, 4)
	in[0] = Event("r1", 1)
	in[0].CommandID = "cmd-1"
	in[1] = Event("r1", 2)
	in[1].Vis = rooms.Staff("b1", "b2")
	in[1].Actor = rooms.SystemActor
	in[2] = Event("r1", 3)
	in[2].Vis = rooms.Visibility{Roles: []rooms.Role{rooms.RoleExpert}}
	in[2].Data = nil
	in[3] = Event("r1", 4)
	in[3].Data = json.RawMessage(`{"s":"日本語 \"quoted\"","list":[1,2.5,null,true],"o":{}}`)
	prev := ""
	for i := range in {
		in[i].Seal(prev)
		prev = in[i].Hash
	}
	mustAppend(t, l, "r1", 0, "cmd-1", in[:3])
	mustAppend(t, l, "r1", 3, "", in[3:])

	got := readAll(t, l, "r1")
	if len(got) != len(in) {
		t.Fatalf("Read returned %d events, want %d", len(got), len(in))
	}
	for i := range in {
		if d := diff(got[i], in[i]); d != "" {
			t.Errorf("event %d read back differs: %s", i+1, d)
		}
	}
	if err := rooms.VerifyChain(0, "", got); err != nil {
		t.Errorf("VerifyChain of what Read returned: %v", err)
	}
}

func testReadPaging(t *testing.T, l rooms.Log) {
	all := appendN(t, l, "paged", 25, 10)
	tests := []struct {
		after uint64
		limit int
		want  []uint64 // first and last seq, or nil for none
	}{
		{0, 10, []uint64{1, 10}},
		{10, 10, []uint64{11, 20}},
		{20, 10, []uint64{21, 25}},
		{5, 1, []uint64{6, 6}},
		{24, 100, []uint64{25, 25}},
		{0, 0, []uint64{1, 25}},  // <= 0 means the maximum
		{0, -1, []uint64{1, 25}}, // likewise
		{0, store.MaxReadLimit + 1, []uint64{1, 25}},
		{25, 10, nil},
		{26, 10, nil},
		{1 << 63, 10, nil},
		{^uint64(0), 10, nil},
	}
	for _, tt := range tests {
		got, err := l.Read(t.Context(), "paged", tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Read(after %d, limit %d): %v", tt.after, tt.limit, err)
		}
		var want []rooms.Event
		if tt.want != nil {
			want = all[tt.want[0]-1 : tt.want[1]]
		}
		if len(got) != len(want) {
			t.Errorf("Read(after %d, limit %d) returned %d events, want %d", tt.after, tt.limit, len(got), len(want))
			continue
		}
		for i := range want {
			if d := diff(got[i], want[i]); d != "" {
				t.Errorf("Read(after %d, limit %d)[%d]: %s", tt.after, tt.limit, i, d)
			}
		}
	}
}

func testEmptyRoom(t *testing.T, l rooms.Log) {
	ctx := t.Context()
	for _, after := range []uint64{0, 1, 1000} {
		got, err := l.Read(ctx, "nobody-here", after, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("Read(after %d) of an empty room = %d events, %v; want none, nil", after, len(got), err)
		}
	}
	if _, _, ok, err := l.Command(ctx, "nobody-here", "k"); ok || err != nil {
		t.Errorf("Command in an empty room: ok %v, err %v; want false, nil", ok, err)
	}
	got, err := l.Rooms(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("Rooms of an empty store = %q, %v; want none, nil", got, err)
	}
}

func testConflictOnExpectedSeq(t *testing.T, l rooms.Log) {
	have := appendN(t, l, "cas", 3, 3)
	hashOf := func(seq uint64) string {
		if seq == 0 {
			return ""
		}
		return have[seq-1].Hash
	}
	tests := []struct {
		name     string
		room     string
		expected uint64
		prev     string
	}{
		// Each batch is well formed for its expected seq; only the
		// store's state makes it wrong.
		{"too low", "cas", 2, hashOf(2)},
		{"zero on a non-empty room", "cas", 0, ""},
		{"too high", "cas", 4, hashOf(3)},
		{"far too high", "cas", 1000, hashOf(3)},
		{"non-zero on an empty room", "cas-empty", 1, hashOf(1)},
	}
	for _, tt := range tests {
		key := "cmd-" + strings.ReplaceAll(tt.name, " ", "-")
		err := l.Append(t.Context(), tt.room, tt.expected, key, Chain(tt.room, tt.expected, tt.prev, 2))
		if !errors.Is(err, rooms.ErrConflict) {
			t.Errorf("%s: Append(expected %d) = %v, want ErrConflict", tt.name, tt.expected, err)
		}
		assertCommand(t, l, tt.room, key, 0, 0, false)
	}
	assertEvents(t, l, "cas", have)
	assertEvents(t, l, "cas-empty", nil)
}

func testConflictOnPrevHash(t *testing.T, l rooms.Log) {
	have := appendN(t, l, "prev", 2, 2)
	tests := []struct {
		name     string
		room     string
		expected uint64
		prev     string
	}{
		{"another hash", "prev", 2, have[0].Hash},
		{"garbage", "prev", 2, "deadbeef"},
		{"empty", "prev", 2, ""},
		{"first event with a prev", "prev-empty", 0, have[1].Hash},
	}
	for _, tt := range tests {
		key := "cmd-" + strings.ReplaceAll(tt.name, " ", "-")
		err := l.Append(t.Context(), tt.room, tt.expected, key, Chain(tt.room, tt.expected, tt.prev, 1))
		if !errors.Is(err, rooms.ErrConflict) {
			t.Errorf("%s: Append with events[0].Prev %q = %v, want ErrConflict", tt.name, tt.prev, err)
		}
		assertCommand(t, l, tt.room, key, 0, 0, false)
	}
	assertEvents(t, l, "prev", have)
	assertEvents(t, l, "prev-empty", nil)
}

// testMalformedBatch appends batches that are wrong whatever the store's
// state. They are not conflicts (retrying after a reload cannot help), so
// they must not be reported as ErrConflict.
func testMalformedBatch(t *testing.T, l rooms.Log) {
	const room = "malformed"
	have := appendN(t, l, room, 2, 2)
	last := have[1].Hash
	reseal := func(evs []rooms.Event) []rooms.Event {
		prev := last
		for i := range evs {
			evs[i].Seal(prev)
			prev = evs[i].Hash
		}
		return evs
	}
	tests := []struct {
		name  string
		batch func() []rooms.Event
		want  error
	}{
		{"seq gap", func() []rooms.Event {
			return reseal([]rooms.Event{Event(room, 3), Event(room, 5)})
		}, rooms.ErrBadEvent},
		{"seq repeated", func() []rooms.Event {
			return reseal([]rooms.Event{Event(room, 3), Event(room, 3)})
		}, rooms.ErrBadEvent},
		{"starts after expected+1", func() []rooms.Event {
			return reseal([]rooms.Event{Event(room, 4), Event(room, 5)})
		}, rooms.ErrBadEvent},
		{"starts at expected", func() []rooms.Event {
			return reseal([]rooms.Event{Event(room, 2), Event(room, 3)})
		}, rooms.ErrBadEvent},
		{"broken link inside", func() []rooms.Event {
			evs := Chain(room, 2, last, 3)
			evs[2].Seal(evs[0].Hash)
			return evs
		}, rooms.ErrBadEvent},
		{"changed after sealing", func() []rooms.Event {
			evs := Chain(room, 2, last, 2)
			evs[1].Data = json.RawMessage(`{"n":999}`)
			return evs
		}, rooms.ErrBadEvent},
		{"not sealed", func() []rooms.Event {
			e := Event(room, 3)
			e.Prev = last
			return []rooms.Event{e}
		}, rooms.ErrBadEvent},
		{"event of another room", func() []rooms.Event {
			e := Event("elsewhere", 3)
			e.Seal(last)
			return []rooms.Event{e}
		}, rooms.ErrBadEvent},
		{"no type", func() []rooms.Event {
			e := Event(room, 3)
			e.Type = ""
			e.Seal(last)
			return []rooms.Event{e}
		}, rooms.ErrBadEvent},
		{"empty batch", func() []rooms.Event { return nil }, store.ErrInvalid},
		{"batch too large", func() []rooms.Event { return Chain(room, 2, last, store.MaxBatch+1) }, store.ErrInvalid},
	}
	for _, tt := range tests {
		key := "cmd-" + strings.ReplaceAll(tt.name, " ", "-")
		err := l.Append(t.Context(), room, 2, key, tt.batch())
		if !errors.Is(err, tt.want) || errors.Is(err, rooms.ErrConflict) {
			t.Errorf("%s: Append = %v, want an error wrapping %v (and not ErrConflict)", tt.name, err, tt.want)
		}
		assertCommand(t, l, room, key, 0, 0, false)
	}
	assertEvents(t, l, room, have)
}

// testUnreadableEvent appends events whose JSON encoding does not keep the
// exact bytes their hash covers. A store may accept them only if they read
// back verified; otherwise it must refuse them with ErrBadEvent and store
// nothing, never leave a room it cannot read.
func testUnreadableEvent(t *testing.T, l rooms.Log) {
	tests := []struct {
		name string
		edit func(e *rooms.Event)
	}{
		{"data not compact", func(e *rooms.Event) { e.Data = json.RawMessage(`{"n": 1}`) }},
		{"data with html characters", func(e *rooms.Event) { e.Data = json.RawMessage(`{"s":"<b>&amp;</b>"}`) }},
		{"data with line separator", func(e *rooms.Event) { e.Data = json.RawMessage("{\"s\":\"a\u2028b\"}") }},
		{"type not UTF-8", func(e *rooms.Event) { e.Type = "bid\xff" }},
	}
	for i, tt := range tests {
		room := fmt.Sprintf("unreadable-%d", i)
		e := Event(room, 1)
		tt.edit(&e)
		e.Seal("")
		err := l.Append(t.Context(), room, 0, "", []rooms.Event{e})
		switch {
		case err == nil:
			got := readAll(t, l, room)
			if len(got) != 1 {
				t.Errorf("%s: accepted, then Read returned %d events, want 1", tt.name, len(got))
			} else if d := diff(got[0], e); d != "" {
				t.Errorf("%s: accepted, then read back differently: %s", tt.name, d)
			}
		case errors.Is(err, rooms.ErrBadEvent):
			assertEvents(t, l, room, nil)
		default:
			t.Errorf("%s: Append = %v, want nil or ErrBadEvent", tt.name, err)
		}
	}
}

func testDuplicateCommand(t *testing.T, l rooms.Log) {
	ctx := t.Context()
	first := Chain("dup", 0, "", 2)
	mustAppend(t, l, "dup", 0, "place-bid-1", first)
	more := Chain("dup", 2, first[1].Hash, 1)
	mustAppend(t, l, "dup", 2, "", more)
	have := append(first, more...)

	// A retry with the right expected seq, and one with the seq the first
	// attempt used: both are duplicates, not conflicts.
	retries := []struct {
		name     string
		expected uint64
		batch    []rooms.Event
	}{
		{"retry at the current seq", 3, Chain("dup", 3, have[2].Hash, 2)},
		{"retry at the original seq", 0, Chain("dup", 0, "", 2)},
	}
	for _, r := range retries {
		err := l.Append(ctx, "dup", r.expected, "place-bid-1", r.batch)
		if !errors.Is(err, rooms.ErrDuplicateCommand) {
			t.Errorf("%s: Append = %v, want ErrDuplicateCommand", r.name, err)
		}
	}
	assertEvents(t, l, "dup", have)
	assertCommand(t, l, "dup", "place-bid-1", 1, 2, true)
	assertCommand(t, l, "dup", "never-sent", 0, 0, false)

	// The key still works for new commands once the room moves on.
	mustAppend(t, l, "dup", 3, "place-bid-2", Chain("dup", 3, have[2].Hash, 3))
	assertCommand(t, l, "dup", "place-bid-2", 4, 6, true)
}

func testEmptyCommandKey(t *testing.T, l rooms.Log) {
	evs := Chain("nokey", 0, "", 2)
	mustAppend(t, l, "nokey", 0, "", evs[:1])
	mustAppend(t, l, "nokey", 1, "", evs[1:])
	assertEvents(t, l, "nokey", evs)
	assertCommand(t, l, "nokey", "", 0, 0, false)
}

func testCommandKeyLength(t *testing.T, l rooms.Log) {
	ctx := t.Context()
	longest := strings.Repeat("k", store.MaxCommandKey)
	mustAppend(t, l, "keys", 0, longest, Chain("keys", 0, "", 1))
	assertCommand(t, l, "keys", longest, 1, 1, true)

	tooLong := longest + "k"
	if err := l.Append(ctx, "keys", 1, tooLong, Chain("keys", 1, readAll(t, l, "keys")[0].Hash, 1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Append with a %d-byte command key = %v, want store.ErrInvalid", len(tooLong), err)
	}
	if _, _, _, err := l.Command(ctx, "keys", tooLong); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Command with a %d-byte key = %v, want store.ErrInvalid", len(tooLong), err)
	}
	if got := readAll(t, l, "keys"); len(got) != 1 {
		t.Errorf("room has %d events after a refused append, want 1", len(got))
	}
}

func testRooms(t *testing.T, l rooms.Log) {
	ctx := t.Context()
	for _, r := range []string{"room-c", "room-a", "room-b"} {
		appendN(t, l, r, 1, 1)
	}
	// A second append must not list the room twice.
	mustAppend(t, l, "room-a", 1, "", Chain("room-a", 1, readAll(t, l, "room-a")[0].Hash, 1))
	// Failed appends must not create a room.
	if err := l.Append(ctx, "room-conflict", 5, "", Chain("room-conflict", 5, "x", 1)); !errors.Is(err, rooms.ErrConflict) {
		t.Errorf("Append(expected 5) to an empty room = %v, want ErrConflict", err)
	}
	bad := Chain("room-bad", 0, "", 1)
	bad[0].Hash = "0000"
	if err := l.Append(ctx, "room-bad", 0, "", bad); err == nil {
		t.Error("Append of an event with a wrong hash succeeded")
	}

	got, err := l.Rooms(ctx)
	if err != nil {
		t.Fatalf("Rooms: %v", err)
	}
	slices.Sort(got)
	if want := []string{"room-a", "room-b", "room-c"}; !slices.Equal(got, want) {
		t.Errorf("Rooms = %q, want %q", got, want)
	}
}

func testRoomsIsolated(t *testing.T, l rooms.Log) {
	a := Chain("alpha", 0, "", 3)
	b := Chain("beta", 0, "", 2)
	// The same command key and the same expected seq in two rooms.
	mustAppend(t, l, "alpha", 0, "same-key", a)
	mustAppend(t, l, "beta", 0, "same-key", b)
	assertEvents(t, l, "alpha", a)
	assertEvents(t, l, "beta", b)
	assertCommand(t, l, "alpha", "same-key", 1, 3, true)
	assertCommand(t, l, "beta", "same-key", 1, 2, true)
	// beta's state must not satisfy alpha's compare-and-set.
	if err := l.Append(t.Context(), "alpha", 2, "", Chain("alpha", 2, b[1].Hash, 1)); !errors.Is(err, rooms.ErrConflict) {
		t.Errorf("Append to alpha with beta's last seq and hash = %v, want ErrConflict", err)
	}
}

func testInvalidRoomID(t *testing.T, l rooms.Log) {
	ctx := t.Context()
	for _, id := range []string{strings.Repeat("r", store.MaxRoomID), "a.b_c-D9"} {
		evs := Chain(id, 0, "", 1)
		mustAppend(t, l, id, 0, "", evs)
		assertEvents(t, l, id, evs)
	}
	bad := []string{
		"", strings.Repeat("r", store.MaxRoomID+1), ".", "..", "a b", "a/b", "a:b", "a{b}", "a*", "é", "a\x00b", "a\nb",
	}
	for _, id := range bad {
		if err := l.Append(ctx, id, 0, "", Chain(id, 0, "", 1)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Append to room %q = %v, want store.ErrInvalid", id, err)
		}
		if _, err := l.Read(ctx, id, 0, 10); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Read of room %q = %v, want store.ErrInvalid", id, err)
		}
		if _, _, _, err := l.Command(ctx, id, "k"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Command in room %q = %v, want store.ErrInvalid", id, err)
		}
		if _, err := l.Watch(ctx, id); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Watch of room %q = %v, want store.ErrInvalid", id, err)
		}
	}
}

func testCanceledContext(t *testing.T, l rooms.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Append(ctx, "canceled", 0, "k", Chain("canceled", 0, "", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context = %v, want context.Canceled", err)
	}
	assertEvents(t, l, "canceled", nil)
	assertCommand(t, l, "canceled", "k", 0, 0, false)
	if _, err := l.Read(ctx, "canceled", 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled context = %v, want context.Canceled", err)
	}
	// Watch may refuse, or return a channel that closes at once.
	if ch, err := l.Watch(ctx, "canceled"); err == nil {
		drainUntilClosed(t, ch)
	}
}

func testWatchSeesAppends(t *testing.T, l rooms.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := l.Watch(ctx, "watched")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	evs := Chain("watched", 0, "", 3)
	mustAppend(t, l, "watched", 0, "", evs[:1])
	receiveUntil(t, ch, 1)
	mustAppend(t, l, "watched", 1, "", evs[1:])
	receiveUntil(t, ch, 3)

	// A Watch that starts after appends first gets the current last seq,
	// so a caller that watches, then reads, misses nothing.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	late, err := l.Watch(ctx2, "watched")
	if err != nil {
		t.Fatalf("second Watch: %v", err)
	}
	receiveUntil(t, late, 3)

	cancel()
	drainUntilClosed(t, ch)
	// The other watcher is unaffected by the first one's end.
	mustAppend(t, l, "watched", 3, "", Chain("watched", 3, evs[2].Hash, 1))
	receiveUntil(t, late, 4)
	cancel2()
	drainUntilClosed(t, late)
}

func testWatchNeverBlocksWriter(t *testing.T, l rooms.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := l.Watch(ctx, "slow-reader")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	const n = 30
	evs := Chain("slow-reader", 0, "", n)
	done := make(chan error, 1)
	go func() { // nobody reads ch meanwhile
		for i := range evs {
			if err := l.Append(ctx, "slow-reader", uint64(i), "", evs[i:i+1]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
	case <-time.After(4 * wait):
		t.Fatalf("%d appends to a room whose watcher is not reading did not finish in %v", n, 4*wait)
	}
	receiveUntil(t, ch, n)
}

func testWatchRoomsSeparate(t *testing.T, l rooms.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := l.Watch(ctx, "quiet")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	appendN(t, l, "noisy", 5, 5)
	appendN(t, l, "quiet", 1, 1)
	select {
	case got := <-ch:
		if got != 1 {
			t.Errorf("watcher of room quiet (1 event) received %d; another room's seq leaked", got)
		}
	case <-time.After(wait):
		t.Fatalf("watcher received nothing within %v of an append", wait)
	}
}

func testConcurrentAppenders(t *testing.T, l rooms.Log) {
	const (
		room    = "contended"
		writers = 8
		each    = 50
	)
	// A backend that never lets a writer through must fail, not hang.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// A watcher throughout must end at the last seq and never go back,
	// however the writers' notifications interleave.
	ch, err := l.Watch(ctx, room)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	watched := make(chan error, 1)
	go func() {
		var prev uint64
		for seq := range ch {
			if seq < prev {
				watched <- fmt.Errorf("watch went back from %d to %d", prev, seq)
				return
			}
			if prev = seq; seq == writers*each {
				watched <- nil
				return
			}
		}
		watched <- fmt.Errorf("watch channel closed at %d, before %d", prev, writers*each)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var seq uint64
			var hash string
			for i := 0; i < each; {
				evs, err := l.Read(ctx, room, seq, 0)
				if err != nil {
					errs <- fmt.Errorf("writer %d: Read: %w", w, err)
					return
				}
				if n := len(evs); n > 0 {
					seq, hash = evs[n-1].Seq, evs[n-1].Hash
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				e := Event(room, seq+1)
				e.CommandID = key
				e.Seal(hash)
				switch err := l.Append(ctx, room, seq, key, []rooms.Event{e}); {
				case err == nil:
					i++
				case errors.Is(err, rooms.ErrConflict):
				default:
					errs <- fmt.Errorf("writer %d: Append: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		cancel() // closes ch, ending the watcher
	}
	if err := <-watched; err != nil {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	got := readAll(t, l, room)
	if len(got) != writers*each {
		t.Fatalf("room has %d events, want %d", len(got), writers*each)
	}
	if err := rooms.VerifyChain(0, "", got); err != nil {
		t.Fatalf("chain after concurrent appends: %v", err)
	}
	seen := make(map[string]bool)
	for _, e := range got {
		if seen[e.CommandID] {
			t.Fatalf("command %s appended twice", e.CommandID)
		}
		seen[e.CommandID] = true
		assertCommand(t, l, room, e.CommandID, e.Seq, e.Seq, true)
	}
}

// appendN appends n test events to room (which must hold none) in batches
// of at most batch, and returns them.
func appendN(t *testing.T, l rooms.Log, room string, n, batch int) []rooms.Event {
	t.Helper()
	all := Chain(room, 0, "", n)
	for i := 0; i < n; i += batch {
		mustAppend(t, l, room, uint64(i), "", all[i:min(i+batch, n)])
	}
	return all
}

func mustAppend(t *testing.T, l rooms.Log, room string, expected uint64, cmdKey string, events []rooms.Event) {
	t.Helper()
	if err := l.Append(t.Context(), room, expected, cmdKey, events); err != nil {
		t.Fatalf("Append(%s, expected %d, %d events): %v", room, expected, len(events), err)
	}
}

func readAll(t *testing.T, l rooms.Log, room string) []rooms.Event {
	t.Helper()
	got, err := l.Read(t.Context(), room, 0, store.MaxReadLimit)
	if err != nil {
		t.Fatalf("Read(%s): %v", room, err)
	}
	return got
}

// assertEvents checks that room holds exactly want.
func assertEvents(t *testing.T, l rooms.Log, room string, want []rooms.Event) {
	t.Helper()
	got := readAll(t, l, room)
	if len(got) != len(want) {
		t.Errorf("room %s has %d events, want %d", room, len(got), len(want))
		return
	}
	for i := range want {
		if d := diff(got[i], want[i]); d != "" {
			t.Errorf("room %s event %d: %s", room, i+1, d)
		}
	}
}

func assertCommand(t *testing.T, l rooms.Log, room, key string, first, last uint64, ok bool) {
	t.Helper()
	f, la, o, err := l.Command(t.Context(), room, key)
	if err != nil {
		t.Errorf("Command(%s, %q): %v", room, key, err)
		return
	}
	if f != first || la != last || o != ok {
		t.Errorf("Command(%s, %q) = %d, %d, %v; want %d, %d, %v", room, key, f, la, o, first, last, ok)
	}
}

// receiveUntil reads ch until it yields want, failing if it goes back, ends
// or stays silent for too long.
func receiveUntil(t *testing.T, ch <-chan uint64, want uint64) {
	t.Helper()
	timeout := time.After(wait)
	var prev uint64
	for {
		select {
		case got, ok := <-ch:
			switch {
			case !ok:
				t.Fatalf("watch channel closed while waiting for %d (last got %d)", want, prev)
			case got < prev:
				t.Fatalf("watch channel went back from %d to %d", prev, got)
			case got > want:
				t.Fatalf("watch channel skipped to %d while waiting for %d", got, want)
			case got == want:
				return
			}
			prev = got
		case <-timeout:
			t.Fatalf("watch channel did not deliver %d within %v (last got %d)", want, wait, prev)
		}
	}
}

func drainUntilClosed(t *testing.T, ch <-chan uint64) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("watch channel still open %v after its context ended", wait)
		}
	}
}

// diff describes how got differs from want, or returns "". Times compare
// as instants, and nil and empty lists as equal.
func diff(got, want rooms.Event) string {
	var d []string
	check := func(name string, equal bool, g, w any) {
		if !equal {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	check("Room", got.Room == want.Room, got.Room, want.Room)
	check("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	check("Time", got.Time.Equal(want.Time), got.Time, want.Time)
	check("Actor", got.Actor == want.Actor, got.Actor, want.Actor)
	check("Type", got.Type == want.Type, got.Type, want.Type)
	check("CommandID", got.CommandID == want.CommandID, got.CommandID, want.CommandID)
	check("Vis.Roles", slices.Equal(got.Vis.Roles, want.Vis.Roles), got.Vis.Roles, want.Vis.Roles)
	check("Vis.Subjects", slices.Equal(got.Vis.Subjects, want.Vis.Subjects), got.Vis.Subjects, want.Vis.Subjects)
	check("Data", string(got.Data) == string(want.Data), string(got.Data), string(want.Data))
	check("Prev", got.Prev == want.Prev, got.Prev, want.Prev)
	check("Hash", got.Hash == want.Hash, got.Hash, want.Hash)
	return strings.Join(d, "; ")
}
