package rooms

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bidding (报价): the rules of a bid, and the automatic bids (自动出价).
//
//   - A qualified bidder bids during the listing (from listing_start,
//     before listing_end) or the timed bidding (before ends_at), by the
//     server's clock when it decides the bid: now < ends_at is in time,
//     now ≥ ends_at is too late, by however little. A bid in the timed
//     bidding restarts the countdown: ends_at = the bid's time + countdown.
//   - The first bid of the auction is the start price, or the start price
//     plus a whole number of its step; every later one is the current
//     highest plus n ≥ 1 steps, the step being the one that applies at the
//     current highest price (the increment grid). Amounts are decimal
//     strings in yuan, at most 2 decimals, at most 10^15.
//   - A bidder does not raise their own leading bid: a bid must beat
//     somebody else's. Of two bids at the same price the first appended
//     wins; the second is refused as not above the current price. A
//     refused bid changes nothing.
//   - Every bid is public and anonymous (bid_placed: number, amount, time,
//     whether it was automatic). Its event's actor is hidden from every
//     viewer but staff (Kind.HiddenActors), so no bidder learns another's
//     id; staff read the bidder from the number.
//
// Automatic bids, where the spec allows them: a bidder sets a maximum
// (set_proxy; on the grid, above the current price), seen only by them
// and the supervisors; setting it again replaces it, ranked as set then;
// cancel_proxy withdraws it (the bids it made stand). After every accepted bid and every proxy set, the
// same command resolves the proxies, eBay-style and deterministically:
// proxies rank by maximum, higher first, then by when they were set,
// earlier first, and the first-ranked proxy that can still lead ends up
// leading, at the lowest price its ranking needs. The log shows this as
// ordinary bids on the grid, each a bid_placed with proxy true (and each
// restarting the countdown in the timed bidding):
//
//   - if the first-ranked proxy is behind and the best other proxy is
//     behind too, that one bids the highest amount the first can still
//     answer within its maximum, and the first answers with the lowest
//     valid amount; with no such amount, or no such rival, the first
//     simply bids the lowest valid amount;
//   - if the first-ranked proxy leads, the best rival proxy that can
//     outbid the price bids the highest amount the leader can still
//     answer, and the leader answers with the lowest valid amount; when
//     every amount the rival could bid is one the leader could not answer
//     (their maximums within one step of each other), the rival does not
//     bid: the ranking decides, and a proxy never raises its own lead;
//   - this repeats until no proxy of a bidder who is behind can outbid the
//     price, so equal maximums go to the proxy set first, and a single
//     command never places more than maxAutoBids automatic bids.
//
// A proxy's bids are recorded in the command that called them up, under
// that command's actor (the bidder who bid, or who set a proxy); what
// tells whose bid it is, as for every bid, is its number.

// maxAutoBids bounds the automatic bids one command places.
const maxAutoBids = 64

// BidRequest is the data of bid. The command's id is the retry key.
type BidRequest struct {
	Amount string `json:"amount"`
}

// BidPlaced is the data of bid_placed: public, with the bidder's number
// only. EndsAt is the restarted countdown's end in the timed bidding.
type BidPlaced struct {
	Number string    `json:"number"`
	Amount string    `json:"amount"`
	At     time.Time `json:"at"`
	Proxy  bool      `json:"proxy,omitempty"`
	EndsAt time.Time `json:"ends_at,omitzero"`
}

// ProxyRequest is the data of set_proxy.
type ProxyRequest struct {
	Max string `json:"max"`
}

// ProxySet is the data of proxy_set (and, without Max, of
// proxy_cancelled): for the bidder and the supervisors only.
type ProxySet struct {
	Bidder string `json:"bidder"`
	Number string `json:"number"`
	Max    string `json:"max,omitempty"`
}

// proxyVis: a proxy's maximum, for its bidder and the supervisors.
func proxyVis(bidder string) Visibility {
	return Visibility{Roles: []Role{RoleSupervisor}, Subjects: []string{bidder}}
}

// biddingOpen refuses a bid or a proxy change at now outside the
// listing and the timed bidding.
func (a *Auction) biddingOpen(now time.Time) error {
	switch a.Phase {
	case AuctionAnnounced:
		return refuse(CodeTooEarly, "bidding opens with the listing at %s", a.Spec.ListingStart.Format(time.RFC3339))
	case AuctionListing:
		if now.Before(a.Spec.ListingStart) {
			return refuse(CodeTooEarly, "bidding opens with the listing at %s", a.Spec.ListingStart.Format(time.RFC3339))
		}
		if !now.Before(a.Spec.ListingEnd) {
			return refuse(CodeWrongState, "the listing ended at %s; if more than one bidder quoted, the timed bidding (限时竞价) starts as it closes", a.Spec.ListingEnd.Format(time.RFC3339))
		}
	case AuctionTimed:
		if !now.Before(a.EndsAt) {
			return refuse(CodeWrongState, "the bidding ended at %s", a.EndsAt.Format(time.RFC3339Nano))
		}
	default:
		return refuse(CodeWrongState, "auction %s has ended", a.Room)
	}
	return nil
}

