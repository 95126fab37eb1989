package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/rooms"
)

// auctionBody is a valid POST /auctions body: a listing from a minute
// ahead for 14 days (10 working days or more, whatever the weekday), a
// sealed reserve that the last bid below meets.
func auctionBody(id string, now time.Time) map[string]any {
	start := now.Add(time.Minute)
	return map[string]any{
		"id": id, "title": "城南片区R-17地块国有建设用地使用权", "lot": "2026-G-17", "category": "land",
		"seller": "某市自然资源和规划局", "details": []map[string]string{{"label": "土地用途", "value": "住宅"}},
		"start_price": "10000000", "increments": map[string]string{"step": "100000"}, "reserve_price": "10150000",
		"deposit": "2000000", "listing_start": start.Format(time.RFC3339Nano), "listing_end": start.AddDate(0, 0, 14).Format(time.RFC3339Nano),
		"countdown_seconds": 60, "proxy_allowed": true,
	}
}

// auctionOf returns the auction view in a session answer.
func auctionOf(t *testing.T, body map[string]any) rooms.AuctionView {
	t.Helper()
	raw, _ := json.Marshal(body["state"])
	var v rooms.AuctionView
	if err := json.Unmarshal(raw, &v); err != nil || v.Kind != rooms.KindAuction {
		t.Fatalf("not an auction view: %s (%v)", raw, err)
	}
	return v
}

