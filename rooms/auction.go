package rooms

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// The auction room kind (网上挂牌/网上竞价): the online sale of a state
// land-use right or a mining right by listing (《招标拍卖挂牌出让国有建设用地
// 使用权规定》, the provinces' rules for online trading; Prozorro's open
// auctions as the model of a public, anonymous bid log).
//
//   - announced: created with its spec (create_auction). Bidders are
//     registered with an anonymous number (竞买号), their deposit
//     (竞买保证金) is recorded from the bond system, and the admin confirms
//     their qualification (竞买资格确认). Registration closes at the
//     listing's end.
//   - listing (挂牌期, at least 10 working days): from listing_start (timer
//     open_listing) qualified bidders quote (bid). At listing_end (timer
//     close_listing): more than one bidder quoted → timed; one quoted →
//     ended, sold if the price meets the reserve (or there is none); none
//     → ended unsold (流拍).
//   - timed (限时竞价): a countdown (default 300 s); every bid restarts it
//     (ends_at = the bid's time + countdown). At ends_at (timer
//     end_auction) the auction ends: the highest bid meets the reserve →
//     sold (成交), else unsold (流拍).
//   - ended: the result, with the reserve revealed (auction_ended). For a
//     sale the server issues the confirmation letter (成交确认书) signed by
//     the platform (auction_confirm.go).
//
// Bids (auction_bid.go) are public and anonymous: everyone in the room
// sees every bid by number, never by bidder. Names, ids and deposits are
// for the admin, the host and the supervisors; a bidder sees their own.
// The reserve price (底价) is sealed — only the admin who enters it for the
// seller and the supervisors see it — until the end, when everyone does.

// KindAuction is the auction room kind.
const KindAuction = "auction"

// AuctionPhase is where an auction stands.
type AuctionPhase string

// The auction's phases.
const (
	AuctionAnnounced AuctionPhase = "announced" // created; the listing has not begun
	AuctionListing   AuctionPhase = "listing"   // 挂牌: qualified bidders quote until listing_end
	AuctionTimed     AuctionPhase = "timed"     // 限时竞价: each bid restarts the countdown
	AuctionEnded     AuctionPhase = "ended"     // sold or unsold
)

// The auction's results.
const (
	AuctionSold   = "sold"   // 成交
	AuctionUnsold = "unsold" // 流拍
)

// Commands of the auction room.
const (
	CmdCreateAuction            = "create_auction"
	CmdRegisterAuctionBidder    = "register_auction_bidder"    // the server, with a number it drew at random
	CmdRecordDeposit            = "record_deposit"             // the server, from the bond system
	CmdQualifyBidder            = "qualify_bidder"             // the admin: 竞买资格确认
	CmdOpenListing              = "open_listing"               // timer, at listing_start
	CmdCloseListing             = "close_listing"              // timer, at listing_end
	CmdEndAuction               = "end_auction"                // timer, at ends_at
	CmdBid                      = "bid"                        // a qualified bidder
	CmdSetProxy                 = "set_proxy"                  // a qualified bidder: 自动出价
	CmdCancelProxy              = "cancel_proxy"               // the proxy's bidder
	CmdRecordConfirmationLetter = "record_confirmation_letter" // the server, with the platform-signed 成交确认书
)

// Events of the auction room.
const (
	EvAuctionCreated          = "auction_created"
	EvAuctionTerms            = "auction_terms" // the sealed reserve: the admin and supervisors
	EvAuctionBidderRegistered = "auction_bidder_registered"
	EvDepositRecorded         = "deposit_recorded"
	EvBidderQualified         = "bidder_qualified"
	EvListingOpened           = "listing_opened"
	EvBidPlaced               = "bid_placed"
	EvProxySet                = "proxy_set"
	EvProxyCancelled          = "proxy_cancelled"
	EvTimedStarted            = "timed_started"
	EvAuctionEnded            = "auction_ended"
	EvConfirmationIssued      = "confirmation_issued"
)

// AuctionCategories are what an auction sells: a state land-use right
// (国有建设用地使用权) or a mining right (矿业权).
var AuctionCategories = []string{"land", "mining"}

