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

	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/redis"
	"github.com/bidroom/bidroom/store/storetest"
)

// durable is the persistence docs/operations.md asks of the primary and
// the replicas behind a Sentinel: every write fsynced before it is
// answered, and no writes on a primary cut off from its replicas.
var durable = []string{
	"--appendonly", "yes", "--appendfsync", "always",
	"--min-replicas-to-write", "1", "--min-replicas-max-lag", "10",
}

// openMode opens a Log in mode, closed when t ends.
func openMode(t testing.TB, mode, url, prefix string, opts ...redis.Option) *redis.Log {
	t.Helper()
	l, err := redis.OpenMode(t.Context(), mode, url, prefix, opts...)
	if err != nil {
		t.Fatalf("OpenMode(%s): %v", mode, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestMinReplicasOptionChecked(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	for _, opt := range []redis.Option{redis.WithMinReplicas(-1, time.Second), redis.WithMinReplicas(1, 0)} {
		l, err := redis.Open(t.Context(), url, redistest.Prefix(t), opt)
		if err == nil {
			l.Close()
			t.Error("Open with a negative min replicas or a zero replica timeout succeeded")
		} else if !strings.Contains(err.Error(), "replica") {
			t.Errorf("Open = %v, want an error about the replica option", err)
		}
	}
}

// TestMinReplicasWithoutReplicas: a server with no replica never confirms,
// so with min replicas 1 every append fails with ErrNotReplicated — a
// room's first (whose room index entry is not confirmed), a later one
// (which the primary did apply), and its retry, which finds the command
// applied but must not report it as done either.
func TestMinReplicasWithoutReplicas(t *testing.T) {
	t.Setenv(redistest.EnvURL, "") // a server of the test's own: a shared one may have replicas
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	l := openMode(t, redis.ModeStandalone, url, prefix, redis.WithMinReplicas(1, 100*time.Millisecond))
	ctx := t.Context()
	evs := storetest.Chain("r", 0, "", 2)
	notReplicated := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, redis.ErrNotReplicated) || !strings.Contains(err.Error(), "0 of the 1 replicas required") {
			t.Errorf("%s with no replica = %v, want ErrNotReplicated saying 0 of 1 replicas confirmed", what, err)
		}
	}
	notReplicated("first Append", l.Append(ctx, "r", 0, "k1", evs[:1]))
	// A Log that does not wait appends the first event; the waiting one
	// appends the second.
	if err := openMode(t, redis.ModeStandalone, url, prefix).Append(ctx, "r", 0, "k1", evs[:1]); err != nil {
		t.Fatalf("Append without waiting: %v", err)
	}
	notReplicated("second Append", l.Append(ctx, "r", 1, "k2", evs[1:]))
	notReplicated("its retry", l.Append(ctx, "r", 1, "k2", evs[1:]))
	// Applied on the primary, only unconfirmed: "may or may not survive".
	// A Log that waits for replicas reads nothing unconfirmed (its heal
	// finds no replica); one that does not wait reads both.
	if got, err := l.Read(ctx, "r", 0, 0); err != nil || len(got) != 0 {
		t.Errorf("Read by the waiting Log after the unconfirmed appends = %d events, %v; want none", len(got), err)
	}
	if got, err := openMode(t, redis.ModeStandalone, url, prefix).Read(ctx, "r", 0, 0); err != nil || len(got) != 2 || got[1].Hash != evs[1].Hash {
		t.Errorf("Read by a Log that does not wait = %d events, %v; want both events", len(got), err)
	}
}

// replicasOf lists the replicas a primary reports in INFO replication.
func replicasOf(ctx context.Context, c *goredis.Client) ([]string, error) {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO replication: %w", err)
	}
	var out []string
	for line := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "slave") || name == "slave_read_only" {
			continue
		}
		var ip, port string
		for field := range strings.SplitSeq(v, ",") {
			k, val, _ := strings.Cut(field, "=")
			switch k {
			case "ip":
				ip = val
			case "port":
				port = val
			}
		}
		if ip != "" && port != "" {
			out = append(out, ip+":"+port)
		}
	}
	return out, nil
}

