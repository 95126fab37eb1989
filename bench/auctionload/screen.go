package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/rooms"
)

// seen is one bid_placed as a screen received it.
type seen struct {
	number string
	amount int64
	at     time.Time // when this screen received it
	endsAt time.Time // the countdown it restarted
	bidAt  time.Time // the bid's server time
}

// screen is one websocket in the room (a bidder's page, a watcher's or a
// supervisor's): a loadtool.Watcher whose event hook keeps every bid it
// received, in order, and the auction's state as the page would show it.
type screen struct {
	w        *loadtool.Watcher
	instance int    // which server it is connected to
	number   string // a bidder's own number ("" for supervisors)

	poke chan struct{} // cap 1: a new bid or the end arrived

	mu      sync.Mutex // guards the fields below
	bids    []seen
	high    int64
	leader  string // the number leading
	endsAt  time.Time
	phase   rooms.AuctionPhase
	timedAt time.Time            // receipt of timed_started
	ended   *rooms.AuctionResult // auction_ended, once received
	endedAt time.Time            // its receipt
	errs    []string             // undecodable auction events
}

func newScreen(sub, role, token, number string, instance int) *screen {
	s := &screen{w: loadtool.NewWatcher(sub, role, token), instance: instance, number: number, poke: make(chan struct{}, 1)}
	s.w.OnEvent = s.onEvent
	return s
}

// start takes the auction's state from the join snapshot; call it after
// Connect, before the reader runs.
func (s *screen) start() error {
	var v rooms.AuctionView
	if err := json.Unmarshal(s.w.Snapshot().State, &v); err != nil {
		return fmt.Errorf("%s's snapshot: %w", s.w.Sub, err)
	}
	if v.Kind != rooms.KindAuction {
		return fmt.Errorf("%s's snapshot is of a %q room", s.w.Sub, v.Kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.endsAt = v.Phase, v.EndsAt
	if h := v.Highest; h != nil {
		amt, err := parseYuan(h.Amount)
		if err != nil {
			return err
		}
		s.high, s.leader = amt, h.Number
	}
	return nil
}

// onEvent is the reader's hook: it must not block.
func (s *screen) onEvent(ev *loadtool.FrameEvent, _ uint64, at time.Time) {
	switch ev.Type {
	case rooms.EvBidPlaced:
		var d rooms.BidPlaced
		err := json.Unmarshal(ev.Data, &d)
		amt, perr := parseYuan(d.Amount)
		s.mu.Lock()
		if err = errors.Join(err, perr); err != nil {
			s.errs = append(s.errs, "bid_placed: "+err.Error())
		} else {
			s.bids = append(s.bids, seen{number: d.Number, amount: amt, at: at, endsAt: d.EndsAt, bidAt: d.At})
			s.high, s.leader = amt, d.Number
			if !d.EndsAt.IsZero() {
				s.endsAt = d.EndsAt
			}
		}
		s.mu.Unlock()
	case rooms.EvTimedStarted:
		var d rooms.TimedStarted
		err := json.Unmarshal(ev.Data, &d)
		s.mu.Lock()
		if err != nil {
			s.errs = append(s.errs, "timed_started: "+err.Error())
		}
		s.phase, s.endsAt, s.timedAt = rooms.AuctionTimed, d.EndsAt, at
		s.mu.Unlock()
	case rooms.EvAuctionEnded:
		var d rooms.AuctionResult
		err := json.Unmarshal(ev.Data, &d)
		s.mu.Lock()
		if err != nil {
			s.errs = append(s.errs, "auction_ended: "+err.Error())
		}
		s.phase, s.ended, s.endedAt = rooms.AuctionEnded, &d, at
		s.mu.Unlock()
	default:
		return
	}
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// state is the price, its leader, the countdown's end and the phase as
// this screen shows them.
func (s *screen) state() (high int64, leader string, endsAt time.Time, phase rooms.AuctionPhase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.high, s.leader, s.endsAt, s.phase
}

// received is a copy of the bids this screen received, in order.
func (s *screen) received() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.bids...)
}

// result is the auction_ended this screen received (nil if none).
func (s *screen) result() (*rooms.AuctionResult, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended, s.endedAt
}

// attempt is one bid command a bidder sent, and its answer.
type attempt struct {
	bidder, number string
	amount         int64
	ack            loadtool.Ack
	reason         string // "accepted", or why it was refused (see reasonOf)
	message        string // the refusal's words
	probe          bool   // sent after the end, on purpose
}

// reasonOf classifies a bid's answer. The rooms' refusal codes are
// coarse (invalid, wrong_state), so the words tell the cases apart.
func reasonOf(err error) (reason, message string) {
	if err == nil {
		return "accepted", ""
	}
	var ce *loadtool.CommandError
	if !errors.As(err, &ce) {
		return "error", err.Error()
	}
	m := ce.Message
	switch {
	case ce.Code == rooms.CodeInvalid && strings.Contains(m, "is not above the current highest bid"):
		return "not_above", m
	case ce.Code == rooms.CodeInvalid && strings.Contains(m, "not on the increment grid"):
		return "off_grid", m
	case ce.Code == rooms.CodeWrongState && strings.Contains(m, "you lead at"):
		return "leading", m
	case ce.Code == rooms.CodeWrongState && strings.Contains(m, "the bidding ended at"):
		return "too_late", m // decided at or after ends_at, before the timer ended the auction
	case ce.Code == rooms.CodeWrongState && strings.Contains(m, "has ended"):
		return "ended", m // after auction_ended
	case ce.Code == rooms.CodeConflict:
		return "conflict", m // the room kept changing under 32 retries
	case ce.Code == "rate_limited":
		return "rate_limited", m
	}
	return ce.Code, m
}

// bidder is a screen that bids.
type bidder struct {
	*screen
	id string
	n  int // commands sent, for their ids
}

// bid sends one bid of amount and waits for its answer.
func (b *bidder) bid(ctx context.Context, run string, amount int64, probe bool) attempt {
	b.n++
	ack, err := b.w.Command(ctx, fmt.Sprintf("%s-%s-%d", run, b.id, b.n), rooms.CmdBid, rooms.BidRequest{Amount: yuan(amount)})
	a := attempt{bidder: b.id, number: b.number, amount: amount, ack: ack, probe: probe}
	a.reason, a.message = reasonOf(err)
	return a
}

// burst bids until until, as the page's fastest user would: whenever the
// screen shows someone else leading at a price it has not bid against
// yet, bid the lowest valid amount (min_next: the price + one step), one
// command at a time and at most one per gap (the server's command rate).
// A bid refused as not above the price waits for the bid that beat it.
func (b *bidder) burst(ctx context.Context, run string, until time.Time, gap time.Duration, record func(attempt)) {
	var base int64 = -1 // the price the last bid was made against
	var last time.Time
	for {
		now := time.Now()
		if !now.Before(until) || ctx.Err() != nil {
			return
		}
		high, leader, _, phase := b.state()
		if phase != rooms.AuctionTimed {
			return
		}
		if leader == b.number || high == base {
			t := time.NewTimer(until.Sub(now))
			select {
			case <-b.poke:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		if wait := gap - now.Sub(last); wait > 0 {
			time.Sleep(min(wait, until.Sub(now)))
			continue
		}
		base, last = high, now
		a := b.bid(ctx, run, high+step, false)
		record(a)
		switch a.reason {
		case "accepted", "not_above", "leading":
		default:
			base = -1 // nothing new will arrive to move on: try again after the gap
		}
	}
}
