package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// The auction's tests run it through a Service with an injected clock:
// the listing from listingStart to listingEnd (10 working days, China
// time), the bidders below with their anonymous numbers.

var (
	listingStart = start.Add(time.Hour)           // Wed 2026-11-25 18:00 China time
	listingEnd   = listingStart.AddDate(0, 0, 13) // Tue 2026-12-08: the 10th working day
)

// auctionBidder is one bidder of the tests' auctions.
type auctionBidder struct{ id, name, number string }

var (
	alpha = auctionBidder{"bidder-alpha", "甲地产有限公司", "4821"}
	beta  = auctionBidder{"bidder-beta", "乙置业集团", "73019"}
	gamma = auctionBidder{"bidder-gamma", "丙矿业股份", "600125"}
	delta = auctionBidder{"bidder-delta", "丁投资合伙企业", "5555"} // registered, never qualified
)

func (b auctionBidder) actor() rooms.Actor { return rooms.Actor{Sub: b.id, Role: rooms.RoleBidder} }

// reserve is the tests' sealed reserve: off the grid, so no bid ever
// shows the same figure.
const reserve = "12345678.90"

func auctionSpec() rooms.AuctionSpec {
	return rooms.AuctionSpec{
		Title: "锡山区东亭街道XDG-2026-12号地块国有建设用地使用权", Lot: "锡国土(经)2026-12号", Category: "land",
		Seller: "无锡市自然资源和规划局",
		Details: []rooms.AuctionDetail{{Label: "位置", Value: "锡山区东亭街道"}, {Label: "面积", Value: "35120.4平方米"},
			{Label: "用途", Value: "城镇住宅用地"}, {Label: "出让年限", Value: "70年"}, {Label: "容积率", Value: "1.0<R≤2.2"}},
		StartPrice: "10000000", Increments: rooms.Increments{Step: "100000"}, ReservePrice: reserve, Deposit: "2000000",
		ListingStart: listingStart, ListingEnd: listingEnd, CountdownSeconds: 300, ProxyAllowed: true,
	}
}

type auctionWorld struct {
	t    *testing.T
	svc  *rooms.Service
	log  *embedded.Log
	clk  *clock
	room string
	n    int
}

// newAuction creates the auction (with spec changed by edit, if given)
// and registers, pays and qualifies alpha, beta and gamma; delta is
// registered only.
func newAuction(t *testing.T, edit func(*rooms.AuctionSpec)) *auctionWorld {
	t.Helper()
	svc, log, clk := newService(t)
	w := &auctionWorld{t: t, svc: svc, log: log, clk: clk, room: "au1"}
	spec := auctionSpec()
	if edit != nil {
		edit(&spec)
	}
	w.must(admin, rooms.CmdCreateAuction, spec)
	for _, b := range []auctionBidder{alpha, beta, gamma, delta} {
		w.must(admin, rooms.CmdRegisterAuctionBidder, rooms.AuctionBidderSpec{Bidder: b.id, Name: b.name, Number: b.number})
	}
	for _, b := range []auctionBidder{alpha, beta, gamma} {
		w.qualify(b)
	}
	return w
}

func (w *auctionWorld) qualify(b auctionBidder) {
	w.t.Helper()
	w.must(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: b.id, Status: rooms.DepositPaid, Amount: "2000000", Reference: "BZJ-" + b.number})
	w.must(admin, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: b.id, Qualified: true})
}

// at sets the clock.
func (w *auctionWorld) at(t time.Time) *auctionWorld { w.clk.set(t); return w }

func (w *auctionWorld) do(a rooms.Actor, typ string, data any) (rooms.Result, error) {
	w.t.Helper()
	w.n++
	var raw json.RawMessage
	if data != nil {
		raw = mustJSON(w.t, data)
	}
	return w.svc.Execute(context.Background(), w.room, a, rooms.Command{ID: fmt.Sprintf("c%d", w.n), Type: typ, Data: raw})
}

func (w *auctionWorld) must(a rooms.Actor, typ string, data any) rooms.Result {
	w.t.Helper()
	res, err := w.do(a, typ, data)
	if err != nil {
		w.t.Fatalf("%s by %s %s: %v", typ, a.Role, a.Sub, err)
	}
	return res
}

// refused checks that the command is refused with code and changes
// nothing, and returns the refusal's message.
func (w *auctionWorld) refused(code string, a rooms.Actor, typ string, data any) string {
	w.t.Helper()
	head := w.svc.Head(w.room)
	_, err := w.do(a, typ, data)
	if rooms.RefusalCode(err) != code {
		w.t.Fatalf("%s by %s %s: %v, want a %s refusal", typ, a.Role, a.Sub, err, code)
	}
	if w.svc.Head(w.room) != head {
		w.t.Fatalf("%s by %s was refused but the room changed", typ, a.Role)
	}
	return err.Error()
}

func (w *auctionWorld) bid(b auctionBidder, amount string) error {
	w.t.Helper()
	_, err := w.do(b.actor(), rooms.CmdBid, rooms.BidRequest{Amount: amount})
	return err
}