// testWaitOnAppendConnection shows that WAIT confirms the append itself,
// not whatever its connection did last: with the room's replicas paused,
// an append must fail with ErrNotReplicated, and so must the same command
// retried by another Log, whose DUP answer must not confirm an append the
// replicas lack (the script re-writes the command's record so that WAIT
// covers it even on servers whose WAIT counts only the connection's own
// writes). Once the replicas resume, the retry is answered as a duplicate.
// replicas names the room's replicas.
//
// Meanwhile a third Log, watching the room, must neither read nor be told
// of the unconfirmed event, and must get it once the duplicate confirms it.
func testWaitOnAppendConnection(t *testing.T, open func() *redis.Log, replicas func(room string) []string) {
	ctx := t.Context()
	const room = "paused"
	a, b, w := open(), open(), open()
	evs := storetest.Chain(room, 0, "", 2)
	seqs := appendFirstAndWatch(t, a, w, room, evs[0])
	addrs := replicas(room)
	if len(addrs) == 0 {
		t.Fatal("the room's primary reports no replicas")
	}
	var resumes []func()
	for _, addr := range addrs {
		resumes = append(resumes, redistest.Pause(t, addr))
	}
	resume := func() {
		for _, r := range resumes {
			r()
		}
		resumes = nil
	}
	defer resume()
	if err := a.Append(ctx, room, 1, "k2", evs[1:]); !errors.Is(err, redis.ErrNotReplicated) {
		t.Errorf("Append with the replicas paused = %v, want ErrNotReplicated", err)
	}
	if err := b.Append(ctx, room, 1, "k2", evs[1:]); !errors.Is(err, redis.ErrNotReplicated) {
		t.Errorf("the same command by another Log, replicas paused = %v, want ErrNotReplicated, not a confirmed duplicate", err)
	}
	if got, err := w.Read(ctx, room, 0, 0); err != nil || len(got) != 1 {
		t.Errorf("Read by a third Log with #2 unconfirmed = %d events, %v; want just #1", len(got), err)
	}
	if _, _, ok, err := w.Command(ctx, room, "k2"); ok || err != nil {
		t.Errorf("Command(k2) with its event unconfirmed = found %v, %v; want not found", ok, err)
	}
	select {
	case seq := <-seqs:
		t.Errorf("the watcher was told of #%d, unconfirmed", seq)
	case <-time.After(2500 * time.Millisecond): // two polls, the second healing in vain
	}
	resume()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.Append(ctx, room, 1, "k2", evs[1:])
		if errors.Is(err, rooms.ErrDuplicateCommand) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried command once the replicas resumed = %v, want ErrDuplicateCommand", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	receive(t, seqs, 2, 5*time.Second)
	if got, err := w.Read(ctx, room, 0, 0); err != nil || len(got) != 2 || got[1].Hash != evs[1].Hash {
		t.Errorf("Read by the third Log once #2 is confirmed = %d events, %v; want both", len(got), err)
	}
}

// testHealAfterGiveUp: an append whose WAIT timed out, never retried, is
// confirmed by the readers once the replicas have it: a Log watching the
// room is told of it by its poll's heal, and a fresh Log's Read heals it.
// Before that neither sees it.
func testHealAfterGiveUp(t *testing.T, open func() *redis.Log, replicas func(room string) []string) {
	ctx := t.Context()
	const room = "given-up"
	a, w := open(), open()
	evs := storetest.Chain(room, 0, "", 2)
	seqs := appendFirstAndWatch(t, a, w, room, evs[0])
	var resumes []func()
	for _, addr := range replicas(room) {
		resumes = append(resumes, redistest.Pause(t, addr))
	}
	if err := a.Append(ctx, room, 1, "k2", evs[1:]); !errors.Is(err, redis.ErrNotReplicated) {
		t.Errorf("Append with the replicas paused = %v, want ErrNotReplicated", err)
	}
	if got, err := open().Read(ctx, room, 0, 0); err != nil || len(got) != 1 { // opened with the replicas paused
		t.Errorf("Read by a fresh Log with #2 unconfirmed = %d events, %v; want just #1", len(got), err)
	}
	for _, r := range resumes {
		r()
	}
	receive(t, seqs, 2, 10*time.Second)
	if got, err := open().Read(ctx, room, 0, 0); err != nil || len(got) != 2 || got[1].Hash != evs[1].Hash {
		t.Errorf("Read by a fresh Log once the replicas resumed = %d events, %v; want both", len(got), err)
	}
}

