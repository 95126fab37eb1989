package rooms

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// The evaluation room kind (评标): a sealed room for the committee drawn
// from the pool, created from a closed opening. Only the committee's
// experts and supervisors see what happens in it; the admin who runs the
// draw follows the committee's formation and nothing of the scoring;
// bidders and hosts cannot enter at all (R21).

// KindEvaluation is the evaluation room kind.
const KindEvaluation = "evaluation"

// EvalPhase is where an evaluation stands.
type EvalPhase string

// The evaluation's phases.
const (
	EvalDrawing  EvalPhase = "drawing"  // created; the committee is being drawn
	EvalFormed   EvalPhase = "formed"   // drawn; names sealed until the start
	EvalConvened EvalPhase = "convened" // started: members declare (回避声明) and elect a chair
	EvalScoring  EvalPhase = "scoring"  // members score and sign their sheets
	EvalTallied  EvalPhase = "tallied"  // every sheet signed: totals, ranking, outliers
)

// Commands of the evaluation room.
const (
	CmdCreateEvaluation = "create_evaluation"
	CmdFormCommittee    = "form_committee" // the server, with the pool's experts_drawn record
	CmdStartEvaluation  = "start_evaluation"
	CmdDeclare          = "declare" // a member's signed 回避声明 (also proves their key)
	CmdDecline          = "decline" // a member (or the admin for them) declines before the start of scoring
	CmdVoteChair        = "vote_chair"
	CmdOpenScoring      = "open_scoring"
	CmdSubmitSheets     = "submit_sheets"
	CmdReturnSheet      = "return_sheet"
)

// Events of the evaluation room.
const (
	EvEvaluationCreated = "evaluation_created"
	EvCommitteeFormed   = "committee_formed"
	EvEvaluationStarted = "evaluation_started"
	EvDeclared          = "declared"
	EvMemberReplaced    = "member_replaced"
	EvChairVoted        = "chair_voted"
	EvChairElected      = "chair_elected"
	EvScoringOpened     = "scoring_opened"
	EvSheetsSigned      = "sheets_signed"   // the sheets themselves: supervisors and their author
	EvSheetsReceived    = "sheets_received" // that a member signed: the committee
	EvSheetReturned     = "sheet_returned"
	EvScoresTallied     = "scores_tallied"
)

// SpecialtyTendererRep marks a tenderer's representative's seat.
const SpecialtyTendererRep = "tenderer_rep"

// EvalBid is one bid the evaluation scores, by reference to the opening:
// the bidder, its name, the price read out and the digests of the sealed
// and the decrypted files.
type EvalBid struct {
	Bidder          string `json:"bidder"`
	Name            string `json:"name"`
	Price           string `json:"price"`
	BidDigest       string `json:"bid_digest,omitempty"`
	PlaintextDigest string `json:"plaintext_digest,omitempty"`
}

// Rep is a tenderer's representative on the committee (not drawn).
type Rep struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// EvaluationSpec is the data of create_evaluation.
type EvaluationSpec struct {
	Title       string           `json:"title"`
	Opening     string           `json:"opening"`          // the opening room
	Center      string           `json:"center,omitempty"` // the trading center that owns it: the opening's
	OpeningHash string           `json:"opening_hash"`     // its log head when the evaluation was created
	Tenderer    string           `json:"tenderer"`         // 招标人
	Bids        []EvalBid        `json:"bids"`
	Criteria    scoring.Criteria `json:"criteria"`
	Size        int              `json:"size"` // committee members, representatives included: odd, ≥ 5 (R19)
	// Venue is the center that hosts the main venue (主会场); members whose
	// home center differs sit at sub-venues (副会场) of the same call (R22).
	// Empty means the center that runs the evaluation. Compared with the
	// members' pool centers after trimming spaces.
	Venue      string       `json:"venue,omitempty"`
	Reps       []Rep        `json:"reps,omitempty"`
	Quotas     []draw.Quota `json:"quotas"` // the drawn experts by specialty; counts add up to Size − len(Reps)
	Related    []string     `json:"related,omitempty"`
	MinCredit  int          `json:"min_credit,omitempty"`
	MaxRepeats int          `json:"max_repeats,omitempty"`
	PeriodDays int          `json:"period_days,omitempty"`
}

