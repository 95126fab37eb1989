package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/rooms"
)

// logBid is one bid_placed of the log.
type logBid struct {
	seq     uint64
	number  string
	amount  int64
	at      time.Time // the bid's server time
	endsAt  time.Time // the countdown it set
	inForce time.Time // the countdown's end it was made under (zero in the listing)
}

// check holds the run to the auction's invariants, against the log read
// back from the store, and turns the answers and receipts into the
// figures:
//   - the log's chain verifies (readAll) and every screen received the
//     same bids in the same order as the log holds them, with no gap: no
//     fork, nothing lost;
//   - every bid of the timed bidding was made before the countdown it was
//     made under ran out, and none was appended after auction_ended;
//   - the bids strictly increase on the increment grid;
//   - every accepted answer is exactly one bid in the log (same number
//     and amount), and every bid in the log beyond the listing's quotes
//     was accepted by one answer: none accepted twice, none lost;
//   - every bid sent at or after the end was refused;
//   - auction_ended names the last bid (its number and price, the bid
//     count, the countdown's end) and every screen received that result.
func (r *runner) check(events []rooms.Event, prep prepared, res *Result) {
	bad := func(format string, args ...any) {
		if len(res.Violations) < 20 {
			res.Violations = append(res.Violations, fmt.Sprintf(format, args...))
		}
	}

	// The log.
	var bids []logBid
	var timed *rooms.TimedStarted
	var ended *rooms.AuctionResult
	var inForce time.Time
	for _, e := range events {
		switch e.Type {
		case rooms.EvTimedStarted:
			timed = &rooms.TimedStarted{}
			if err := json.Unmarshal(e.Data, timed); err != nil {
				bad("log seq %d: timed_started: %v", e.Seq, err)
			}
			inForce = timed.EndsAt
		case rooms.EvBidPlaced:
			var d rooms.BidPlaced
			if err := json.Unmarshal(e.Data, &d); err != nil {
				bad("log seq %d: bid_placed: %v", e.Seq, err)
				continue
			}
			amt, err := parseYuan(d.Amount)
			if err != nil {
				bad("log seq %d: %v", e.Seq, err)
				continue
			}
			if ended != nil {
				bad("log seq %d: bid %s by %s appended after auction_ended", e.Seq, d.Amount, d.Number)
			}
			bids = append(bids, logBid{seq: e.Seq, number: d.Number, amount: amt, at: d.At, endsAt: d.EndsAt, inForce: inForce})
			if !d.EndsAt.IsZero() {
				inForce = d.EndsAt
			}
		case rooms.EvAuctionEnded:
			if ended != nil {
				bad("log seq %d: a second auction_ended", e.Seq)
			}
			ended = &rooms.AuctionResult{}
			if err := json.Unmarshal(e.Data, ended); err != nil {
				bad("log seq %d: auction_ended: %v", e.Seq, err)
			}
		}
	}
	res.LogBids = len(bids)
	if timed == nil || ended == nil {
		bad("the log has no timed_started (%v) or no auction_ended (%v)", timed != nil, ended != nil)
		return
	}
	for i, b := range bids {
		prev := int64(0)
		if i > 0 {
			prev = bids[i-1].amount
		}
		if b.amount <= prev || (b.amount-startPrice)%step != 0 {
			bad("log seq %d: bid %d after %d is not above it on the grid (start %d, step %d)", b.seq, b.amount, prev, startPrice, step)
		}
		if !b.inForce.IsZero() && !b.at.Before(b.inForce) {
			bad("log seq %d: bid %d at %s accepted at or after the end of its countdown %s", b.seq, b.amount, b.at.Format(time.RFC3339Nano), b.inForce.Format(time.RFC3339Nano))
		}
	}
	if len(bids) < len(prep.quotes) {
		bad("the log has %d bids, fewer than the listing's %d quotes", len(bids), len(prep.quotes))
		return
	}
	timedBids := bids[len(prep.quotes):]
	last := bids[len(bids)-1]
	res.FinalPrice, res.FinalNumber, res.Outcome = ended.Price, ended.Number, ended.Result
	switch {
	case ended.Result != rooms.AuctionSold || ended.Stage != "timed":
		bad("auction_ended: %s at the %s stage, want sold in the timed bidding", ended.Result, ended.Stage)
	case ended.Price != yuan(last.amount) || ended.Number != last.number:
		bad("auction_ended names %s at %s, the last bid is %s at %d", ended.Number, ended.Price, last.number, last.amount)
	case ended.Bids != len(bids):
		bad("auction_ended counts %d bids, the log has %d", ended.Bids, len(bids))
	case !ended.EndedAt.Equal(inForce):
		bad("auction_ended at %s, the countdown ran to %s", ended.EndedAt.Format(time.RFC3339Nano), inForce.Format(time.RFC3339Nano))
	}

	// The answers.
	r.mu.Lock()
	attempts := append([]attempt(nil), r.attempts...)
	r.mu.Unlock()
	accepted := map[int64]attempt{}
	var ackOK, ackRefused []time.Duration
	for _, a := range attempts {
		if a.probe {
			res.Probes++
			res.ProbeAns[a.reason]++
			if a.reason == "accepted" {
				bad("%s's bid of %d sent at %s, at or after the end, was accepted", a.bidder, a.amount, a.ack.Sent.Format(time.RFC3339Nano))
			}
		} else {
			res.Sent++
			res.Reasons[a.reason]++
		}
		switch a.reason {
		case "accepted":
			if _, dup := accepted[a.amount]; dup {
				bad("two bids of %d accepted (%s and %s)", a.amount, accepted[a.amount].bidder, a.bidder)
			}
			accepted[a.amount] = a
			ackOK = append(ackOK, a.ack.Latency())
		case "error":
			r.errs.Note(fmt.Errorf("%s's bid of %d: %s", a.bidder, a.amount, a.message))
		default:
			ackRefused = append(ackRefused, a.ack.Latency())
		}
	}
	res.Accepted = len(accepted)
	if res.BurstSecs > 0 {
		res.AcceptRate = float64(res.Accepted) / res.BurstSecs
	}
	res.AckOK, res.AckRefused = loadtool.Summarize(ackOK), loadtool.Summarize(ackRefused)
	if len(accepted) != len(timedBids) {
		bad("%d bids accepted by their answers, the log has %d in the timed bidding", len(accepted), len(timedBids))
	}
	for _, b := range timedBids {
		a, ok := accepted[b.amount]
		switch {
		case !ok:
			bad("log seq %d: bid %d by %s was never answered as accepted", b.seq, b.amount, b.number)
		case a.number != b.number:
			bad("log seq %d: bid %d is %s's in the log, %s's by its answer", b.seq, b.amount, b.number, a.number)
		}
	}

	// Every screen: the log's bids, in order, and the log's result.
	watcher := map[*screen]bool{}
	for _, s := range r.watchers {
		watcher[s] = true
	}
	var toWatchers, toScreens, toLast []time.Duration
	lastAt := make([]time.Time, len(timedBids))
	for _, s := range r.screens() {
		got := s.received()
		res.Deliveries += uint64(len(got))
		forked := len(got) != len(timedBids)
		for i, g := range got {
			if i >= len(timedBids) || g.number != timedBids[i].number || g.amount != timedBids[i].amount {
				forked = true
				continue
			}
			a, ok := accepted[g.amount]
			if !ok {
				continue
			}
			d := g.at.Sub(a.ack.Sent)
			toScreens = append(toScreens, d)
			if watcher[s] {
				toWatchers = append(toWatchers, d)
				if g.at.After(lastAt[i]) {
					lastAt[i] = g.at
				}
			}
		}
		if forked {
			res.Forked++
			if res.Forked <= 3 {
				bad("%s %s on instance %d received %d bids, not the log's %d in order", s.w.Role, s.w.Sub, s.instance, len(got), len(timedBids))
			}
		}
		if n := len(timedBids) - min(len(got), len(timedBids)); n > 0 {
			res.Missing += n
		}
		if e, _ := s.result(); e == nil || e.Price != ended.Price || e.Number != ended.Number || e.Bids != ended.Bids {
			bad("%s %s's auction_ended %+v differs from the log's", s.w.Role, s.w.Sub, e)
		}
		s.mu.Lock()
		for _, msg := range s.errs {
			bad("%s %s: %s", s.w.Role, s.w.Sub, msg)
		}
		s.mu.Unlock()
	}
	for i, b := range timedBids {
		if a, ok := accepted[b.amount]; ok && !lastAt[i].IsZero() {
			toLast = append(toLast, lastAt[i].Sub(a.ack.Sent))
		}
	}
	res.ToWatchers, res.ToScreens, res.ToLast = loadtool.Summarize(toWatchers), loadtool.Summarize(toScreens), loadtool.Summarize(toLast)
	res.Lost = res.Gaps + res.ShortTail + uint64(res.Dropped) + uint64(res.Missing)
}
