// Package statstest seeds a store with a known mix of trading sessions
// for the statistics' tests (stats, api, the browser test): openings that
// fail for too few bids, bids that fail to unlock, evaluations that award
// at a known price, auctions sold and unsold. Everything goes through
// rooms.Service on a clock the seeder moves; Plan returns the inputs, so a
// test computes what the figures must be from them, never from stats.
package statstest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// Clock is a settable clock for rooms.NewService.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t (back as well as forward).
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Centers the seed uses: "" is the main center.
var Centers = []string{"", "jiangning", "pukou"}

// Categories of the seed's openings and auctions.
var (
	OpeningCategories = []string{"construction", "procurement", "state_property"}
	AuctionCategories = []string{"land", "mining"}
)

// Opening is one seeded opening, as the seed made it.
type Opening struct {
	ID, Center, Category string
	Deadline             time.Time
	Budget, Control      string   // sealed budget and control price ("" none)
	Registered           int      // bidders registered
	Bids                 []string // the prices of the bids submitted (one per bidder, in bidder order)
	Due                  bool     // the deadline command ran
	// Per bid (same order as Bids): failed unlock attempts before the
	// outcome, and whether the bid finally opened; a bid not opened is
	// classified (revoked for even, withdrawn for odd indexes).
	FailedAttempts []int
	Opens          []bool
	ReadOut        bool // the read-out ran (every due opening with enough bids)
	// Evaluation: "" none, "drawn" (committee formed, nothing more) or
	// "awarded" (notices issued). Replaced: a member recused and a reserve
	// came in.
	Evaluation string
	Replaced   bool
	Award      string // the award price: the lowest opened bid
}

// Auction is one seeded auction.
type Auction struct {
	ID, Center, Category string
	Start                string    // start price
	Step                 string    // increment
	Steps                int       // the single bid is Start + Steps × Step; -1: nobody bids (unsold)
	Ended                bool      // the listing was closed
	End                  time.Time // the listing's end
	Price                string    // the sale price when sold
}

// Plan is the seed: what was made.
type Plan struct {
	Openings []Opening
	Auctions []Auction
	// Members is the committee size and Reserves the reserves each draw
	// takes (every evaluation the same).
	Members, Reserves int
}

// Options size the seed.
type Options struct {
	Openings, Auctions int
	Evaluations        int // openings that get an awarded evaluation (about; the first eligible ones in order)
	Drawn              int // openings whose evaluation is only drawn
	Seed               uint64
	Start              time.Time // the first deadline; the others follow every Step
	Step               time.Duration
}

const (
	poolSize = 12
	members  = 5
	reserves = 2
	minBids  = 3
)

var admin = rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
var host = rooms.Actor{Sub: "host", Role: rooms.RoleHost}

type seeder struct {
	t     testing.TB
	svc   *rooms.Service
	clock *Clock
	n     int
	keys  map[string]*decrypt.PrivateKey
}

func (s *seeder) do(room string, a rooms.Actor, typ string, data any) {
	s.t.Helper()
	s.n++
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	if _, err := s.svc.Execute(context.Background(), room, a, rooms.Command{ID: fmt.Sprintf("seed-%d", s.n), Type: typ, Data: raw}); err != nil {
		s.t.Fatalf("seed: %s %s by %s %s at %s: %v", room, typ, a.Role, a.Sub, s.clock.Now().Format(time.RFC3339), err)
	}
}

func digest(s string) string {
	sum := sm3.Sm3Sum([]byte(s))
	return hex.EncodeToString(sum)
}