func (w *auctionWorld) mustBid(b auctionBidder, amount string) {
	w.t.Helper()
	if err := w.bid(b, amount); err != nil {
		w.t.Fatalf("%s bids %s: %v", b.id, amount, err)
	}
}

func (w *auctionWorld) view(a rooms.Actor) rooms.AuctionView {
	w.t.Helper()
	s, err := w.svc.Snapshot(context.Background(), w.room, a)
	if err != nil {
		w.t.Fatalf("snapshot for %s %s: %v", a.Role, a.Sub, err)
	}
	v, ok := s.Auction()
	if !ok || s.Kind != rooms.KindAuction {
		w.t.Fatalf("snapshot of kind %s is a %T", s.Kind, s.View)
	}
	return v
}

func (w *auctionWorld) events() []rooms.Event {
	w.t.Helper()
	evs, err := w.svc.EventsAfter(context.Background(), w.room, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// bids lists the bids placed so far as "number amount" (with " proxy"
// for an automatic one).
func (w *auctionWorld) bids() []string {
	w.t.Helper()
	var out []string
	for _, e := range w.events() {
		if e.Type != rooms.EvBidPlaced {
			continue
		}
		var b rooms.BidPlaced
		if err := json.Unmarshal(e.Data, &b); err != nil {
			w.t.Fatal(err)
		}
		s := b.Number + " " + b.Amount
		if b.Proxy {
			s += " proxy"
		}
		out = append(out, s)
	}
	return out
}

// open opens the listing at listingStart.
func (w *auctionWorld) open() *auctionWorld {
	w.t.Helper()
	w.at(listingStart).must(rooms.SystemActor, rooms.CmdOpenListing, nil)
	return w
}

func (w *auctionWorld) closeListing() {
	w.t.Helper()
	w.at(listingEnd).must(rooms.SystemActor, rooms.CmdCloseListing, nil)
}

func (w *auctionWorld) result() *rooms.AuctionResult {
	w.t.Helper()
	return w.view(admin).Result
}

func TestAuctionListingTimedSold(t *testing.T) {
	w := newAuction(t, nil)
	if v := w.view(admin); v.Phase != rooms.AuctionAnnounced || v.Spec.ReservePrice != reserve || !v.Spec.HasReserve || v.MinNext != "10000000" {
		t.Fatalf("announced: phase %s reserve %q min_next %s", v.Phase, v.Spec.ReservePrice, v.MinNext)
	}
	w.open()
	w.at(listingStart.Add(24*time.Hour)).mustBid(alpha, "10000000")
	w.at(listingStart.Add(48*time.Hour)).mustBid(beta, "10500000")
	if err := w.at(listingStart.Add(49*time.Hour)).bid(beta, "10600000"); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("the leader raising their own bid: %v", err)
	}
	w.closeListing()
	v := w.view(admin)
	if v.Phase != rooms.AuctionTimed || !v.EndsAt.Equal(listingEnd.Add(5*time.Minute)) || v.Quoted != 2 {
		t.Fatalf("after the listing: phase %s ends_at %v quoted %d", v.Phase, v.EndsAt, v.Quoted)
	}
	w.at(listingEnd.Add(time.Minute)).mustBid(gamma, "11000000")
	if v := w.view(admin); !v.EndsAt.Equal(listingEnd.Add(6 * time.Minute)) {
		t.Fatalf("a bid in the timed bidding restarts the countdown: ends_at %v", v.EndsAt)
	}
	w.at(listingEnd.Add(3*time.Minute)).mustBid(alpha, "12400000")
	ends := listingEnd.Add(8 * time.Minute)
	w.at(ends.Add(-time.Second)).refused(rooms.CodeTooEarly, rooms.SystemActor, rooms.CmdEndAuction, nil)
	w.at(ends).must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	r := w.result()
	want := rooms.AuctionResult{Result: rooms.AuctionSold, Number: alpha.number, Price: "12400000", ReservePrice: reserve, ReserveMet: true,
		Bids: 4, Quoted: 3, Stage: "timed", EndedAt: ends}
	if r == nil || fmt.Sprint(*r) != fmt.Sprint(want) {
		t.Fatalf("result %+v, want %+v", r, want)
	}
	// Nothing is taken after the end.
	w.refused(rooms.CodeWrongState, beta.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "12500000"})
	w.refused(rooms.CodeWrongState, rooms.SystemActor, rooms.CmdEndAuction, nil)
	// What is left is the sale's letter, due at once.
	if at, typ, ok, _ := w.svc.NextTimer(context.Background(), w.room); !ok || typ != rooms.CmdRecordConfirmationLetter || !at.Equal(ends) {
		t.Fatalf("after the sale the timer is %s at %v (%v), want the letter at %v", typ, at, ok, ends)
	}
}

