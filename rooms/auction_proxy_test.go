package rooms_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

func (w *auctionWorld) proxy(b auctionBidder, max string) error {
	w.t.Helper()
	_, err := w.do(b.actor(), rooms.CmdSetProxy, rooms.ProxyRequest{Max: max})
	return err
}

func (w *auctionWorld) mustProxy(b auctionBidder, max string) {
	w.t.Helper()
	if err := w.proxy(b, max); err != nil {
		w.t.Fatalf("%s sets a proxy of %s: %v", b.id, max, err)
	}
}

// checkBidLog checks the bids of a log are an ordinary ascending auction:
// each above the one before, on the fixed grid of 100000 from 10000000,
// never by the bidder who leads.
func checkBidLog(t *testing.T, events []rooms.Event) {
	t.Helper()
	var last rooms.BidPlaced
	for i, e := range events {
		if e.Type != rooms.EvBidPlaced {
			continue
		}
		var b rooms.BidPlaced
		if err := json.Unmarshal(e.Data, &b); err != nil {
			t.Fatal(err)
		}
		amt, _ := strconv.ParseFloat(b.Amount, 64)
		prev, _ := strconv.ParseFloat(last.Amount, 64)
		switch {
		case last.Number != "" && amt <= prev:
			t.Fatalf("event %d: bid %s is not above %s", i, b.Amount, last.Amount)
		case last.Number == b.Number:
			t.Fatalf("event %d: %s raised their own lead to %s", i, b.Number, b.Amount)
		case int64(amt)%100000 != 0 || amt < 10000000:
			t.Fatalf("event %d: bid %s is off the grid", i, b.Amount)
		}
		last = b
	}
}

func TestAuctionProxies(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(w *auctionWorld)
		bids []string
	}{
		{"a proxy bids the start price", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
		}, []string{"4821 10000000 proxy"}},
		{"two proxies: the higher wins one step above the other's max", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
			w.mustProxy(beta, "10800000")
		}, []string{"4821 10000000 proxy", "73019 10100000 proxy", "4821 10500000 proxy", "73019 10600000 proxy"}},
		{"a proxy answers manual bids up to its max", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
			w.mustBid(beta, "10200000")
			w.mustBid(beta, "10500000") // alpha's proxy cannot go above 10500000
		}, []string{"4821 10000000 proxy", "73019 10200000", "4821 10300000 proxy", "73019 10500000"}},
		{"a manual bid above a proxy's max", func(w *auctionWorld) {
			w.mustBid(beta, "10000000")
			w.mustProxy(alpha, "10500000")
			w.mustBid(beta, "11000000")
		}, []string{"73019 10000000", "4821 10100000 proxy", "73019 11000000"}},
		{"equal maxes: the proxy set first wins", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
			w.mustProxy(beta, "10500000")
		}, []string{"4821 10000000 proxy", "73019 10400000 proxy", "4821 10500000 proxy"}},
		{"equal maxes the other way round", func(w *auctionWorld) {
			w.mustProxy(beta, "10500000")
			w.mustProxy(alpha, "10500000")
		}, []string{"73019 10000000 proxy", "4821 10400000 proxy", "73019 10500000 proxy"}},
		{"equal maxes one step above the price: the leader's proxy keeps the lead", func(w *auctionWorld) {
			w.mustBid(beta, "10300000")
			w.mustProxy(alpha, "10500000")
			w.mustProxy(gamma, "10500000") // its only possible bid, 10500000, alpha's proxy could not answer
			w.mustBid(gamma, "10500000")   // a manual bid is a bid: alpha's proxy cannot go above it
		}, []string{"73019 10300000", "4821 10400000 proxy", "600125 10500000"}},
		{"three proxies", func(w *auctionWorld) {
			w.mustProxy(alpha, "11000000")
			w.mustProxy(beta, "10700000")
			w.mustProxy(gamma, "10900000")
		}, []string{"4821 10000000 proxy", "73019 10700000 proxy", "4821 10800000 proxy", "600125 10900000 proxy", "4821 11000000 proxy"}},
		{"raising one's own max", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
			w.mustProxy(beta, "10500000") // alpha wins the tie at 10500000
			w.mustProxy(beta, "11000000") // set again: it now outranks alpha
		}, []string{"4821 10000000 proxy", "73019 10400000 proxy", "4821 10500000 proxy", "73019 10600000 proxy"}},
		{"a cancelled proxy bids no more", func(w *auctionWorld) {
			w.mustProxy(alpha, "10500000")
			w.must(alpha.actor(), rooms.CmdCancelProxy, nil)
			w.mustBid(beta, "10100000")
		}, []string{"4821 10000000 proxy", "73019 10100000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAuction(t, nil).open()
			tc.run(w)
			if got := w.bids(); !slices.Equal(got, tc.bids) {
				t.Fatalf("bids\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.bids, "\n"))
			}
			checkBidLog(t, w.events())
		})
	}
}