// Bounds of an auction.
const (
	DefaultCountdownSeconds = 300
	MinCountdownSeconds     = 30
	MaxCountdownSeconds     = 3600
	maxAuctionDetails       = 30
	maxAuctionBidders       = 2000
	maxListingDays          = 366
)

// AuctionDetail is one line of what is sold: location, area, use, term,
// plot ratio (容积率)...
type AuctionDetail struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Increments is the auction's 加价幅度: one fixed Step, or Stages, each a
// step from a price up (ascending; the step that applies to a bid is the
// one of the current highest price).
type Increments struct {
	Step   string  `json:"step,omitempty"`
	Stages []Stage `json:"stages,omitempty"`
}

// Stage is one step of staged increments.
type Stage struct {
	From string `json:"from"`
	Step string `json:"step"`
}

// AuctionSpec is the data of create_auction. The public auction_created
// event carries it without the reserve price (HasReserve says whether
// there is one, as the announcement does); the reserve travels in
// auction_terms to the admin and the supervisors only.
type AuctionSpec struct {
	Title            string          `json:"title"`
	Center           string          `json:"center,omitempty"` // the trading center that owns it (tenancy); "" = the main center
	Lot              string          `json:"lot"`              // 宗地编号 or 矿权编号
	Category         string          `json:"category"`         // land | mining
	Seller           string          `json:"seller"`           // 出让人
	Details          []AuctionDetail `json:"details,omitempty"`
	StartPrice       string          `json:"start_price"` // 起始价, yuan
	Increments       Increments      `json:"increments"`
	ReservePrice     string          `json:"reserve_price,omitempty"` // 底价, sealed until the end
	HasReserve       bool            `json:"has_reserve,omitempty"`   // set by the room
	Deposit          string          `json:"deposit"`                 // 竞买保证金, yuan
	ListingStart     time.Time       `json:"listing_start"`
	ListingEnd       time.Time       `json:"listing_end"`
	CountdownSeconds int             `json:"countdown_seconds,omitempty"` // 限时竞价; 0 means 300
	ProxyAllowed     bool            `json:"proxy_allowed,omitempty"`     // 自动出价
}

// Countdown is the timed phase's countdown.
func (s AuctionSpec) Countdown() time.Duration {
	return time.Duration(s.CountdownSeconds) * time.Second
}

// AuctionTerms is the data of auction_terms.
type AuctionTerms struct {
	ReservePrice string `json:"reserve_price"`
}

// AuctionBidderSpec is the data of register_auction_bidder and
// auction_bidder_registered. The server's API layer draws Number at
// random among the numbers not taken; the room only checks that it is 4
// to 8 digits and unique, so a number never tells when its bidder
// registered.
type AuctionBidderSpec struct {
	Bidder string `json:"bidder"`
	Name   string `json:"name"`
	Number string `json:"number"`
}

// Deposit statuses, as the bond system reports them.
const (
	DepositPaid    = "paid"
	DepositMissing = "missing"
	DepositUnknown = "unknown"
)

// Deposit is the data of record_deposit and deposit_recorded: what the
// bond system says of a bidder's 竞买保证金.
type Deposit struct {
	Bidder     string    `json:"bidder"`
	Status     string    `json:"status"`
	Amount     string    `json:"amount,omitempty"`
	Reference  string    `json:"reference,omitempty"`
	Source     string    `json:"source,omitempty"`     // DepositFromBondSystem or DepositByHand
	RecordedAt time.Time `json:"recorded_at,omitzero"` // the event's time, set by the fold
}

// Where a deposit's record came from: the center's bond system, or the
// admin entering the finance department's confirmation by hand when no
// bond system is configured.
const (
	DepositFromBondSystem = "bond_system"
	DepositByHand         = "admin"
)

// Qualification is the data of qualify_bidder and bidder_qualified.
type Qualification struct {
	Bidder    string `json:"bidder"`
	Qualified bool   `json:"qualified"`
	Reason    string `json:"reason,omitempty"`
}

// ListingOpened is the data of listing_opened.
type ListingOpened struct {
	ListingEnd time.Time `json:"listing_end"`
}

// TimedStarted is the data of timed_started: the listing closed with
// Quoted bidders having quoted, and the countdown runs to EndsAt.
type TimedStarted struct {
	Quoted int       `json:"quoted"`
	Price  string    `json:"price"`
	EndsAt time.Time `json:"ends_at"`
}

