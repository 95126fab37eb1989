package rooms

import "time"

// maxBidsInView bounds the bids a view lists (the latest ones); BidCount
// says how many there are in all, and the log holds every one.
const maxBidsInView = 200

// AuctionView is the auction as one viewer may see it. Everyone in the
// room sees the spec (without the reserve price until the end), the
// phase, the countdown and every bid by number. The admin, the host and
// the supervisors see the bidders (names, ids, numbers, deposits,
// qualification); the supervisors also see every proxy's maximum; the
// admin and the supervisors see the reserve price before the end. A
// bidder sees themself in You: number, deposit, qualification, proxy.
type AuctionView struct {
	Kind     string         `json:"kind"` // "auction"
	Room     string         `json:"room"`
	Spec     AuctionSpec    `json:"spec"` // reserve_price: the admin and supervisors, or everyone once ended
	Phase    AuctionPhase   `json:"phase"`
	EndsAt   time.Time      `json:"ends_at,omitzero"` // listing: listing_end; timed: the countdown's end
	Highest  *AuctionBid    `json:"highest,omitempty"`
	Step     string         `json:"step"`              // the increment at the current price
	MinNext  string         `json:"min_next"`          // the lowest valid bid now
	BidCount int            `json:"bid_count"`         // bids in all
	Bids     []AuctionBid   `json:"bids,omitempty"`    // the latest maxBidsInView, oldest first
	Quoted   int            `json:"quoted"`            // bidders who bid
	Bidders  []AuctionRow   `json:"bidders,omitempty"` // the admin, host and supervisors
	You      *AuctionRow    `json:"you,omitempty"`     // a bidder: themself
	Result   *AuctionResult `json:"result,omitempty"`  // once ended, with the reserve revealed
	// Confirmation is the issued 成交确认书: for the winner, the admin,
	// the host and the supervisors.
	Confirmation *ConfirmationIssued `json:"confirmation,omitempty"`
	Recordings   []Recording         `json:"recordings,omitempty"` // staff
}

// AuctionBid is one bid in a view. Bidder is filled for the admin, host
// and supervisors only.
type AuctionBid struct {
	BidPlaced
	Bidder string `json:"bidder,omitempty"`
}

// AuctionRow is one registered bidder in a view.
type AuctionRow struct {
	Bidder    string   `json:"bidder"`
	Name      string   `json:"name"`
	Number    string   `json:"number"`
	Deposit   *Deposit `json:"deposit,omitempty"`
	Qualified bool     `json:"qualified"`
	Reason    string   `json:"reason,omitempty"`
	Bids      int      `json:"bids"`
	Leading   bool     `json:"leading,omitempty"`
	// ProxyMax is the bidder's automatic bid's maximum: for the bidder
	// and the supervisors.
	ProxyMax string `json:"proxy_max,omitempty"`
}

// View projects the auction for viewer.
func (a *Auction) View(viewer Actor) any {
	out := AuctionView{Kind: KindAuction, Room: a.Room, Spec: a.Spec, Phase: a.Phase, Result: a.Result,
		BidCount: len(a.bids), Quoted: len(a.quoted)}
	sealed := viewer.Role == RoleAdmin || viewer.Role == RoleSupervisor || viewer.Role == RoleSystem
	if a.Phase != AuctionEnded && !sealed {
		out.Spec.ReservePrice = ""
	}
	switch a.Phase {
	case AuctionListing, AuctionAnnounced:
		out.EndsAt = a.Spec.ListingEnd
	case AuctionTimed:
		out.EndsAt = a.EndsAt
	}
	staff := viewer.Role.IsStaff()
	sees := func(bidder string) bool { return staff || (viewer.Role == RoleBidder && bidder == viewer.Sub) }
	p := a.price()
	if len(a.grid.stages) > 0 {
		base := p.high
		if p.first {
			base = a.grid.start
		}
		out.Step, out.MinNext = a.grid.step(base).String(), a.grid.minNext(p.high, p.first).String()
	}
	for i := max(0, len(a.bids)-maxBidsInView); i < len(a.bids); i++ {
		b := AuctionBid{BidPlaced: a.bids[i].BidPlaced}
		if staff {
			b.Bidder = a.bids[i].bidder
		}
		out.Bids = append(out.Bids, b)
	}
	if n := len(out.Bids); n > 0 {
		h := out.Bids[n-1]
		out.Highest = &h
	}
	for _, id := range a.order {
		if !sees(id) {
			continue
		}
		b := a.bidders[id]
		row := AuctionRow{Bidder: id, Name: b.Name, Number: b.Number, Deposit: b.Deposit, Qualified: b.Qualified,
			Reason: b.Reason, Bids: b.Bids, Leading: !p.first && p.leader == id}
		if px := a.proxies[id]; px != nil && (viewer.Role == RoleBidder || viewer.Role == RoleSupervisor || viewer.Role == RoleSystem) {
			row.ProxyMax = px.max.String()
		}
		if viewer.Role == RoleBidder {
			out.You = &row
		} else {
			out.Bidders = append(out.Bidders, row)
		}
	}
	if c := a.Confirmation; c != nil && (staff || (viewer.Role == RoleBidder && a.Result != nil && a.byNumber[a.Result.Number] == viewer.Sub)) {
		out.Confirmation = c
	}
	if staff {
		out.Recordings = a.Recordings
	}
	return out
}

// Auction returns the snapshot's view of an auction room, and false for a
// room of another kind.
func (s Snapshot) Auction() (AuctionView, bool) {
	v, ok := s.View.(AuctionView)
	return v, ok
}