// Seed makes the plan's rooms through svc (whose clock must be clock) and
// returns the plan. It is deterministic for one Options.
func Seed(t testing.TB, svc *rooms.Service, clock *Clock, o Options) Plan {
	t.Helper()
	s := &seeder{t: t, svc: svc, clock: clock, keys: map[string]*decrypt.PrivateKey{}}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	plan := Plan{Members: members, Reserves: reserves}
	for i := range o.Openings {
		plan.Openings = append(plan.Openings, s.planOpening(rng, i, o))
	}
	// Evaluations: the first eligible openings (read out with at least one opened bid), spread by taking every k-th.
	var eligible []int
	for i, op := range plan.Openings {
		if op.ReadOut && countTrue(op.Opens) > 0 {
			eligible = append(eligible, i)
		}
	}
	if want := o.Evaluations + o.Drawn; want > 0 && len(eligible) > 0 {
		k := max(1, len(eligible)/want)
		taken := 0
		for j := 0; j < len(eligible) && taken < want; j += k {
			op := &plan.Openings[eligible[j]]
			if taken < o.Evaluations {
				op.Evaluation, op.Replaced = "awarded", taken%4 == 1
				op.Award = lowestOpened(op)
			} else {
				op.Evaluation = "drawn"
			}
			taken++
		}
	}
	for i := range plan.Openings {
		s.runOpening(&plan.Openings[i])
	}
	if o.Evaluations+o.Drawn > 0 {
		s.makePool()
		for i := range plan.Openings {
			if plan.Openings[i].Evaluation != "" {
				s.runEvaluation(&plan.Openings[i])
			}
		}
	}
	for i := range o.Auctions {
		a := s.planAuction(rng, i, o)
		s.runAuction(a)
		plan.Auctions = append(plan.Auctions, *a)
	}
	return plan
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// money is a random amount in yuan with two decimals between lo and hi yuan.
func money(rng *rand.Rand, lo, hi int64) string {
	fen := lo*100 + rng.Int64N((hi-lo)*100)
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}

func (s *seeder) planOpening(rng *rand.Rand, i int, o Options) Opening {
	op := Opening{
		ID:       fmt.Sprintf("OP-%04d", i),
		Center:   Centers[i%len(Centers)],
		Category: OpeningCategories[(i/len(Centers))%len(OpeningCategories)],
		Deadline: o.Start.Add(time.Duration(i) * o.Step),
	}
	// Prices cluster above base; a budget is 5–25 % above it, a control price 10 % above the budget.
	base := int64(800_000 + rng.IntN(40_000_000))
	budget := base + base*int64(5+rng.IntN(20))/100
	switch r := rng.IntN(20); {
	case r < 12:
		op.Budget = money(rng, budget, budget+1)
		if rng.IntN(2) == 0 {
			op.Control = money(rng, budget*11/10, budget*11/10+1)
		}
	case r < 17:
		op.Control = money(rng, budget, budget+1)
	}
	op.Registered = 3 + rng.IntN(5)
	op.Due = i%40 != 39 // every 40th never reaches its deadline
	nbids := minBids + rng.IntN(op.Registered-minBids+1)
	if i%10 == 3 {
		nbids = rng.IntN(minBids) // 流标: 0–2 bids
	}
	for j := range nbids {
		// Distinct prices: each bid differs from the others by its index.
		op.Bids = append(op.Bids, fmt.Sprintf("%d.%02d", base+int64(j)*1000+rng.Int64N(999), rng.IntN(100)))
		fails, opens := 0, true
		switch rng.IntN(10) {
		case 0:
			fails = 1 + rng.IntN(2) // fails, then opens on a retry
		case 1:
			fails, opens = 1+rng.IntN(2), false // never opens: classified
		}
		op.FailedAttempts, op.Opens = append(op.FailedAttempts, fails), append(op.Opens, opens)
	}
	if !op.Due {
		op.FailedAttempts, op.Opens = nil, nil
	}
	op.ReadOut = op.Due && nbids >= minBids
	if !op.ReadOut {
		op.FailedAttempts, op.Opens = nil, nil
	}
	return op
}

func lowestOpened(op *Opening) string {
	best, bestRat := "", 0.0
	for j, p := range op.Bids {
		if !op.Opens[j] {
			continue
		}
		var v float64
		fmt.Sscan(p, &v)
		if best == "" || v < bestRat {
			best, bestRat = p, v
		}
	}
	return best
}

func bidder(j int) string { return fmt.Sprintf("b%d", j) }

func (s *seeder) runOpening(op *Opening) {
	s.t.Helper()
	s.clock.Set(op.Deadline.Add(-2 * time.Hour))
	spec := rooms.SessionSpec{Title: "工程 " + op.ID, Center: op.Center, Section: op.ID, Category: op.Category,
		Deadline: op.Deadline, CheckInAt: op.Deadline.Add(-time.Hour), ControlPrice: op.Control,
		SealedTerms: rooms.SealedTerms{Budget: op.Budget}}
	s.do(op.ID, admin, rooms.CmdCreateSession, spec)
	for j := range op.Registered {
		s.do(op.ID, admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: bidder(j), Name: fmt.Sprintf("投标人%d公司", j)})
	}
	for j := range op.Bids {
		b := bidder(j)
		s.do(op.ID, rooms.Actor{Sub: b, Role: rooms.RoleBidder}, rooms.CmdSubmitBid,
			rooms.Bid{Bidder: b, Digest: digest(op.ID + b), HeaderDigest: digest(op.ID + b + "h"), Size: 1024})
	}
	if !op.Due {
		return
	}
	s.clock.Set(op.Deadline)
	s.do(op.ID, rooms.SystemActor, rooms.CmdDeadline, nil)
	if !op.ReadOut {
		return
	}
	at := op.Deadline.Add(time.Minute)
	s.clock.Set(at)
	s.do(op.ID, host, rooms.CmdStartDecryption, nil)
	for j, p := range op.Bids {
		b := bidder(j)
		a := rooms.Actor{Sub: b, Role: rooms.RoleBidder}
		for range op.FailedAttempts[j] {
			s.do(op.ID, a, rooms.CmdRecordUnlock, rooms.Unlock{Bidder: b, Code: "wrong_key", Message: "the key does not unwrap the data key"})
		}
		if op.Opens[j] {
			s.do(op.ID, a, rooms.CmdRecordUnlock, rooms.Unlock{Bidder: b, OK: true, Sheet: map[string]string{"price": p}, PlaintextSHA: digest(op.ID + b + "p")})
		}
	}
	if countTrue(op.Opens) == len(op.Opens) {
		s.do(op.ID, host, rooms.CmdCloseDecryption, nil)
	} else {
		s.clock.Set(op.Deadline.Add(31 * time.Minute))
		s.do(op.ID, rooms.SystemActor, rooms.CmdCloseDecryption, nil)
		for j := range op.Bids {
			if op.Opens[j] {
				continue
			}
			outcome := rooms.OutcomeRevoked
			if j%2 == 1 {
				outcome = rooms.OutcomeWithdrawn
			}
			s.do(op.ID, host, rooms.CmdClassify, rooms.Classification{Bidder: bidder(j), Outcome: outcome, Reason: "窗口内未能解密"})
		}
	}
	s.do(op.ID, host, rooms.CmdStartReadOut, nil)
}