// runScheduler fires the rooms' timers as the server does, the letter
// signed with the test's platform key.
func (e *env) runScheduler(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := rooms.NewScheduler(e.svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Fill = map[string]func(context.Context, string) (json.RawMessage, error){rooms.CmdRecordConfirmationLetter: e.svc.ConfirmationFill(e.platform)}
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitAuction polls the admin's view until ok holds.
func (e *env) waitAuction(t *testing.T, room string, what string, ok func(rooms.AuctionView) bool) rooms.AuctionView {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := e.do("GET", "/api/v1/sessions/"+room, adminKey, nil)
		v := auctionOf(t, body)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: the auction is %s", what, v.Phase)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var auctionNumberPattern = regexp.MustCompile(`^[1-9][0-9]{3,7}$`)

// TestAuctionOverREST runs an auction through the REST API: creation with
// its refusals, registration under random numbers, deposits, qualification,
// bids and their refusals, the timed phase, the sale and its letter, and
// what each role and the public ticker see of it.
func TestAuctionOverREST(t *testing.T) {
	e := newEnv(t)
	e.runScheduler(t)
	const room = "au-1"

	// Creation: the admin only; bad specs refused in words.
	if st, _ := e.do("POST", "/api/v1/auctions", "", auctionBody(room, e.now())); st != http.StatusUnauthorized {
		t.Fatalf("without the admin key: %d", st)
	}
	for name, edit := range map[string]func(b map[string]any){
		"a price in words":  func(b map[string]any) { b["start_price"] = "一千万" },
		"an absurd price":   func(b map[string]any) { b["start_price"] = "10000000000000000" },
		"a short listing":   func(b map[string]any) { b["listing_end"] = e.now().Add(48 * time.Hour).Format(time.RFC3339) },
		"has_reserve given": func(b map[string]any) { b["has_reserve"] = true },
		"a bad id":          func(b map[string]any) { b["id"] = "../x" },
	} {
		b := auctionBody(room, e.now())
		edit(b)
		if st, body := e.do("POST", "/api/v1/auctions", adminKey, b); st != http.StatusBadRequest || errCode(body) != "invalid" {
			t.Fatalf("%s: %d %v", name, st, body)
		}
	}
	st, body := e.do("POST", "/api/v1/auctions", adminKey, auctionBody(room, e.now()))
	if st != http.StatusCreated || auctionOf(t, body).Phase != rooms.AuctionAnnounced {
		t.Fatalf("create: %d %v", st, body)
	}

	// Registration: numbers of 4-8 digits drawn at random, all different.
	names := map[string]string{"a": "甲置业有限公司", "b": "乙地产集团", "c": "丙投资合伙企业"}
	numbers := map[string]string{}
	for _, id := range []string{"a", "b", "c"} {
		st, body := e.do("POST", "/api/v1/auctions/"+room+"/bidders", adminKey, map[string]string{"bidder": id, "name": names[id]})
		n, _ := body["number"].(string)
		if st != http.StatusCreated || !auctionNumberPattern.MatchString(n) {
			t.Fatalf("register %s: %d %v", id, st, body)
		}
		for other, m := range numbers {
			if m == n {
				t.Fatalf("%s and %s drew the same number %s", id, other, n)
			}
		}
		numbers[id] = n
	}
	if st, _ := e.do("POST", "/api/v1/auctions/"+room+"/bidders", adminKey, map[string]string{"bidder": "a", "name": "again"}); st != http.StatusBadRequest {
		t.Fatalf("registered twice: %d", st)
	}
	if st, _ := e.do("POST", "/api/v1/auctions/nowhere/bidders", adminKey, map[string]string{"bidder": "x", "name": "x"}); st != http.StatusNotFound {
		t.Fatalf("no such auction: %d", st)
	}

	// Deposits by hand (no bond system here); qualification on a paid one.
	deposit := func(body map[string]string, want int) {
		t.Helper()
		if st, got := e.do("POST", "/api/v1/auctions/"+room+"/deposits", adminKey, body); st != want {
			t.Fatalf("deposit %v: %d %v", body, st, got)
		}
	}
	deposit(map[string]string{"bidder": "a"}, http.StatusBadRequest) // no bond system to ask
	deposit(map[string]string{"bidder": "a", "status": "paid", "amount": "2000000"}, http.StatusBadRequest)
	deposit(map[string]string{"bidder": "a", "status": "paid", "amount": "2000000", "reference": "BZJ-1"}, http.StatusOK)
	deposit(map[string]string{"bidder": "b", "status": "paid", "amount": "2000000", "reference": "BZJ-2"}, http.StatusOK)
	deposit(map[string]string{"bidder": "c", "status": "paid", "amount": "1999999.99", "reference": "BZJ-3"}, http.StatusOK)
	deposit(map[string]string{"bidder": "z", "status": "missing"}, http.StatusNotFound)
	qualify := func(id string, want int) {
		t.Helper()
		cmd := map[string]any{"id": "q-" + id, "type": rooms.CmdQualifyBidder, "data": map[string]any{"bidder": id, "qualified": true}}
		if st, got := e.do("POST", "/api/v1/sessions/"+room+"/commands", adminKey, cmd); st != want {
			t.Fatalf("qualify %s: %d %v", id, st, got)
		}
	}
	qualify("a", http.StatusOK)
	qualify("b", http.StatusOK)
	qualify("c", http.StatusConflict) // a deposit short of the one asked

	token := func(role rooms.Role, sub string) string {
		tok, _, err := e.issuer.Mint(auth.Request{Room: room, Role: role, Sub: sub, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	bidA, bidB, bidC := token(rooms.RoleBidder, "a"), token(rooms.RoleBidder, "b"), token(rooms.RoleBidder, "c")
	host, sup := token(rooms.RoleHost, "h"), token(rooms.RoleSupervisor, "s")
	if st, _ := e.do("GET", "/api/v1/sessions/"+room, token(rooms.RoleBidder, "stranger"), nil); st != http.StatusForbidden {
		t.Fatalf("an unregistered bidder: %d", st)
	}

	// Who sees the reserve before the end: the admin and supervisors only;
	// the ticker and no bidder sees a name.
	sees := func(tok string) string {
		t.Helper()
		_, body := e.do("GET", "/api/v1/sessions/"+room, tok, nil)
		raw, _ := json.Marshal(body)
		return string(raw)
	}
	ticker := func() (rooms.AuctionView, string) {
		t.Helper()
		st, body := e.do("GET", "/api/v1/auctions/"+room+"/ticker", "", nil)
		raw, _ := json.Marshal(body["auction"])
		var v rooms.AuctionView
		if st != http.StatusOK || json.Unmarshal(raw, &v) != nil {
			t.Fatalf("ticker: %d %v", st, body)
		}
		return v, string(raw)
	}
	checkSealed := func(when string) {
		t.Helper()
		for who, tok := range map[string]string{"bidder a": bidA, "bidder b": bidB, "host": host} {
			if strings.Contains(sees(tok), "10150000") {
				t.Fatalf("%s: %s sees the reserve", when, who)
			}
		}
		for who, tok := range map[string]string{"admin": adminKey, "supervisor": sup} {
			if !strings.Contains(sees(tok), "10150000") {
				t.Fatalf("%s: the %s does not see the reserve", when, who)
			}
		}
		_, pub := ticker()
		for _, secret := range []string{"10150000", `"a"`, `"b"`, names["a"], names["b"], "BZJ-1"} {
			if strings.Contains(pub, secret) {
				t.Fatalf("%s: the ticker shows %s: %s", when, secret, pub)
			}
		}
		if bidder := sees(bidA); strings.Contains(bidder, names["b"]) || strings.Contains(bidder, "BZJ-2") {
			t.Fatalf("%s: bidder a sees b: %s", when, bidder)
		}
	}
	checkSealed("announced")
	for _, path := range []string{"/api/v1/auctions/nowhere/ticker", "/api/v1/auctions/.../ticker"} {
		if st, _ := e.do("GET", path, "", nil); st != http.StatusNotFound {
			t.Fatalf("%s: %d", path, st)
		}
	}

	// The listing.
	e.advance(time.Minute)
	e.waitAuction(t, room, "the listing", func(v rooms.AuctionView) bool { return v.Phase == rooms.AuctionListing })
	bid := func(tok, id, amount string) (int, map[string]any) {
		t.Helper()
		return e.do("POST", "/api/v1/sessions/"+room+"/commands", tok, map[string]any{"id": id, "type": rooms.CmdBid, "data": map[string]string{"amount": amount}})
	}
	if st, body := bid(bidA, "a1", "10000000"); st != http.StatusOK {
		t.Fatalf("first bid: %d %v", st, body)
	}
	for _, c := range []struct {
		tok, id, amount, why string
		status               int
	}{
		{bidC, "c1", "10100000", "an unqualified bidder", http.StatusForbidden},
		{bidB, "b0", "10050000", "off the grid", http.StatusBadRequest},
		{bidB, "b0", "10000000", "not above the price", http.StatusBadRequest},
		{bidB, "b0", "1e7", "not a decimal", http.StatusBadRequest},
		{bidB, "b0", "10000000000000001", "over 10^15", http.StatusBadRequest},
		{bidA, "a2", "10100000", "raising one's own lead", http.StatusConflict},
		{host, "h1", "10100000", "the host", http.StatusForbidden},
	} {
		if st, body := bid(c.tok, c.id, c.amount); st != c.status {
			t.Fatalf("%s: %d %v, want %d", c.why, st, body, c.status)
		}
	}
	if st, body := bid(bidB, "b1", "10100000"); st != http.StatusOK {
		t.Fatalf("b's bid: %d %v", st, body)
	}
	// A replayed command id is the first answer again, nothing added.
	if st, body := bid(bidB, "b1", "10100000"); st != http.StatusOK || body["duplicate"] != true {
		t.Fatalf("replay: %d %v", st, body)
	}
	if v := e.waitAuction(t, room, "two bids", func(rooms.AuctionView) bool { return true }); v.BidCount != 2 || v.Highest.Number != numbers["b"] {
		t.Fatalf("after the replay: %d bids, highest %+v", v.BidCount, v.Highest)
	}
	checkSealed("listing")

	// The timed phase: a bid restarts the countdown; the sale at its end.
	e.advance(14 * 24 * time.Hour)
	timed := e.waitAuction(t, room, "the timed phase", func(v rooms.AuctionView) bool { return v.Phase == rooms.AuctionTimed })
	if st, body := bid(bidA, "a3", "10200000"); st != http.StatusOK {
		t.Fatalf("a's timed bid: %d %v", st, body)
	}
	if tk, _ := ticker(); tk.Phase != rooms.AuctionTimed || !tk.EndsAt.After(timed.EndsAt) || tk.Highest.Amount != "10200000" {
		t.Fatalf("ticker in the timed phase: %+v", tk)
	}
	checkSealed("timed")
	e.advance(61 * time.Second)
	v := e.waitAuction(t, room, "the letter", func(v rooms.AuctionView) bool { return v.Confirmation != nil })
	if v.Result.Result != rooms.AuctionSold || v.Result.Number != numbers["a"] || v.Result.Price != "10200000" {
		t.Fatalf("result %+v", v.Result)
	}
	if st, _ := bid(bidB, "b2", "10300000"); st != http.StatusConflict {
		t.Fatalf("a bid after the end: %d", st)
	}
	// The winner and staff get the letter, the loser and the ticker do not;
	// everyone sees the reserve now.
	if !strings.Contains(sees(bidA), v.Confirmation.Signature) || strings.Contains(sees(bidB), "confirmation") {
		t.Fatal("the letter reaches the wrong bidders")
	}
	tk, pub := ticker()
	if tk.Spec.ReservePrice != "10150000" || tk.Result == nil || strings.Contains(pub, "confirmation") || strings.Contains(pub, names["a"]) {
		t.Fatalf("ticker after the end: %s", pub)
	}
	evs, err := e.svc.EventsAfter(context.Background(), room, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rooms.VerifyConfirmation(evs, e.platform.Public()); err != nil {
		t.Fatal(err)
	}
}

// TestAuctionDepositsFromTheBondSystem: with a bond system configured the
// deposits come from it, never by hand.
func TestAuctionDepositsFromTheBondSystem(t *testing.T) {
	bonds := bond.Static{
		"a": {Status: bond.Paid, Amount: "2000000", Reference: "BZJ-9"},
		"b": {Status: bond.Guaranteed, Amount: "2000000", Guarantor: "某银行", Reference: "DZBH-1"},
	}
	e := newEnvFor(t, func(d *api.Deps) { d.Bonds = bonds })
	const room = "au-2"
	if st, body := e.do("POST", "/api/v1/auctions", adminKey, auctionBody(room, e.now())); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, body)
	}
	for _, id := range []string{"a", "b", "c"} {
		if st, body := e.do("POST", "/api/v1/auctions/"+room+"/bidders", adminKey, map[string]string{"bidder": id, "name": "公司" + id}); st != http.StatusCreated {
			t.Fatalf("register %s: %d %v", id, st, body)
		}
	}
	if st, _ := e.do("POST", "/api/v1/auctions/"+room+"/deposits", adminKey, map[string]string{"bidder": "a", "status": "paid", "amount": "2000000", "reference": "x"}); st != http.StatusConflict {
		t.Fatalf("by hand beside a bond system: %d", st)
	}
	want := map[string]string{"a": rooms.DepositPaid, "b": rooms.DepositPaid, "c": rooms.DepositMissing}
	for id, status := range want {
		st, body := e.do("POST", "/api/v1/auctions/"+room+"/deposits", adminKey, map[string]string{"bidder": id})
		d, _ := body["deposit"].(map[string]any)
		if st != http.StatusOK || d["status"] != status || d["source"] != rooms.DepositFromBondSystem {
			t.Fatalf("deposit of %s: %d %v", id, st, body)
		}
	}
	v := e.waitAuction(t, room, "the deposits", func(rooms.AuctionView) bool { return true })
	for _, row := range v.Bidders {
		if row.Deposit == nil || row.Deposit.Status != want[row.Bidder] {
			t.Fatalf("row %+v", row)
		}
	}
}
