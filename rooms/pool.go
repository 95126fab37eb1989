package rooms

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms/draw"
)

// The expert pool (专家库) is a room kind of its own: its log is the
// history of every expert added, changed, suspended or drawn, hash-chained
// like an opening's. One pool serves the city center and its county
// sub-centers (each expert names a home center). Only admins and
// supervisors enter it; draws happen in it, so the repeat rule reads the
// same log the draw is recorded in.

// KindPool is the expert pool room kind.
const KindPool = "pool"

// PoolRoom is the id of the pool room the server uses.
const PoolRoom = "expert-pool"

// Commands of the pool.
const (
	CmdCreatePool     = "create_pool"
	CmdAddExperts     = "add_experts"
	CmdUpdateExpert   = "update_expert"
	CmdSuspendExpert  = "suspend_expert"
	CmdReinstate      = "reinstate_expert"
	CmdAdjustCredit   = "adjust_credit"
	CmdDrawExperts    = "draw_experts"
	CmdRecordDeclined = "record_declined" // an evaluation replaced a member: the pool remembers who declined
)

// Events of the pool.
const (
	EvPoolCreated     = "pool_created"
	EvExpertsAdded    = "experts_added"
	EvExpertUpdated   = "expert_updated"
	EvExpertSuspended = "expert_suspended"
	EvExpertRestored  = "expert_reinstated"
	EvCreditAdjusted  = "credit_adjusted"
	EvExpertsDrawn    = "experts_drawn"
)

// Bounds of the pool's commands.
const (
	MaxExpertsPerAdd = 200 // experts per add_experts command (one event stays well under MaxEventBytes)
	maxSpecialties   = 20
	DefaultCredit    = 100
)

// PoolExpert is one expert of the pool: what the draw needs plus how to
// reach and verify them. Phone and key never leave the pool's staff views.
type PoolExpert struct {
	draw.Expert
	Phone     string `json:"phone,omitempty"`
	PublicKey string `json:"public_key"` // SM2 public key, PEM: signs sign-in, declarations, score sheets
}

// PoolSpec is the data of create_pool.
type PoolSpec struct {
	Title string `json:"title"`
}

// ExpertBatch is the data of add_experts and experts_added.
type ExpertBatch struct {
	Experts []PoolExpert `json:"experts"`
}

// Suspension is the data of suspend_expert (暂停评标资格) and reinstate_expert.
type Suspension struct {
	Expert string    `json:"expert"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason"`
}

// CreditChange is the data of adjust_credit: points added (negative:
// deducted) with the reason, e.g. a violation a supervisor recorded (R25).
type CreditChange struct {
	Expert     string `json:"expert"`
	Delta      int    `json:"delta"`
	Reason     string `json:"reason"`
	Evaluation string `json:"evaluation,omitempty"`
}

// DrawRequest is the data of draw_experts: which evaluation, whose
// tender, the rules and the quotas. The server builds it from the
// evaluation room (its bidders' names) before asking the pool.
type DrawRequest struct {
	Evaluation string       `json:"evaluation"`
	Rules      draw.Rules   `json:"rules"`
	Quotas     []draw.Quota `json:"quotas"`
}

// DrawRecord is the data of experts_drawn: everything a supervisor needs
// to re-run the draw offline from the pool's log (bidroom draw --verify):
// the pool's head when it drew, the rules, the seed, the digest of the
// eligible list and the ordered result.
type DrawRecord struct {
	DrawRequest
	PoolSeq        uint64          `json:"pool_seq"`
	PoolHash       string          `json:"pool_hash"`
	Seed           string          `json:"seed"` // hex, 32 bytes from crypto/rand
	Eligible       int             `json:"eligible"`
	EligibleDigest string          `json:"eligible_digest"`
	Excluded       map[string]int  `json:"excluded,omitempty"` // reason → count
	Result         draw.Result     `json:"result"`
	Drawn          []CommitteeSeat `json:"drawn"` // members then reserves, with what the evaluation needs of each
}

// CommitteeSeat is one drawn expert as the evaluation room receives it.
type CommitteeSeat struct {
	Expert    string `json:"expert"`
	Name      string `json:"name"`
	Specialty string `json:"specialty"`
	Center    string `json:"center,omitempty"`
	PublicKey string `json:"public_key"`
	Reserve   bool   `json:"reserve,omitempty"`
}

// Pool is the state of the expert pool room.
type Pool struct {
	Room    string
	Seq     uint64
	Hash    string
	Title   string
	Experts map[string]*PoolExpert
	Order   []string // ids in the order added
	Draws   []DrawRecord
	history []draw.Past
	created bool

	// seed draws the randomness of a draw; crypto/rand unless a test sets it.
	seed func() ([32]byte, error)
}