// AuctionResult is the data of auction_ended. Number and Price are the
// highest bid's, if any; the reserve, if there was one, is revealed.
// EndedAt is when the auction ended by its rules: listing_end when it
// ended with the listing, else the countdown's end.
type AuctionResult struct {
	Result       string    `json:"result"` // sold | unsold
	Number       string    `json:"number,omitempty"`
	Price        string    `json:"price,omitempty"`
	ReservePrice string    `json:"reserve_price,omitempty"`
	ReserveMet   bool      `json:"reserve_met"`
	Bids         int       `json:"bids"`
	Quoted       int       `json:"quoted"` // bidders who bid
	Stage        string    `json:"stage"`  // where it ended: listing or timed
	EndedAt      time.Time `json:"ended_at"`
}

// auctionBidder is one registered bidder as the room knows them.
type auctionBidder struct {
	AuctionBidderSpec
	Deposit   *Deposit
	Qualified bool
	Reason    string
	Bids      int
}

// proxy is a bidder's automatic bid: their max and the seq of the event
// that set it (earlier set ranks first among equal maxes).
type proxy struct {
	bidder string
	max    fen
	seq    uint64
	setAt  time.Time
}

// placed is one bid in the log, with its bidder.
type placed struct {
	BidPlaced
	bidder string
	amount fen
}

// Auction is the state of an auction room.
type Auction struct {
	Room  string
	Seq   uint64
	Hash  string
	Spec  AuctionSpec // ReservePrice folded in from auction_terms
	Phase AuctionPhase
	// EndsAt is the countdown's end in the timed phase.
	EndsAt       time.Time
	Result       *AuctionResult
	Confirmation *ConfirmationIssued
	Recordings   []Recording

	grid     grid
	reserve  fen // 0: none
	deposit  fen
	bidders  map[string]*auctionBidder // by bidder id
	order    []string                  // bidder ids in registration order
	byNumber map[string]string         // number → bidder id
	bids     []placed
	proxies  map[string]*proxy // by bidder
	quoted   map[string]bool   // bidders who bid
	ended    struct {          // the auction_ended event: what the letter cites
		seq  uint64
		hash string
	}
}

// NewAuction returns the empty state of an auction room.
func NewAuction(room string) *Auction {
	return &Auction{Room: room, bidders: map[string]*auctionBidder{}, byNumber: map[string]string{},
		proxies: map[string]*proxy{}, quoted: map[string]bool{}}
}

// Kind is "auction".
func (a *Auction) Kind() string { return KindAuction }

// Head is the seq and hash of the last event folded.
func (a *Auction) Head() (uint64, string) { return a.Seq, a.Hash }

// Created reports whether the auction was created.
func (a *Auction) Created() bool { return a.Phase != "" }

// Summary is the auction's row in the admin's list.
func (a *Auction) Summary() Summary {
	s := Summary{Kind: KindAuction, Title: a.Spec.Title, Category: a.Spec.Category, Phase: string(a.Phase), Center: a.Spec.Center}
	if at, _, ok := a.NextTimer(); ok {
		s.Deadline = at
	}
	return s
}

// NextTimer: the listing's start and end, then the countdown's end, then
// — when sold — the 成交确认书, which the server signs at once (its data
// comes from the scheduler's Fill, see ConfirmationFill).
func (a *Auction) NextTimer() (time.Time, string, bool) {
	switch a.Phase {
	case AuctionAnnounced:
		return a.Spec.ListingStart, CmdOpenListing, true
	case AuctionListing:
		return a.Spec.ListingEnd, CmdCloseListing, true
	case AuctionTimed:
		return a.EndsAt, CmdEndAuction, true
	case AuctionEnded:
		if a.Result != nil && a.Result.Result == AuctionSold && a.Confirmation == nil {
			return a.Result.EndedAt, CmdRecordConfirmationLetter, true
		}
	}
	return time.Time{}, "", false
}

