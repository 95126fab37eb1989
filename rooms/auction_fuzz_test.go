package rooms_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// auctionCommands are every command type of the auction room kind.
var auctionCommands = []string{
	rooms.CmdCreateAuction, rooms.CmdRegisterAuctionBidder, rooms.CmdRecordDeposit, rooms.CmdQualifyBidder,
	rooms.CmdOpenListing, rooms.CmdCloseListing, rooms.CmdEndAuction, rooms.CmdBid, rooms.CmdSetProxy,
	rooms.CmdCancelProxy, rooms.CmdRecordConfirmationLetter, rooms.CmdRecordMedia,
}

// FuzzAuctionCommand sends arbitrary data, of every command type of the
// auction, from every kind of actor, at times around each event, to the
// room as it stood after each event of a whole auction (registration,
// proxies, listing, timed bidding, sale, letter): nothing panics, a
// refusal is a *Refusal that changes nothing, a command taken yields
// events that fold, and the bids stay an ordinary ascending auction.
func FuzzAuctionCommand(f *testing.F) {
	w, _ := wholeAuction(&testing.T{})
	events := w.events()
	actors := []rooms.Actor{admin, rooms.SystemActor, supervisor, host, alpha.actor(), beta.actor(), gamma.actor(), delta.actor(),
		{Sub: "stranger", Role: rooms.RoleBidder}, expertActor("x1")}
	offsets := []time.Duration{0, -time.Millisecond, time.Millisecond, 5 * time.Minute, 24 * time.Hour, 15 * 24 * time.Hour}
	for i := range auctionCommands {
		f.Add(uint8(i), uint8(i*5), uint8(i), uint8(i), []byte(`{}`))
	}
	f.Add(uint8(7), uint8(20), uint8(4), uint8(0), []byte(`{"amount":"10600000"}`))
	f.Add(uint8(7), uint8(22), uint8(5), uint8(2), []byte(`{"amount":"99999999999999999.99"}`))
	f.Add(uint8(8), uint8(19), uint8(6), uint8(0), []byte(`{"max":"1000000000000000"}`))
	f.Add(uint8(8), uint8(21), uint8(4), uint8(1), []byte(`{"max":"10900000"}`))
	f.Add(uint8(2), uint8(5), uint8(1), uint8(0), []byte(`{"bidder":"bidder-delta","status":"paid","amount":"2000000"}`))
	f.Add(uint8(3), uint8(9), uint8(0), uint8(0), []byte(`{"bidder":"bidder-delta","qualified":true}`))
	f.Add(uint8(1), uint8(3), uint8(0), uint8(0), []byte(`{"bidder":"e","name":"戊","number":"00000000"}`))
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), []byte(`{"title":"t","lot":"l","category":"mining","seller":"s","start_price":"0.01","increments":{"stages":[{"from":"0","step":"0.01"},{"from":"0.02","step":"999999999999999"}]},"deposit":"0.01","listing_start":"2030-01-01T00:00:00Z","listing_end":"2030-01-20T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, cmdIdx, cut, actorIdx, off uint8, data []byte) {
		typ := auctionCommands[int(cmdIdx)%len(auctionCommands)]
		who := actors[int(actorIdx)%len(actors)]
		prefix := events[:1+int(cut)%len(events)]
		now := prefix[len(prefix)-1].Time.Add(offsets[int(off)%len(offsets)])
		st, err := rooms.NewState("au1", prefix)
		if err != nil {
			t.Fatal(err)
		}
		seq, hash := st.Head()
		if !json.Valid(data) {
			data = nil
		}
		drafts, err := st.Decide(who, rooms.Command{ID: "fuzz", Type: typ, Data: data}, now)
		if err != nil {
			if rooms.RefusalCode(err) == "" {
				t.Fatalf("%s by %s at #%d: %v is not a refusal", typ, who.Role, seq, err)
			}
			if s2, h2 := st.Head(); s2 != seq || h2 != hash || len(drafts) != 0 {
				t.Fatalf("%s refused but the state changed", typ)
			}
			return
		}
		all := append([]rooms.Event(nil), prefix...)
		prev := hash
		for i, d := range drafts {
			body, err := json.Marshal(d.Data)
			if err != nil {
				t.Fatalf("%s: draft %s does not encode: %v", typ, d.Type, err)
			}
			e := rooms.Event{Room: "au1", Seq: seq + uint64(i) + 1, Time: now, Actor: who, Type: d.Type, CommandID: "fuzz", Vis: d.Vis, Data: body}
			e.Seal(prev)
			prev = e.Hash
			if err := st.Apply(e); err != nil {
				t.Fatalf("%s by %s at #%d: a taken command's event %s does not fold: %v", typ, who.Role, seq, d.Type, err)
			}
			all = append(all, e)
		}
		checkBidLog(t, all)
		for _, a := range actors {
			_ = fmt.Sprint(st.View(a))
		}
	})
}
