package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/redis"
	"github.com/bidroom/bidroom/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) rooms.Log {
		return open(t, url, redistest.Prefix(t))
	})
}

func open(t testing.TB, url, prefix string) *redis.Log {
	t.Helper()
	l, err := redis.Open(t.Context(), url, prefix)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// rawClient is a plain client on the test server, for looking behind the Log.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// receive waits up to within for a Watch channel to hand on want, failing
// t if it closes, or gives a later seq first.
func receive(t *testing.T, ch <-chan uint64, want uint64, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case got, ok := <-ch:
			switch {
			case !ok:
				t.Fatalf("watch channel closed while waiting for %d", want)
			case got == want:
				return
			case got > want:
				t.Fatalf("watch channel gave %d, want %d", got, want)
			}
		case <-timeout:
			t.Fatalf("watch channel did not deliver %d within %v", want, within)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	l := open(t, url, prefix)
	ctx := t.Context()
	evs := storetest.Chain("r1", 0, "", 2)
	if err := l.Append(ctx, "r1", 0, "k1", evs); err != nil {
		t.Fatal(err)
	}
	rc := rawClient(t, url)
	want := map[string]string{
		prefix + ":room:{r1}:events": "list",
		prefix + ":room:{r1}:meta":   "hash",
		prefix + ":room:{r1}:cmds":   "hash",
		prefix + ":rooms":            "set",
	}
	keys, err := rc.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys under the prefix = %q, want the %d of the layout", keys, len(want))
	}
	for k, typ := range want {
		if got := rc.Type(ctx, k).Val(); got != typ {
			t.Errorf("TYPE %s = %q, want %q", k, got, typ)
		}
	}
	meta := rc.HGetAll(ctx, prefix+":room:{r1}:meta").Val()
	if meta["seq"] != "2" || meta["hash"] != evs[1].Hash {
		t.Errorf("meta = %v, want seq 2 and the second event's hash", meta)
	}
	if got := rc.HGet(ctx, prefix+":room:{r1}:cmds", "k1").Val(); got != "1:2" {
		t.Errorf("cmds[k1] = %q, want \"1:2\"", got)
	}
	first, _ := evs[0].Encode()
	if got := rc.LIndex(ctx, prefix+":room:{r1}:events", 0).Val(); got != string(first) {
		t.Errorf("events[0] = %s, want %s", got, first)
	}
}

