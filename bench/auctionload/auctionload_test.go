package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
)

// TestAuctionEndToEnd runs a small auction against real servers — one on
// the embedded store, two on one Redis — with 20 bidders (10 bidding for
// 3 s from the start of the countdown) and 30 watchers, and holds each to
// the invariants: no bid accepted after its countdown or after the end,
// every accepted bid at every screen in the log's order with no gap (with
// two instances: the same sequence on both, no fork, none accepted
// twice), the bids one step apart on the grid, and the result the highest
// accepted bid.
func TestAuctionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server; the countdown alone is 30 s")
	}
	bin := filepath.Join(t.TempDir(), "bidroom")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput(); err != nil {
		t.Fatalf("go build the server: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name      string
		store     string
		instances int
	}{
		{"embedded", "embedded", 1},
		{"redis×2", "redis", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := Options{Server: bin, Store: tc.store, Instances: tc.instances,
				Bidders: 20, Active: 10, Watchers: 30, Supervisors: 6, Countdown: 30,
				BurstAt: 30 * time.Second, Burst: 3 * time.Second, Gap: 50 * time.Millisecond, Probes: 3,
				Lead: 5 * time.Second, Timeout: 2 * time.Minute}
			if tc.store == "redis" {
				opt.RedisURL, opt.RedisPrefix = redistest.Start(t), redistest.Prefix(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
			defer cancel()
			res, err := runOnce(ctx, opt)
			if err != nil {
				t.Fatalf("runOnce: %v (failures %q)", err, res.Failures)
			}
			for _, v := range res.Violations {
				t.Errorf("violation: %s", v)
			}
			if !held(res) {
				t.Errorf("not held: failures %q, lost %d (gaps %d, short %d, dropped %d, missing %d), forked %d",
					res.Failures, res.Lost, res.Gaps, res.ShortTail, res.Dropped, res.Missing, res.Forked)
			}
			screens := opt.Bidders + opt.Watchers
			if res.Accepted < 2 || res.LogBids != res.Accepted+2 {
				t.Errorf("accepted %d, the log has %d bids; want some, and the accepted + the listing's 2", res.Accepted, res.LogBids)
			}
			if res.Reasons["accepted"] != res.Accepted || res.Sent != res.Accepted+res.Reasons["not_above"]+res.Reasons["leading"] {
				t.Errorf("answers %v of %d sent: want only accepted, not_above and leading", res.Reasons, res.Sent)
			}
			if res.Probes != 2*opt.Probes || res.ProbeAns["accepted"] != 0 || res.ProbeAns["too_late"]+res.ProbeAns["ended"] != res.Probes {
				t.Errorf("bids at and after the end: %v of %d, want all %d refused as too late or ended", res.ProbeAns, res.Probes, 2*opt.Probes)
			}
			// Everyone bids the lowest valid amount: the final price is one
			// step per bid above the start.
			if want := yuan(startPrice + int64(res.LogBids-1)*step); res.FinalPrice != want || res.Outcome != rooms.AuctionSold {
				t.Errorf("result %s at %s, want sold at %s", res.Outcome, res.FinalPrice, want)
			}
			if res.Deliveries != uint64(res.Accepted*screens) || res.ToScreens.Samples != res.Accepted*screens ||
				res.ToWatchers.Samples != res.Accepted*opt.Watchers || res.ToLast.Samples != res.Accepted {
				t.Errorf("deliveries %d, samples %d / %d / %d; want %d bids × %d screens (%d watchers)",
					res.Deliveries, res.ToScreens.Samples, res.ToWatchers.Samples, res.ToLast.Samples, res.Accepted, screens, opt.Watchers)
			}
			if l := res.ToWatchers; l.P50Ms <= 0 || l.P99Ms < l.P50Ms || l.MaxMs < l.P99Ms || res.AckOK.Samples != res.Accepted {
				t.Errorf("latency %+v, ack %+v: looks wrong", l, res.AckOK)
			}
			if len(res.ServerCPU) != tc.instances || len(res.ServerPeak) != tc.instances || res.ServerPeak[0] == 0 {
				t.Errorf("server CPU %v, peak RSS %v: want a reading per instance", res.ServerCPU, res.ServerPeak)
			}
			if res.BurstLeftSecs < 20 || res.TailSecs < 25 {
				t.Errorf("the burst began with %.1f s left and the end came %.1f s after it; want the whole 30 s countdown after the last bid", res.BurstLeftSecs, res.TailSecs)
			}
			var out bytes.Buffer
			printResult(&out, res)
			for _, s := range []string{"accepted bid sent → each watcher", "not_above", "held: true"} {
				if !strings.Contains(out.String(), s) {
					t.Errorf("the report lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// TestCheckCatchesBrokenInvariants feeds the checker a log, answers and
// screens that are right, then breaks each invariant in turn: the checker
// must pass the first and name every break.
func TestCheckCatchesBrokenInvariants(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cd := 30 * time.Second
	type bid struct {
		number string
		amount int64
		at     time.Time
	}
	build := func(bids []bid, endedPrice string) []rooms.Event {
		var evs []rooms.Event
		add := func(typ string, data any) {
			raw, _ := json.Marshal(data)
			evs = append(evs, rooms.Event{Seq: uint64(len(evs) + 1), Type: typ, Data: raw})
		}
		add(rooms.EvBidPlaced, rooms.BidPlaced{Number: "1001", Amount: yuan(startPrice), At: t0.Add(-time.Hour)})
		add(rooms.EvBidPlaced, rooms.BidPlaced{Number: "1002", Amount: yuan(startPrice + step), At: t0.Add(-time.Hour)})
		add(rooms.EvTimedStarted, rooms.TimedStarted{Quoted: 2, EndsAt: t0.Add(cd)})
		end := t0.Add(cd)
		for _, b := range bids {
			end = b.at.Add(cd)
			add(rooms.EvBidPlaced, rooms.BidPlaced{Number: b.number, Amount: yuan(b.amount), At: b.at, EndsAt: end})
		}
		last := bids[len(bids)-1]
		add(rooms.EvAuctionEnded, rooms.AuctionResult{Result: rooms.AuctionSold, Number: last.number, Price: endedPrice,
			Bids: len(bids) + 2, Stage: "timed", EndedAt: end})
		return evs
	}
	good := []bid{{"1001", startPrice + 2*step, t0.Add(time.Second)}, {"1002", startPrice + 3*step, t0.Add(2 * time.Second)}}
	newRunner := func(bids []bid, accepted []bid, screenBids []bid, endedPrice string) *runner {
		r := &runner{}
		for _, a := range accepted {
			r.attempts = append(r.attempts, attempt{number: a.number, amount: a.amount, reason: "accepted",
				ack: loadtool.Ack{Sent: a.at.Add(-time.Millisecond), At: a.at}})
		}
		s := newScreen("S001", "supervisor", "", "", 0)
		for _, b := range screenBids {
			s.bids = append(s.bids, seen{number: b.number, amount: b.amount, at: b.at.Add(time.Millisecond)})
		}
		s.ended = &rooms.AuctionResult{Number: bids[len(bids)-1].number, Price: endedPrice, Bids: len(bids) + 2}
		r.watchers = []*screen{s}
		return r
	}
	prep := prepared{quotes: []int64{startPrice, startPrice + step}}
	price := yuan(startPrice + 3*step)
	for _, tc := range []struct {
		name                      string
		log, accepted, screen     []bid
		price                     string
		wantViolation, wantForked bool
	}{
		{"all right", good, good, good, price, false, false},
		{"a bid at the countdown's end", []bid{good[0], {"1002", startPrice + 3*step, good[0].at.Add(cd)}}, nil, nil, price, true, false},
		{"a screen missed a bid", good, good, good[:1], price, true, true},
		{"a screen saw another order", good, good, []bid{good[1], good[0]}, price, true, true},
		{"an accepted bid not in the log", good[:1], good, good[:1], yuan(startPrice + 2*step), true, false},
		{"off the grid", []bid{good[0], {"1002", startPrice + 3*step + 1, good[1].at}}, nil, nil, yuan(startPrice + 3*step + 1), true, false},
		{"the result is not the last bid", good, good, good, yuan(startPrice + 2*step), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, scr := tc.accepted, tc.screen
			if acc == nil {
				acc = tc.log
			}
			if scr == nil {
				scr = tc.log
			}
			r := newRunner(tc.log, acc, scr, tc.price)
			var res Result
			res.Reasons, res.ProbeAns = map[string]int{}, map[string]int{}
			r.check(build(tc.log, tc.price), prep, &res)
			t.Logf("violations: %q", res.Violations)
			if got := len(res.Violations) > 0; got != tc.wantViolation {
				t.Errorf("violations %q, want some: %v", res.Violations, tc.wantViolation)
			}
			if got := res.Forked > 0; got != tc.wantForked {
				t.Errorf("forked %d, want some: %v", res.Forked, tc.wantForked)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		code, msg, want string
	}{
		{rooms.CodeInvalid, "amount 10 is not above the current highest bid 20; the next valid amounts are 30", "not_above"},
		{rooms.CodeWrongState, "the bidding ended at 2026-12-07T10:00:00Z", "too_late"},
		{rooms.CodeWrongState, "auction x has ended", "ended"},
		{rooms.CodeWrongState, "you lead at 20: a bidder does not raise their own leading bid", "leading"},
		{"rate_limited", "too many commands; slow down", "rate_limited"},
		{rooms.CodeConflict, "room x is changing too fast; try again", "conflict"},
	} {
		if got, _ := reasonOf(&loadtool.CommandError{Code: tc.code, Message: tc.msg}); got != tc.want {
			t.Errorf("reasonOf(%s: %s) = %s, want %s", tc.code, tc.msg, got, tc.want)
		}
	}
	if got, _ := reasonOf(nil); got != "accepted" {
		t.Errorf("reasonOf(nil) = %s, want accepted", got)
	}
}
