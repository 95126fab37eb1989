package signaling_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
)

// TestAuctionBidsAreAnonymousOverTheSocket: a bid reaches the other
// bidders with its number and amount and an actor that names nobody
// (rooms.PublicActor); the bidder who placed it and staff see the actor,
// staff in the whole event.
func TestAuctionBidsAreAnonymousOverTheSocket(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	admin := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	listingStart := time.Now().Add(time.Second) // time to create the auction before its listing, even on a loaded machine
	e.exec("au1", admin, rooms.CmdCreateAuction, rooms.AuctionSpec{
		Title: "地块", Lot: "2026-12", Category: "land", Seller: "自然资源局", StartPrice: "10000000",
		Increments: rooms.Increments{Step: "100000"}, ReservePrice: "12345678.90", Deposit: "2000000",
		ListingStart: listingStart, ListingEnd: listingStart.AddDate(0, 0, 20),
	})
	for _, b := range []rooms.AuctionBidderSpec{{Bidder: "bidder-alpha", Name: "甲地产", Number: "4821"}, {Bidder: "bidder-beta", Name: "乙置业", Number: "73019"}} {
		e.exec("au1", admin, rooms.CmdRegisterAuctionBidder, b)
		e.exec("au1", rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: b.Bidder, Status: rooms.DepositPaid, Amount: "2000000"})
		e.exec("au1", admin, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: b.Bidder, Qualified: true})
	}
	time.Sleep(time.Until(listingStart))
	e.exec("au1", rooms.SystemActor, rooms.CmdOpenListing, nil)

	alpha := e.mustDial("room=au1", e.token("au1", rooms.RoleBidder, "bidder-alpha"))
	alpha.expect("welcome")
	alpha.expect("snapshot")
	beta := e.mustDial("room=au1", e.token("au1", rooms.RoleBidder, "bidder-beta"))
	beta.expect("welcome")
	if snap := beta.expect("snapshot"); snap.Kind != rooms.KindAuction || strings.Contains(string(snap.State), "alpha") || strings.Contains(string(snap.State), "12345678.90") {
		t.Fatalf("beta's snapshot %s: %s", snap.Kind, snap.State)
	}
	host := e.mustDial("room=au1", e.token("au1", rooms.RoleHost, "h1"))
	host.expect("welcome")
	host.expect("snapshot")

	alpha.send(command("b1", rooms.CmdBid, rooms.BidRequest{Amount: "10000000"}))
	ackAndEvent(alpha)
	type wireEvent struct {
		Type  string          `json:"type"`
		Actor rooms.Actor     `json:"actor"`
		Data  json.RawMessage `json:"data"`
	}
	var got wireEvent
	f := beta.expect("event")
	if err := json.Unmarshal(f.Event, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != rooms.EvBidPlaced || got.Actor != (rooms.Actor{Role: rooms.RoleBidder}) || strings.Contains(string(f.Event), "alpha") || strings.Contains(string(f.Event), "甲地产") ||
		!strings.Contains(string(got.Data), `"number":"4821"`) || !strings.Contains(string(got.Data), `"amount":"10000000"`) {
		t.Fatalf("beta receives %s", f.Event)
	}
	f = host.expect("event")
	if err := json.Unmarshal(f.Event, &got); err != nil {
		t.Fatal(err)
	}
	if got.Actor.Sub != "bidder-alpha" || !strings.Contains(string(f.Event), `"hash"`) {
		t.Fatalf("the host receives %s", f.Event)
	}
	beta.send(command("b2", rooms.CmdBid, rooms.BidRequest{Amount: "10050000"}))
	if f := beta.expect("error"); f.Code != rooms.CodeInvalid || !strings.Contains(f.Message, "10100000") {
		t.Fatalf("an off-grid bid: %+v", f)
	}
	// Other events keep their actor for everyone.
	e.exec("au1", rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: "bidder-beta", Status: rooms.DepositPaid, Amount: "2000000", Reference: "BZJ-2"})
	f = beta.expect("event")
	if err := json.Unmarshal(f.Event, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != rooms.EvDepositRecorded || got.Actor != rooms.SystemActor {
		t.Fatalf("beta's deposit event %s", f.Event)
	}
}
