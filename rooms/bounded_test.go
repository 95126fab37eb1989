package rooms_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// TestCachedRoomsBounded: past its bound the Service folds the least
// recently used rooms out of memory; an evicted room answers as before
// (folded again from the log), takes commands, and its timer still fires
// from the index.
func TestCachedRoomsBounded(t *testing.T) {
	svc, _, clk := newService(t)
	svc.SetMaxCachedRooms(10)
	ctx := context.Background()
	for i := range 40 {
		createRoom(t, svc, fmt.Sprint("r", i), "a")
		if n := svc.CachedRooms(); n > 10 {
			t.Fatalf("%d rooms cached after %d, bound 10", n, i+1)
		}
	}
	// r0 was evicted long ago: it answers, and takes a command.
	snap, err := svc.Snapshot(ctx, "r0", admin)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := snap.Opening(); !ok || len(v.Bidders) != 1 {
		t.Fatalf("r0 folded again: %+v", snap.View)
	}
	if _, err := svc.Execute(ctx, "r0", admin, rooms.Command{ID: "reg-b", Type: rooms.CmdRegisterBidder, Data: mustJSON(t, rooms.BidderSpec{ID: "b", Name: "乙"})}); err != nil {
		t.Fatal(err)
	}
	// Every room's deadline timer is in the index, cached or not: at the
	// deadline the scheduler fires all 40.
	if due, next := svc.DueTimers(clk.now()); len(due) != 0 || !next.Equal(start.Add(time.Hour)) {
		t.Fatalf("before the deadline: %d due, next %v", len(due), next)
	}
	clk.set(start.Add(time.Hour))
	due, _ := svc.DueTimers(clk.now())
	if len(due) != 40 {
		t.Fatalf("%d rooms due, want 40", len(due))
	}
	sched := rooms.NewScheduler(svc, discard())
	runFor(t, sched, func() bool {
		due, _ := svc.DueTimers(clk.now())
		return len(due) == 0
	})
	for i := range 40 {
		if s, _ := svc.Summary(ctx, fmt.Sprint("r", i)); s.Phase == string(rooms.PhaseCheckIn) {
			t.Fatalf("r%d is %s", i, s.Phase)
		}
	}
	if n := svc.CachedRooms(); n > 10 {
		t.Fatalf("%d rooms cached, bound 10", n)
	}
}

// TestTimersOfAnotherWriter: a room another Service (another server) made
// on the same log after this one's scheduler started is found by the
// rescan, and its timer fires here.
func TestTimersOfAnotherWriter(t *testing.T) {
	svc, log, clk := newService(t)
	other := rooms.NewService(log, clk.now)
	sched := rooms.NewScheduler(svc, discard())
	sched.Rescan = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	time.Sleep(20 * time.Millisecond) // the scheduler's first scan has run
	createRoom(t, other, "elsewhere", "a")
	clk.set(start.Add(time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Read the log through the other Service: svc itself folds the
		// room only when its rescan finds it.
		if s, _ := other.Summary(context.Background(), "elsewhere"); s.Phase != string(rooms.PhaseCheckIn) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deadline did not fire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// runFor runs the scheduler until cond holds (at most 10 s).
func runFor(t *testing.T, sched *rooms.Scheduler, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not get there in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
