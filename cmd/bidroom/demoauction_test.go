package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestDemoAuction: a fresh demo server offers an auction whose listing
// ends within minutes, with three qualified bidders (paid deposits,
// distinct random numbers), two listing bids and a sealed reserve the
// supervisor sees and the newcomer does not; the newcomer's token bids.
func TestDemoAuction(t *testing.T) {
	started := time.Now()
	srv := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_DEMO_ENABLED=true")
	base := "http://" + srv.addr
	status, raw, _ := get(t, base+"/api/v1/demo")
	var demo api.Demo
	if status != 200 || json.Unmarshal(raw, &demo) != nil || demo.Auction == nil {
		t.Fatalf("GET /api/v1/demo: %d %.300s", status, raw)
	}
	au := demo.Auction
	if !strings.HasPrefix(au.Room, "demo-auction-") || au.Lot != "2026-G-17" {
		t.Errorf("the demo auction is %s, lot %s", au.Room, au.Lot)
	}
	if left := time.Until(au.ListingEnd); left <= 0 || au.ListingEnd.After(started.Add(demoAuctionLead+time.Minute)) {
		t.Errorf("the listing ends at %s, %s from now: want within minutes", au.ListingEnd, left)
	}
	if len(au.Played) != 2 {
		t.Errorf("the demo bids for %v, want two bidders", au.Played)
	}
	tokens := map[rooms.Role]string{}
	for _, p := range au.People {
		if p.Room != au.Room || p.Token == "" {
			t.Errorf("%s (%s): room %q, token %t", p.Sub, p.Role, p.Room, p.Token != "")
		}
		tokens[p.Role] = p.Token
	}
	if tokens[rooms.RoleBidder] == "" || tokens[rooms.RoleSupervisor] == "" {
		t.Fatalf("the auction's people: %+v", au.People)
	}

	view := func(tok string) rooms.AuctionView {
		t.Helper()
		st, body := call(t, base, "GET", "/api/v1/sessions/"+au.Room, tok, nil)
		var out struct {
			State rooms.AuctionView `json:"state"`
		}
		if st != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET the auction: %d %.300s", st, body)
		}
		return out.State
	}
	sup := view(tokens[rooms.RoleSupervisor])
	if sup.Phase != rooms.AuctionListing || sup.BidCount != 2 || sup.Quoted != 2 {
		t.Errorf("the auction is %s with %d bids by %d bidders, want listing with 2 by 2", sup.Phase, sup.BidCount, sup.Quoted)
	}
	if sup.Spec.ReservePrice == "" || !sup.Spec.ProxyAllowed || len(sup.Spec.Increments.Stages) != 2 || sup.Spec.CountdownSeconds != 300 {
		t.Errorf("the spec as the supervisor sees it: %+v", sup.Spec)
	}
	numbers := map[string]bool{}
	for _, b := range sup.Bidders {
		if !b.Qualified || b.Deposit == nil || b.Deposit.Status != rooms.DepositPaid || !regexp.MustCompile(`^[0-9]{4,8}$`).MatchString(b.Number) {
			t.Errorf("bidder %s: qualified %t, deposit %+v, number %q", b.Bidder, b.Qualified, b.Deposit, b.Number)
		}
		numbers[b.Number] = true
	}
	if len(sup.Bidders) != 3 || len(numbers) != 3 {
		t.Errorf("%d bidders with %d distinct numbers, want 3 and 3", len(sup.Bidders), len(numbers))
	}

	me := view(tokens[rooms.RoleBidder])
	if me.You == nil || !me.You.Qualified || me.Spec.ReservePrice != "" || len(me.Bidders) != 0 {
		t.Fatalf("the newcomer's view: you %+v, reserve %q, %d bidders", me.You, me.Spec.ReservePrice, len(me.Bidders))
	}
	st, body := call(t, base, "POST", "/api/v1/sessions/"+au.Room+"/commands", tokens[rooms.RoleBidder],
		map[string]any{"id": "visitor-1", "type": rooms.CmdBid, "data": rooms.BidRequest{Amount: me.MinNext}})
	if st != 200 && st != 201 {
		t.Fatalf("the newcomer bids %s: %d %s", me.MinNext, st, body)
	}
	after := view(tokens[rooms.RoleBidder])
	if after.BidCount != 3 || after.Highest == nil || after.Highest.Number != me.You.Number || after.Highest.Amount != me.MinNext {
		t.Errorf("after the newcomer's bid: %d bids, highest %+v, want 3 and %s by %s", after.BidCount, after.Highest, me.MinNext, me.You.Number)
	}
}