func TestAuctionProxyRefusals(t *testing.T) {
	w := newAuction(t, nil)
	w.refused(rooms.CodeTooEarly, alpha.actor(), rooms.CmdSetProxy, rooms.ProxyRequest{Max: "10500000"})
	w.open()
	w.mustBid(beta, "10300000")
	for _, tc := range []struct {
		who  rooms.Actor
		max  string
		code string
	}{
		{alpha.actor(), "10450000", rooms.CodeInvalid},            // off the grid
		{alpha.actor(), "10300000", rooms.CodeInvalid},            // not above the price
		{alpha.actor(), "1000000000000000.01", rooms.CodeInvalid}, // over 10^15
		{alpha.actor(), "abc", rooms.CodeInvalid},
		{delta.actor(), "10500000", rooms.CodeForbidden}, // not qualified
		{host, "10500000", rooms.CodeForbidden},
		{supervisor, "10500000", rooms.CodeForbidden},
	} {
		w.refused(tc.code, tc.who, rooms.CmdSetProxy, rooms.ProxyRequest{Max: tc.max})
	}
	w.refused(rooms.CodeNotFound, alpha.actor(), rooms.CmdCancelProxy, nil)
	// The leader may set a proxy to defend the lead.
	w.mustProxy(beta, "10800000")
	w.mustBid(alpha, "10400000")
	if got := w.bids(); !slices.Equal(got, []string{"73019 10300000", "4821 10400000", "73019 10500000 proxy"}) {
		t.Fatalf("bids %v", got)
	}

	off := newAuction(t, func(s *rooms.AuctionSpec) { s.ProxyAllowed = false }).open()
	off.refused(rooms.CodeForbidden, alpha.actor(), rooms.CmdSetProxy, rooms.ProxyRequest{Max: "10500000"})
}

func TestAuctionProxyInTheTimedBidding(t *testing.T) {
	w := newAuction(t, nil).open()
	w.mustBid(alpha, "10000000")
	w.mustBid(beta, "10100000")
	w.closeListing()
	at := listingEnd.Add(2 * time.Minute)
	w.at(at).mustProxy(alpha, "10500000")
	w.at(at.Add(time.Minute)).mustBid(beta, "10300000")
	evs := w.events()
	var last rooms.BidPlaced
	_ = json.Unmarshal(evs[len(evs)-1].Data, &last)
	if !last.Proxy || last.Amount != "10400000" || !last.EndsAt.Equal(at.Add(6*time.Minute)) {
		t.Fatalf("the proxy's answer %+v, want 10400000 restarting the countdown", last)
	}
	if v := w.view(gamma.actor()); !v.EndsAt.Equal(at.Add(6 * time.Minute)) {
		t.Fatalf("ends_at %v", v.EndsAt)
	}
}

// TestAuctionProxyRanking drives random bids and proxies from four
// bidders and checks, after every command, that the log is an ordinary
// ascending auction and that no proxy could still outbid the leader
// unless the leader's own proxy ranks above it (higher max, or equal and
// set earlier).
func TestAuctionProxyRanking(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := newAuction(t, nil).open()
			w.qualify(delta)
			rng := rand.New(rand.NewPCG(seed, 1))
			who := []auctionBidder{alpha, beta, gamma, delta}
			for range 60 {
				b := who[rng.IntN(len(who))]
				v := w.view(b.actor())
				next, _ := strconv.ParseInt(v.MinNext, 10, 64)
				amount := strconv.FormatInt(next+int64(rng.IntN(4))*100000, 10)
				switch rng.IntN(5) {
				case 0, 1:
					_ = w.bid(b, amount)
				case 2, 3:
					_ = w.proxy(b, amount)
				default:
					_, _ = w.do(b.actor(), rooms.CmdCancelProxy, nil)
				}
				checkBidLog(t, w.events())
				checkRanking(t, w)
			}
			auto := 0
			for _, b := range w.bids() {
				if strings.HasSuffix(b, " proxy") {
					auto++
				}
			}
			if auto == 0 {
				t.Fatal("no automatic bid: the test proves nothing")
			}
			t.Logf("%d bids, %d automatic", len(w.bids()), auto)
		})
	}
}

func checkRanking(t *testing.T, w *auctionWorld) {
	t.Helper()
	type px struct {
		max int64
		seq uint64
	}
	proxies := map[string]px{}
	for _, e := range w.events() {
		var p rooms.ProxySet
		switch e.Type {
		case rooms.EvProxySet:
			_ = json.Unmarshal(e.Data, &p)
			m, _ := strconv.ParseInt(p.Max, 10, 64)
			proxies[p.Number] = px{m, e.Seq}
		case rooms.EvProxyCancelled:
			_ = json.Unmarshal(e.Data, &p)
			delete(proxies, p.Number)
		}
	}
	v := w.view(supervisor)
	if v.Highest == nil {
		if len(proxies) > 0 {
			t.Fatalf("no bid, yet %d proxies", len(proxies))
		}
		return
	}
	next, _ := strconv.ParseInt(v.MinNext, 10, 64)
	lead, hasLead := proxies[v.Highest.Number]
	for n, p := range proxies {
		if n == v.Highest.Number || p.max < next {
			continue
		}
		if !hasLead || lead.max < p.max || (lead.max == p.max && lead.seq > p.seq) {
			t.Fatalf("the proxy of %s (max %d) could outbid %s at %s, and the leader's proxy %+v does not outrank it", n, p.max, v.Highest.Number, v.Highest.Amount, lead)
		}
	}
}
