package rooms_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

func TestAuctionConfirmationLetter(t *testing.T) {
	w, platform := wholeAuction(t)
	ctx := context.Background()
	issued, letter, err := w.svc.ConfirmationToSign(ctx, w.room)
	if err != nil || issued == nil || letter != "" {
		t.Fatalf("after issuing: %+v %q %v", issued, letter, err)
	}
	var c rooms.AuctionLetter
	if err := json.Unmarshal([]byte(issued.JSON), &c); err != nil {
		t.Fatal(err)
	}
	evs := w.events()
	var endedSeq uint64
	var endedHash string
	for _, e := range evs {
		if e.Type == rooms.EvAuctionEnded {
			endedSeq, endedHash = e.Seq, e.Hash
		}
	}
	want := rooms.AuctionLetter{Version: rooms.AuctionLetterVersion, Auction: "au1", Lot: "锡国土(经)2026-12号", Title: auctionSpec().Title,
		Category: "land", Seller: "无锡市自然资源和规划局", Number: beta.number, Winner: beta.id, WinnerName: beta.name, Price: "12400000",
		EndedAt: listingEnd.Add(6 * time.Minute), LogSeq: endedSeq, LogHead: endedHash}
	if got, _ := json.Marshal(c); string(got) != issued.JSON || c != want {
		t.Fatalf("letter %s\nwant %+v", issued.JSON, want)
	}

	// Offline: the log and the platform key suffice.
	done, err := rooms.VerifyConfirmation(evs, platform.Public())
	if err != nil || len(done) != 4 {
		t.Fatalf("verify: %v after %v", err, done)
	}
	other, _ := decrypt.GenerateKey()
	if _, err := rooms.VerifyConfirmation(evs, other.Public()); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("another key: %v", err)
	}
	tampered := append([]rooms.Event(nil), evs...)
	tampered[len(tampered)-1].Data = json.RawMessage(strings.Replace(string(tampered[len(tampered)-1].Data), "12400000", "12300000", 1))
	if _, err := rooms.VerifyConfirmation(tampered, platform.Public()); err == nil {
		t.Fatal("a changed letter verifies")
	}

	// Once only; from the server only.
	w.refused(rooms.CodeWrongState, rooms.SystemActor, rooms.CmdRecordConfirmationLetter, *issued)
	w.refused(rooms.CodeForbidden, admin, rooms.CmdRecordConfirmationLetter, *issued)
}

func TestAuctionConfirmationRefusals(t *testing.T) {
	w := newAuction(t, nil).open()
	platform, _ := decrypt.GenerateKey()
	if _, _, err := w.svc.ConfirmationToSign(context.Background(), w.room); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("before the end: %v", err)
	}
	w.mustBid(alpha, "12400000")
	w.closeListing()
	good := signLetter(t, w, platform)
	for name, edit := range map[string]func(c *rooms.ConfirmationIssued){
		"another text":       func(c *rooms.ConfirmationIssued) { c.JSON = strings.Replace(c.JSON, "12400000", "12300000", 1) },
		"a wrong digest":     func(c *rooms.ConfirmationIssued) { c.Digest = strings.Repeat("0", 64) },
		"no signature":       func(c *rooms.ConfirmationIssued) { c.Signature = "" },
		"a key id too short": func(c *rooms.ConfirmationIssued) { c.KeyID = "00" },
	} {
		c := good
		edit(&c)
		if msg := w.refused(rooms.CodeInvalid, rooms.SystemActor, rooms.CmdRecordConfirmationLetter, c); msg == "" {
			t.Fatal(name)
		}
	}
	w.must(rooms.SystemActor, rooms.CmdRecordConfirmationLetter, good)
	if _, err := rooms.VerifyConfirmation(w.events(), platform.Public()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.ConfirmationToSign(context.Background(), "nowhere"); rooms.RefusalCode(err) != rooms.CodeNotFound {
		t.Fatalf("no such auction: %v", err)
	}
}