// Admits lets in the registered bidders, the host, the supervisors and
// the admin. Anyone else is refused without a word about who is
// registered; evaluation experts have no part in an auction.
func (a *Auction) Admits(viewer Actor) error {
	switch viewer.Role {
	case RoleAdmin, RoleHost, RoleSupervisor, RoleSystem:
		return nil
	case RoleBidder:
		if a.bidders[viewer.Sub] != nil {
			return nil
		}
		return refuse(CodeForbidden, "%s is not a registered bidder of auction %s; register with the trading center first", viewer.Sub, a.Room)
	case RoleExpert:
		return refuse(CodeForbidden, "evaluation experts have no part in auction %s", a.Room)
	}
	return refuse(CodeForbidden, "a %s may not enter auction %s", viewer.Role, a.Room)
}

// leader returns the highest bid and its bidder; ok is false before the
// first bid.
func (a *Auction) leader() (placed, bool) {
	if len(a.bids) == 0 {
		return placed{}, false
	}
	return a.bids[len(a.bids)-1], true
}

// Apply folds one event.
func (a *Auction) Apply(e Event) error {
	return applyNext(&a.Seq, &a.Hash, e, a.apply)
}

func (a *Auction) apply(e Event) error {
	data := func(v any) error { return json.Unmarshal(e.Data, v) }
	switch e.Type {
	case EvAuctionCreated:
		if err := data(&a.Spec); err != nil {
			return err
		}
		g, dep, err := a.Spec.parse()
		if err != nil {
			return err
		}
		a.grid, a.deposit, a.Phase = g, dep, AuctionAnnounced
	case EvAuctionTerms:
		var t AuctionTerms
		if err := data(&t); err != nil {
			return err
		}
		r, err := parseYuan("reserve_price", t.ReservePrice)
		if err != nil {
			return err
		}
		a.Spec.ReservePrice, a.reserve = t.ReservePrice, r
	case EvAuctionBidderRegistered:
		var b AuctionBidderSpec
		if err := data(&b); err != nil {
			return err
		}
		if a.bidders[b.Bidder] != nil || a.byNumber[b.Number] != "" {
			return fmt.Errorf("bidder %s or number %s registered twice", b.Bidder, b.Number)
		}
		a.bidders[b.Bidder] = &auctionBidder{AuctionBidderSpec: b}
		a.order = append(a.order, b.Bidder)
		a.byNumber[b.Number] = b.Bidder
	case EvDepositRecorded:
		var d Deposit
		if err := data(&d); err != nil {
			return err
		}
		if b := a.bidders[d.Bidder]; b != nil {
			d.RecordedAt = e.Time
			b.Deposit = &d
		}
	case EvBidderQualified:
		var q Qualification
		if err := data(&q); err != nil {
			return err
		}
		if b := a.bidders[q.Bidder]; b != nil {
			b.Qualified, b.Reason = q.Qualified, q.Reason
		}
	case EvListingOpened:
		a.Phase = AuctionListing
	case EvBidPlaced:
		return a.applyBid(e)
	case EvProxySet:
		var p ProxySet
		if err := data(&p); err != nil {
			return err
		}
		m, err := parseYuan("max", p.Max)
		if err != nil {
			return err
		}
		a.proxies[p.Bidder] = &proxy{bidder: p.Bidder, max: m, seq: e.Seq, setAt: e.Time}
	case EvProxyCancelled:
		var p ProxySet
		if err := data(&p); err != nil {
			return err
		}
		delete(a.proxies, p.Bidder)
	case EvTimedStarted:
		var t TimedStarted
		if err := data(&t); err != nil {
			return err
		}
		a.Phase, a.EndsAt = AuctionTimed, t.EndsAt
	case EvAuctionEnded:
		var r AuctionResult
		if err := data(&r); err != nil {
			return err
		}
		a.Phase, a.Result = AuctionEnded, &r
		if r.ReservePrice != "" {
			a.Spec.ReservePrice = r.ReservePrice
		}
		a.ended.seq, a.ended.hash = e.Seq, e.Hash
	case EvConfirmationIssued:
		var c ConfirmationIssued
		if err := data(&c); err != nil {
			return err
		}
		a.Confirmation = &c
	case EvMediaRecorded:
		var r Recording
		if err := data(&r); err != nil {
			return err
		}
		a.Recordings = append(a.Recordings, r)
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

// Decide validates cmd from actor at time now and returns the events it
// yields, or a *Refusal.
func (a *Auction) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if cmd.Type == CmdCreateAuction {
		return a.create(actor, cmd, now)
	}
	if !a.Created() {
		return nil, refuse(CodeNotFound, "auction %s does not exist", a.Room)
	}
	if err := a.Admits(actor); err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdRegisterAuctionBidder:
		return a.register(actor, cmd, now)
	case CmdRecordDeposit:
		return a.recordDeposit(actor, cmd)
	case CmdQualifyBidder:
		return a.qualify(actor, cmd, now)
	case CmdOpenListing:
		return a.openListing(actor, now)
	case CmdCloseListing:
		return a.closeListing(actor, now)
	case CmdEndAuction:
		return a.endAuction(actor, now)
	case CmdBid:
		return a.bid(actor, cmd, now)
	case CmdSetProxy:
		return a.setProxy(actor, cmd, now)
	case CmdCancelProxy:
		return a.cancelProxy(actor, now)
	case CmdRecordConfirmationLetter:
		return a.recordConfirmation(actor, cmd)
	case CmdRecordMedia:
		r, err := decideRecording(actor, cmd)
		if err != nil {
			return nil, err
		}
		return []Draft{{Type: EvMediaRecorded, Vis: Staff(), Data: r}}, nil
	}
	return nil, refuse(CodeUnknownCommand, "unknown command %q for an auction", cmd.Type)
}

