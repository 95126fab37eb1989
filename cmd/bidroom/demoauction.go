package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// The demo's online auction (网上挂牌出让): a residential land parcel whose
// listing (挂牌期, at least 10 working days, its start never in the past)
// began 15 days ago and ends a few minutes after the server starts, so a
// newcomer sees the timed bidding (限时竞价) begin. Like yesterday's
// opening it is run, not written: a rooms.Service on the same log with a
// clock the demo moves creates it 15 days ago, registers, pays and
// qualifies three bidders and places two listing bids; the server's own
// service and scheduler take over from there. The newcomer bids as the
// first demo bidder; demoAuctionBot bids for the other two now and then
// in the timed bidding and stops after a few bids, so the auction ends.

// demoAuctionLead is how long after the server starts the demo's listing
// ends.
const demoAuctionLead = 3 * time.Minute

// demoAuctionBotBids is how many bids the bot places in the timed bidding
// before it stops and lets the countdown run out.
const demoAuctionBotBids = 4

// demoAuctionBidders are the demo auction's bidders: the newcomer plays the
// first, the bot the others.
var demoAuctionBidders = []api.DemoToken{
	{Role: rooms.RoleBidder, Sub: "buyer-a", Name: "南京城开置业有限公司"},
	{Role: rooms.RoleBidder, Sub: "buyer-b", Name: "江苏润泽房地产开发有限公司"},
	{Role: rooms.RoleBidder, Sub: "buyer-c", Name: "金陵华府置业有限公司"},
}

// demoAuctionSpec is the parcel: staged increments, a sealed reserve that
// the bot's bids reach, automatic bids allowed.
func demoAuctionSpec(start, end time.Time) rooms.AuctionSpec {
	return rooms.AuctionSpec{
		Title:    "城南片区 2026-G-17 号地块国有建设用地使用权网上挂牌出让（示范）",
		Lot:      "2026-G-17",
		Category: "land",
		Seller:   "市自然资源和规划局",
		Details: []rooms.AuctionDetail{
			{Label: "宗地编号", Value: "2026-G-17"},
			{Label: "宗地位置", Value: "城南片区 秦淮大道以东、雨花路以北"},
			{Label: "出让面积", Value: "45,280.6 平方米（约 67.9 亩）"},
			{Label: "土地用途", Value: "住宅用地（城镇住宅用地）"},
			{Label: "出让年限", Value: "70 年"},
			{Label: "容积率", Value: "1.0 < 容积率 ≤ 2.2"},
			{Label: "建筑密度", Value: "≤ 25%"},
			{Label: "绿地率", Value: "≥ 35%"},
			{Label: "建筑限高", Value: "≤ 60 米"},
			{Label: "交地条件", Value: "净地，现状交付"},
		},
		StartPrice: "386000000",
		Increments: rooms.Increments{Stages: []rooms.Stage{
			{From: "0", Step: "1000000"},
			{From: "400000000", Step: "2000000"},
		}},
		ReservePrice:     "391000000",
		Deposit:          "77200000",
		ListingStart:     start,
		ListingEnd:       end,
		CountdownSeconds: 300,
		ProxyAllowed:     true,
	}
}

// demoAuctionListingBids are the two bids of the listing: by whom, how
// many days after the listing opened, how much.
var demoAuctionListingBids = []struct {
	sub    string
	day    int
	amount string
}{
	{"buyer-b", 4, "386000000"},
	{"buyer-c", 9, "388000000"},
}

// drawDemoNumber draws a 竞买号 of 5 digits not in taken (the API draws 4
// to 8; the demo keeps its numbers one length so they line up).
func drawDemoNumber(taken map[string]bool) (string, error) {
	for {
		v, err := rand.Int(rand.Reader, big.NewInt(90000))
		if err != nil {
			return "", err
		}
		n := fmt.Sprint(10000 + v.Int64())
		if !taken[n] {
			taken[n] = true
			return n, nil
		}
	}
}