// Member is one seat of the committee as the room knows it.
type Member struct {
	Expert     string    `json:"expert"`
	Name       string    `json:"name"`
	Specialty  string    `json:"specialty"`
	Center     string    `json:"center,omitempty"` // the venue: a sub-center's experts sit at a sub-venue
	PublicKey  string    `json:"-"`
	Declared   bool      `json:"declared"`
	DeclaredAt time.Time `json:"declared_at,omitzero"`
	Chair      bool      `json:"chair,omitempty"`
	VotedFor   string    `json:"voted_for,omitempty"`
	Signed     bool      `json:"signed"` // signed every sheet (and none returned since)
}

// Declaration is the data of declare: the member's signature (SM2,
// base64 DER) over DeclarationMessage, with Conflict true for a member who
// recuses (then Reason says why and a reserve comes in).
type Declaration struct {
	Conflict  bool   `json:"conflict"`
	Reason    string `json:"reason,omitempty"`
	Signature string `json:"signature"`
}

// DeclarationMessage is the text a member signs to declare they have no
// conflict (or a conflict) with any bidder of the evaluation.
func DeclarationMessage(room, expert string, conflict bool) string {
	what := "no-conflict"
	if conflict {
		what = "conflict"
	}
	return "bidroom-declaration-v1\n" + room + "\n" + expert + "\n" + what + "\n"
}

// Declared is the data of declared.
type Declared struct {
	Expert   string `json:"expert"`
	Conflict bool   `json:"conflict"`
	Reason   string `json:"reason,omitempty"`
	KeyID    string `json:"key_id"`
}

// Decline is the data of decline.
type Decline struct {
	Expert string `json:"expert,omitempty"` // the admin names the member; a member declines for themself
	Reason string `json:"reason"`
}

// Replacement is the data of member_replaced: who left, who came in from
// the reserves (in draw order), and why (R20).
type Replacement struct {
	Out       string `json:"out"`
	In        string `json:"in"`
	Name      string `json:"name"` // the incoming member's name
	Specialty string `json:"specialty"`
	Reason    string `json:"reason"`
	Recused   bool   `json:"recused,omitempty"`
}

// ChairVote is the data of vote_chair and chair_voted.
type ChairVote struct {
	Voter     string `json:"voter,omitempty"`
	Candidate string `json:"candidate"`
}

// SignedSheets is the data of submit_sheets: the exact JSON text of the
// member's sheets (one per bid) and their SM2 signature over
// SheetsMessage of that text.
type SignedSheets struct {
	Sheets    string `json:"sheets"`
	Signature string `json:"signature"`
}

// SheetsMessage is the text a member signs for their score sheets.
func SheetsMessage(room, expert, sheetsJSON string) string {
	return "bidroom-score-sheets-v1\n" + room + "\n" + expert + "\n" + sheetsJSON
}

// SheetsRecord is the data of sheets_signed.
type SheetsRecord struct {
	Expert    string          `json:"expert"`
	Sheets    []scoring.Sheet `json:"sheets"`
	Text      string          `json:"text"`   // what was signed
	Digest    string          `json:"digest"` // SM3 of the text, hex
	Signature string          `json:"signature"`
	KeyID     string          `json:"key_id"`
}

// Returned is the data of return_sheet and sheet_returned: the chair
// sends one member's sheet for one bid back for review, with a reason.
type Returned struct {
	Expert string `json:"expert"`
	Bidder string `json:"bidder"`
	Item   string `json:"item,omitempty"`
	Reason string `json:"reason"`
}

// Tally is the data of scores_tallied.
type Tally struct {
	Results  []scoring.Result  `json:"results"`
	Outliers []scoring.Outlier `json:"outliers,omitempty"`
}

// Evaluation is the state of an evaluation room.
type Evaluation struct {
	Room     string
	Seq      uint64
	Hash     string
	Spec     EvaluationSpec
	Phase    EvalPhase
	Draw     *DrawRecord
	Members  []*Member                // the committee in seat order
	Reserves []CommitteeSeat          // unused reserves, in draw order
	Replaced []Replacement            // every replacement, in order
	Sheets   map[string]*SheetsRecord // by expert: the latest signed sheets
	Returns  []Returned
	Tally    *Tally
	// The report's signatures so far, by member, and the completed report.
	reportSigs     map[string]*ReportSignature
	Completed      *CompletedReport
	PlatformSig    *PlatformSignature
	Clarifications []Clarification
	Recordings     []Recording // the call's tracks, finished and hashed (R17)
	Results        Results     // publicity, objections, notices, conduct (evaluation_results.go)
}