func TestAuctionTimedUnsoldBelowReserve(t *testing.T) {
	w := newAuction(t, nil).open()
	w.at(listingStart.Add(time.Hour)).mustBid(alpha, "10000000")
	w.mustBid(beta, "10100000")
	w.closeListing()
	w.at(listingEnd.Add(5*time.Minute)).must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	r := w.result()
	if r.Result != rooms.AuctionUnsold || r.ReserveMet || r.Number != beta.number || r.Price != "10100000" || r.ReservePrice != reserve {
		t.Fatalf("result %+v, want unsold below the reserve, revealed", r)
	}
	w.refused(rooms.CodeWrongState, rooms.SystemActor, rooms.CmdRecordConfirmationLetter, rooms.ConfirmationIssued{})
}

func TestAuctionListingEndsWithOneOrNoBidder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*rooms.AuctionSpec)
		bids   []string // alpha's bids, in order
		result string
		met    bool
		price  string
	}{
		{"one bidder at the reserve", nil, []string{"12400000"}, rooms.AuctionSold, true, "12400000"},
		{"one bidder below the reserve", nil, []string{"12300000"}, rooms.AuctionUnsold, false, "12300000"},
		{"one bidder, no reserve", func(s *rooms.AuctionSpec) { s.ReservePrice = "" }, []string{"10000000"}, rooms.AuctionSold, true, "10000000"},
		{"no bidder (流拍)", nil, nil, rooms.AuctionUnsold, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAuction(t, tc.edit).open()
			for _, b := range tc.bids {
				w.at(listingStart.Add(time.Hour)).mustBid(alpha, b)
			}
			w.closeListing()
			r := w.result()
			if r == nil || r.Result != tc.result || r.ReserveMet != tc.met || r.Price != tc.price || r.Stage != "listing" || !r.EndedAt.Equal(listingEnd) {
				t.Fatalf("result %+v, want %s (reserve met %v) at %q", r, tc.result, tc.met, tc.price)
			}
			if tc.price != "" && r.Number != alpha.number {
				t.Fatalf("the winner's number %s, want %s", r.Number, alpha.number)
			}
			if v := w.view(beta.actor()); v.Phase != rooms.AuctionEnded {
				t.Fatalf("phase %s", v.Phase)
			}
		})
	}
}