// NewPool returns the empty state of a pool room.
func NewPool(room string) *Pool {
	return &Pool{Room: room, Experts: map[string]*PoolExpert{}, seed: draw.Seed}
}

// poolVis: the pool is seen by its admins and supervisors only.
func poolVis() Visibility {
	return Visibility{Roles: []Role{RoleAdmin, RoleSupervisor}}
}

// Kind is "pool".
func (p *Pool) Kind() string { return KindPool }

// Head is the seq and hash of the last event folded.
func (p *Pool) Head() (uint64, string) { return p.Seq, p.Hash }

// Created reports whether the pool was created.
func (p *Pool) Created() bool { return p.created }

// NextTimer: the pool has no timers.
func (p *Pool) NextTimer() (time.Time, string, bool) { return time.Time{}, "", false }

// Summary is the pool's row in the admin's list.
func (p *Pool) Summary() Summary {
	return Summary{Kind: KindPool, Title: p.Title, Phase: fmt.Sprintf("%d experts", len(p.Experts)), Center: SharedCenter}
}

// Admits lets in admins and supervisors (and the server) only: experts'
// phones and keys and the draw history are nobody else's business.
func (p *Pool) Admits(viewer Actor) error {
	switch viewer.Role {
	case RoleAdmin, RoleSupervisor, RoleSystem:
		return nil
	}
	return refuse(CodeForbidden, "the expert pool is open to admins and supervisors only, not to a %s", viewer.Role)
}

// PoolView is the pool as an admin or supervisor sees it.
type PoolView struct {
	Room    string       `json:"room"`
	Title   string       `json:"title"`
	Experts []PoolExpert `json:"experts"`
	Draws   []DrawRecord `json:"draws"`
}

// View lists the experts in the order added and every draw.
func (p *Pool) View(Actor) any {
	v := PoolView{Room: p.Room, Title: p.Title, Experts: make([]PoolExpert, 0, len(p.Order)), Draws: p.Draws}
	for _, id := range p.Order {
		v.Experts = append(v.Experts, *p.Experts[id])
	}
	return v
}

// DrawPool returns the pool as the draw sees it, in the order added.
func (p *Pool) DrawPool() []draw.Expert {
	out := make([]draw.Expert, 0, len(p.Order))
	for _, id := range p.Order {
		out = append(out, p.Experts[id].Expert)
	}
	return out
}

// History is the earlier draws, for the repeat rule.
func (p *Pool) History() []draw.Past { return p.history }

// Apply folds one event.
func (p *Pool) Apply(e Event) error {
	return applyNext(&p.Seq, &p.Hash, e, p.apply)
}

func (p *Pool) apply(e Event) error {
	switch e.Type {
	case EvPoolCreated:
		var s PoolSpec
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		p.Title, p.created = s.Title, true
	case EvExpertsAdded:
		var b ExpertBatch
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return err
		}
		for _, x := range b.Experts {
			x := x
			p.Experts[x.ID] = &x
			p.Order = append(p.Order, x.ID)
		}
	case EvExpertUpdated:
		var x PoolExpert
		if err := json.Unmarshal(e.Data, &x); err != nil {
			return err
		}
		if old := p.Experts[x.ID]; old != nil {
			*old = x
		}
	case EvExpertSuspended, EvExpertRestored:
		var s Suspension
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		if x := p.Experts[s.Expert]; x != nil {
			x.SuspendedUntil, x.SuspendReason = s.Until, s.Reason
			if e.Type == EvExpertRestored {
				x.SuspendedUntil, x.SuspendReason = time.Time{}, ""
			}
		}
	case EvCreditAdjusted:
		var c CreditChange
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		if x := p.Experts[c.Expert]; x != nil {
			x.Credit = min(100, max(0, x.Credit+c.Delta))
		}
	case EvExpertsDrawn:
		var d DrawRecord
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		p.Draws = append(p.Draws, d)
		for _, s := range d.Result.Members {
			p.history = append(p.history, draw.Past{Expert: s.Expert, Tenderer: d.Rules.Tenderer, At: d.Rules.At})
		}
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

// Decide validates a pool command.
func (p *Pool) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if cmd.Type == CmdCreatePool {
		if err := requireRole(actor, "create the expert pool", RoleAdmin, RoleSystem); err != nil {
			return nil, err
		}
		if p.created {
			return nil, refuse(CodeWrongState, "pool %s already exists", p.Room)
		}
		var s PoolSpec
		if err := decodeData(cmd.Data, &s); err != nil {
			return nil, err
		}
		if err := checkText("title", s.Title, 200); err != nil {
			return nil, err
		}
		return []Draft{{Type: EvPoolCreated, Vis: poolVis(), Data: s}}, nil
	}
	if !p.created {
		return nil, refuse(CodeNotFound, "pool %s does not exist", p.Room)
	}
	if err := p.Admits(actor); err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdAddExperts:
		return p.addExperts(actor, cmd)
	case CmdUpdateExpert:
		return p.updateExpert(actor, cmd)
	case CmdSuspendExpert, CmdReinstate:
		return p.suspend(actor, cmd, now)
	case CmdAdjustCredit:
		return p.adjustCredit(actor, cmd)
	case CmdDrawExperts:
		return p.drawExperts(actor, cmd, now)
	}
	return nil, refuse(CodeUnknownCommand, "unknown command %q for the expert pool", cmd.Type)
}