// NewEvaluation returns the empty state of an evaluation room.
func NewEvaluation(room string) *Evaluation {
	return &Evaluation{Room: room, Sheets: map[string]*SheetsRecord{}, reportSigs: map[string]*ReportSignature{}}
}

// Visibilities of the evaluation's events. Members are named, not the
// expert role: a member replaced mid-way sees nothing from then on, and
// no expert token outside the committee is ever a viewer.
func (v *Evaluation) memberIDs(extra ...string) []string {
	ids := make([]string, 0, len(v.Members)+len(extra))
	for _, m := range v.Members {
		ids = append(ids, m.Expert)
	}
	return append(ids, extra...)
}

// committeeVis: the current members and the supervisors.
func (v *Evaluation) committeeVis(extra ...string) Visibility {
	return Visibility{Roles: []Role{RoleSupervisor}, Subjects: v.memberIDs(extra...)}
}

// formationVis: the admin who runs the draw and the supervisors.
func formationVis() Visibility {
	return Visibility{Roles: []Role{RoleAdmin, RoleSupervisor}}
}

// formationAndCommitteeVis: the admin, the supervisors and the members.
func (v *Evaluation) formationAndCommitteeVis(extra ...string) Visibility {
	return Visibility{Roles: []Role{RoleAdmin, RoleSupervisor}, Subjects: v.memberIDs(extra...)}
}

// Kind is "evaluation".
func (v *Evaluation) Kind() string { return KindEvaluation }

// Head is the seq and hash of the last event folded.
func (v *Evaluation) Head() (uint64, string) { return v.Seq, v.Hash }

// Created reports whether the evaluation was created.
func (v *Evaluation) Created() bool { return v.Phase != "" }

// NextTimer: the results' timers (evaluation_results.go).
func (v *Evaluation) NextTimer() (time.Time, string, bool) { return v.resultsTimer() }

// Summary is the evaluation's row in the admin's list.
func (v *Evaluation) Summary() Summary {
	return Summary{Kind: KindEvaluation, Title: v.Spec.Title, Phase: string(v.Phase), Center: v.Spec.Center}
}

// member returns the current committee member with id, or nil.
func (v *Evaluation) member(id string) *Member {
	for _, m := range v.Members {
		if m.Expert == id {
			return m
		}
	}
	return nil
}

// Admits lets in supervisors, the admin who runs the draw, and the
// committee's current members once the evaluation has started. Bidders,
// hosts and every other expert are refused without a word about the room.
func (v *Evaluation) Admits(viewer Actor) error {
	switch viewer.Role {
	case RoleSupervisor, RoleSystem, RoleAdmin:
		return nil
	case RoleExpert:
		if m := v.member(viewer.Sub); m != nil && v.Phase != EvalDrawing && v.Phase != EvalFormed {
			return nil
		}
		return refuse(CodeForbidden, "%s is not a member of evaluation %s (or it has not started)", viewer.Sub, v.Room)
	}
	return refuse(CodeForbidden, "evaluation %s is sealed: only its committee and supervisors enter (R21)", v.Room)
}

// MediaAdmits keeps the admin out of the committee's call: only members
// talk in it and supervisors watch it.
func (v *Evaluation) MediaAdmits(viewer Actor) error {
	if viewer.Role == RoleAdmin {
		return refuse(CodeForbidden, "the evaluation's call is for its committee and supervisors only")
	}
	return nil
}

// Apply folds one event.
func (v *Evaluation) Apply(e Event) error {
	return applyNext(&v.Seq, &v.Hash, e, v.apply)
}