// TestAuctionCountdownBoundary: a bid 1 ms before the end is taken and
// restarts the countdown; a bid at the end is too late; the listing's
// edges likewise.
func TestAuctionCountdownBoundary(t *testing.T) {
	w := newAuction(t, nil)
	w.at(listingStart.Add(-time.Millisecond)).refused(rooms.CodeTooEarly, rooms.SystemActor, rooms.CmdOpenListing, nil)
	w.refused(rooms.CodeTooEarly, alpha.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10000000"})
	w.open()
	w.mustBid(alpha, "10000000")
	w.at(listingEnd.Add(-time.Millisecond)).mustBid(beta, "10100000")
	msg := w.at(listingEnd).refused(rooms.CodeWrongState, alpha.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10200000"})
	if !strings.Contains(msg, "listing ended") {
		t.Fatalf("a bid at listing_end: %s", msg)
	}
	w.at(listingEnd.Add(-time.Millisecond)).refused(rooms.CodeTooEarly, rooms.SystemActor, rooms.CmdCloseListing, nil)
	w.closeListing()
	ends := listingEnd.Add(5 * time.Minute)
	w.at(ends.Add(-time.Millisecond)).mustBid(alpha, "10200000")
	newEnd := ends.Add(-time.Millisecond).Add(5 * time.Minute)
	if v := w.view(alpha.actor()); !v.EndsAt.Equal(newEnd) {
		t.Fatalf("ends_at %v after a bid 1 ms before the end, want %v", v.EndsAt, newEnd)
	}
	if at, typ, ok, _ := w.svc.NextTimer(context.Background(), w.room); !ok || typ != rooms.CmdEndAuction || !at.Equal(newEnd) {
		t.Fatalf("next timer %s at %v, want end_auction at %v", typ, at, newEnd)
	}
	// The old end passed: its timer finds the countdown restarted.
	w.at(ends).refused(rooms.CodeTooEarly, rooms.SystemActor, rooms.CmdEndAuction, nil)
	w.at(newEnd).refused(rooms.CodeWrongState, beta.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10300000"})
	w.must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	if r := w.result(); r.Number != alpha.number || r.Price != "10200000" || !r.EndedAt.Equal(newEnd) {
		t.Fatalf("result %+v", r)
	}
	// A timer that finds the room past its phase is refused, harmlessly.
	w.refused(rooms.CodeWrongState, rooms.SystemActor, rooms.CmdOpenListing, nil)
	w.refused(rooms.CodeWrongState, rooms.SystemActor, rooms.CmdCloseListing, nil)
}

func TestAuctionNextTimers(t *testing.T) {
	w := newAuction(t, nil)
	ctx := context.Background()
	want := func(typ string, at time.Time) {
		t.Helper()
		gotAt, gotTyp, ok, err := w.svc.NextTimer(ctx, w.room)
		if err != nil || !ok || gotTyp != typ || !gotAt.Equal(at) {
			t.Fatalf("next timer %s at %v (%v, %v), want %s at %v", gotTyp, gotAt, ok, err, typ, at)
		}
		if s, _ := w.svc.Summary(ctx, w.room); s.Kind != rooms.KindAuction || s.Category != "land" || !s.Deadline.Equal(at) {
			t.Fatalf("summary %+v", s)
		}
	}
	want(rooms.CmdOpenListing, listingStart)
	w.open()
	want(rooms.CmdCloseListing, listingEnd)
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "10100000")
	w.closeListing()
	want(rooms.CmdEndAuction, listingEnd.Add(5*time.Minute))
}

// TestAuctionTies: of two bids at the same price the first wins; the
// second is refused as not above it.
func TestAuctionTies(t *testing.T) {
	w := newAuction(t, nil).open()
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "10300000")
	msg := w.refused(rooms.CodeInvalid, gamma.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10300000"})
	if !strings.Contains(msg, "not above the current highest bid 10300000") || !strings.Contains(msg, "10400000, 10500000, 10600000") {
		t.Fatalf("the tie's refusal: %s", msg)
	}
	if v := w.view(admin); v.Highest == nil || v.Highest.Number != beta.number {
		t.Fatalf("highest %+v", v.Highest)
	}
}

func TestAuctionGrid(t *testing.T) {
	staged := func(s *rooms.AuctionSpec) {
		s.Increments = rooms.Increments{Stages: []rooms.Stage{{From: "0", Step: "100000"}, {From: "10500000", Step: "500000"}, {From: "12000000.00", Step: "1000000.0"}}}
	}
	type step struct {
		who    auctionBidder
		amount string
		code   string // "" when taken
	}
	for _, tc := range []struct {
		name  string
		edit  func(*rooms.AuctionSpec)
		steps []step
	}{
		{"fixed", nil, []step{
			{alpha, "9900000", rooms.CodeInvalid},     // below the start price
			{alpha, "10050000", rooms.CodeInvalid},    // off the grid
			{alpha, "10200000", ""},                   // the first bid may jump whole steps
			{beta, "10200000", rooms.CodeInvalid},     // not above
			{beta, "10250000", rooms.CodeInvalid},     // off the grid
			{beta, "10300000.00", ""},                 // the same amount, written with decimals
			{alpha, "10300000.01", rooms.CodeInvalid}, // a fen off
			{alpha, "11000000", ""},                   // n = 7
		}},
		{"staged", staged, []step{
			{alpha, "10000000", ""},
			{beta, "10400000", ""},
			{alpha, "10900000", ""},               // 10400000 + 5 steps of 100000: the step of the current price
			{beta, "11000000", rooms.CodeInvalid}, // at 10900000 the step is 500000
			{beta, "11400000", ""},
			{gamma, "11900000", ""},
			{alpha, "12100000", rooms.CodeInvalid}, // 11900000 is still in the 500000 stage
			{alpha, "12400000", ""},                // into the 1000000 stage
			{beta, "12900000", rooms.CodeInvalid},
			{beta, "13400000", ""},
		}},
		{"staged, first bid", staged, []step{
			{alpha, "10500000", ""}, // start + 5 × 100000 lands on the next stage's start
			{beta, "10600000", rooms.CodeInvalid},
			{beta, "11000000", ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAuction(t, tc.edit).open()
			for i, s := range tc.steps {
				err := w.bid(s.who, s.amount)
				if rooms.RefusalCode(err) != s.code {
					t.Fatalf("step %d: %s bids %s: %v, want %q", i, s.who.id, s.amount, err, s.code)
				}
			}
		})
	}
	w := newAuction(t, staged).open()
	w.mustBid(alpha, "10400000")
	if v := w.view(beta.actor()); v.Step != "100000" || v.MinNext != "10500000" {
		t.Fatalf("at 10400000: step %s, min_next %s", v.Step, v.MinNext)
	}
	w.mustBid(beta, "10500000")
	if v := w.view(beta.actor()); v.Step != "500000" || v.MinNext != "11000000" {
		t.Fatalf("at the stage's start: step %s, min_next %s", v.Step, v.MinNext)
	}
	msg := w.refused(rooms.CodeInvalid, alpha.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10600000"})
	if !strings.Contains(msg, "11000000, 11500000, 12000000") {
		t.Fatalf("the refusal names the next valid amounts: %s", msg)
	}
}

// TestAuctionBidRefusals: every bad bid is refused with its code and
// changes nothing.
func TestAuctionBidRefusals(t *testing.T) {
	w := newAuction(t, nil).open()
	w.mustBid(alpha, "10000000")
	for _, tc := range []struct {
		name   string
		who    rooms.Actor
		data   any
		code   string
		phrase string
	}{
		{"off the grid", beta.actor(), rooms.BidRequest{Amount: "10150000"}, rooms.CodeInvalid, "not on the increment grid"},
		{"below the current price", beta.actor(), rooms.BidRequest{Amount: "9000000"}, rooms.CodeInvalid, "not above"},
		{"not numeric", beta.actor(), rooms.BidRequest{Amount: "一千万"}, rooms.CodeInvalid, "not a decimal amount"},
		{"exponent", beta.actor(), rooms.BidRequest{Amount: "1e7"}, rooms.CodeInvalid, "not a decimal amount"},
		{"over 10^15", beta.actor(), rooms.BidRequest{Amount: "1000000000000000.01"}, rooms.CodeInvalid, "over the limit"},
		{"far over 10^15", beta.actor(), rooms.BidRequest{Amount: "99999999999999999999999"}, rooms.CodeInvalid, "over the limit"},
		{"negative", beta.actor(), rooms.BidRequest{Amount: "-10100000"}, rooms.CodeInvalid, "negative"},
		{"three decimals", beta.actor(), rooms.BidRequest{Amount: "10100000.001"}, rooms.CodeInvalid, "more than 2 decimals"},
		{"empty", beta.actor(), rooms.BidRequest{}, rooms.CodeInvalid, "required"},
		{"a number, not a string", beta.actor(), map[string]any{"amount": 10100000}, rooms.CodeInvalid, "malformed"},
		{"unknown field", beta.actor(), map[string]any{"amount": "10100000", "bidder": alpha.id}, rooms.CodeInvalid, "malformed"},
		// The client's clock is never asked: a time sent along is refused, not used.
		{"a client's time", beta.actor(), map[string]any{"amount": "10100000", "at": "2026-11-25T10:00:00Z"}, rooms.CodeInvalid, "malformed"},
		{"not qualified", delta.actor(), rooms.BidRequest{Amount: "10100000"}, rooms.CodeForbidden, "deposit"},
		{"the leader again", alpha.actor(), rooms.BidRequest{Amount: "10100000"}, rooms.CodeWrongState, "own leading bid"},
		{"the host", host, rooms.BidRequest{Amount: "10100000"}, rooms.CodeForbidden, "may not bid"},
		{"the admin", admin, rooms.BidRequest{Amount: "10100000"}, rooms.CodeForbidden, "may not bid"},
		{"an unregistered bidder", rooms.Actor{Sub: "stranger", Role: rooms.RoleBidder}, rooms.BidRequest{Amount: "10100000"}, rooms.CodeForbidden, "not a registered bidder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := w.refused(tc.code, tc.who, rooms.CmdBid, tc.data); !strings.Contains(msg, tc.phrase) {
				t.Fatalf("refusal %q does not say %q", msg, tc.phrase)
			}
		})
	}
	// Paid but not yet confirmed: refused for want of the qualification.
	w.must(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositPaid, Amount: "2000000"})
	if msg := w.refused(rooms.CodeForbidden, delta.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10100000"}); !strings.Contains(msg, "竞买资格") {
		t.Fatalf("refusal %q", msg)
	}
	if got := w.bids(); len(got) != 1 {
		t.Fatalf("bids %v, want alpha's only", got)
	}
}

func TestAuctionReplayedBidAppliesOnce(t *testing.T) {
	w := newAuction(t, nil).open()
	ctx := context.Background()
	cmd := rooms.Command{ID: "my-bid-1", Type: rooms.CmdBid, Data: mustJSON(t, rooms.BidRequest{Amount: "10000000"})}
	first, err := w.svc.Execute(ctx, w.room, alpha.actor(), cmd)
	if err != nil || first.Duplicate {
		t.Fatalf("first %+v %v", first, err)
	}
	again, err := w.svc.Execute(ctx, w.room, alpha.actor(), cmd)
	if err != nil || !again.Duplicate || again.First != first.First {
		t.Fatalf("retry %+v %v, want the first's result", again, err)
	}
	if got := w.bids(); len(got) != 1 {
		t.Fatalf("bids %v", got)
	}
	// Outbid, then retried: still the first answer, though the same bid
	// sent anew would now be refused on the cached price alone.
	w.mustBid(beta, "10100000")
	again, err = w.svc.Execute(ctx, w.room, alpha.actor(), cmd)
	if err != nil || !again.Duplicate || again.First != first.First {
		t.Fatalf("retry after being outbid %+v %v, want the first's result", again, err)
	}
	fresh := cmd
	fresh.ID = "my-bid-2"
	if _, err := w.svc.Execute(ctx, w.room, alpha.actor(), fresh); rooms.RefusalCode(err) != rooms.CodeInvalid || !strings.Contains(err.Error(), "not above the current highest bid 10100000") {
		t.Fatalf("a new bid at the old price: %v", err)
	}
	if got := w.bids(); len(got) != 2 {
		t.Fatalf("bids %v", got)
	}
}

// TestAuctionPrecheck: the bids the cached state is sure to refuse are
// refused before the room's lane, in the words Decide would use; the
// others go on to Decide.
func TestAuctionPrecheck(t *testing.T) {
	w := newAuction(t, nil).open()
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "10200000")
	var a *rooms.Auction
	evs := w.events()
	st, err := rooms.NewState(w.room, evs)
	if err != nil {
		t.Fatal(err)
	}
	a = st.(*rooms.Auction)
	bid := func(amount string) rooms.Command {
		return rooms.Command{ID: "x", Type: rooms.CmdBid, Data: mustJSON(t, rooms.BidRequest{Amount: amount})}
	}
	for _, c := range []struct {
		who    rooms.Actor
		amount string
		want   string // "" for no early refusal
	}{
		{alpha.actor(), "10200000", rooms.CodeInvalid},           // not above
		{alpha.actor(), "10100000", rooms.CodeInvalid},           // below
		{alpha.actor(), "10300000", ""},                          // maybe good: Decide's
		{alpha.actor(), "10250000", ""},                          // off the grid: Decide's
		{beta.actor(), "10200000", ""},                           // the leader: Decide's own words
		{delta.actor(), "10000000", ""},                          // not qualified: Decide's
		{alpha.actor(), "abc", ""},                               // malformed: Decide's
		{rooms.Actor{Sub: "x", Role: rooms.RoleBidder}, "1", ""}, // unregistered: Decide's
	} {
		err := a.Precheck(c.who, bid(c.amount))
		if rooms.RefusalCode(err) != c.want {
			t.Errorf("%s bids %s: %v, want %q", c.who.Sub, c.amount, err, c.want)
		}
		if err != nil {
			_, derr := a.Decide(c.who, bid(c.amount), listingStart.Add(time.Hour))
			if derr == nil || derr.Error() != err.Error() {
				t.Errorf("%s bids %s: early %q, Decide %v", c.who.Sub, c.amount, err, derr)
			}
		}
	}
	w.closeListing()
	w.at(listingEnd.Add(5*time.Minute)).must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	st, _ = rooms.NewState(w.room, w.events())
	if err := st.(*rooms.Auction).Precheck(alpha.actor(), bid("99999900")); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("after the end: %v", err)
	}
}