// actingBidder returns the qualified bidder acting, or a refusal.
func (a *Auction) actingBidder(actor Actor, what string) (*auctionBidder, error) {
	if err := requireRole(actor, what, RoleBidder); err != nil {
		return nil, err
	}
	b := a.bidders[actor.Sub]
	if b == nil {
		return nil, refuse(CodeForbidden, "%s is not a registered bidder of auction %s", actor.Sub, a.Room)
	}
	if !b.Qualified {
		if d := b.Deposit; d == nil || d.Status != DepositPaid {
			return nil, refuse(CodeForbidden, "you are not qualified to bid: your deposit (竞买保证金) is not recorded as paid")
		}
		return nil, refuse(CodeForbidden, "you are not qualified to bid: the trading center has not confirmed your qualification (竞买资格)")
	}
	return b, nil
}

// price is the auction's current state of bidding, for deciding bids.
type price struct {
	high   fen
	first  bool // no bid yet
	leader string
}

func (a *Auction) price() price {
	top, ok := a.leader()
	if !ok {
		return price{first: true}
	}
	return price{high: top.amount, leader: top.bidder}
}

// checkAmount checks amount against the grid at p; field names it.
func (a *Auction) checkAmount(field, amount string, p price) (fen, error) {
	amt, err := parseYuan(field, amount)
	if err != nil {
		return 0, err
	}
	next := strings.Join(a.grid.nextValid(p.high, p.first, 3), ", ")
	switch {
	case p.first && amt < a.grid.start:
		return 0, refuse(CodeInvalid, "%s %s is below the start price %s; the next valid amounts are %s", field, amt, a.grid.start, next)
	case !p.first && amt <= p.high:
		return 0, refuse(CodeInvalid, "%s %s is not above the current highest bid %s; the next valid amounts are %s", field, amt, p.high, next)
	case !a.grid.onGrid(amt, p.high, p.first):
		base := p.high
		if p.first {
			base = a.grid.start
		}
		return 0, refuse(CodeInvalid, "%s %s is not on the increment grid (%s plus whole steps of %s); the next valid amounts are %s", field, amt, base, a.grid.step(base), next)
	}
	return amt, nil
}

// Precheck refuses from the cached state the bids the room is sure to
// refuse whatever it has not seen yet: prices only rise, so a bid not
// above a highest bid already cached stays refused, and an ended auction
// stays ended. Anything else — the clock, the bidder, the grid — is for
// Decide in the room's lane.
func (a *Auction) Precheck(actor Actor, cmd Command) error {
	if b := a.bidders[actor.Sub]; cmd.Type != CmdBid || actor.Role != RoleBidder || b == nil || !b.Qualified {
		return nil
	}
	if a.Phase == AuctionEnded {
		return refuse(CodeWrongState, "auction %s has ended", a.Room)
	}
	var in BidRequest
	if decodeData(cmd.Data, &in) != nil {
		return nil
	}
	amt, err := parseYuan("amount", in.Amount)
	p := a.price()
	if err != nil || p.first || amt > p.high || p.leader == actor.Sub {
		return nil
	}
	_, err = a.checkAmount("amount", in.Amount, p)
	return err
}

func (a *Auction) bid(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	b, err := a.actingBidder(actor, "bid")
	if err != nil {
		return nil, err
	}
	if err := a.biddingOpen(now); err != nil {
		return nil, err
	}
	var in BidRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	p := a.price()
	if p.leader == b.Bidder {
		return nil, refuse(CodeWrongState, "you lead at %s: a bidder does not raise their own leading bid", p.high)
	}
	amt, err := a.checkAmount("amount", in.Amount, p)
	if err != nil {
		return nil, err
	}
	r := a.newRound(now)
	r.place(b.Bidder, amt, false)
	r.resolve(nil)
	return r.drafts, nil
}

func (a *Auction) setProxy(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	b, err := a.actingBidder(actor, "set an automatic bid")
	if err != nil {
		return nil, err
	}
	if !a.Spec.ProxyAllowed {
		return nil, refuse(CodeForbidden, "auction %s does not take automatic bids (自动出价)", a.Room)
	}
	if err := a.biddingOpen(now); err != nil {
		return nil, err
	}
	var in ProxyRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	ceiling, err := a.checkAmount("max", in.Max, a.price())
	if err != nil {
		return nil, err
	}
	r := a.newRound(now)
	r.drafts = append(r.drafts, Draft{Type: EvProxySet, Vis: proxyVis(b.Bidder), Data: ProxySet{Bidder: b.Bidder, Number: b.Number, Max: ceiling.String()}})
	// The new proxy ranks after every proxy set before it.
	r.resolve(&proxy{bidder: b.Bidder, max: ceiling, seq: a.Seq + 1, setAt: now})
	return r.drafts, nil
}

