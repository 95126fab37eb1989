package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
	redisstore "github.com/bidroom/bidroom/store/redis"
)

// The auction's money: whole yuan, a fixed step.
const (
	startPrice = 120_000_000 // 起始价
	step       = 500_000     // 加价幅度
	deposit    = 20_000_000  // 竞买保证金
)

// eventLog is the store as the preparation uses it.
type eventLog interface {
	rooms.Log
	Close() error
}

// storeSpec says where the room's log lives: the embedded store's file in
// DataDir, or Redis at URL under Prefix.
type storeSpec struct {
	Backend string // embedded | redis
	DataDir string // embedded: the server's data_dir
	URL     string // redis
	Prefix  string // redis
}

// open opens the log the server(s) will use. The embedded store is one
// process's at a time: close it before a server starts on it.
func (s storeSpec) open(ctx context.Context) (eventLog, error) {
	if s.Backend == "redis" {
		return redisstore.Open(ctx, s.URL, s.Prefix)
	}
	return embedded.Open(filepath.Join(s.DataDir, "events.db"))
}

// env is the server's environment for this store.
func (s storeSpec) env() []string {
	if s.Backend == "redis" {
		return []string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL=" + s.URL, "BIDROOM_STORE_REDIS_PREFIX=" + s.Prefix}
	}
	return []string{"BIDROOM_STORE_BACKEND=embedded", "BIDROOM_DATA_DIR=" + s.DataDir}
}

// participant is one registered bidder of the prepared room.
type participant struct {
	id, number string
	qualified  bool // deposit paid and qualification confirmed: may bid
}

// prepared is what prepare made.
type prepared struct {
	room       string
	listingEnd time.Time // real time: the server's scheduler closes the listing then
	quotes     []int64   // the listing's two quotes, yuan
	commands   int
}

// prepare writes an auction up to its listing's last moments into the log,
// through an in-process rooms.Service on the same store whose clock is
// set back: a listing lasts at least 10 working days and may not start in
// the past, so a real-time run cannot wait for one. At a fake time 20 days
// ago it creates the auction (listing_start a minute later, listing_end =
// real now + lead, countdown as given), registers every participant with
// a distinct random 4–8 digit number (the server's job: rooms.SystemActor)
// and, for the qualified ones, records a paid deposit (system) and
// confirms the qualification (admin). Then, at a fake time just after
// listing_start, it opens the listing (the scheduler's command) and two
// bidders quote, so that at listing_end the real server's scheduler starts
// the timed bidding (限时竞价) with the countdown running from then.
func prepare(ctx context.Context, log rooms.Log, room string, parts []participant, lead time.Duration, countdown int) (prepared, error) {
	var back atomic.Int64 // how far the service's clock is set back
	back.Store(int64(20 * 24 * time.Hour))
	svc := rooms.NewService(log, func() time.Time { return time.Now().Add(-time.Duration(back.Load())) })
	admin := rooms.Actor{Sub: "auctionload-admin", Role: rooms.RoleAdmin}
	p := prepared{room: room, listingEnd: time.Now().Add(lead).UTC().Truncate(time.Millisecond)}
	exec := func(actor rooms.Actor, id, cmd string, data any) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return err
		}
		p.commands++
		if _, err := svc.Execute(ctx, room, actor, rooms.Command{ID: id, Type: cmd, Data: raw}); err != nil {
			return fmt.Errorf("prepare %s: %s %s: %w", room, cmd, id, err)
		}
		return nil
	}
	listingStart := svc.Now().Add(time.Minute).Truncate(time.Second)
	spec := rooms.AuctionSpec{
		Title: "auctionload 地块 · 国有建设用地使用权", Lot: "BIDROOM-LOAD-" + room, Category: "land", Seller: "市自然资源和规划局",
		Details: []rooms.AuctionDetail{{Label: "坐落", Value: "东湖路以南、滨江大道以西"}, {Label: "出让面积", Value: "38,612.4 平方米"},
			{Label: "土地用途", Value: "城镇住宅用地"}, {Label: "出让年限", Value: "70 年"}, {Label: "容积率", Value: "1.0 < R ≤ 2.5"}},
		StartPrice: yuan(startPrice), Increments: rooms.Increments{Step: yuan(step)}, Deposit: yuan(deposit),
		ListingStart: listingStart, ListingEnd: p.listingEnd, CountdownSeconds: countdown,
	}
	if err := exec(admin, "create", rooms.CmdCreateAuction, spec); err != nil {
		return p, err
	}
	for _, b := range parts {
		reg := rooms.AuctionBidderSpec{Bidder: b.id, Name: "竞买人" + b.id + "置业有限公司", Number: b.number}
		if err := exec(rooms.SystemActor, "register-"+b.id, rooms.CmdRegisterAuctionBidder, reg); err != nil {
			return p, err
		}
		if !b.qualified {
			continue
		}
		dep := rooms.Deposit{Bidder: b.id, Status: rooms.DepositPaid, Amount: yuan(deposit), Reference: "BZJ-" + b.number}
		if err := exec(rooms.SystemActor, "deposit-"+b.id, rooms.CmdRecordDeposit, dep); err != nil {
			return p, err
		}
		if err := exec(admin, "qualify-"+b.id, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: b.id, Qualified: true}); err != nil {
			return p, err
		}
	}
	// Into the listing: the fake clock moves to just after its start.
	back.Store(int64(time.Since(listingStart.Add(time.Second))))
	if err := exec(rooms.SystemActor, "timer:open_listing", rooms.CmdOpenListing, nil); err != nil {
		return p, err
	}
	var quoting []participant
	for _, b := range parts {
		if b.qualified && len(quoting) < 2 {
			quoting = append(quoting, b)
		}
	}
	if len(quoting) < 2 {
		return p, fmt.Errorf("prepare %s: two qualified bidders are needed to reach the timed bidding", room)
	}
	for i, b := range quoting {
		amt := int64(startPrice + i*step)
		actor := rooms.Actor{Sub: b.id, Role: rooms.RoleBidder}
		if err := exec(actor, "quote-"+b.id, rooms.CmdBid, rooms.BidRequest{Amount: yuan(amt)}); err != nil {
			return p, err
		}
		p.quotes = append(p.quotes, amt)
	}
	return p, nil
}

// numbers draws n distinct random 竞买号 of 4 to 8 digits.
func numbers(n int) []string {
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		digits := 4 + rand.IntN(5)
		lo := int64(1)
		for range digits - 1 {
			lo *= 10
		}
		s := strconv.FormatInt(lo+rand.Int64N(9*lo), 10)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// yuan formats whole yuan as the room writes them.
func yuan(v int64) string { return strconv.FormatInt(v, 10) }

// parseYuan reads an amount the room wrote; the run only ever bids whole
// yuan, so anything else is an error.
func parseYuan(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not whole yuan", s)
	}
	return v, nil
}