func (v *Evaluation) apply(e Event) error {
	switch e.Type {
	case EvEvaluationCreated:
		if err := json.Unmarshal(e.Data, &v.Spec); err != nil {
			return err
		}
		v.Phase = EvalDrawing
	case EvCommitteeFormed:
		var d DrawRecord
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		v.Draw = &d
		for _, r := range v.Spec.Reps {
			v.Members = append(v.Members, &Member{Expert: r.ID, Name: r.Name, Specialty: SpecialtyTendererRep, PublicKey: r.PublicKey})
		}
		for _, s := range d.Drawn {
			if s.Reserve {
				v.Reserves = append(v.Reserves, s)
			} else {
				v.Members = append(v.Members, &Member{Expert: s.Expert, Name: s.Name, Specialty: s.Specialty, Center: s.Center, PublicKey: s.PublicKey})
			}
		}
		v.Phase = EvalFormed
	case EvEvaluationStarted:
		v.Phase = EvalConvened
	case EvDeclared:
		var d Declared
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if m := v.member(d.Expert); m != nil && !d.Conflict {
			m.Declared, m.DeclaredAt = true, e.Time
		}
	case EvMemberReplaced:
		var r Replacement
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return err
		}
		v.replace(r)
	case EvChairVoted:
		var c ChairVote
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		if m := v.member(c.Voter); m != nil {
			m.VotedFor = c.Candidate
		}
	case EvChairElected:
		var c ChairVote
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		for _, m := range v.Members {
			m.Chair = m.Expert == c.Candidate
		}
	case EvScoringOpened:
		v.Phase = EvalScoring
	case EvSheetsSigned:
		var s SheetsRecord
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		v.Sheets[s.Expert] = &s
	case EvSheetsReceived:
		var s SheetsRecord
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		if m := v.member(s.Expert); m != nil {
			m.Signed = true
		}
	case EvSheetReturned:
		var r Returned
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return err
		}
		v.Returns = append(v.Returns, r)
		if m := v.member(r.Expert); m != nil {
			m.Signed = false
		}
		v.Tally, v.Phase = nil, EvalScoring
	case EvScoresTallied:
		var t Tally
		if err := json.Unmarshal(e.Data, &t); err != nil {
			return err
		}
		v.Tally, v.Phase = &t, EvalTallied
	case EvReportSigned:
		var s ReportSignature
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		v.reportSigs[s.Expert] = &s
	case EvReportCompleted:
		var c CompletedReport
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		v.Completed, v.Phase = &c, EvalReported
	case EvMediaRecorded:
		var r Recording
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return err
		}
		v.Recordings = append(v.Recordings, r)
	case EvReportPlatformSigned:
		var p PlatformSignature
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return err
		}
		v.PlatformSig = &p
	default:
		if ok, err := v.applyClarification(e, func(x any) error { return json.Unmarshal(e.Data, x) }); ok {
			return err
		}
		if ok, err := v.applyResults(e); ok {
			return err
		}
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

// replace puts the incoming reserve in the outgoing member's seat; the
// outgoing member's votes and sheets are void (R20).
func (v *Evaluation) replace(r Replacement) {
	i := slices.IndexFunc(v.Reserves, func(s CommitteeSeat) bool { return s.Expert == r.In })
	if i < 0 {
		return
	}
	in := v.Reserves[i]
	v.Reserves = slices.Delete(v.Reserves, i, i+1)
	for j, m := range v.Members {
		if m.Expert == r.Out {
			v.Members[j] = &Member{Expert: in.Expert, Name: in.Name, Specialty: in.Specialty, Center: in.Center, PublicKey: in.PublicKey}
		}
		if m.VotedFor == r.Out {
			m.VotedFor = ""
		}
	}
	delete(v.Sheets, r.Out)
	v.Replaced = append(v.Replaced, r)
}

// Decide validates an evaluation command.
func (v *Evaluation) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if cmd.Type == CmdCreateEvaluation {
		return v.create(actor, cmd)
	}
	if !v.Created() {
		return nil, refuse(CodeNotFound, "evaluation %s does not exist", v.Room)
	}
	if err := v.Admits(actor); err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdFormCommittee:
		return v.formCommittee(actor, cmd)
	case CmdStartEvaluation:
		if err := requireRole(actor, "start the evaluation", RoleAdmin, RoleSystem); err != nil {
			return nil, err
		}
		if v.Phase != EvalFormed {
			return nil, refuse(CodeWrongState, "the evaluation can start once the committee is drawn (it is %s)", v.Phase)
		}
		return []Draft{{Type: EvEvaluationStarted, Vis: v.formationAndCommitteeVis(), Data: struct{}{}}}, nil
	case CmdDeclare:
		return v.declare(actor, cmd)
	case CmdDecline:
		return v.decline(actor, cmd)
	case CmdVoteChair:
		return v.voteChair(actor, cmd)
	case CmdOpenScoring:
		return v.openScoring(actor)
	case CmdSubmitSheets:
		return v.submitSheets(actor, cmd)
	case CmdReturnSheet:
		return v.returnSheet(actor, cmd)
	case CmdSignReport:
		return v.signReport(actor, cmd)
	case CmdRecordReportSignature:
		return v.recordReportSignature(actor, cmd)
	case CmdAskClarification:
		return v.askClarification(actor, cmd, now)
	case CmdRecordClarification:
		return v.recordClarification(actor, cmd, now)
	case CmdRecordMedia:
		r, err := decideRecording(actor, cmd)
		if err != nil {
			return nil, err
		}
		// Supervisors keep the recordings of the committee's call; the
		// members have nothing to do with the files.
		return []Draft{{Type: EvMediaRecorded, Vis: Visibility{Roles: []Role{RoleSupervisor}}, Data: r}}, nil
	}
	if drafts, ok, err := v.decideResults(actor, cmd, now); ok {
		return drafts, err
	}
	return nil, refuse(CodeUnknownCommand, "unknown command %q for an evaluation", cmd.Type)
}