func TestWatchSeesOtherInstances(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	a, b := open(t, url, prefix), open(t, url, prefix)
	ch, err := a.Watch(t.Context(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(t.Context(), "shared", 0, "", storetest.Chain("shared", 0, "", 2)); err != nil {
		t.Fatal(err)
	}
	// Pub/sub, not the 1s poll: well under a second.
	receive(t, ch, 2, 500*time.Millisecond)
}

// TestWatchPollsWithoutNotification simulates a lost pub/sub message: the room
// changes without a PUBLISH, and Watch must still report it.
func TestWatchPollsWithoutNotification(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	l := open(t, url, prefix)
	ch, err := l.Watch(t.Context(), "silent")
	if err != nil {
		t.Fatal(err)
	}
	evs := storetest.Chain("silent", 0, "", 1)
	b, _ := evs[0].Encode()
	rc := rawClient(t, url)
	_, err = rc.TxPipelined(t.Context(), func(p goredis.Pipeliner) error {
		p.RPush(t.Context(), prefix+":room:{silent}:events", b)
		p.HSet(t.Context(), prefix+":room:{silent}:meta", "seq", 1, "hash", evs[0].Hash)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 1, 3*time.Second)
}

// TestUnsubscribesWhenIdle checks that a room's pub/sub subscription lives
// exactly as long as someone watches it.
func TestUnsubscribesWhenIdle(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	l := open(t, url, prefix)
	rc := rawClient(t, url)
	channel := prefix + ":notify:{r}"
	subscribers := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := rc.PubSubNumSub(t.Context(), channel).Val()[channel]
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d subscribers, want %d", channel, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	for _, ctx := range []context.Context{ctx1, ctx2} {
		if _, err := l.Watch(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	subscribers(1) // one connection for both watchers
	cancel1()
	time.Sleep(100 * time.Millisecond)
	subscribers(1) // the second still watches
	cancel2()
	subscribers(0)
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	ctx := t.Context()
	l, err := redis.Open(ctx, url, redistest.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := l.Watch(ctx, "r") // ctx outlives the Log: Close must end it
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("watch channel delivered a value after Close, want it closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel still open 5s after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Append": l.Append(ctx, "r", 0, "", storetest.Chain("r", 0, "", 1)),
		"Watch":  func() error { _, err := l.Watch(ctx, "r"); return err }(),
		"Read":   func() error { _, err := l.Read(ctx, "r", 0, 0); return err }(),
		"Rooms":  func() error { _, err := l.Rooms(ctx); return err }(),
	}
	for op, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", op, err)
		}
	}
}

// TestNewDoesNotOwnClient checks that Close leaves a caller's client open.
func TestNewDoesNotOwnClient(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	rc := rawClient(t, url)
	l, err := redis.New(t.Context(), rc, redistest.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Ping(t.Context()).Err(); err != nil {
		t.Errorf("client after the Log closed: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tests := []struct{ name, url, prefix, want string }{
		{"bad url", "http://x", "p", "redis event log"},
		{"bad port, password kept out", "redis://u:s3cret@host:port/0", "p", "invalid port"},
		{"no server", "redis://127.0.0.1:1/0?max_retries=-1", "p", "127.0.0.1:1"},
		{"empty prefix", url, "", "prefix"},
		{"prefix with braces", url, "a{b}", "prefix"},
	}
	for _, tt := range tests {
		l, err := redis.Open(ctx, tt.url, tt.prefix)
		if err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", tt.name)
		} else if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: Open = %v, want an error mentioning %q and no password", tt.name, err, tt.want)
		}
	}
}

// TestTamperingDetected edits stored events behind the Log's back; Read
// must report rooms.ErrBadEvent rather than return them.
func TestTamperingDetected(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	ctx := t.Context()
	rc := rawClient(t, url)
	tests := []struct {
		name string
		edit func(events string) error
	}{
		{"changed", func(k string) error {
			v := rc.LIndex(ctx, k, 2).Val()
			return rc.LSet(ctx, k, 2, strings.Replace(v, `{"n":3}`, `{"n":9}`, 1)).Err()
		}},
		{"deleted", func(k string) error { return rc.LRem(ctx, k, 1, rc.LIndex(ctx, k, 2).Val()).Err() }},
		{"truncated", func(k string) error { return rc.LTrim(ctx, k, 0, 3).Err() }},
	}
	for _, tt := range tests {
		prefix := redistest.Prefix(t)
		l := open(t, url, prefix)
		if err := l.Append(ctx, "r", 0, "", storetest.Chain("r", 0, "", 5)); err != nil {
			t.Fatal(err)
		}
		if err := tt.edit(prefix + ":room:{r}:events"); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got, err := l.Read(ctx, "r", 0, 0); !errors.Is(err, rooms.ErrBadEvent) {
			t.Errorf("%s: Read = %d events, %v; want rooms.ErrBadEvent", tt.name, len(got), err)
		}
	}
}

// TestStrayListEntriesIgnored simulates an append script that died after
// pushing events but before updating the meta (Redis does not roll
// scripts back): Read must not show the strays, and the next Append must
// replace them.
func TestStrayListEntriesIgnored(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t)
	l := open(t, url, prefix)
	evs := storetest.Chain("r", 0, "", 2)
	if err := l.Append(ctx, "r", 0, "", evs[:1]); err != nil {
		t.Fatal(err)
	}
	stray, _ := storetest.Chain("r", 1, "other", 1)[0].Encode()
	if err := rawClient(t, url).RPush(ctx, prefix+":room:{r}:events", stray, "junk").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(ctx, "r", 0, 0); err != nil || len(got) != 1 {
		t.Fatalf("Read with strays past the last seq = %d events, %v; want 1, nil", len(got), err)
	}
	if err := l.Append(ctx, "r", 1, "", evs[1:]); err != nil {
		t.Fatalf("Append over strays: %v", err)
	}
	got, err := l.Read(ctx, "r", 0, 0)
	if err != nil || len(got) != 2 || rooms.VerifyChain(0, "", got) != nil {
		t.Fatalf("Read after Append over strays = %d events, %v; want the 2 appended", len(got), err)
	}
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, open(b, redistest.Start(b), redistest.Prefix(b)))
}

func BenchmarkRead(b *testing.B) {
	storetest.BenchRead(b, open(b, redistest.Start(b), redistest.Prefix(b)))
}

// TestConformanceCluster: the store's conformance suite against a real
// three-master Redis Cluster: every key of a room in the room's slot, the
// room index apart, notifications across the nodes.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	url := redistest.StartCluster(t)
	var n atomic.Int64 // a prefix per run of the suite's tests (the test names are too long for one)
	storetest.Run(t, func(t *testing.T) rooms.Log {
		l, err := redis.OpenMode(t.Context(), redis.ModeCluster, url, fmt.Sprintf("cluster-test:%d", n.Add(1)))
		if err != nil {
			t.Fatalf("OpenMode: %v", err)
		}
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return l
	})
}