// createDemoAuction runs the auction's first 15 days before now in room
// on log, on a clock the demo moves, up to a listing that ends at
// listingEnd (a few minutes after now). It returns what the demo page
// shows (the newcomer's, a supervisor's and a host's tokens) and the
// bidders the bot plays.
func createDemoAuction(ctx context.Context, log rooms.Log, issuer *auth.Issuer, ttl time.Duration, room string,
	now, listingEnd time.Time) (*api.DemoAuction, []string, error) {
	clk := &demoClock{t: now.Add(-15 * 24 * time.Hour).Truncate(time.Hour)}
	svc := rooms.NewService(log, clk.now)
	admin := rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}
	n := 0
	do := func(a rooms.Actor, typ string, data any) error {
		n++
		var raw json.RawMessage
		if data != nil {
			raw, _ = json.Marshal(data)
		}
		if _, err := svc.Execute(ctx, room, a, rooms.Command{ID: fmt.Sprintf("demo-%d", n), Type: typ, Data: raw}); err != nil {
			return fmt.Errorf("%s by %s: %w", typ, a.Role, err)
		}
		return nil
	}
	listingStart := clk.now().Add(time.Hour)
	spec := demoAuctionSpec(listingStart, listingEnd.UTC().Truncate(time.Second))
	if err := do(admin, rooms.CmdCreateAuction, spec); err != nil {
		return nil, nil, err
	}
	clk.advance(time.Hour)
	if err := do(rooms.SystemActor, rooms.CmdOpenListing, nil); err != nil {
		return nil, nil, err
	}
	taken := map[string]bool{}
	for i, p := range demoAuctionBidders {
		clk.advance(time.Duration(20+i*7) * time.Hour) // they register over the first days
		number, err := drawDemoNumber(taken)
		if err != nil {
			return nil, nil, err
		}
		if err := do(admin, rooms.CmdRegisterAuctionBidder, rooms.AuctionBidderSpec{Bidder: p.Sub, Name: p.Name, Number: number}); err != nil {
			return nil, nil, err
		}
		clk.advance(2 * time.Hour)
		if err := do(rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: p.Sub, Status: rooms.DepositPaid,
			Amount: spec.Deposit, Reference: fmt.Sprintf("BZJ-2026-G17-%03d", i+1), Source: rooms.DepositByHand}); err != nil {
			return nil, nil, err
		}
		clk.advance(time.Hour)
		if err := do(admin, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: p.Sub, Qualified: true}); err != nil {
			return nil, nil, err
		}
	}
	opened := listingStart
	for _, b := range demoAuctionListingBids {
		if at := opened.Add(time.Duration(b.day)*24*time.Hour + 10*time.Hour); at.After(clk.now()) {
			clk.advance(at.Sub(clk.now()))
		}
		if err := do(rooms.Actor{Sub: b.sub, Role: rooms.RoleBidder}, rooms.CmdBid, rooms.BidRequest{Amount: b.amount}); err != nil {
			return nil, nil, err
		}
	}

	out := &api.DemoAuction{Room: room, Title: spec.Title, Lot: spec.Lot, ListingEnd: spec.ListingEnd.UTC()}
	people := []api.DemoToken{
		demoAuctionBidders[0],
		{Role: rooms.RoleSupervisor, Sub: "supervisor-1", Name: "监督人 李强"},
		{Role: rooms.RoleHost, Sub: "host-1", Name: "主持人 王芳"},
	}
	for _, p := range people {
		grants := []string{auth.GrantView}
		if p.Role == rooms.RoleHost {
			grants = append(grants, auth.GrantPublish)
		}
		tok, _, err := issuer.Mint(auth.Request{Room: room, Role: p.Role, Sub: p.Sub, Name: p.Name, Grants: grants, TTL: ttl})
		if err != nil {
			return nil, nil, err
		}
		p.Token, p.Room = tok, room
		out.People = append(out.People, p)
	}
	var played []string
	for _, p := range demoAuctionBidders[1:] {
		played = append(played, p.Sub)
		out.Played = append(out.Played, p.Name)
	}
	return out, played, nil
}

// demoAuctionBot bids for the demo bidders a newcomer does not play, in
// the timed bidding only: after the room has been quiet for a pause, the
// lowest valid amount for one of them who is not leading. It stops after
// max bids, so the countdown runs out and the auction ends.
type demoAuctionBot struct {
	svc     *rooms.Service
	room    string
	bidders []string             // the demo bidders it plays
	max     int                  // bids it places in all
	pause   func() time.Duration // quiet before each bid
	logger  *slog.Logger
}

// demoAuctionPause is the bot's quiet before a bid: 15 to 35 s, so the
// newcomer sees the countdown restart and has time to answer.
func demoAuctionPause() time.Duration {
	return 15*time.Second + time.Duration(mrand.Int64N(int64(20*time.Second)))
}

// run bids until it has placed max bids or ctx ends.
func (b *demoAuctionBot) run(ctx context.Context) {
	changes, err := b.svc.Watch(ctx, b.room)
	if err != nil {
		b.logger.Warn("demo: the auction's helper cannot follow the room", "room", b.room, "err", err)
		return
	}
	placed := 0
	quiet := time.NewTimer(b.pause())
	defer quiet.Stop()
	for placed < b.max {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
			quiet.Reset(b.pause()) // someone acted: wait for quiet again
		case <-quiet.C:
			if b.act(ctx, placed) {
				placed++
			}
			quiet.Reset(b.pause())
		}
	}
	b.logger.Info("demo: the auction's helper placed its bids and stops", "room", b.room, "bids", placed)
}

// act places one bid if the timed bidding runs, and reports whether it did.
func (b *demoAuctionBot) act(ctx context.Context, placed int) bool {
	snap, err := b.svc.Snapshot(ctx, b.room, rooms.Actor{Sub: "demo", Role: rooms.RoleSupervisor})
	if err != nil {
		return false
	}
	v, ok := snap.Auction()
	if !ok || v.Phase != rooms.AuctionTimed || v.MinNext == "" {
		return false
	}
	leader := ""
	if v.Highest != nil {
		leader = v.Highest.Bidder
	}
	for i := range b.bidders {
		who := b.bidders[(placed+i)%len(b.bidders)]
		if who == leader {
			continue
		}
		raw, _ := json.Marshal(rooms.BidRequest{Amount: v.MinNext})
		cmd := rooms.Command{ID: fmt.Sprintf("demo-bot-%d", snap.Seq), Type: rooms.CmdBid, Data: raw}
		if _, err := b.svc.Execute(ctx, b.room, rooms.Actor{Sub: who, Role: rooms.RoleBidder}, cmd); err != nil {
			if ctx.Err() == nil {
				b.logger.Info("demo: a played bidder's bid was refused", "room", b.room, "bidder", who, "err", err)
			}
			return false
		}
		return true
	}
	return false
}