// reserveVis: the sealed reserve, for the admin (who enters it for the
// seller) and the supervisors — not the host, not the bidders.
func reserveVis() Visibility { return Visibility{Roles: []Role{RoleAdmin, RoleSupervisor}} }

func (a *Auction) create(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "create an auction", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if a.Created() {
		return nil, refuse(CodeWrongState, "auction %s already exists", a.Room)
	}
	var s AuctionSpec
	if err := decodeData(cmd.Data, &s); err != nil {
		return nil, err
	}
	if err := s.check(now); err != nil {
		return nil, err
	}
	terms := AuctionTerms{ReservePrice: s.ReservePrice}
	s.ReservePrice, s.HasReserve = "", terms.ReservePrice != ""
	drafts := []Draft{{Type: EvAuctionCreated, Vis: Public(), Data: s}}
	if s.HasReserve {
		drafts = append(drafts, Draft{Type: EvAuctionTerms, Vis: reserveVis(), Data: terms})
	}
	return drafts, nil
}

// check validates a spec and puts its amounts and times in their
// canonical form. Every refusal names the field.
func (s *AuctionSpec) check(now time.Time) error {
	if err := checkText("title", s.Title, 200); err != nil {
		return err
	}
	if err := checkText("lot", s.Lot, 100); err != nil {
		return err
	}
	if err := checkCenter(s.Center); err != nil {
		return err
	}
	if err := checkText("seller", s.Seller, 200); err != nil {
		return err
	}
	switch s.Category {
	case "land", "mining":
	default:
		return refuse(CodeInvalid, "category must be land (国有建设用地使用权) or mining (矿业权), got %.40q", s.Category)
	}
	if len(s.Details) > maxAuctionDetails {
		return refuse(CodeInvalid, "details: at most %d lines, got %d", maxAuctionDetails, len(s.Details))
	}
	for i, d := range s.Details {
		if err := checkText(fmt.Sprintf("details[%d].label", i), d.Label, 50); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("details[%d].value", i), d.Value, 500); err != nil {
			return err
		}
	}
	start, err := parseYuan("start_price", s.StartPrice)
	if err != nil {
		return err
	}
	if start <= 0 || start >= maxAuctionFen {
		return refuse(CodeInvalid, "start_price must be above 0 and below %s yuan, got %s", maxAuctionFen, s.StartPrice)
	}
	s.StartPrice = start.String()
	if err := s.Increments.check(start); err != nil {
		return err
	}
	if s.ReservePrice != "" {
		r, err := parseYuan("reserve_price", s.ReservePrice)
		if err != nil {
			return err
		}
		if r < start {
			return refuse(CodeInvalid, "reserve_price %s is below start_price %s: leave it out if any price will do", s.ReservePrice, s.StartPrice)
		}
		s.ReservePrice = r.String()
	}
	dep, err := parseYuan("deposit", s.Deposit)
	if err != nil {
		return err
	}
	if dep <= 0 {
		return refuse(CodeInvalid, "deposit (竞买保证金) must be above 0")
	}
	s.Deposit = dep.String()
	if s.ListingStart.IsZero() || s.ListingStart.Before(now) {
		return refuse(CodeInvalid, "listing_start must be set and not in the past (server time %s)", now.UTC().Format(time.RFC3339))
	}
	if !s.ListingEnd.After(s.ListingStart) {
		return refuse(CodeInvalid, "listing_end must be after listing_start")
	}
	if s.ListingEnd.Sub(s.ListingStart) > maxListingDays*24*time.Hour {
		return refuse(CodeInvalid, "listing_end: a listing lasts at most %d days", maxListingDays)
	}
	if n := workingDays(s.ListingStart, s.ListingEnd); n < MinListingWorkingDays {
		return refuse(CodeInvalid, "listing_end: the listing (挂牌期) must last at least %d working days (Monday to Friday, China time; holidays are not counted for you), %s to %s has %d",
			MinListingWorkingDays, s.ListingStart.In(chinaTime).Format("2006-01-02"), s.ListingEnd.In(chinaTime).Format("2006-01-02"), n)
	}
	s.ListingStart, s.ListingEnd = s.ListingStart.UTC(), s.ListingEnd.UTC()
	if s.CountdownSeconds == 0 {
		s.CountdownSeconds = DefaultCountdownSeconds
	}
	if s.CountdownSeconds < MinCountdownSeconds || s.CountdownSeconds > MaxCountdownSeconds {
		return refuse(CodeInvalid, "countdown_seconds must be %d-%d, got %d", MinCountdownSeconds, MaxCountdownSeconds, s.CountdownSeconds)
	}
	return nil
}