func TestAuctionRegistrationAndQualification(t *testing.T) {
	w := newAuction(t, nil)
	reg := func(b, name, number string) rooms.AuctionBidderSpec {
		return rooms.AuctionBidderSpec{Bidder: b, Name: name, Number: number}
	}
	w.refused(rooms.CodeConflict, admin, rooms.CmdRegisterAuctionBidder, reg("e", "戊", alpha.number))
	w.refused(rooms.CodeInvalid, admin, rooms.CmdRegisterAuctionBidder, reg(alpha.id, "甲", "9999"))
	for _, n := range []string{"123", "123456789", "12a4", "", " 1234"} {
		w.refused(rooms.CodeInvalid, admin, rooms.CmdRegisterAuctionBidder, reg("e", "戊", n))
	}
	w.refused(rooms.CodeInvalid, admin, rooms.CmdRegisterAuctionBidder, reg("e e", "戊", "9999"))
	w.refused(rooms.CodeForbidden, host, rooms.CmdRegisterAuctionBidder, reg("e", "戊", "9999"))
	if err := rooms.CheckClientCommand(rooms.CmdRegisterAuctionBidder); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatal("a client may choose its number with a plain register_auction_bidder")
	}
	for _, c := range []string{rooms.CmdRecordDeposit, rooms.CmdRecordConfirmationLetter} {
		if rooms.RefusalCode(rooms.CheckClientCommand(c)) != rooms.CodeForbidden {
			t.Fatalf("%s is not server-only", c)
		}
	}

	q := func(b string, ok bool, reason string) rooms.Qualification {
		return rooms.Qualification{Bidder: b, Qualified: ok, Reason: reason}
	}
	// No deposit, a missing one, a short one: not qualified.
	w.refused(rooms.CodeWrongState, admin, rooms.CmdQualifyBidder, q(delta.id, true, ""))
	w.must(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositMissing})
	if msg := w.refused(rooms.CodeWrongState, admin, rooms.CmdQualifyBidder, q(delta.id, true, "")); !strings.Contains(msg, "not recorded as paid") {
		t.Fatal(msg)
	}
	w.must(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositPaid, Amount: "1999999.99"})
	if msg := w.refused(rooms.CodeWrongState, admin, rooms.CmdQualifyBidder, q(delta.id, true, "")); !strings.Contains(msg, "less than the 2000000") {
		t.Fatal(msg)
	}
	w.refused(rooms.CodeInvalid, rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: "refunded"})
	w.refused(rooms.CodeInvalid, rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositPaid})
	w.refused(rooms.CodeNotFound, rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: "nobody", Status: rooms.DepositPaid, Amount: "1"})
	w.refused(rooms.CodeForbidden, admin, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositPaid, Amount: "2000000"})
	w.refused(rooms.CodeInvalid, admin, rooms.CmdQualifyBidder, q(gamma.id, false, "")) // a refusal of qualification says why
	w.refused(rooms.CodeForbidden, host, rooms.CmdQualifyBidder, q(gamma.id, false, "资料不全"))

	// Disqualifying a bidder who has bid is refused; one who has not, taken.
	w.open()
	w.mustBid(gamma, "10000000")
	w.refused(rooms.CodeWrongState, admin, rooms.CmdQualifyBidder, q(gamma.id, false, "资料不全"))
	w.must(admin, rooms.CmdQualifyBidder, q(beta.id, false, "联合体协议不全"))
	if v := w.view(beta.actor()); v.You == nil || v.You.Qualified || v.You.Reason != "联合体协议不全" {
		t.Fatalf("beta sees %+v", v.You)
	}
	w.refused(rooms.CodeForbidden, beta.actor(), rooms.CmdBid, rooms.BidRequest{Amount: "10100000"})

	// Registration and qualification close with the listing.
	w.at(listingEnd)
	w.refused(rooms.CodeWrongState, admin, rooms.CmdRegisterAuctionBidder, reg("e", "戊", "9999"))
	w.refused(rooms.CodeWrongState, admin, rooms.CmdQualifyBidder, q(beta.id, true, ""))
}