func (s *seeder) makePool() {
	s.t.Helper()
	s.do(rooms.PoolRoom, admin, rooms.CmdCreatePool, rooms.PoolSpec{Title: "专家库"})
	var batch rooms.ExpertBatch
	for i := range poolSize {
		id := fmt.Sprintf("x%02d", i)
		k, err := decrypt.GenerateKey()
		if err != nil {
			s.t.Fatal(err)
		}
		pem, _ := k.Public().MarshalPEM()
		s.keys[id] = k
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: id, Name: fmt.Sprintf("专家%d", i), Employer: fmt.Sprintf("设计院%d", i), Specialties: []string{"A01"}}, PublicKey: string(pem)})
	}
	s.do(rooms.PoolRoom, admin, rooms.CmdAddExperts, batch)
}

func (s *seeder) sign(id, msg string) string {
	s.t.Helper()
	sig, err := s.keys[id].Sign([]byte(msg))
	if err != nil {
		s.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (s *seeder) runEvaluation(op *Opening) {
	s.t.Helper()
	ctx := context.Background()
	room := "EV-" + op.ID
	s.clock.Set(op.Deadline.Add(24 * time.Hour))
	spec := rooms.EvaluationSpec{Title: "评标 " + op.ID, Opening: op.ID, Center: op.Center, Tenderer: "招标人" + op.ID, Size: members,
		Criteria: scoring.Criteria{
			Checks: []scoring.Check{{ID: "q1", Name: "资格审查"}},
			Items:  []scoring.Item{{ID: "t1", Name: "施工方案", Group: "technical", Max: "60"}},
			Price:  scoring.PriceRule{Method: scoring.Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"},
		},
		Quotas: []draw.Quota{{Specialty: "A01", Count: members, Reserves: reserves}}}
	var opened []string
	for j, p := range op.Bids {
		if op.Opens[j] {
			spec.Bids = append(spec.Bids, rooms.EvalBid{Bidder: bidder(j), Name: fmt.Sprintf("投标人%d公司", j), Price: p})
			opened = append(opened, bidder(j))
		}
	}
	s.do(room, admin, rooms.CmdCreateEvaluation, spec)
	if err := s.svc.LinkEvaluation(ctx, op.ID, room); err != nil {
		s.t.Fatal(err)
	}
	rec, err := s.svc.DrawCommittee(ctx, room, rooms.PoolRoom)
	if err != nil {
		s.t.Fatal(err)
	}
	if op.Evaluation != "awarded" {
		return
	}
	s.do(room, admin, rooms.CmdStartEvaluation, nil)
	var seated []string
	for _, d := range rec.Drawn {
		if !d.Reserve {
			seated = append(seated, d.Expert)
		}
	}
	expert := func(id string) rooms.Actor { return rooms.Actor{Sub: id, Role: rooms.RoleExpert} }
	if op.Replaced {
		out := seated[0]
		s.do(room, expert(out), rooms.CmdDeclare, rooms.Declaration{Conflict: true, Reason: "与投标人有利害关系", Signature: s.sign(out, rooms.DeclarationMessage(room, out, true))})
	}
	snap, err := s.svc.Snapshot(ctx, room, admin)
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, m := range snap.View.(rooms.EvaluationView).Committee {
		ids = append(ids, m.Expert)
	}
	for _, id := range ids {
		if op.Replaced && id == seated[0] {
			continue
		}
		s.do(room, expert(id), rooms.CmdDeclare, rooms.Declaration{Signature: s.sign(id, rooms.DeclarationMessage(room, id, false))})
	}
	chair := ids[0]
	for _, id := range ids[:3] {
		s.do(room, expert(id), rooms.CmdVoteChair, rooms.ChairVote{Candidate: chair})
	}
	s.do(room, expert(chair), rooms.CmdOpenScoring, nil)
	for _, id := range ids {
		var sheets []scoring.Sheet
		for _, b := range opened {
			sheets = append(sheets, scoring.Sheet{Bidder: b, Checks: map[string]scoring.CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": "50"}})
		}
		text, _ := json.Marshal(sheets)
		s.do(room, expert(id), rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: string(text), Signature: s.sign(id, rooms.SheetsMessage(room, id, string(text)))})
	}
	snap, err = s.svc.Snapshot(ctx, room, expert(chair))
	if err != nil {
		s.t.Fatal(err)
	}
	dg := snap.View.(rooms.EvaluationView).Digest
	for _, id := range ids {
		s.do(room, expert(id), rooms.CmdSignReport, rooms.ReportSignature{Digest: dg, Signature: s.sign(id, rooms.ReportMessage(room, id, dg, ""))})
	}
	done, _, err := s.svc.CompletedReport(ctx, room)
	if err != nil || done == nil {
		s.t.Fatalf("seed: %s has no completed report: %v", room, err)
	}
	msg, _ := done.PlatformMessage(room)
	s.do(room, rooms.SystemActor, rooms.CmdRecordReportSignature, rooms.PlatformSignature{
		Digest: hex.EncodeToString(sm3.Sm3Sum(msg)), Signature: base64.StdEncoding.EncodeToString([]byte("platform")), KeyID: strings.Repeat("ab", 32)})
	s.do(room, admin, rooms.CmdPublishCandidates, rooms.PublishRequest{Days: rooms.MinPublicityDays})
	s.clock.Set(s.clock.Now().Add(rooms.MinPublicityDays*24*time.Hour + time.Minute))
	s.do(room, rooms.SystemActor, rooms.CmdClosePublicity, nil)
	at := s.clock.Now().Truncate(time.Second)
	issued, drafts, err := s.svc.NoticesToSign(ctx, room, at)
	if err != nil || issued != nil {
		s.t.Fatalf("seed: notices of %s: %v", room, err)
	}
	for i := range drafts {
		drafts[i].Signature = base64.StdEncoding.EncodeToString([]byte("platform"))
	}
	s.do(room, rooms.SystemActor, rooms.CmdRecordNotices, rooms.NoticesIssued{IssuedAt: at, Notices: drafts, KeyID: strings.Repeat("ab", 32)})
}

func (s *seeder) planAuction(rng *rand.Rand, i int, o Options) *Auction {
	a := &Auction{
		ID:       fmt.Sprintf("AU-%03d", i),
		Center:   Centers[(i+1)%len(Centers)],
		Category: AuctionCategories[i%len(AuctionCategories)],
		Start:    fmt.Sprintf("%d", 1_000_000*(5+rng.IntN(200))),
		Step:     "50000",
		Steps:    rng.IntN(30),
		Ended:    i%9 != 8,
	}
	if rng.IntN(4) == 0 {
		a.Steps = -1
	}
	// Listings end through the seed's period, one every (openings × step / auctions).
	span := time.Duration(o.Openings) * o.Step
	a.End = o.Start.Add(time.Duration(i) * span / time.Duration(max(o.Auctions, 1)))
	if a.Ended && a.Steps >= 0 {
		var start, step int64
		fmt.Sscan(a.Start, &start)
		fmt.Sscan(a.Step, &step)
		a.Price = fmt.Sprintf("%d", start+int64(a.Steps)*step)
	}
	return a
}

func (s *seeder) runAuction(a *Auction) {
	s.t.Helper()
	start := a.End.Add(-20 * 24 * time.Hour)
	s.clock.Set(start.Add(-time.Hour))
	s.do(a.ID, admin, rooms.CmdCreateAuction, rooms.AuctionSpec{Title: "地块 " + a.ID, Center: a.Center, Lot: a.ID, Category: a.Category,
		Seller: "自然资源和规划局", StartPrice: a.Start, Increments: rooms.Increments{Step: a.Step}, Deposit: "100000",
		ListingStart: start, ListingEnd: a.End})
	b := rooms.Actor{Sub: "bidder-1", Role: rooms.RoleBidder}
	s.do(a.ID, admin, rooms.CmdRegisterAuctionBidder, rooms.AuctionBidderSpec{Bidder: b.Sub, Name: "甲置业", Number: "4821"})
	s.do(a.ID, rooms.SystemActor, rooms.CmdRecordDeposit, rooms.Deposit{Bidder: b.Sub, Status: rooms.DepositPaid, Amount: "100000", Reference: "BZJ-1"})
	s.do(a.ID, admin, rooms.CmdQualifyBidder, rooms.Qualification{Bidder: b.Sub, Qualified: true})
	s.clock.Set(start)
	s.do(a.ID, rooms.SystemActor, rooms.CmdOpenListing, nil)
	if a.Steps >= 0 {
		s.clock.Set(start.Add(time.Hour))
		var st, step int64
		fmt.Sscan(a.Start, &st)
		fmt.Sscan(a.Step, &step)
		s.do(a.ID, b, rooms.CmdBid, rooms.BidRequest{Amount: fmt.Sprintf("%d", st+int64(a.Steps)*step)})
	}
	if !a.Ended {
		return
	}
	s.clock.Set(a.End)
	s.do(a.ID, rooms.SystemActor, rooms.CmdCloseListing, nil)
}