// check validates the increments against the start price and puts their
// amounts in canonical form.
func (in *Increments) check(start fen) error {
	switch {
	case in.Step != "" && len(in.Stages) > 0:
		return refuse(CodeInvalid, "increments: give either step or stages, not both")
	case in.Step != "":
		s, err := parseYuan("increments.step", in.Step)
		if err != nil {
			return err
		}
		if s <= 0 {
			return refuse(CodeInvalid, "increments.step must be above 0")
		}
		in.Step = s.String()
		return nil
	case len(in.Stages) == 0:
		return refuse(CodeInvalid, "increments: a step (加价幅度) or stages are required")
	case len(in.Stages) > 20:
		return refuse(CodeInvalid, "increments.stages: at most 20, got %d", len(in.Stages))
	}
	var prev stageFen
	for i := range in.Stages {
		st := &in.Stages[i]
		from, err := parseYuan(fmt.Sprintf("increments.stages[%d].from", i), st.From)
		if err != nil {
			return err
		}
		step, err := parseYuan(fmt.Sprintf("increments.stages[%d].step", i), st.Step)
		if err != nil {
			return err
		}
		switch {
		case step <= 0:
			return refuse(CodeInvalid, "increments.stages[%d].step must be above 0", i)
		case i == 0 && from > start:
			return refuse(CodeInvalid, "increments.stages[0].from must be at most start_price %s, so every price has a step", start)
		case i > 0 && from <= prev.from:
			return refuse(CodeInvalid, "increments.stages[%d].from must be above the stage before it (stages ascend)", i)
		case i > 0 && step < prev.step:
			return refuse(CodeInvalid, "increments.stages[%d].step must not be smaller than the stage before it", i)
		}
		st.From, st.Step = from.String(), step.String()
		prev = stageFen{from, step}
	}
	return nil
}

// parse returns the spec's grid and deposit (the spec was checked when
// created).
func (s AuctionSpec) parse() (grid, fen, error) {
	start, err := parseYuan("start_price", s.StartPrice)
	if err != nil {
		return grid{}, 0, err
	}
	g := grid{start: start}
	if s.Increments.Step != "" {
		step, err := parseYuan("increments.step", s.Increments.Step)
		if err != nil || step <= 0 {
			return grid{}, 0, fmt.Errorf("increments.step %q", s.Increments.Step)
		}
		g.stages = []stageFen{{0, step}}
	}
	for _, st := range s.Increments.Stages {
		from, err1 := parseYuan("from", st.From)
		step, err2 := parseYuan("step", st.Step)
		if err1 != nil || err2 != nil || step <= 0 {
			return grid{}, 0, fmt.Errorf("increments stage %+v", st)
		}
		g.stages = append(g.stages, stageFen{from, step})
	}
	if len(g.stages) == 0 {
		return grid{}, 0, fmt.Errorf("no increments")
	}
	dep, err := parseYuan("deposit", s.Deposit)
	if err != nil {
		return grid{}, 0, err
	}
	return g, dep, nil
}

