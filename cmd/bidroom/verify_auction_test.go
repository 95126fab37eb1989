package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// soldAuction runs an auction to its sale and letter on a moved clock and
// returns its log and the winner's view.
func soldAuction(t *testing.T, platform *decrypt.PrivateKey) ([]rooms.Event, rooms.AuctionView) {
	t.Helper()
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	clock := &demoClock{t: time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)} // a Monday
	svc := rooms.NewService(log, clock.now)
	ctx := context.Background()
	n := 0
	exec := func(a rooms.Actor, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		n++
		if _, err := svc.Execute(ctx, "au", a, rooms.Command{ID: typ + string(rune('a'+n)), Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	admin := rooms.Actor{Sub: "admin", Role: rooms.RoleAdmin}
	start := clock.now().Add(time.Hour)
	exec(admin, rooms.CmdCreateAuction, rooms.AuctionSpec{Title: "R-17地块", Lot: "2026-G-17", Category: "land", Seller: "某市自然资源和规划局",
		StartPrice: "10000000", Increments: rooms.Increments{Step: "100000"}, ReservePrice: "10000000", Deposit: "2000000",
		ListingStart: start, ListingEnd: start.AddDate(0, 0, 14), CountdownSeconds: 60})
	for i, b := range []string{"a", "b"} {
		exec(rooms.SystemActor, rooms.CmdRegisterAuctionBidder, rooms.AuctionBidderSpec{Bidder: b, Name: "公司" + b, Number: []string{"4821", "73019"}[i]})
		exec(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: b, Status: rooms.DepositPaid, Amount: "2000000", Reference: "BZJ-" + b})
		exec(admin, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: b, Qualified: true})
	}
	clock.advance(time.Hour)
	exec(rooms.SystemActor, rooms.CmdOpenListing, nil)
	exec(rooms.Actor{Sub: "a", Role: rooms.RoleBidder}, rooms.CmdBid, rooms.BidRequest{Amount: "10000000"})
	exec(rooms.Actor{Sub: "b", Role: rooms.RoleBidder}, rooms.CmdBid, rooms.BidRequest{Amount: "10100000"})
	clock.advance(14 * 24 * time.Hour)
	exec(rooms.SystemActor, rooms.CmdCloseListing, nil)
	clock.advance(59 * time.Second)
	exec(rooms.Actor{Sub: "a", Role: rooms.RoleBidder}, rooms.CmdBid, rooms.BidRequest{Amount: "10200000"})
	clock.advance(time.Minute)
	exec(rooms.SystemActor, rooms.CmdEndAuction, nil)
	data, err := svc.ConfirmationFill(platform)(ctx, "au")
	if err != nil {
		t.Fatal(err)
	}
	exec(rooms.SystemActor, rooms.CmdRecordConfirmationLetter, json.RawMessage(data))
	evs, err := svc.EventsAfter(ctx, "au", 0)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := svc.Snapshot(ctx, "au", rooms.Actor{Sub: "a", Role: rooms.RoleBidder})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := snap.Auction()
	return evs, v
}

// TestVerifyAuctionCommand: `bidroom verify --auction` passes on an
// auction's exported log and on the winner's saved letter, and fails on
// an edited log, an edited letter and another platform key.
func TestVerifyAuctionCommand(t *testing.T) {
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	evs, winner := soldAuction(t, platform)
	dir := t.TempDir()
	pem, _ := platform.Public().MarshalPEM()
	keyFile := writeTestFile(t, dir, "platform.pem", pem)
	var lines bytes.Buffer
	for _, e := range evs {
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(b, '\n'))
	}
	ctx := context.Background()
	verify := func(file, key string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, []string{"verify", "--auction", file, "--platform-key", key}, &out, &out)
		return out.String(), err
	}
	logFile := writeTestFile(t, dir, "auction.log", lines.Bytes())
	if out, err := verify(logFile, keyFile); err != nil || !strings.Contains(out, "核验通过 / OK") || !strings.Contains(out, "sold (成交) to 竞买号 4821 at 10200000") || !strings.Contains(out, "3 bids by 2 bidders") {
		t.Fatalf("the log: %v\n%s", err, out)
	}
	saved, _ := json.Marshal(winner.Confirmation)
	letterFile := writeTestFile(t, dir, "letter.json", saved)
	if out, err := verify(letterFile, keyFile); err != nil || !strings.Contains(out, "竞买号 4821 公司a, price 10200000") || !strings.Contains(out, "平台签名有效") {
		t.Fatalf("the letter: %v\n%s", err, out)
	}

	other, _ := decrypt.GenerateKey()
	otherPEM, _ := other.Public().MarshalPEM()
	otherKey := writeTestFile(t, dir, "other.pem", otherPEM)
	edited := writeTestFile(t, dir, "edited.json", bytes.Replace(saved, []byte(`10200000`), []byte(`1020000`), 1))
	forgedLog := writeTestFile(t, dir, "forged.log", bytes.Replace(lines.Bytes(), []byte(`"amount":"10200000"`), []byte(`"amount":"10250000"`), 1))
	for name, c := range map[string][2]string{
		"the log, another key":    {logFile, otherKey},
		"the letter, another key": {letterFile, otherKey},
		"an edited letter":        {edited, keyFile},
		"an edited log":           {forgedLog, keyFile},
	} {
		if out, err := verify(c[0], c[1]); err == nil || strings.Contains(out, "核验通过") {
			t.Fatalf("%s passes:\n%s", name, out)
		}
	}
	if _, err := verify(writeTestFile(t, dir, "junk", []byte("not json")), keyFile); err == nil || !strings.Contains(err.Error(), "neither a confirmation letter nor an auction's log") {
		t.Fatalf("junk: %v", err)
	}
}
