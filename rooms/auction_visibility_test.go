package rooms_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// wholeAuction runs one auction from creation to its confirmation letter:
// proxies and manual bids in the listing, the timed bidding, a sale to
// beta above the reserve, a recording, the letter signed by platform.
func wholeAuction(t *testing.T) (*auctionWorld, *decrypt.PrivateKey) {
	t.Helper()
	w := newAuction(t, nil)
	w.must(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: delta.id, Status: rooms.DepositMissing, Reference: "BZJ-5555"})
	w.open()
	w.at(listingStart.Add(time.Hour)).mustProxy(alpha, "10500000")
	w.at(listingStart.Add(2*time.Hour)).mustBid(beta, "10200000")
	w.at(listingStart.Add(3*time.Hour)).mustProxy(gamma, "10800000")
	w.closeListing()
	w.at(listingEnd.Add(time.Minute)).mustBid(beta, "12400000")
	w.must(rooms.SystemActor, rooms.CmdRecordMedia, rooms.Recording{Hall: "au1", Feed: "host", File: "au1-host.webm", Bytes: 1000, SM3: strings.Repeat("a", 64)})
	w.at(listingEnd.Add(6*time.Minute)).must(rooms.SystemActor, rooms.CmdEndAuction, nil)
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w.must(rooms.SystemActor, rooms.CmdRecordConfirmationLetter, signLetter(t, w, platform))
	return w, platform
}

// signLetter signs the letter the room gives, as the server does.
func signLetter(t *testing.T, w *auctionWorld, platform *decrypt.PrivateKey) rooms.ConfirmationIssued {
	t.Helper()
	issued, letter, err := w.svc.ConfirmationToSign(context.Background(), w.room)
	if err != nil || issued != nil {
		t.Fatalf("the letter to sign: %v (issued %v)", err, issued)
	}
	sig, err := platform.Sign(rooms.AuctionLetterMessage(w.room, letter))
	if err != nil {
		t.Fatal(err)
	}
	id := platform.Public().ID()
	return rooms.ConfirmationIssued{JSON: letter, Digest: hex.EncodeToString(sm3.Sm3Sum([]byte(letter))),
		Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(id[:])}
}