// registrationOpen refuses a change to the bidders after the listing's
// end (or once the auction moved past the listing).
func (a *Auction) registrationOpen(what string, now time.Time) error {
	if (a.Phase != AuctionAnnounced && a.Phase != AuctionListing) || !now.Before(a.Spec.ListingEnd) {
		return refuse(CodeWrongState, "%s closed with the listing at %s", what, a.Spec.ListingEnd.Format(time.RFC3339))
	}
	return nil
}

var auctionNumber = regexp.MustCompile(`^[0-9]{4,8}$`)

func (a *Auction) register(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "register bidders", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if err := a.registrationOpen("registration", now); err != nil {
		return nil, err
	}
	var b AuctionBidderSpec
	if err := decodeData(cmd.Data, &b); err != nil {
		return nil, err
	}
	if !ValidID(b.Bidder) {
		return nil, refuse(CodeInvalid, "bidder must be 1-64 letters, digits, '.', '_' or '-', got %.40q", b.Bidder)
	}
	if err := checkText("name", b.Name, 200); err != nil {
		return nil, err
	}
	if !auctionNumber.MatchString(b.Number) {
		return nil, refuse(CodeInvalid, "number (竞买号) must be 4 to 8 digits, got %.40q", b.Number)
	}
	if a.bidders[b.Bidder] != nil {
		return nil, refuse(CodeInvalid, "bidder %s is already registered", b.Bidder)
	}
	if a.byNumber[b.Number] != "" {
		// The API draws another number and tries again.
		return nil, refuse(CodeConflict, "number %s is taken: draw another", b.Number)
	}
	if len(a.bidders) >= maxAuctionBidders {
		return nil, refuse(CodeInvalid, "an auction registers at most %d bidders", maxAuctionBidders)
	}
	return []Draft{{Type: EvAuctionBidderRegistered, Vis: Staff(b.Bidder), Data: b}}, nil
}

func (a *Auction) recordDeposit(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record deposits", RoleSystem); err != nil {
		return nil, err
	}
	if a.Phase == AuctionEnded {
		return nil, refuse(CodeWrongState, "auction %s has ended", a.Room)
	}
	var d Deposit
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	b := a.bidders[d.Bidder]
	if b == nil {
		return nil, refuse(CodeNotFound, "%.64q is not a registered bidder of auction %s", d.Bidder, a.Room)
	}
	switch d.Status {
	case DepositPaid:
		amt, err := parseYuan("amount", d.Amount)
		if err != nil {
			return nil, err
		}
		d.Amount = amt.String()
	case DepositMissing, DepositUnknown:
		if d.Amount != "" {
			amt, err := parseYuan("amount", d.Amount)
			if err != nil {
				return nil, err
			}
			d.Amount = amt.String()
		}
	default:
		return nil, refuse(CodeInvalid, "status must be paid, missing or unknown, got %.40q", d.Status)
	}
	if err := checkText("reference", d.Reference, 100); d.Reference != "" && err != nil {
		return nil, err
	}
	switch d.Source {
	case "", DepositFromBondSystem, DepositByHand:
	default:
		return nil, refuse(CodeInvalid, "source must be %s or %s, got %.40q", DepositFromBondSystem, DepositByHand, d.Source)
	}
	d.RecordedAt = time.Time{}
	if old := b.Deposit; old != nil && old.Status == d.Status && old.Amount == d.Amount && old.Reference == d.Reference && old.Source == d.Source {
		return nil, nil // nothing new
	}
	return []Draft{{Type: EvDepositRecorded, Vis: Staff(d.Bidder), Data: d}}, nil
}