// call sends a JSON request with a bearer token and returns the status
// and body.
func call(t *testing.T, base, method, path, tok string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// newDemoAuctionLog is an embedded store in a temporary directory.
func newDemoAuctionLog(t *testing.T) rooms.Log {
	t.Helper()
	l, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestDemoAuctionAnyWeekday: whatever the day the server starts on, the
// 15 days before it hold the 10 working days a listing needs, so the
// demo auction is created.
func TestDemoAuctionAnyWeekday(t *testing.T) {
	l := newDemoAuctionLog(t)
	issuer, err := auth.NewIssuer([]byte(testSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC) // a Monday, 09:30 in China
	for d := range 7 {
		now := base.AddDate(0, 0, d).Add(time.Duration(d) * 3 * time.Hour)
		t.Run(now.Weekday().String(), func(t *testing.T) {
			room := fmt.Sprintf("demo-auction-day%d", d)
			au, played, err := createDemoAuction(context.Background(), l, issuer, time.Hour, room, now, now.Add(demoAuctionLead))
			if err != nil {
				t.Fatalf("created on %s: %v", now, err)
			}
			if len(played) != 2 || len(au.People) != 3 {
				t.Errorf("played %v, people %d", played, len(au.People))
			}
		})
	}
}

// TestDemoAuctionBot: on the server's own clock the listing closes with
// two bidders quoted, the timed bidding starts, and the bot bids for the
// bidders the newcomer does not play — each bid the lowest valid amount
// on the grid, never raising its own lead — and stops after its few bids;
// the newcomer can still outbid it, restarting the countdown.
func TestDemoAuctionBot(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newDemoAuctionLog(t)
	issuer, err := auth.NewIssuer([]byte(testSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	const room = "demo-auction-bot"
	_, played, err := createDemoAuction(ctx, l, issuer, time.Hour, room, now, now.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := rooms.NewService(l, nil)
	sched := rooms.NewScheduler(svc, quiet)
	bot := &demoAuctionBot{svc: svc, room: room, bidders: played, max: demoAuctionBotBids,
		pause: func() time.Duration { return 50 * time.Millisecond }, logger: quiet}
	schedDone, botDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(schedDone); sched.Run(ctx) }()
	go func() { defer close(botDone); bot.run(ctx) }()
	defer func() { cancel(); <-schedDone; <-botDone }()

	select {
	case <-botDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the bot did not place its bids within 20 s")
	}
	supervisor := rooms.Actor{Sub: "supervisor-1", Role: rooms.RoleSupervisor}
	snap, err := svc.Snapshot(ctx, room, supervisor)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := snap.Auction()
	if v.Phase != rooms.AuctionTimed {
		t.Fatalf("the auction is %s, want timed", v.Phase)
	}
	if want := len(demoAuctionListingBids) + demoAuctionBotBids; v.BidCount != want {
		t.Fatalf("%d bids, want %d (the listing's and the bot's)", v.BidCount, want)
	}
	botNumbers := map[string]bool{}
	numberOf := map[string]string{}
	for _, b := range v.Bidders {
		numberOf[b.Bidder] = b.Number
	}
	for _, id := range played {
		botNumbers[numberOf[id]] = true
	}
	prev := v.Bids[len(demoAuctionListingBids)-1]
	for _, b := range v.Bids[len(demoAuctionListingBids):] {
		wantAmount := addYuan(t, prev.Amount, 1_000_000) // the step below 400,000,000
		if !botNumbers[b.Number] || b.Proxy || b.Number == prev.Number || b.Amount != wantAmount {
			t.Errorf("bot bid %+v after %s by %s: want %s by a played bidder other than the leader", b.BidPlaced, prev.Amount, prev.Number, wantAmount)
		}
		if !b.EndsAt.Equal(b.At.Add(300 * time.Second)) {
			t.Errorf("bot bid at %s: countdown to %s, want 300 s later", b.At, b.EndsAt)
		}
		prev = b
	}

	// The newcomer outbids the bot; the countdown restarts from that bid.
	visitor := rooms.Actor{Sub: demoAuctionBidders[0].Sub, Role: rooms.RoleBidder}
	raw, _ := json.Marshal(rooms.BidRequest{Amount: v.MinNext})
	if _, err := svc.Execute(ctx, room, visitor, rooms.Command{ID: "visitor-1", Type: rooms.CmdBid, Data: raw}); err != nil {
		t.Fatalf("the newcomer bids %s: %v", v.MinNext, err)
	}
	snap, _ = svc.Snapshot(ctx, room, supervisor)
	w, _ := snap.Auction()
	if w.Highest == nil || w.Highest.Bidder != visitor.Sub || !w.EndsAt.After(v.EndsAt) {
		t.Errorf("after the newcomer's bid: highest %+v, ends at %s (was %s)", w.Highest, w.EndsAt, v.EndsAt)
	}
}

// addYuan adds whole yuan to a canonical amount ("388000000.00").
func addYuan(t *testing.T, amount string, yuan int64) string {
	t.Helper()
	var whole, cents int64
	if _, err := fmt.Sscanf(amount, "%d.%d", &whole, &cents); err != nil {
		if _, err := fmt.Sscanf(amount, "%d", &whole); err != nil {
			t.Fatalf("amount %q: %v", amount, err)
		}
		return fmt.Sprint(whole + yuan)
	}
	return fmt.Sprintf("%d.%02d", whole+yuan, cents)
}