// received renders an event as viewer receives it over the websocket:
// staff the whole event; anyone else its type, time, public actor and
// public data (signaling's publicEvent).
func received(t *testing.T, e rooms.Event, viewer rooms.Actor) []byte {
	t.Helper()
	var v any = e
	if !viewer.Role.IsStaff() {
		v = struct {
			Type  string          `json:"type"`
			Time  time.Time       `json:"time"`
			Actor rooms.Actor     `json:"actor"`
			Data  json.RawMessage `json:"data,omitempty"`
		}{e.Type, e.Time, rooms.PublicActor(&e), rooms.PublicData(&e)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuctionVisibility folds every prefix of a whole auction and checks,
// for every role, the view and every event it receives: the reserve is
// sealed from all but the admin and the supervisors until the end and
// public after it; no bidder ever receives another bidder's id or name,
// in a view, an event's data or its actor; a proxy's max reaches only
// its bidder and the supervisors; the letter only the winner and staff.
func TestAuctionVisibility(t *testing.T) {
	w, _ := wholeAuction(t)
	events := w.events()
	viewers := []rooms.Actor{admin, host, supervisor, alpha.actor(), beta.actor(), gamma.actor(), delta.actor()}
	bidders := []auctionBidder{alpha, beta, gamma, delta}
	sealedFor := func(a rooms.Actor) bool { return a.Role != rooms.RoleAdmin && a.Role != rooms.RoleSupervisor }
	ended := slices.IndexFunc(events, func(e rooms.Event) bool { return e.Type == rooms.EvAuctionEnded })
	if ended < 0 {
		t.Fatal("the auction did not end")
	}
	for n := 1; n <= len(events); n++ {
		st, err := rooms.NewState(w.room, events[:n])
		if err != nil {
			t.Fatal(err)
		}
		for _, viewer := range viewers {
			if err := st.Admits(viewer); err != nil {
				if viewer.Role != rooms.RoleBidder {
					t.Fatalf("%s %s not admitted: %v", viewer.Role, viewer.Sub, err)
				}
				continue // not registered yet
			}
			view, _ := json.Marshal(st.View(viewer))
			e := events[n-1]
			var got []byte
			if e.Vis.VisibleTo(viewer) {
				got = received(t, e, viewer)
			}
			for what, b := range map[string][]byte{"view": view, "event " + e.Type: got} {
				if sealedFor(viewer) && n-1 < ended && strings.Contains(string(b), reserve) {
					t.Fatalf("before the end, %s's %s at #%d shows the reserve: %s", viewer.Role, what, n, b)
				}
				if viewer.Role != rooms.RoleBidder {
					continue
				}
				for _, o := range bidders {
					if o.id != viewer.Sub && (strings.Contains(string(b), o.id) || strings.Contains(string(b), o.name)) {
						t.Fatalf("%s's %s at #%d names %s: %s", viewer.Sub, what, n, o.id, b)
					}
				}
			}
			if n == len(events) {
				if !strings.Contains(string(view), `"reserve_price":"`+reserve+`"`) {
					t.Fatalf("after the end, %s's view does not show the reserve", viewer.Role)
				}
			} else if !sealedFor(viewer) && n > 1 && !strings.Contains(string(view), reserve) {
				t.Fatalf("%s's view at #%d lacks the reserve", viewer.Role, n)
			}
		}
	}
	// Who receives what, event by event.
	for _, e := range events {
		for _, viewer := range viewers {
			sees := e.Vis.VisibleTo(viewer)
			var want bool
			switch e.Type {
			case rooms.EvAuctionTerms:
				want = viewer.Role == rooms.RoleAdmin || viewer.Role == rooms.RoleSupervisor
			case rooms.EvProxySet, rooms.EvProxyCancelled:
				var p rooms.ProxySet
				_ = json.Unmarshal(e.Data, &p)
				want = viewer.Role == rooms.RoleSupervisor || viewer.Sub == p.Bidder
			case rooms.EvAuctionBidderRegistered, rooms.EvDepositRecorded, rooms.EvBidderQualified:
				var p struct{ Bidder string }
				_ = json.Unmarshal(e.Data, &p)
				want = viewer.Role.IsStaff() || viewer.Sub == p.Bidder
			case rooms.EvConfirmationIssued:
				want = viewer.Role.IsStaff() || viewer.Sub == beta.id
			case rooms.EvMediaRecorded:
				want = viewer.Role.IsStaff()
			default:
				want = true
			}
			if sees != want {
				t.Fatalf("#%d %s visible to %s %s: %v, want %v", e.Seq, e.Type, viewer.Role, viewer.Sub, sees, want)
			}
			if e.Type == rooms.EvBidPlaced && viewer.Role == rooms.RoleBidder {
				var got struct{ Actor rooms.Actor }
				_ = json.Unmarshal(received(t, e, viewer), &got)
				if got.Actor.Sub != "" {
					t.Fatalf("#%d a bid reaches %s with its actor %s", e.Seq, viewer.Sub, got.Actor.Sub)
				}
			}
		}
	}
	// The views at the end.
	if v := w.view(supervisor); len(v.Bidders) != 4 || v.Bidders[0].ProxyMax != "10500000" || v.Bids[0].Bidder != alpha.id || v.Confirmation == nil || len(v.Recordings) != 1 {
		t.Fatalf("the supervisor's view %+v", v)
	}
	if v := w.view(host); len(v.Bidders) != 4 || v.Bidders[0].ProxyMax != "" || v.Bidders[2].Deposit == nil || v.Bids[0].Bidder != alpha.id {
		t.Fatalf("the host's view %+v", v)
	}
	if v := w.view(gamma.actor()); v.You == nil || v.You.Number != gamma.number || v.You.ProxyMax != "10800000" || v.You.Deposit == nil ||
		len(v.Bidders) != 0 || v.Confirmation != nil || v.Bids[0].Bidder != "" || v.Recordings != nil {
		t.Fatalf("gamma's view %+v", v)
	}
	if v := w.view(beta.actor()); v.Confirmation == nil || !v.You.Leading || v.You.ProxyMax != "" {
		t.Fatalf("the winner's view %+v", v)
	}
}