func (p *Pool) addExperts(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "add experts", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	var b ExpertBatch
	if err := decodeData(cmd.Data, &b); err != nil {
		return nil, err
	}
	if len(b.Experts) == 0 || len(b.Experts) > MaxExpertsPerAdd {
		return nil, refuse(CodeInvalid, "add 1-%d experts per command, got %d", MaxExpertsPerAdd, len(b.Experts))
	}
	seen := map[string]bool{}
	for i := range b.Experts {
		x := &b.Experts[i]
		if err := checkExpert(x); err != nil {
			return nil, refuse(CodeInvalid, "expert %d (%s): %v", i+1, x.ID, err)
		}
		if p.Experts[x.ID] != nil || seen[x.ID] {
			return nil, refuse(CodeInvalid, "expert %d: id %s is already in the pool", i+1, x.ID)
		}
		seen[x.ID] = true
		if x.Credit == 0 {
			x.Credit = DefaultCredit
		}
		x.SuspendedUntil, x.SuspendReason = time.Time{}, "" // suspensions are their own, recorded step
	}
	return []Draft{{Type: EvExpertsAdded, Vis: poolVis(), Data: b}}, nil
}

func (p *Pool) updateExpert(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "change an expert", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	var x PoolExpert
	if err := decodeData(cmd.Data, &x); err != nil {
		return nil, err
	}
	old := p.Experts[x.ID]
	if old == nil {
		return nil, refuse(CodeNotFound, "no expert %s in the pool", x.ID)
	}
	if err := checkExpert(&x); err != nil {
		return nil, refuse(CodeInvalid, "expert %s: %v", x.ID, err)
	}
	// Credit and suspension change only through their own, reasoned steps.
	x.Credit, x.SuspendedUntil, x.SuspendReason = old.Credit, old.SuspendedUntil, old.SuspendReason
	return []Draft{{Type: EvExpertUpdated, Vis: poolVis(), Data: x}}, nil
}

var specialtyPattern = idPattern

// CheckExpert validates one expert record as add_experts and
// update_expert do (trimming its texts and sorting its specialties in
// place), so an import can report every bad row before it adds any;
// the error reads as a sentence fragment.
func CheckExpert(x *PoolExpert) error { return checkExpert(x) }

// checkExpert validates one expert record; its errors read as fragments.
func checkExpert(x *PoolExpert) error {
	if !ValidID(x.ID) {
		return fmt.Errorf("id must be 1-64 letters, digits, '.', '_' or '-', got %q", x.ID)
	}
	x.Name, x.Employer, x.Center = strings.TrimSpace(x.Name), strings.TrimSpace(x.Employer), strings.TrimSpace(x.Center)
	if err := checkText("name", x.Name, 100); err != nil {
		return err
	}
	if err := checkText("employer", x.Employer, 200); err != nil {
		return err
	}
	if len(x.Center) > 64 {
		return fmt.Errorf("center must be at most 64 characters")
	}
	if len(x.Specialties) == 0 || len(x.Specialties) > maxSpecialties {
		return fmt.Errorf("give 1-%d specialty codes", maxSpecialties)
	}
	for _, s := range x.Specialties {
		if !specialtyPattern.MatchString(s) {
			return fmt.Errorf("specialty code %q must be 1-64 letters, digits, '.', '_' or '-'", s)
		}
	}
	if slices.Sort(x.Specialties); len(slices.Compact(slices.Clone(x.Specialties))) != len(x.Specialties) {
		return fmt.Errorf("a specialty code is listed twice")
	}
	if len(x.Phone) > 32 {
		return fmt.Errorf("phone must be at most 32 characters")
	}
	if x.Credit < 0 || x.Credit > 100 {
		return fmt.Errorf("credit must be 0-100, got %d", x.Credit)
	}
	if len(x.PublicKey) > 8<<10 {
		return fmt.Errorf("public_key must be at most 8 KiB of PEM")
	}
	if _, err := decrypt.ParsePublicKeyPEM([]byte(x.PublicKey)); err != nil {
		return fmt.Errorf("public_key is not an SM2 public key or certificate in PEM")
	}
	return nil
}