func TestAuctionSpecRefusals(t *testing.T) {
	for _, tc := range []struct {
		field string // the refusal names it
		edit  func(*rooms.AuctionSpec)
	}{
		{"title", func(s *rooms.AuctionSpec) { s.Title = " " }},
		{"lot", func(s *rooms.AuctionSpec) { s.Lot = "" }},
		{"seller", func(s *rooms.AuctionSpec) { s.Seller = "" }},
		{"category", func(s *rooms.AuctionSpec) { s.Category = "construction" }},
		{"details[1].value", func(s *rooms.AuctionSpec) { s.Details[1].Value = "" }},
		{"details", func(s *rooms.AuctionSpec) { s.Details = make([]rooms.AuctionDetail, 31) }},
		{"start_price", func(s *rooms.AuctionSpec) { s.StartPrice = "0" }},
		{"start_price", func(s *rooms.AuctionSpec) { s.StartPrice = "1000000000000000" }},
		{"start_price", func(s *rooms.AuctionSpec) { s.StartPrice = "1.005" }},
		{"start_price", func(s *rooms.AuctionSpec) { s.StartPrice = "-1" }},
		{"increments", func(s *rooms.AuctionSpec) { s.Increments = rooms.Increments{} }},
		{"increments", func(s *rooms.AuctionSpec) {
			s.Increments.Stages = []rooms.Stage{{From: "0", Step: "1"}}
		}},
		{"increments.step", func(s *rooms.AuctionSpec) { s.Increments.Step = "0" }},
		{"increments.step", func(s *rooms.AuctionSpec) { s.Increments.Step = "abc" }},
		{"increments.stages[0].from", func(s *rooms.AuctionSpec) {
			s.Increments = rooms.Increments{Stages: []rooms.Stage{{From: "10000000.01", Step: "1"}}}
		}},
		{"increments.stages[1].from", func(s *rooms.AuctionSpec) {
			s.Increments = rooms.Increments{Stages: []rooms.Stage{{From: "0", Step: "100"}, {From: "0", Step: "200"}}}
		}},
		{"increments.stages[1].step", func(s *rooms.AuctionSpec) {
			s.Increments = rooms.Increments{Stages: []rooms.Stage{{From: "0", Step: "100"}, {From: "20000000", Step: "50"}}}
		}},
		{"reserve_price", func(s *rooms.AuctionSpec) { s.ReservePrice = "9999999" }},
		{"reserve_price", func(s *rooms.AuctionSpec) { s.ReservePrice = "12,000,000" }},
		{"deposit", func(s *rooms.AuctionSpec) { s.Deposit = "" }},
		{"deposit", func(s *rooms.AuctionSpec) { s.Deposit = "0.00" }},
		{"listing_start", func(s *rooms.AuctionSpec) { s.ListingStart = start.Add(-time.Second) }},
		{"listing_start", func(s *rooms.AuctionSpec) { s.ListingStart = time.Time{} }},
		{"listing_end", func(s *rooms.AuctionSpec) { s.ListingEnd = listingStart }},
		{"listing_end", func(s *rooms.AuctionSpec) { s.ListingEnd = listingStart.AddDate(0, 0, 12) }}, // 9 working days
		{"listing_end", func(s *rooms.AuctionSpec) { s.ListingEnd = listingStart.AddDate(2, 0, 0) }},
		{"countdown_seconds", func(s *rooms.AuctionSpec) { s.CountdownSeconds = 29 }},
		{"countdown_seconds", func(s *rooms.AuctionSpec) { s.CountdownSeconds = 3601 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			svc, _, _ := newService(t)
			s := auctionSpec()
			tc.edit(&s)
			_, err := svc.Execute(context.Background(), "au1", admin, rooms.Command{ID: "c", Type: rooms.CmdCreateAuction, Data: mustJSON(t, s)})
			if rooms.RefusalCode(err) != rooms.CodeInvalid || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("%v, want an invalid refusal naming %s", err, tc.field)
			}
		})
	}
	// The defaults, the canonical amounts, and who may create.
	svc, _, _ := newService(t)
	s := auctionSpec()
	s.CountdownSeconds, s.StartPrice, s.Deposit = 0, "10000000.00", "2000000.5"
	_, err := svc.Execute(context.Background(), "au1", host, rooms.Command{ID: "c", Type: rooms.CmdCreateAuction, Data: mustJSON(t, s)})
	if rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("the host created an auction: %v", err)
	}
	if _, err := svc.Execute(context.Background(), "au1", admin, rooms.Command{ID: "c", Type: rooms.CmdCreateAuction, Data: mustJSON(t, s)}); err != nil {
		t.Fatal(err)
	}
	snap, _ := svc.Snapshot(context.Background(), "au1", admin)
	v := snap.View.(rooms.AuctionView)
	if v.Spec.CountdownSeconds != 300 || v.Spec.StartPrice != "10000000" || v.Spec.Deposit != "2000000.50" {
		t.Fatalf("spec %+v", v.Spec)
	}
	if _, err := svc.Execute(context.Background(), "au1", admin, rooms.Command{ID: "c2", Type: rooms.CmdCreateAuction, Data: mustJSON(t, s)}); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("created twice: %v", err)
	}
}

