package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/redis"
	"github.com/bidroom/bidroom/store/storetest"
)

// ack is one append a writer was told succeeded: Append returned nil
// (hash known) or, for a retried command, ErrDuplicateCommand (the seq
// from Command; hash unknown).
type ack struct {
	room, key string
	seq       uint64
	hash      string    // "" for a duplicate
	started   time.Time // when the attempt that succeeded began
}

// TestSentinelFailoverKeepsAcknowledged kills the primary with SIGKILL
// while writers append to several rooms through the Sentinels, with the
// documented persistence (durable) and every append confirmed by a replica
// (WithMinReplicas(1, …)). Writers retry each command with its key until
// it is acknowledged, as the rooms service's clients do. Afterwards every
// acknowledged event must be in its room at its seq with its hash, each
// room must be one verified chain with every command once (no fork), and
// appends begun after the kill must have succeeded on the promoted
// replica.
func TestSentinelFailoverKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	const (
		roomCount      = 4
		writersPerRoom = 2
		// Stop once every room has this many acknowledgements of appends
		// begun after the kill (failing if that takes past the deadline).
		wantAfterKill = 10
	)
	s := redistest.StartSentinel(t, 2, durable...)
	prefix := redistest.Prefix(t)
	l := openMode(t, redis.ModeSentinel, s.URL, prefix, redis.WithMinReplicas(1, time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()

	var (
		mu        sync.Mutex // guards acks, killedAt, failures
		acks      []ack
		killedAt  time.Time // zero until the primary is dead
		failures  = make(map[string]int)
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		roomNames []string
	)
	afterKill := func(room string) (n int) {
		for _, a := range acks {
			if a.room == room && a.hash != "" && !killedAt.IsZero() && a.started.After(killedAt) {
				n++
			}
		}
		return n
	}
	for r := range roomCount {
		room := fmt.Sprintf("room%d", r)
		roomNames = append(roomNames, room)
		for w := range writersPerRoom {
			wg.Go(func() {
				var seq uint64 // the room's tail as this writer last read it
				var hash string
				for i := 0; ; i++ {
					key := fmt.Sprintf("%s-w%d-%d", room, w, i)
					for { // until key is acknowledged
						select {
						case <-stop:
							return
						default:
						}
						started := time.Now()
						err := func() error {
							evs, err := l.Read(ctx, room, seq, 0)
							if err != nil {
								return err
							}
							if n := len(evs); n > 0 {
								seq, hash = evs[n-1].Seq, evs[n-1].Hash
							}
							e := storetest.Event(room, seq+1)
							e.CommandID = key
							e.Seal(hash)
							err = l.Append(ctx, room, seq, key, []rooms.Event{e})
							switch {
							case err == nil:
								seq, hash = e.Seq, e.Hash
								mu.Lock()
								acks = append(acks, ack{room: room, key: key, seq: e.Seq, hash: e.Hash, started: started})
								mu.Unlock()
							case errors.Is(err, rooms.ErrDuplicateCommand):
								first, _, ok, err := l.Command(ctx, room, key)
								if err != nil {
									return err
								}
								if !ok {
									return fmt.Errorf("command %s reported applied but not recorded", key)
								}
								mu.Lock()
								acks = append(acks, ack{room: room, key: key, seq: first, started: started})
								mu.Unlock()
							}
							return err
						}()
						if err == nil || errors.Is(err, rooms.ErrDuplicateCommand) {
							break
						}
						// A conflict, or Redis unreachable, unconfirmed or
						// read-only during the failover: the tail this
						// writer knows may be gone (events the dead primary
						// never replicated), so read the room from the
						// start and try the same command again.
						seq, hash = 0, ""
						if !errors.Is(err, rooms.ErrConflict) {
							mu.Lock()
							failures[err.Error()]++
							mu.Unlock()
							select {
							case <-stop:
								return
							case <-time.After(20 * time.Millisecond):
							}
						}
					}
				}
			})
		}
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriters()

	// Let every room get acknowledged events, then kill the primary in
	// the middle of the writing.
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for !done() {
			if ctx.Err() != nil {
				stopWriters()
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: not within the test's deadline; failed attempts: %v", what, failures)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("20 acknowledged appends in every room", func() bool {
		mu.Lock()
		defer mu.Unlock()
		per := make(map[string]int)
		for _, a := range acks {
			per[a.room]++
		}
		for _, room := range roomNames {
			if per[room] < 20 {
				return false
			}
		}
		return true
	})
	old := s.KillPrimary(t)
	mu.Lock()
	killedAt = time.Now()
	before := len(acks)
	mu.Unlock()
	waitFor(fmt.Sprintf("%d acknowledged appends begun after the kill in every room", wantAfterKill), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, room := range roomNames {
			if afterKill(room) < wantAfterKill {
				return false
			}
		}
		return true
	})
	stopWriters()
	primary, err := s.Primary(ctx)
	if err != nil || primary == old {
		t.Fatalf("primary after the kill = %s, %v; want a promoted replica, not %s", primary, err, old)
	}
	mu.Lock()
	defer mu.Unlock()
	firstAfter := time.Duration(0)
	for _, a := range acks {
		if a.started.After(killedAt) && a.hash != "" {
			if d := a.started.Sub(killedAt); firstAfter == 0 || d < firstAfter {
				firstAfter = d
			}
		}
	}
	t.Logf("%d appends acknowledged before the kill of %s, %d after; the first begun after the kill and acknowledged began %v after it (%s promoted); failed attempts: %v",
		before, old, len(acks)-before, firstAfter.Round(time.Millisecond), primary, failures)

	// Read back through a fresh Log (no waiting needed to read).
	for _, p := range verify(ctx, openMode(t, redis.ModeSentinel, s.URL, prefix), roomNames, acks) {
		t.Error(p)
	}
}

// verify reads rooms back and lists the problems: a room that is not one
// verified chain or holds a command twice (a fork, or a command applied
// twice), and an acknowledged event missing or not at its seq.
func verify(ctx context.Context, l *redis.Log, roomNames []string, acks []ack) (problems []string) {
	for _, room := range roomNames {
		got, err := l.Read(ctx, room, 0, 0)
		if err != nil {
			return append(problems, fmt.Sprintf("Read(%s): %v", room, err))
		}
		if err := rooms.VerifyChain(0, "", got); err != nil {
			problems = append(problems, fmt.Sprintf("room %s: %v", room, err))
		}
		seen := make(map[string]uint64)
		for _, e := range got {
			if at, dup := seen[e.CommandID]; dup {
				problems = append(problems, fmt.Sprintf("room %s: command %s appended twice, at #%d and #%d", room, e.CommandID, at, e.Seq))
			}
			seen[e.CommandID] = e.Seq
		}
		for _, a := range acks {
			if a.room != room {
				continue
			}
			switch {
			case a.seq == 0 || a.seq > uint64(len(got)):
				problems = append(problems, fmt.Sprintf("room %s: acknowledged %s at #%d is lost: the room has %d events", room, a.key, a.seq, len(got)))
			case got[a.seq-1].CommandID != a.key || a.hash != "" && got[a.seq-1].Hash != a.hash:
				problems = append(problems, fmt.Sprintf("room %s: #%d is %s (%.12s), but %s (%.12s) was acknowledged there: a fork",
					room, a.seq, got[a.seq-1].CommandID, got[a.seq-1].Hash, a.key, a.hash))
			}
		}
	}
	return problems
}

// TestSentinelFailoverCheckSeesLoss is the control of the test above: an
// event the primary acknowledged without waiting for replicas, and never
// sent to one, is gone after the primary is killed and a replica promoted,
// and verify reports it; the same situation with WithMinReplicas fails the
// append instead of acknowledging it.
func TestSentinelFailoverCheckSeesLoss(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 2, durable...)
	prefix := redistest.Prefix(t)
	noWait := openMode(t, redis.ModeSentinel, s.URL, prefix)
	waits := openMode(t, redis.ModeSentinel, s.URL, prefix, redis.WithMinReplicas(1, 200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()
	const room = "r"
	evs := make([]rooms.Event, 3)
	prev := ""
	for i := range evs {
		evs[i] = storetest.Event(room, uint64(i)+1)
		evs[i].CommandID = fmt.Sprintf("k%d", i+1)
		evs[i].Seal(prev)
		prev = evs[i].Hash
	}
	var acks []ack
	if err := waits.Append(ctx, room, 0, "k1", evs[:1]); err != nil {
		t.Fatalf("Append #1 with the replicas running: %v", err)
	}
	acks = append(acks, ack{room: room, key: "k1", seq: 1, hash: evs[0].Hash})

	old, resumes := cutOffReplicas(ctx, t, s)
	if err := noWait.Append(ctx, room, 1, "k2", evs[1:2]); err != nil {
		t.Fatalf("Append #2 without waiting, replicas cut off: %v", err)
	}
	acks = append(acks, ack{room: room, key: "k2", seq: 2, hash: evs[1].Hash})
	if err := waits.Append(ctx, room, 2, "k3", evs[2:]); !errors.Is(err, redis.ErrNotReplicated) {
		t.Errorf("Append #3 with min replicas 1, replicas cut off = %v, want ErrNotReplicated", err)
	}
	if killed := s.KillPrimary(t); killed != old {
		t.Fatalf("killed %s, want the primary %s", killed, old)
	}
	for _, resume := range resumes {
		resume()
	}
	for {
		now, err := s.Primary(ctx)
		if err == nil && now != old {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no replica promoted after the kill: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	check := openMode(t, redis.ModeSentinel, s.URL, prefix)
	var problems []string
	for { // until the promoted replica answers reads
		problems = verify(ctx, check, []string{room}, acks)
		if len(problems) == 0 || !strings.HasPrefix(problems[0], "Read(") || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := `room r: acknowledged k2 at #2 is lost: the room has 1 events`
	if len(problems) != 1 || problems[0] != want {
		t.Errorf("verify after losing #2 = %q, want just %q", problems, want)
	}
}

// TestSentinelFailoverUnconfirmedNeverSeen: an event the primary applied
// but no replica confirmed is lost when the primary dies, and another
// event takes its seq on the promoted replica. A Log watching and reading
// the room, as an instance serving its screens does, must never have seen
// the lost one: every event it read must be in the room, at its seq, after
// the failover (no screen forks from the log).
func TestSentinelFailoverUnconfirmedNeverSeen(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 2, durable...)
	prefix := redistest.Prefix(t)
	opt := redis.WithMinReplicas(1, 200*time.Millisecond)
	writer := openMode(t, redis.ModeSentinel, s.URL, prefix, opt)
	reader := openMode(t, redis.ModeSentinel, s.URL, prefix, opt)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const room = "r"
	first := storetest.Chain(room, 0, "", 1)
	lost, kept := storetest.Event(room, 2), storetest.Event(room, 2)
	lost.CommandID, kept.CommandID = "lost", "kept"
	lost.Data = json.RawMessage(`{"lost":true}`)
	lost.Seal(first[0].Hash)
	kept.Seal(first[0].Hash)

	seen := map[uint64]string{} // seq -> hash, of every event the reader read
	readAll := func(what string) {
		t.Helper()
		evs, err := reader.Read(ctx, room, 0, 0)
		if err != nil {
			t.Fatalf("Read %s: %v", what, err)
		}
		for _, e := range evs {
			if h, ok := seen[e.Seq]; ok && h != e.Hash {
				t.Errorf("%s the reader read #%d with hash %s, earlier %s: the room forked", what, e.Seq, e.Hash, h)
			}
			seen[e.Seq] = e.Hash
		}
	}
	seqs, err := reader.Watch(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Append(ctx, room, 0, "first", first); err != nil {
		t.Fatalf("Append #1 with the replicas running: %v", err)
	}
	receive(t, seqs, 1, 5*time.Second)
	readAll("after #1")

	old, resumes := cutOffReplicas(ctx, t, s)
	if err := writer.Append(ctx, room, 1, "lost", []rooms.Event{lost}); !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("Append of the event to lose, replicas cut off = %v, want ErrNotReplicated", err)
	}
	// What the reader does on a notification or a poll, for two polls.
	deadline := time.After(2500 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case seq := <-seqs:
			t.Errorf("the reader was told of #%d, unconfirmed", seq)
			readAll("on the notification")
		case <-deadline:
			waiting = false
		}
	}
	readAll("with #2 unconfirmed")

	if killed := s.KillPrimary(t); killed != old {
		t.Fatalf("killed %s, want the primary %s", killed, old)
	}
	for _, resume := range resumes {
		resume()
	}
	for { // the promoted replica, once it has a replica of its own again, takes the other #2
		err := writer.Append(ctx, room, 1, "kept", []rooms.Event{kept})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Append of #2 after the failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	receive(t, seqs, 2, 10*time.Second)
	readAll("after the failover")
	if seen[2] != kept.Hash {
		t.Errorf("the reader has #2 = %q, want the event appended after the failover (%s)", seen[2], kept.Hash)
	}
	if got := len(seen); got != 2 {
		t.Errorf("the reader read %d events, want 2", got)
	}
}

// cutOffReplicas cuts the Sentinel primary's two replicas off: paused, so
// they cannot reconnect, and disconnected, so nothing more reaches them (a
// paused replica would still read what its socket buffered once resumed);
// the primary is told to take writes without them. It returns the
// primary's address and the replicas' resume functions.
func cutOffReplicas(ctx context.Context, t *testing.T, s *redistest.Sentinel) (primary string, resumes []func()) {
	t.Helper()
	primary, err := s.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pc := goredis.NewClient(&goredis.Options{Addr: primary, MaxRetries: -1})
	defer pc.Close()
	replicas, err := replicasOf(ctx, pc)
	if err != nil || len(replicas) != 2 {
		t.Fatalf("the primary's replicas = %v, %v; want 2", replicas, err)
	}
	for _, addr := range replicas {
		resumes = append(resumes, redistest.Pause(t, addr))
	}
	if err := pc.ConfigSet(ctx, "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := pc.ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE replica: %v", err)
	}
	return primary, resumes
}
