package rooms_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// reseal rebuilds the chain after an edit, as a forger with write access
// to the store could: what is left to catch the edit is the rules.
func reseal(evs []rooms.Event) []rooms.Event {
	out := append([]rooms.Event(nil), evs...)
	prev := ""
	for i := range out {
		out[i].Seal(prev)
		prev = out[i].Hash
	}
	return out
}

func TestVerifyAuction(t *testing.T) {
	w, platform := wholeAuction(t)
	evs := w.events()
	done, err := rooms.VerifyAuction(evs, platform.Public())
	if err != nil {
		t.Fatalf("%v after %v", err, done)
	}
	all := strings.Join(done, "\n")
	for _, want := range []string{"哈希链完整", "每笔报价符合竞价规则", "sold (成交) to 竞买号 " + beta.number, "平台签名有效"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the checks do not say %q:\n%s", want, all)
		}
	}

	// Each forgery, with the chain rebuilt, is caught by a rule.
	edit := func(typ string, nth int, f func(m map[string]any)) []rooms.Event {
		out := append([]rooms.Event(nil), evs...)
		n := 0
		for i, e := range out {
			if e.Type != typ {
				continue
			}
			if n++; n != nth {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(e.Data, &m); err != nil {
				t.Fatal(err)
			}
			f(m)
			out[i].Data, _ = json.Marshal(m)
		}
		return reseal(out)
	}
	last := func(typ string) int {
		n := 0
		for _, e := range evs {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	lastBid := last(rooms.EvBidPlaced)
	for name, c := range map[string]struct {
		evs  []rooms.Event
		want string
	}{
		"a bid off the grid":       {edit(rooms.EvBidPlaced, 1, func(m map[string]any) { m["amount"] = "10050001" }), "grid"},
		"a bid after the end":      {edit(rooms.EvBidPlaced, lastBid, func(m map[string]any) { m["at"] = listingEnd.Add(time.Hour) }), "bidding ended"},
		"the countdown not reset":  {edit(rooms.EvBidPlaced, lastBid, func(m map[string]any) { m["ends_at"] = listingEnd.Add(time.Hour) }), "countdown was not restarted"},
		"an unqualified number":    {edit(rooms.EvBidPlaced, 1, func(m map[string]any) { m["number"] = delta.number }), "not qualified"},
		"a lower winning price":    {edit(rooms.EvAuctionEnded, 1, func(m map[string]any) { m["price"] = "12300000" }), "the bids give"},
		"another winner":           {edit(rooms.EvAuctionEnded, 1, func(m map[string]any) { m["number"] = alpha.number }), "the bids give"},
		"an end before the end":    {edit(rooms.EvAuctionEnded, 1, func(m map[string]any) { m["ended_at"] = listingEnd }), "before the countdown's end"},
		"a bid before the listing": {edit(rooms.EvBidPlaced, 1, func(m map[string]any) { m["at"] = listingStart.Add(-time.Second) }), "listing"},
	} {
		if _, err := rooms.VerifyAuction(c.evs, platform.Public()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	if _, err := rooms.VerifyAuction(evs[:len(evs)-1], platform.Public()); err != nil {
		t.Fatalf("sold, letter not yet issued: %v", err)
	}
	other, _ := decrypt.GenerateKey()
	if _, err := rooms.VerifyAuction(evs, other.Public()); err == nil {
		t.Fatal("another platform key passes")
	}

	// The letter alone, as the winner saved it.
	v := w.view(beta.actor())
	letter, checks, err := rooms.VerifyLetter(*v.Confirmation, platform.Public())
	if err != nil || letter.Number != beta.number || len(checks) != 3 {
		t.Fatalf("the letter alone: %+v %v %v", letter, checks, err)
	}
	forged := *v.Confirmation
	forged.JSON = strings.Replace(forged.JSON, "12400000", "1240000", 1)
	if _, _, err := rooms.VerifyLetter(forged, platform.Public()); err == nil {
		t.Fatal("a changed price passes")
	}
	if _, _, err := rooms.VerifyLetter(*v.Confirmation, other.Public()); err == nil {
		t.Fatal("another key passes")
	}
}

// FuzzVerifyAuction: a log whose one event's data is anything, the chain
// rebuilt, is judged by VerifyAuction without a panic.
func FuzzVerifyAuction(f *testing.F) {
	var (
		once     sync.Once
		evs      []rooms.Event
		platform *decrypt.PrivateKey
	)
	f.Add(uint8(9), []byte(`{"number":"4821","amount":"99999999999999999","at":"2026-11-26T00:00:00Z"}`))
	f.Add(uint8(20), []byte(`{"result":"sold","number":"","price":"-1"}`))
	f.Add(uint8(0), []byte(`{"start_price":"0","increments":{"stages":[{"from":"0","step":"0"}]}}`))
	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		once.Do(func() {
			w, p := wholeAuction(t)
			evs, platform = w.events(), p
		})
		out := append([]rooms.Event(nil), evs...)
		out[int(idx)%len(out)].Data = data
		_, _ = rooms.VerifyAuction(reseal(out), platform.Public())
	})
}