func (p *Pool) suspend(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "suspend or reinstate an expert", RoleAdmin, RoleSupervisor, RoleSystem); err != nil {
		return nil, err
	}
	var s Suspension
	if err := decodeData(cmd.Data, &s); err != nil {
		return nil, err
	}
	if p.Experts[s.Expert] == nil {
		return nil, refuse(CodeNotFound, "no expert %s in the pool", s.Expert)
	}
	if err := checkText("reason", s.Reason, 500); err != nil {
		return nil, err
	}
	if cmd.Type == CmdReinstate {
		s.Until = time.Time{}
		return []Draft{{Type: EvExpertRestored, Vis: poolVis(), Data: s}}, nil
	}
	if !s.Until.After(now) {
		return nil, refuse(CodeInvalid, "until must be a date after now (server time %s)", now.Format(time.RFC3339))
	}
	s.Until = s.Until.UTC()
	return []Draft{{Type: EvExpertSuspended, Vis: poolVis(), Data: s}}, nil
}

func (p *Pool) adjustCredit(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "change an expert's credit", RoleAdmin, RoleSupervisor, RoleSystem); err != nil {
		return nil, err
	}
	var c CreditChange
	if err := decodeData(cmd.Data, &c); err != nil {
		return nil, err
	}
	if p.Experts[c.Expert] == nil {
		return nil, refuse(CodeNotFound, "no expert %s in the pool", c.Expert)
	}
	if c.Delta == 0 || c.Delta < -100 || c.Delta > 100 {
		return nil, refuse(CodeInvalid, "delta must be a non-zero number of points in -100..100, got %d", c.Delta)
	}
	if err := checkText("reason", c.Reason, 500); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvCreditAdjusted, Vis: poolVis(), Data: c}}, nil
}

// drawExperts runs a draw. The server issues it for an evaluation room
// (after the admin asked) with the section's bidders in the rules.
func (p *Pool) drawExperts(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "draw experts", RoleSystem); err != nil {
		return nil, err
	}
	var req DrawRequest
	if err := decodeData(cmd.Data, &req); err != nil {
		return nil, err
	}
	if !ValidID(req.Evaluation) {
		return nil, refuse(CodeInvalid, "evaluation must be a room id")
	}
	for _, d := range p.Draws {
		if d.Evaluation == req.Evaluation {
			return nil, refuse(CodeWrongState, "the experts of %s were drawn already (pool event of %s)", req.Evaluation, d.Rules.At.Format(time.RFC3339))
		}
	}
	req.Rules.At = now
	rec, err := p.Redraw(req, nil)
	if err != nil {
		return nil, err
	}
	return []Draft{{Type: EvExpertsDrawn, Vis: poolVis(), Data: rec}}, nil
}

// Redraw runs req against the pool as it stands, with the recorded seed
// (or, when seed is nil, a fresh one): the draw itself, and how a
// verifier re-runs a recorded one after folding the pool's log up to
// the record's pool_seq.
func (p *Pool) Redraw(req DrawRequest, seed *[32]byte) (DrawRecord, error) {
	eligible, excluded := draw.Eligible(p.DrawPool(), req.Rules, p.history)
	var s [32]byte
	if seed != nil {
		s = *seed
	} else {
		var err error
		if s, err = p.seed(); err != nil {
			return DrawRecord{}, fmt.Errorf("draw seed: %w", err)
		}
	}
	res, err := draw.Run(s, eligible, req.Quotas)
	if err != nil {
		return DrawRecord{}, refuse(CodeInvalid, "%v", err)
	}
	rec := DrawRecord{
		DrawRequest: req, PoolSeq: p.Seq, PoolHash: p.Hash, Seed: hex.EncodeToString(s[:]),
		Eligible: len(eligible), EligibleDigest: draw.Digest(eligible), Result: res,
	}
	if len(excluded) > 0 {
		rec.Excluded = map[string]int{}
		for _, x := range excluded {
			rec.Excluded[x.Reason]++
		}
	}
	seat := func(s draw.Seat, reserve bool) CommitteeSeat {
		x := p.Experts[s.Expert]
		return CommitteeSeat{Expert: x.ID, Name: x.Name, Specialty: s.Specialty, Center: x.Center, PublicKey: x.PublicKey, Reserve: reserve}
	}
	for _, s := range res.Members {
		rec.Drawn = append(rec.Drawn, seat(s, false))
	}
	for _, s := range res.Reserves {
		rec.Drawn = append(rec.Drawn, seat(s, true))
	}
	return rec, nil
}
