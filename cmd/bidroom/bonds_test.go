package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/bond/bondtest"
	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// openedRoom is a room past its deadline with bids from a and b (c
// registered without a bid).
func openedRoom(t *testing.T) *rooms.Service {
	t.Helper()
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	svc := rooms.NewService(log, func() time.Time { return now })
	ctx := context.Background()
	n := 0
	exec := func(actor rooms.Actor, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		n++
		if _, err := svc.Execute(ctx, "r1", actor, rooms.Command{ID: fmt.Sprint("c", n), Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	admin := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	exec(admin, rooms.CmdCreateSession, rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: now.Add(time.Hour), CheckInAt: now, ProceedBelowMin: true})
	for _, b := range []string{"a", "b", "c"} {
		exec(admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: b, Name: "公司" + b})
	}
	for _, b := range []string{"a", "b"} {
		exec(rooms.Actor{Sub: b, Role: rooms.RoleBidder}, rooms.CmdSubmitBid, rooms.Bid{Bidder: b, Digest: hex64(b), HeaderDigest: hex64("h" + b), Size: 10})
	}
	now = now.Add(time.Hour)
	exec(rooms.SystemActor, rooms.CmdDeadline, nil)
	return svc
}

func hex64(seed string) string {
	out := make([]byte, 64)
	for i := range out {
		out[i] = "0123456789abcdef"[(int(seed[i%len(seed)])+i)%16]
	}
	return string(out)
}

// TestBondFill: the record_bonds data asks the bond system for the bidders
// who submitted, and maps its answer; without a bond system the status is
// unknown with the reason, and the demo gets its registration data.
func TestBondFill(t *testing.T) {
	svc := openedRoom(t)
	ctx := context.Background()
	srv := bondtest.NewServer(t, map[string]map[string]bond.Record{"r1": {
		"a": {Status: bond.Paid, Amount: "5000"},
		"b": {Status: bond.Guaranteed, Guarantor: "某银行", Reference: "BH-9"},
	}})
	cfg := configs.Config{Bond: configs.Bond{URL: srv.URL, Token: srv.Token, Timeout: 2 * time.Second}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	checker, err := newBondChecker(cfg, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bondFill(svc, checker)(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var got rooms.Bonds
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Bonds) != 2 || got.Bonds[0].Bidder != "a" || got.Bonds[0].Status != "paid" || got.Bonds[1].Guarantor != "某银行" || got.Bonds[1].Source != bond.SourceAPI {
		t.Fatalf("bonds from the bond system: %+v (c submitted nothing and must not be asked)", got.Bonds)
	}
	if _, err := svc.Execute(ctx, "r1", rooms.SystemActor, rooms.Command{ID: "bonds", Type: rooms.CmdRecordBonds, Data: raw}); err != nil {
		t.Fatalf("record the bonds: %v", err)
	}

	none, _ := newBondChecker(configs.Config{}, func() string { return "demo-x" }, quiet)
	recs, _ := none.Check(ctx, "r1", []string{"a"})
	if len(recs) != 1 || recs[0].Status != bond.Unknown || recs[0].Error == "" {
		t.Fatalf("without a bond system: %+v; want unknown with the reason", recs)
	}
	recs, _ = none.Check(ctx, "demo-x", []string{"bidder-b"})
	if len(recs) != 1 || recs[0].Status != bond.Guaranteed {
		t.Fatalf("demo bonds: %+v", recs)
	}
}