func (a *Auction) qualify(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "confirm bidders' qualification", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if err := a.registrationOpen("qualification", now); err != nil {
		return nil, err
	}
	var q Qualification
	if err := decodeData(cmd.Data, &q); err != nil {
		return nil, err
	}
	b := a.bidders[q.Bidder]
	if b == nil {
		return nil, refuse(CodeNotFound, "%.64q is not a registered bidder of auction %s", q.Bidder, a.Room)
	}
	if q.Reason != "" || !q.Qualified {
		if err := checkText("reason", q.Reason, 500); err != nil {
			return nil, err
		}
	}
	if q.Qualified {
		d := b.Deposit
		if d == nil || d.Status != DepositPaid {
			return nil, refuse(CodeWrongState, "the deposit (竞买保证金) of %s is not recorded as paid: a bidder is qualified on a paid deposit", q.Bidder)
		}
		if amt, err := parseYuan("amount", d.Amount); err != nil || amt < a.deposit {
			return nil, refuse(CodeWrongState, "the deposit of %s is %s yuan, less than the %s the auction asks", q.Bidder, d.Amount, a.Spec.Deposit)
		}
	} else if b.Bids > 0 {
		return nil, refuse(CodeWrongState, "%s has bid: a bid once made stands, so the bidder cannot be disqualified now", q.Bidder)
	}
	if b.Qualified == q.Qualified && b.Reason == q.Reason {
		return nil, nil
	}
	return []Draft{{Type: EvBidderQualified, Vis: Staff(q.Bidder), Data: q}}, nil
}

func (a *Auction) openListing(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "open the listing", RoleSystem); err != nil {
		return nil, err
	}
	if a.Phase != AuctionAnnounced {
		return nil, refuse(CodeWrongState, "the listing of %s is open already (it is %s)", a.Room, a.Phase)
	}
	if now.Before(a.Spec.ListingStart) {
		return nil, refuse(CodeTooEarly, "the listing opens at %s", a.Spec.ListingStart.Format(time.RFC3339))
	}
	return []Draft{{Type: EvListingOpened, Vis: Public(), Data: ListingOpened{ListingEnd: a.Spec.ListingEnd}}}, nil
}

// closeListing ends the listing: with more than one bidder having quoted
// the timed bidding begins, its countdown from the moment the listing
// closed (the timer's firing: listing_end, or just after it); with one
// or none the auction ends here.
func (a *Auction) closeListing(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "close the listing", RoleSystem); err != nil {
		return nil, err
	}
	if a.Phase != AuctionListing {
		return nil, refuse(CodeWrongState, "no listing is open (it is %s)", a.Phase)
	}
	if now.Before(a.Spec.ListingEnd) {
		return nil, refuse(CodeTooEarly, "the listing ends at %s", a.Spec.ListingEnd.Format(time.RFC3339))
	}
	if len(a.quoted) > 1 {
		top, _ := a.leader()
		t := TimedStarted{Quoted: len(a.quoted), Price: top.Amount, EndsAt: now.UTC().Truncate(time.Microsecond).Add(a.Spec.Countdown())}
		return []Draft{{Type: EvTimedStarted, Vis: Public(), Data: t}}, nil
	}
	return []Draft{a.end("listing", a.Spec.ListingEnd)}, nil
}

func (a *Auction) endAuction(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "end the auction", RoleSystem); err != nil {
		return nil, err
	}
	if a.Phase != AuctionTimed {
		return nil, refuse(CodeWrongState, "no timed bidding is running (it is %s)", a.Phase)
	}
	if now.Before(a.EndsAt) {
		return nil, refuse(CodeTooEarly, "the countdown ends at %s", a.EndsAt.Format(time.RFC3339Nano))
	}
	return []Draft{a.end("timed", a.EndsAt)}, nil
}

// end is the auction_ended event: sold when the highest bid meets the
// reserve (any bid, without one), else unsold (流拍).
func (a *Auction) end(stage string, at time.Time) Draft {
	r := AuctionResult{Result: AuctionUnsold, Bids: len(a.bids), Quoted: len(a.quoted), Stage: stage, EndedAt: at.UTC(), ReservePrice: a.Spec.ReservePrice}
	if top, ok := a.leader(); ok {
		r.Number, r.Price = top.Number, top.Amount
		r.ReserveMet = top.amount >= a.reserve
		if r.ReserveMet {
			r.Result = AuctionSold
		}
	}
	return Draft{Type: EvAuctionEnded, Vis: Public(), Data: r}
}