func (v *Evaluation) create(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "create an evaluation", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if v.Created() {
		return nil, refuse(CodeWrongState, "evaluation %s already exists", v.Room)
	}
	var s EvaluationSpec
	if err := decodeData(cmd.Data, &s); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvEvaluationCreated, Vis: v.formationAndCommitteeVis(), Data: s}}, nil
}

// check validates a spec against R19 and the criteria.
func (s *EvaluationSpec) check() error {
	if err := checkText("title", s.Title, 200); err != nil {
		return err
	}
	if err := checkText("tenderer", s.Tenderer, 200); err != nil {
		return err
	}
	if err := checkCenter(s.Center); err != nil {
		return err
	}
	if !ValidID(s.Opening) {
		return refuse(CodeInvalid, "opening must be the id of the opening room")
	}
	if len(s.Bids) == 0 || len(s.Bids) > 500 {
		return refuse(CodeInvalid, "an evaluation scores 1-500 bids, got %d", len(s.Bids))
	}
	seen := map[string]bool{}
	for _, b := range s.Bids {
		if !ValidID(b.Bidder) || seen[b.Bidder] {
			return refuse(CodeInvalid, "bid of %q: bidder ids must be valid and unique", b.Bidder)
		}
		seen[b.Bidder] = true
		if !pricePattern.MatchString(b.Price) {
			return refuse(CodeInvalid, "bid of %s: price %q is not a decimal amount in yuan", b.Bidder, b.Price)
		}
	}
	if err := s.Criteria.Validate(); err != nil {
		return refuse(CodeInvalid, "criteria: %v", err)
	}
	if s.Size < 5 || s.Size%2 == 0 || s.Size > 25 {
		return refuse(CodeInvalid, "the committee must have an odd number of members, 5 to 25 (R19), got %d", s.Size)
	}
	if len(s.Reps)*3 > s.Size {
		return refuse(CodeInvalid, "the tenderer's representatives may be at most a third of the committee (R19): %d of %d", len(s.Reps), s.Size)
	}
	for _, r := range s.Reps {
		if !ValidID(r.ID) || seen[r.ID] {
			return refuse(CodeInvalid, "representative %q: ids must be valid and unique", r.ID)
		}
		seen[r.ID] = true
		if err := checkText("representative name", r.Name, 100); err != nil {
			return err
		}
		if _, err := decrypt.ParsePublicKeyPEM([]byte(r.PublicKey)); err != nil {
			return refuse(CodeInvalid, "representative %s: public_key is not an SM2 public key in PEM", r.ID)
		}
	}
	drawn := 0
	for _, q := range s.Quotas {
		drawn += q.Count
	}
	if want := s.Size - len(s.Reps); drawn != want {
		return refuse(CodeInvalid, "the quotas draw %d experts; the committee needs %d (%d members less %d representatives)", drawn, want, s.Size, len(s.Reps))
	}
	if s.Venue = strings.TrimSpace(s.Venue); len(s.Venue) > 64 {
		return refuse(CodeInvalid, "venue (the main venue's center) must be at most 64 bytes")
	}
	if s.PeriodDays < 0 || s.PeriodDays > 3660 || s.MaxRepeats < 0 || s.MinCredit < 0 || s.MinCredit > 100 {
		return refuse(CodeInvalid, "period_days (0-3660), max_repeats (≥ 0) and min_credit (0-100) are out of range")
	}
	return nil
}