func TestAuctionAdmits(t *testing.T) {
	w := newAuction(t, nil)
	ctx := context.Background()
	for _, a := range []rooms.Actor{alpha.actor(), delta.actor(), host, admin, supervisor} {
		if err := w.svc.Admit(ctx, w.room, a); err != nil {
			t.Errorf("%s %s refused: %v", a.Role, a.Sub, err)
		}
	}
	for _, a := range []rooms.Actor{{Sub: "stranger", Role: rooms.RoleBidder}, expertActor(alpha.id), expertActor("x1")} {
		err := w.svc.Admit(ctx, w.room, a)
		if rooms.RefusalCode(err) != rooms.CodeForbidden {
			t.Fatalf("%s %s admitted: %v", a.Role, a.Sub, err)
		}
		for _, b := range []auctionBidder{alpha, beta, gamma, delta} {
			if strings.Contains(err.Error(), b.id) || strings.Contains(err.Error(), b.name) {
				t.Fatalf("the refusal names a bidder: %s", err)
			}
		}
	}
	if _, err := w.svc.Snapshot(ctx, w.room, expertActor("x1")); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("an expert's snapshot: %v", err)
	}
}

// TestAuctionSchedulerRunsTheTimers: the scheduler opens and closes the
// listing and ends the timed bidding at their times, never before.
func TestAuctionSchedulerRunsTheTimers(t *testing.T) {
	w := newAuction(t, nil)
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := rooms.NewScheduler(w.svc, discard())
		s.Fill = map[string]func(context.Context, string) (json.RawMessage, error){
			rooms.CmdRecordConfirmationLetter: w.svc.ConfirmationFill(platform),
		}
		s.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor := func(phase rooms.AuctionPhase) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for w.view(admin).Phase != phase {
			if time.Now().After(deadline) {
				t.Fatalf("phase %s, want %s", w.view(admin).Phase, phase)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	w.at(listingStart.Add(-time.Millisecond))
	time.Sleep(50 * time.Millisecond)
	if p := w.view(admin).Phase; p != rooms.AuctionAnnounced {
		t.Fatalf("phase %s before listing_start", p)
	}
	w.at(listingStart)
	waitFor(rooms.AuctionListing)
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "12400000")
	w.at(listingEnd)
	waitFor(rooms.AuctionTimed)
	w.at(listingEnd.Add(5*time.Minute - time.Millisecond))
	time.Sleep(50 * time.Millisecond)
	if p := w.view(admin).Phase; p != rooms.AuctionTimed {
		t.Fatalf("phase %s before the countdown's end", p)
	}
	w.at(listingEnd.Add(5 * time.Minute))
	waitFor(rooms.AuctionEnded)
	if r := w.result(); r.Result != rooms.AuctionSold || r.Number != beta.number {
		t.Fatalf("result %+v", r)
	}
	// The sale's 成交确认书 follows at once, signed by the platform's key.
	deadline := time.Now().Add(5 * time.Second)
	for w.view(admin).Confirmation == nil {
		if time.Now().After(deadline) {
			t.Fatal("no confirmation letter after the sale")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := rooms.VerifyConfirmation(w.events(), platform.Public()); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := w.svc.NextTimer(ctx, w.room); ok {
		t.Fatal("a timer is left after the letter")
	}
}

// TestAuctionPublicView: what the ticker shows without a token — the bids
// by number, no names or ids, no proxies, the reserve only after the end.
func TestAuctionPublicView(t *testing.T) {
	w := newAuction(t, nil).open()
	ctx := context.Background()
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "10100000")
	pub, err := w.svc.PublicAuction(ctx, w.room)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(pub)
	for _, secret := range []string{alpha.id, alpha.name, beta.id, beta.name, auctionSpec().ReservePrice} {
		if strings.Contains(string(text), secret) {
			t.Fatalf("the public view shows %q: %s", secret, text)
		}
	}
	if pub.BidCount != 2 || pub.Highest == nil || pub.Highest.Number != beta.number || pub.You != nil || len(pub.Bidders) != 0 {
		t.Fatalf("public view %s", text)
	}
	w.closeListing()
	w.at(listingEnd.Add(5*time.Minute)).must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	if pub, _ = w.svc.PublicAuction(ctx, w.room); pub.Spec.ReservePrice != auctionSpec().ReservePrice || pub.Result == nil {
		t.Fatalf("after the end: %+v", pub)
	}
	if _, err := w.svc.PublicAuction(ctx, "nowhere"); rooms.RefusalCode(err) != rooms.CodeNotFound {
		t.Fatalf("no such auction: %v", err)
	}
}