// appendFirstAndWatch appends first as room's #1 (command "k1") through a,
// with the replicas running, and returns w's watch of the room once it has
// handed on #1.
func appendFirstAndWatch(t *testing.T, a, w *redis.Log, room string, first rooms.Event) <-chan uint64 {
	t.Helper()
	if err := a.Append(t.Context(), room, 0, "k1", []rooms.Event{first}); err != nil {
		t.Fatalf("Append with the replicas running: %v", err)
	}
	seqs, err := w.Watch(t.Context(), room)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, seqs, 1, 5*time.Second)
	return seqs
}

// replicaTests take a Log opener (min replicas 1, a short timeout) and the
// replicas of a room's primary, and pause those.
var replicaTests = []struct {
	name string
	test func(t *testing.T, open func() *redis.Log, replicas func(room string) []string)
}{
	{"WaitOnAppendConnection", testWaitOnAppendConnection},
	{"HealAfterGiveUp", testHealAfterGiveUp},
}

// TestSentinelMinReplicas runs the conformance suite through Sentinels
// with every append confirmed by a replica, then checks WAIT covers the
// append it follows.
func TestSentinelMinReplicas(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 2, durable...)
	opt := redis.WithMinReplicas(1, time.Second)
	var n atomic.Int64 // a prefix per run of the suite's tests (the test names are too long for one)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) rooms.Log {
			return openMode(t, redis.ModeSentinel, s.URL, fmt.Sprintf("sentinel-test:%d", n.Add(1)), opt)
		})
	})
	for _, tc := range replicaTests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := redistest.Prefix(t)
			tc.test(t,
				func() *redis.Log {
					return openMode(t, redis.ModeSentinel, s.URL, prefix, redis.WithMinReplicas(1, 200*time.Millisecond))
				},
				func(string) []string {
					primary, err := s.Primary(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					c := goredis.NewClient(&goredis.Options{Addr: primary})
					defer c.Close()
					addrs, err := replicasOf(t.Context(), c)
					if err != nil {
						t.Fatal(err)
					}
					return addrs
				})
		})
	}
}

// TestClusterMinReplicas: the same against a Redis Cluster with a replica
// per master, where WAIT must go to the master owning the room's slot
// (the room index, in another slot, is confirmed on its own master).
func TestClusterMinReplicas(t *testing.T) {
	t.Parallel()
	url := redistest.StartClusterWithReplicas(t)
	opt := redis.WithMinReplicas(1, time.Second)
	var n atomic.Int64
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) rooms.Log {
			return openMode(t, redis.ModeCluster, url, fmt.Sprintf("cluster-test:%d", n.Add(1)), opt)
		})
	})
	for _, tc := range replicaTests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "cluster-" + tc.name
			copt, err := goredis.ParseClusterURL(url)
			if err != nil {
				t.Fatal(err)
			}
			cc := goredis.NewClusterClient(copt)
			defer cc.Close()
			tc.test(t,
				func() *redis.Log {
					return openMode(t, redis.ModeCluster, url, prefix, redis.WithMinReplicas(1, 200*time.Millisecond))
				},
				func(room string) []string {
					master, err := cc.MasterForKey(t.Context(), prefix+":room:{"+room+"}:events")
					if err != nil {
						t.Fatal(err)
					}
					addrs, err := replicasOf(t.Context(), master)
					if err != nil {
						t.Fatal(err)
					}
					return addrs
				})
		})
	}
}

// BenchmarkAppendMinReplicas: appends through a Sentinel to a primary with
// one replica, not waiting and waiting for it (WAIT, then the confirm
// script), on the same servers, so the two compare as a ratio.
func BenchmarkAppendMinReplicas(b *testing.B) {
	s := redistest.StartSentinel(b, 1)
	for _, n := range []int{0, 1} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			storetest.BenchAppend(b, openMode(b, redis.ModeSentinel, s.URL, redistest.Prefix(b), redis.WithMinReplicas(n, time.Second)))
		})
	}
}