// DrawRequest is what the server asks the pool to draw for this
// evaluation: the bidders' names and the tenderer go into the rules.
func (v *Evaluation) DrawRequest() DrawRequest {
	rules := draw.Rules{Tenderer: v.Spec.Tenderer, Related: v.Spec.Related, MinCredit: v.Spec.MinCredit,
		MaxRepeats: v.Spec.MaxRepeats, Period: time.Duration(v.Spec.PeriodDays) * 24 * time.Hour}
	for _, b := range v.Spec.Bids {
		rules.BidderEmployers = append(rules.BidderEmployers, b.Name)
	}
	for _, r := range v.Spec.Reps {
		rules.Related = append(rules.Related, r.ID) // a representative is not also drawn
	}
	return DrawRequest{Evaluation: v.Room, Rules: rules, Quotas: v.Spec.Quotas}
}

func (v *Evaluation) formCommittee(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "form the committee", RoleSystem); err != nil {
		return nil, err
	}
	if v.Phase != EvalDrawing {
		return nil, refuse(CodeWrongState, "the committee of %s is formed already", v.Room)
	}
	var d DrawRecord
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	if d.Evaluation != v.Room {
		return nil, refuse(CodeInvalid, "the draw is for %s, not %s", d.Evaluation, v.Room)
	}
	if n := len(d.Result.Members); n != v.Spec.Size-len(v.Spec.Reps) {
		return nil, refuse(CodeInvalid, "the draw gave %d members; the committee needs %d", n, v.Spec.Size-len(v.Spec.Reps))
	}
	return []Draft{{Type: EvCommitteeFormed, Vis: formationVis(), Data: d}}, nil
}

// verifyMember checks a member's SM2 signature over msg with their
// registered key and returns the key's id.
func verifyMember(m *Member, msg, sigB64 string) (string, error) {
	pub, err := decrypt.ParsePublicKeyPEM([]byte(m.PublicKey))
	if err != nil {
		return "", refuse(CodeInvalid, "the key registered for %s cannot be read; ask the pool's admin", m.Expert)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) == 0 || len(sig) > 256 {
		return "", refuse(CodeInvalid, "signature must be a base64 DER SM2 signature")
	}
	if pub.Verify([]byte(msg), sig) != nil {
		return "", refuse(CodeForbidden, "the signature does not verify with %s's registered key: sign with your own key", m.Expert)
	}
	id := pub.ID()
	return hex.EncodeToString(id[:]), nil
}

// actingMember returns the actor's seat, or a refusal.
func (v *Evaluation) actingMember(actor Actor, what string) (*Member, error) {
	if actor.Role != RoleExpert {
		return nil, refuse(CodeForbidden, "only committee members may %s", what)
	}
	m := v.member(actor.Sub)
	if m == nil {
		return nil, refuse(CodeForbidden, "%s is not on the committee", actor.Sub)
	}
	return m, nil
}

func (v *Evaluation) declare(actor Actor, cmd Command) ([]Draft, error) {
	m, err := v.actingMember(actor, "declare")
	if err != nil {
		return nil, err
	}
	if v.Phase != EvalConvened {
		return nil, refuse(CodeWrongState, "declarations are made after the start and before scoring")
	}
	if m.Declared {
		return nil, refuse(CodeWrongState, "%s has declared already", m.Expert)
	}
	var d Declaration
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	if d.Conflict {
		if err := checkText("reason", d.Reason, 500); err != nil {
			return nil, err
		}
	}
	keyID, err := verifyMember(m, DeclarationMessage(v.Room, m.Expert, d.Conflict), d.Signature)
	if err != nil {
		return nil, err
	}
	drafts := []Draft{{Type: EvDeclared, Vis: v.committeeVis(), Data: Declared{Expert: m.Expert, Conflict: d.Conflict, Reason: d.Reason, KeyID: keyID}}}
	if d.Conflict {
		r, err := v.replacement(m, d.Reason, true)
		if err != nil {
			return nil, err
		}
		drafts = append(drafts, Draft{Type: EvMemberReplaced, Vis: v.formationAndCommitteeVis(r.In), Data: r})
	}
	return drafts, nil
}

// replacement is the next reserve of the member's specialty, in draw order.
func (v *Evaluation) replacement(m *Member, reason string, recused bool) (Replacement, error) {
	if m.Specialty == SpecialtyTendererRep {
		return Replacement{}, refuse(CodeWrongState, "%s is the tenderer's representative: the tenderer names another one", m.Expert)
	}
	for _, s := range v.Reserves {
		if s.Specialty == m.Specialty {
			return Replacement{Out: m.Expert, In: s.Expert, Name: s.Name, Specialty: s.Specialty, Reason: reason, Recused: recused}, nil
		}
	}
	return Replacement{}, refuse(CodeWrongState, "no reserve of specialty %s is left to replace %s: draw again", m.Specialty, m.Expert)
}

