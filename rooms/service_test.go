package rooms_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func newService(t *testing.T) (*rooms.Service, *embedded.Log, *clock) {
	t.Helper()
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	c := &clock{t: start}
	return rooms.NewService(log, c.now), log, c
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	admin = rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	host  = rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
)

func createRoom(t *testing.T, svc *rooms.Service, room string, bidders ...string) {
	t.Helper()
	ctx := context.Background()
	spec := rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: start.Add(time.Hour), CheckInAt: start}
	if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: mustJSON(t, spec)}); err != nil {
		t.Fatal(err)
	}
	for _, b := range bidders {
		cmd := rooms.Command{ID: "reg-" + b, Type: rooms.CmdRegisterBidder, Data: mustJSON(t, rooms.BidderSpec{ID: b, Name: "公司" + b})}
		if _, err := svc.Execute(ctx, room, admin, cmd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: "open", Type: rooms.CmdOpenCheckIn}); err != nil {
		t.Fatal(err)
	}
}

func announce(text string) rooms.Command {
	b, _ := json.Marshal(rooms.Announcement{Text: text})
	return rooms.Command{ID: text, Type: rooms.CmdAnnounce, Data: b}
}

func TestExecuteIsIdempotent(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	createRoom(t, svc, "r1")
	first, err := svc.Execute(ctx, "r1", host, announce("一"))
	if err != nil || first.Duplicate || first.First == 0 {
		t.Fatalf("first = %+v, %v", first, err)
	}
	again, err := svc.Execute(ctx, "r1", host, announce("一"))
	if err != nil || !again.Duplicate || again.First != first.First || again.Last != first.Last {
		t.Fatalf("retry = %+v, %v; want duplicate of %+v", again, err, first)
	}
	// The same id from another actor is another command.
	other, err := svc.Execute(ctx, "r1", rooms.Actor{Sub: "h2", Role: rooms.RoleHost}, announce("一"))
	if err != nil || other.Duplicate {
		t.Fatalf("other actor = %+v, %v", other, err)
	}
	evs, _ := svc.EventsAfter(ctx, "r1", 0)
	n := 0
	for _, e := range evs {
		if e.Type == rooms.EvAnnouncement {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("announcements = %d, want 2", n)
	}
}

func TestExecuteRejectsBadIDs(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	for _, tc := range []struct{ room, id string }{{"r1", ""}, {"r1", string(make([]byte, 200))}, {"bad room", "x"}, {"", "x"}} {
		_, err := svc.Execute(ctx, tc.room, host, rooms.Command{ID: tc.id, Type: rooms.CmdAnnounce})
		if rooms.RefusalCode(err) != rooms.CodeInvalid {
			t.Errorf("room %q id %q: %v, want invalid", tc.room, tc.id, err)
		}
	}
}

// TestTwoServicesNeverFork runs commands from two Services over one log,
// as two server instances would, and checks one gap-free chain results.
func TestTwoServicesNeverFork(t *testing.T) {
	svcA, log, c := newService(t)
	svcB := rooms.NewService(log, c.now)
	ctx := context.Background()
	createRoom(t, svcA, "r1")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, svc := range []*rooms.Service{svcA, svcB, svcA, svcB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				if _, err := svc.Execute(ctx, "r1", host, announce(fmt.Sprintf("w%d-%d", i, j))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs, err := log.Read(ctx, "r1", 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if err := rooms.VerifyChain(0, "", evs); err != nil {
		t.Fatal(err)
	}
	if got, want := len(evs), 2+100; got != want {
		t.Fatalf("events = %d, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Type == rooms.EvAnnouncement {
			if seen[e.CommandID] {
				t.Errorf("command %s appended twice", e.CommandID)
			}
			seen[e.CommandID] = true
		}
	}
	// Both services converge on the same state.
	a, _ := svcA.Snapshot(ctx, "r1", host)
	b, _ := svcB.Snapshot(ctx, "r1", host)
	if a.Seq != b.Seq || a.Seq != uint64(len(evs)) {
		t.Fatalf("snapshots at %d and %d, log at %d", a.Seq, b.Seq, len(evs))
	}
}

func TestPositionsHideOtherBidders(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	createRoom(t, svc, "r1", "a", "b", "c")
	a := rooms.Actor{Sub: "a", Role: rooms.RoleBidder}
	before, err := svc.Snapshot(ctx, "r1", a)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"b", "c"} {
		if _, err := svc.Execute(ctx, "r1", rooms.Actor{Sub: sub, Role: rooms.RoleBidder}, rooms.Command{ID: "s", Type: rooms.CmdSignIn}); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := svc.Snapshot(ctx, "r1", a)
	if after.Pos != before.Pos {
		t.Fatalf("bidder a's position moved %d -> %d on others' sign-ins", before.Pos, after.Pos)
	}
	if after.Seq == before.Seq {
		t.Fatal("room seq did not move; test is not testing anything")
	}
	if _, err := svc.Execute(ctx, "r1", host, announce("公告")); err != nil {
		t.Fatal(err)
	}
	seq, err := svc.SeqAtPos(ctx, "r1", a, after.Pos)
	if err != nil {
		t.Fatal(err)
	}
	var visible []rooms.Event
	for _, e := range svc.CachedAfter("r1", seq) {
		if e.Vis.VisibleTo(a) {
			visible = append(visible, e)
		}
	}
	if len(visible) != 1 || visible[0].Type != rooms.EvAnnouncement {
		t.Fatalf("resume from pos %d shows %d events, want the one announcement", after.Pos, len(visible))
	}
	if _, err := svc.SeqAtPos(ctx, "r1", a, after.Pos+2); !errors.Is(err, rooms.ErrResumeAhead) {
		t.Fatalf("resume ahead: %v, want ErrResumeAhead", err)
	}
}

func TestSchedulerFiresDeadlineNotEarlier(t *testing.T) {
	svc, _, c := newService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createRoom(t, svc, "r1", "a")
	// Deadline is start+1h; the scheduler must not open before it.
	c.set(start.Add(time.Hour - time.Millisecond))
	done := make(chan struct{})
	sched := rooms.NewScheduler(svc, discard())
	var filled atomic.Int32
	sched.Fill = map[string]func(context.Context, string) (json.RawMessage, error){
		rooms.CmdRecordBonds: func(_ context.Context, room string) (json.RawMessage, error) {
			filled.Add(1)
			return json.Marshal(rooms.Bonds{Bonds: []rooms.BondStatus{{Bidder: "a", Status: "paid", Amount: "1000"}}})
		},
	}
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	if s, _ := svc.Snapshot(ctx, "r1", host); s.View.(rooms.OpeningView).Phase != rooms.PhaseCheckIn {
		t.Fatalf("phase %s before the deadline", s.View.(rooms.OpeningView).Phase)
	}
	c.set(start.Add(time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := svc.Snapshot(ctx, "r1", host)
		// Opened (or failed, 流标, with no bids), then the bonds are looked up.
		if !s.View.(rooms.OpeningView).OpenedAt.IsZero() && len(s.View.(rooms.OpeningView).Bidders) == 1 && s.View.(rooms.OpeningView).Bidders[0].Bond != nil {
			if !s.View.(rooms.OpeningView).OpenedAt.Equal(start.Add(time.Hour)) {
				t.Errorf("opened at %v, want the deadline %v", s.View.(rooms.OpeningView).OpenedAt, start.Add(time.Hour))
			}
			if b := s.View.(rooms.OpeningView).Bidders[0].Bond; b.Status != "paid" || b.Amount != "1000" || filled.Load() != 1 {
				t.Errorf("bond %+v after %d lookups; want paid 1000 from one lookup", b, filled.Load())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deadline timer never fired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestStaleCacheDecidesAgain: a Service decides on its cached state
// without reading the log first; when another instance has moved the log
// on, an acceptance costs a conflict and a retry, and a refusal is
// decided again on the log's latest state before it stands.
func TestStaleCacheDecidesAgain(t *testing.T) {
	svcA, log, c := newService(t)
	svcB := rooms.NewService(log, c.now)
	ctx := context.Background()
	spec := rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: start.Add(time.Hour), CheckInAt: start}
	if _, err := svcA.Execute(ctx, "r1", admin, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: mustJSON(t, spec)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcA.Execute(ctx, "r1", admin, rooms.Command{ID: "reg-a", Type: rooms.CmdRegisterBidder,
		Data: mustJSON(t, rooms.BidderSpec{ID: "a", Name: "公司a"})}); err != nil {
		t.Fatal(err)
	}
	bidderA := rooms.Actor{Sub: "a", Role: rooms.RoleBidder}
	signIn := rooms.Command{ID: "s", Type: rooms.CmdSignIn}
	// B caches the room before sign-in opens: on its cache, a sign-in is refused.
	if _, err := svcB.Snapshot(ctx, "r1", host); err != nil {
		t.Fatal(err)
	}
	if _, err := svcB.Execute(ctx, "r1", bidderA, rooms.Command{ID: "early", Type: rooms.CmdSignIn}); err == nil {
		t.Fatal("a sign-in before check-in opened was accepted: the test proves nothing")
	}
	headB := svcB.Head("r1")
	// A opens sign-in; B does not know yet.
	if _, err := svcA.Execute(ctx, "r1", rooms.SystemActor, rooms.Command{ID: "open", Type: rooms.CmdOpenCheckIn}); err != nil {
		t.Fatal(err)
	}
	if svcB.Head("r1") != headB {
		t.Fatal("B's cache moved by itself: the test proves nothing")
	}
	res, err := svcB.Execute(ctx, "r1", bidderA, signIn)
	if err != nil {
		t.Fatalf("sign-in on B after A opened it: %v (refused on a stale cache)", err)
	}
	// A announces; B, stale again, announces too: a conflict, then a retry.
	if _, err := svcA.Execute(ctx, "r1", host, announce("甲")); err != nil {
		t.Fatal(err)
	}
	second, err := svcB.Execute(ctx, "r1", host, announce("乙"))
	if err != nil {
		t.Fatal(err)
	}
	if second.First != res.Last+2 {
		t.Fatalf("B's announcement at seq %d, want %d (after A's)", second.First, res.Last+2)
	}
	// A refusal that stands on the latest state is still refused.
	stranger := rooms.Actor{Sub: "zz", Role: rooms.RoleBidder}
	if _, err := svcB.Execute(ctx, "r1", stranger, signIn); rooms.RefusalCode(err) == "" {
		t.Fatalf("an unregistered bidder's sign-in: %v, want a refusal", err)
	}
	evs, err := log.Read(ctx, "r1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := rooms.VerifyChain(0, "", evs); err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) != second.Last {
		t.Fatalf("log has %d events, B's last at %d", len(evs), second.Last)
	}
}