func (a *Auction) cancelProxy(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "cancel an automatic bid", RoleBidder); err != nil {
		return nil, err
	}
	if err := a.biddingOpen(now); err != nil {
		return nil, err
	}
	b := a.bidders[actor.Sub]
	if b == nil || a.proxies[b.Bidder] == nil {
		return nil, refuse(CodeNotFound, "you have no automatic bid to cancel")
	}
	return []Draft{{Type: EvProxyCancelled, Vis: proxyVis(b.Bidder), Data: ProxySet{Bidder: b.Bidder, Number: b.Number}}}, nil
}

// round is one command's bids, decided on a copy of the price: the
// state itself never changes in Decide.
type round struct {
	a      *Auction
	now    time.Time
	p      price
	drafts []Draft
	auto   int
}

func (a *Auction) newRound(now time.Time) *round {
	return &round{a: a, now: now.UTC().Truncate(time.Microsecond), p: a.price()}
}

// place records a bid of amt by bidder in the round.
func (r *round) place(bidder string, amt fen, auto bool) {
	d := BidPlaced{Number: r.a.bidders[bidder].Number, Amount: amt.String(), At: r.now, Proxy: auto}
	if r.a.Phase == AuctionTimed {
		d.EndsAt = r.now.Add(r.a.Spec.Countdown())
	}
	r.drafts = append(r.drafts, Draft{Type: EvBidPlaced, Vis: Public(), Data: d})
	r.p = price{high: amt, leader: bidder}
	if auto {
		r.auto++
	}
}

// proxies returns the proxies that may bid, ranked: higher maximum first,
// then earlier set. added is a proxy this command sets (it replaces the
// bidder's earlier one).
func (r *round) proxies(added *proxy) []*proxy {
	var out []*proxy
	for id, p := range r.a.proxies {
		if added != nil && id == added.bidder {
			continue
		}
		out = append(out, p)
	}
	if added != nil {
		out = append(out, added)
	}
	out = slices.DeleteFunc(out, func(p *proxy) bool { return !r.a.bidders[p.bidder].Qualified })
	slices.SortFunc(out, func(x, y *proxy) int {
		if x.max != y.max {
			if x.max > y.max {
				return -1
			}
			return 1
		}
		return cmp.Compare(x.seq, y.seq)
	})
	return out
}

// resolve places the automatic bids the proxies call for (see the comment
// at the top of this file).
func (r *round) resolve(added *proxy) {
	if !r.a.Spec.ProxyAllowed {
		return
	}
	ranked := r.proxies(added)
	g := r.a.grid
	for r.auto+2 <= maxAutoBids {
		lowest := g.minNext(r.p.high, r.p.first)
		var contenders []*proxy // behind and able to outbid, in rank order
		var top *proxy          // the first-ranked proxy that can lead
		for _, p := range ranked {
			leads := !r.p.first && p.bidder == r.p.leader
			if !leads && p.max >= lowest {
				contenders = append(contenders, p)
			}
			if top == nil && (leads || p.max >= lowest) {
				top = p
			}
		}
		if len(contenders) == 0 {
			return
		}
		if !r.p.first && top.bidder == r.p.leader {
			rival := contenders[0]
			amt, ok := g.highestBelow(r.p.high, false, rival.max, top.max)
			if !ok {
				return // the ranking decides; the leader keeps the lead
			}
			r.place(rival.bidder, amt, true)
			r.place(top.bidder, g.minNext(amt, false), true)
			continue
		}
		var rival *proxy // the best other proxy, if behind too
		for _, p := range ranked {
			if p != top && (p.max >= lowest || (!r.p.first && p.bidder == r.p.leader)) {
				rival = p
				break
			}
		}
		if rival != nil && (r.p.first || rival.bidder != r.p.leader) {
			if amt, ok := g.highestBelow(r.p.high, r.p.first, rival.max, top.max); ok {
				r.place(rival.bidder, amt, true)
				r.place(top.bidder, g.minNext(amt, false), true)
				continue
			}
		}
		r.place(top.bidder, lowest, true)
	}
}

// applyBid folds a bid_placed event.
func (a *Auction) applyBid(e Event) error {
	var d BidPlaced
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return err
	}
	id, ok := a.byNumber[d.Number]
	if !ok {
		return fmt.Errorf("no bidder has number %q", d.Number)
	}
	amt, err := parseYuan("amount", d.Amount)
	if err != nil {
		return err
	}
	a.bids = append(a.bids, placed{BidPlaced: d, bidder: id, amount: amt})
	a.bidders[id].Bids++
	a.quoted[id] = true
	if !d.EndsAt.IsZero() {
		a.EndsAt = d.EndsAt
	}
	return nil
}