func (v *Evaluation) decline(actor Actor, cmd Command) ([]Draft, error) {
	var d Decline
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	switch actor.Role {
	case RoleExpert:
		d.Expert = actor.Sub
	case RoleAdmin, RoleSystem:
	default:
		return nil, refuse(CodeForbidden, "a member declines for themself, or the admin records it")
	}
	if v.Phase != EvalFormed && v.Phase != EvalConvened {
		return nil, refuse(CodeWrongState, "a member can be replaced only before scoring opens")
	}
	m := v.member(d.Expert)
	if m == nil {
		return nil, refuse(CodeNotFound, "%s is not on the committee", d.Expert)
	}
	if err := checkText("reason", d.Reason, 500); err != nil {
		return nil, err
	}
	r, err := v.replacement(m, d.Reason, false)
	if err != nil {
		return nil, err
	}
	return []Draft{{Type: EvMemberReplaced, Vis: v.formationAndCommitteeVis(r.In), Data: r}}, nil
}

func (v *Evaluation) voteChair(actor Actor, cmd Command) ([]Draft, error) {
	m, err := v.actingMember(actor, "elect the chair")
	if err != nil {
		return nil, err
	}
	if v.Phase != EvalConvened {
		return nil, refuse(CodeWrongState, "the chair is elected after the start and before scoring")
	}
	if !m.Declared {
		return nil, refuse(CodeWrongState, "declare (回避声明) before you vote")
	}
	var c ChairVote
	if err := decodeData(cmd.Data, &c); err != nil {
		return nil, err
	}
	cand := v.member(c.Candidate)
	if cand == nil {
		return nil, refuse(CodeInvalid, "%q is not on the committee", c.Candidate)
	}
	if slices.ContainsFunc(v.Members, func(m *Member) bool { return m.Chair }) {
		return nil, refuse(CodeWrongState, "the chair is elected already")
	}
	c.Voter = m.Expert
	drafts := []Draft{{Type: EvChairVoted, Vis: v.committeeVis(), Data: c}}
	votes := 1 // this one; a member's earlier vote is replaced by it
	for _, o := range v.Members {
		if o.Expert != m.Expert && o.VotedFor == cand.Expert {
			votes++
		}
	}
	if votes*2 > len(v.Members) {
		drafts = append(drafts, Draft{Type: EvChairElected, Vis: v.committeeVis(), Data: ChairVote{Candidate: cand.Expert}})
	}
	return drafts, nil
}

func (v *Evaluation) openScoring(actor Actor) ([]Draft, error) {
	m, err := v.actingMember(actor, "open the scoring")
	if err != nil {
		return nil, err
	}
	if !m.Chair {
		return nil, refuse(CodeForbidden, "only the chair opens the scoring")
	}
	if v.Phase != EvalConvened {
		return nil, refuse(CodeWrongState, "the scoring is open already")
	}
	var missing []string
	for _, o := range v.Members {
		if !o.Declared {
			missing = append(missing, o.Expert)
		}
	}
	if len(missing) > 0 {
		return nil, refuse(CodeWrongState, "every member declares first; waiting for %s", strings.Join(missing, ", "))
	}
	return []Draft{{Type: EvScoringOpened, Vis: v.committeeVis(), Data: struct{}{}}}, nil
}

// maxSheetsBytes bounds the signed sheets text.
const maxSheetsBytes = 128 << 10

func (v *Evaluation) submitSheets(actor Actor, cmd Command) ([]Draft, error) {
	m, err := v.actingMember(actor, "submit score sheets")
	if err != nil {
		return nil, err
	}
	if v.Phase != EvalScoring {
		return nil, refuse(CodeWrongState, "score sheets are submitted while the scoring is open (it is %s)", v.Phase)
	}
	if m.Signed {
		return nil, refuse(CodeWrongState, "%s has signed their sheets; the chair may send one back for review", m.Expert)
	}
	var in SignedSheets
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if len(in.Sheets) > maxSheetsBytes {
		return nil, refuse(CodeInvalid, "the sheets are over %d KiB", maxSheetsBytes>>10)
	}
	var sheets []scoring.Sheet
	if err := decodeData(json.RawMessage(in.Sheets), &sheets); err != nil {
		return nil, err
	}
	byBidder := map[string]bool{}
	for _, s := range sheets {
		if !slices.ContainsFunc(v.Spec.Bids, func(b EvalBid) bool { return b.Bidder == s.Bidder }) {
			return nil, refuse(CodeInvalid, "a sheet for %q, which is not a bid of this evaluation", s.Bidder)
		}
		if byBidder[s.Bidder] {
			return nil, refuse(CodeInvalid, "two sheets for %s", s.Bidder)
		}
		byBidder[s.Bidder] = true
		if err := v.Spec.Criteria.CheckSheet(s); err != nil {
			return nil, refuse(CodeInvalid, "sheet for %s: %v", s.Bidder, err)
		}
	}
	for _, b := range v.Spec.Bids {
		if !byBidder[b.Bidder] {
			return nil, refuse(CodeInvalid, "no sheet for %s: score every bid", b.Bidder)
		}
	}
	keyID, err := verifyMember(m, SheetsMessage(v.Room, m.Expert, in.Sheets), in.Signature)
	if err != nil {
		return nil, err
	}
	rec := SheetsRecord{Expert: m.Expert, Sheets: sheets, Text: in.Sheets, Digest: hex.EncodeToString(sm3.Sm3Sum([]byte(in.Sheets))), Signature: in.Signature, KeyID: keyID}
	drafts := []Draft{
		{Type: EvSheetsSigned, Vis: Visibility{Roles: []Role{RoleSupervisor}, Subjects: []string{m.Expert}}, Data: rec},
		{Type: EvSheetsReceived, Vis: v.committeeVis(), Data: SheetsRecord{Expert: m.Expert, Digest: rec.Digest, KeyID: keyID}},
	}
	// The last signature completes the tally.
	all := map[string]map[string]scoring.Sheet{}
	for _, o := range v.Members {
		rec := v.Sheets[o.Expert]
		if o.Expert == m.Expert {
			rec = &SheetsRecord{Sheets: sheets}
		} else if !o.Signed || rec == nil {
			return drafts, nil
		}
		all[o.Expert] = map[string]scoring.Sheet{}
		for _, s := range rec.Sheets {
			all[o.Expert][s.Bidder] = s
		}
	}
	t, err := v.tally(all)
	if err != nil {
		return nil, err
	}
	return append(drafts, Draft{Type: EvScoresTallied, Vis: v.committeeVis(), Data: t}), nil
}

func (v *Evaluation) tally(all map[string]map[string]scoring.Sheet) (Tally, error) {
	prices := map[string]string{}
	for _, b := range v.Spec.Bids {
		prices[b.Bidder] = b.Price
	}
	results, outliers, err := scoring.Tally(v.Spec.Criteria, all, prices)
	if err != nil {
		return Tally{}, refuse(CodeInvalid, "the sheets cannot be tallied: %v", err)
	}
	return Tally{Results: results, Outliers: outliers}, nil
}

func (v *Evaluation) returnSheet(actor Actor, cmd Command) ([]Draft, error) {
	m, err := v.actingMember(actor, "send a sheet back")
	if err != nil {
		return nil, err
	}
	if !m.Chair {
		return nil, refuse(CodeForbidden, "only the chair sends a sheet back for review")
	}
	if v.Phase != EvalScoring && v.Phase != EvalTallied {
		return nil, refuse(CodeWrongState, "sheets are sent back during the scoring")
	}
	if len(v.reportSigs) > 0 {
		return nil, refuse(CodeWrongState, "members have begun to sign the report: it can no longer change")
	}
	var r Returned
	if err := decodeData(cmd.Data, &r); err != nil {
		return nil, err
	}
	o := v.member(r.Expert)
	if o == nil || !o.Signed {
		return nil, refuse(CodeInvalid, "%q has no signed sheets to send back", r.Expert)
	}
	if !slices.ContainsFunc(v.Spec.Bids, func(b EvalBid) bool { return b.Bidder == r.Bidder }) {
		return nil, refuse(CodeInvalid, "%q is not a bid of this evaluation", r.Bidder)
	}
	if r.Item != "" && !slices.ContainsFunc(v.Spec.Criteria.Items, func(i scoring.Item) bool { return i.ID == r.Item }) {
		return nil, refuse(CodeInvalid, "%q is not an item of the criteria", r.Item)
	}
	if err := checkText("reason", r.Reason, 500); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvSheetReturned, Vis: v.committeeVis(), Data: r}}, nil
}
