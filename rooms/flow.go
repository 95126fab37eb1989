package rooms

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// The opening after the bids are open (RULES.md, "The opening, state by
// state", steps 3–10): 流标, pauses, the end of the decryption window and the
// classification of bids not unlocked, the read-out, confirmations and
// objections, the signed record, chat and supervisors' notes.

// Phases after the decryption window.
const (
	PhaseFailed     Phase = "failed"      // 流标: fewer bids than the session needs (R7)
	PhaseReadingOut Phase = "reading_out" // 唱标: the sheets are public (R11, R12)
	PhaseConfirming Phase = "confirming"  // bidders confirm or object (R13, R15)
	PhaseRecord     Phase = "record"      // the opening record is generated and signed (R14)
	PhaseClosed     Phase = "closed"      // handed over to evaluation
)

// Commands of the opening's later steps.
const (
	CmdPause              = "pause"                 // host: pause (or suspend) with a reason; countdowns freeze
	CmdResume             = "resume"                // host: resume with the time that was left
	CmdExtendDecryption   = "extend_decryption"     // host, once: lengthen the window, with a reason
	CmdClassify           = "classify"              // host: a bid not unlocked is 撤销 or 撤回
	CmdStartReadOut       = "start_read_out"        // host: 唱标
	CmdStartConfirmation  = "start_confirmation"    // host: the confirmation window opens
	CmdConfirm            = "confirm"               // a bidder registered without a key confirms by token
	CmdRecordConfirmation = "record_confirmation"   // server: a bidder's signature over the read-out, verified
	CmdObject             = "object"                // bidder: 异议
	CmdAnswerObjection    = "answer_objection"      // host: the answer, on the spot
	CmdCloseConfirmation  = "close_confirmation"    // timer at the window's end, or the host once all answered
	CmdRecordBonds        = "record_bonds"          // server: bond statuses from the bond system
	CmdRecordOpeningRec   = "record_opening_record" // server: the signed opening record's digest
	CmdCloseSession       = "close_session"         // host: hand over to evaluation
	CmdChat               = "chat"                  // bidder ↔ host, supervisor ↔ host
	CmdNoteViolation      = "note_violation"        // supervisor: 不良行为记录
)

// Events of the opening's later steps.
const (
	EvFailed                = "failed"
	EvPaused                = "paused"
	EvResumed               = "resumed"
	EvDecryptionExtended    = "decryption_extended"
	EvClassified            = "classified"
	EvReadOut               = "read_out"
	EvPriceAlert            = "price_alert"
	EvConfirmationStarted   = "confirmation_started"
	EvConfirmed             = "confirmed"
	EvObjection             = "objection"
	EvObjectionAnswered     = "objection_answered"
	EvConfirmationClosed    = "confirmation_closed"
	EvBondsChecked          = "bonds_checked"
	EvOpeningRecordSigned   = "opening_record_signed"
	EvClosed                = "closed"
	EvChat                  = "chat"
	EvViolationNoted        = "violation_noted"
	defaultMinBids          = 3
	defaultConfirmWindow    = 5 * time.Minute
	maxAttemptsKept         = 20
	maxChatKept             = 200
	maxNotesKept            = 200
	maxObjectionsPerBidder  = 10
	maxTextRunes            = 2000
	maxReasonRunes          = 500
	maxExtensionMinutes     = 120
	maxReadOutFields        = 12
	outcomeOpened           = "opened"
	OutcomeRevoked          = "revoked"   // 撤销: not unlocked through the bidder's own fault
	OutcomeWithdrawn        = "withdrawn" // 撤回: not unlocked through the platform's or another's fault
	PauseKindPaused         = "paused"    // the host stopped (e.g. a display differs from the file)
	PauseKindSuspended      = "suspended" // 中止: the system failed; resumed later
	FailureFewerThanMinBids = "fewer_than_min_bids"
	FlagAboveControlPrice   = "above_control_price"
	FlagOffBudget           = "off_budget"
)

// DefaultBudgetDeviationPct flags prices further than this from the budget
// when the session names a budget but no percentage (R12; centers use 10–30).
const DefaultBudgetDeviationPct = 20

// ReadOutField is one column of the opening sheet read out (R11).
type ReadOutField struct {
	Key   string `json:"key"`   // the sheet's key, e.g. "price"
	Label string `json:"label"` // what is read out, e.g. "投标报价（元）"
}

// Failure is the data of the failed event (流标).
type Failure struct {
	Reason    string `json:"reason"` // FailureFewerThanMinBids
	Submitted int    `json:"submitted"`
	Min       int    `json:"min"`
}

// Pause is the data of the paused event, and the room's state while paused.
type Pause struct {
	Kind   string    `json:"kind"` // PauseKindPaused or PauseKindSuspended
	Reason string    `json:"reason"`
	At     time.Time `json:"at,omitzero"` // filled in by the fold
	// What was left of the running countdowns when the pause began.
	DecryptLeft time.Duration `json:"decrypt_left,omitempty"`
	ConfirmLeft time.Duration `json:"confirm_left,omitempty"`
}

// Resumed is the data of the resumed event: the countdowns' new ends.
type Resumed struct {
	DecryptEndsAt time.Time `json:"decrypt_ends_at,omitzero"`
	ConfirmEndsAt time.Time `json:"confirm_ends_at,omitzero"`
}

// Extension is the data of decryption_extended.
type Extension struct {
	Minutes int       `json:"minutes"`
	Reason  string    `json:"reason"`
	EndsAt  time.Time `json:"ends_at,omitzero"`
}

// Classification is the data of classified: why a bid was not unlocked (R9).
type Classification struct {
	Bidder  string `json:"bidder"`
	Outcome string `json:"outcome"` // OutcomeRevoked or OutcomeWithdrawn
	Reason  string `json:"reason"`
}

// Attempt is one unlock attempt as the record keeps it (no sheet).
type Attempt struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	Backup  bool      `json:"backup,omitempty"`
	// Reported: the failure happened in the bidder's client, which said so.
	Reported bool `json:"reported,omitempty"`
}

// ReadOutRow is one bid as read out.
type ReadOutRow struct {
	Bidder  string            `json:"bidder"`
	Name    string            `json:"name"`
	Outcome string            `json:"outcome"`         // opened, revoked or withdrawn
	Sheet   map[string]string `json:"sheet,omitempty"` // the named fields, opened bids only
	Flags   []string          `json:"flags,omitempty"`
}

// ReadOut is the data of read_out: everything announced at 唱标.
type ReadOut struct {
	Reserve      string         `json:"reserve,omitempty"`       // 标底, revealed now
	ControlPrice string         `json:"control_price,omitempty"` // restated
	Budget       string         `json:"budget,omitempty"`
	DeviationPct int            `json:"deviation_pct,omitempty"`
	Fields       []ReadOutField `json:"fields"`
	Rows         []ReadOutRow   `json:"rows"`
	Digest       string         `json:"digest"` // SM3 of the above (Digest empty), what confirmations sign
}

// PriceAlert is the data of price_alert, for supervisors (R12).
type PriceAlert struct {
	Bidder string `json:"bidder"`
	Flag   string `json:"flag"`
	Price  string `json:"price"`
}

// ConfirmationWindow is the data of confirmation_started.
type ConfirmationWindow struct {
	EndsAt time.Time `json:"ends_at"`
}

// Confirmation is the data of confirmed: a bidder accepts the read-out.
type Confirmation struct {
	Bidder    string    `json:"bidder"`
	Method    string    `json:"method"`              // SignInSM2 or SignInToken
	Digest    string    `json:"digest"`              // the read-out digest confirmed
	KeyID     string    `json:"key_id,omitempty"`    // sm2: the signing key
	Signature string    `json:"signature,omitempty"` // sm2: base64 DER over ConfirmationMessage
	At        time.Time `json:"at,omitzero"`
}

// Objection is the data of objection, and its answer once given (R13).
type Objection struct {
	ID         string    `json:"id"`
	Bidder     string    `json:"bidder"`
	Text       string    `json:"text"`
	At         time.Time `json:"at,omitzero"`
	Answer     string    `json:"answer,omitempty"`
	AnsweredBy string    `json:"answered_by,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
}

// ObjectionAnswer is the data of objection_answered.
type ObjectionAnswer struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// ConfirmationClosed is the data of confirmation_closed: who stayed silent.
type ConfirmationClosed struct {
	Silent []string `json:"silent"` // bidders who neither confirmed nor objected (R15)
	Early  bool     `json:"early,omitempty"`
}

// BondStatus is a bidder's bid bond at the opening (保证金).
type BondStatus struct {
	Bidder    string    `json:"bidder"`
	Status    string    `json:"status"` // paid, guaranteed, missing, unknown
	Amount    string    `json:"amount,omitempty"`
	Guarantor string    `json:"guarantor,omitempty"`
	Reference string    `json:"reference,omitempty"`
	Source    string    `json:"source,omitempty"`
	Error     string    `json:"error,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// Bonds is the data of bonds_checked.
type Bonds struct {
	Bonds []BondStatus `json:"bonds"`
}

// OpeningRecord is the data of opening_record_signed: the record the
// platform generated and signed (R14), with the recordings' digests (R17).
type OpeningRecord struct {
	Digest     string    `json:"digest"`    // SM3 of the record's JSON, hex
	Size       int64     `json:"size"`      // bytes of that JSON
	Signature  string    `json:"signature"` // platform SM2 signature over the JSON, base64 DER
	KeyID      string    `json:"key_id"`    // the platform key
	Recordings []string  `json:"recordings,omitempty"`
	At         time.Time `json:"at,omitzero"`
}

// ChatMessage is the data of chat. To is "host", "supervisors" or a
// bidder's id; who sees it is the event's visibility.
type ChatMessage struct {
	ID       string     `json:"id,omitempty"`
	From     string     `json:"from,omitempty"`
	FromRole Role       `json:"from_role,omitempty"`
	To       string     `json:"to"`
	Text     string     `json:"text"`
	At       time.Time  `json:"at,omitzero"`
	vis      Visibility // who may see it, from its event
}

// Chat destinations besides a bidder's id.
const (
	ChatToHost        = "host"
	ChatToSupervisors = "supervisors"
)

// ViolationNote is the data of violation_noted (不良行为记录), seen by
// supervisors and admins only.
type ViolationNote struct {
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// supervisorsOnly is the visibility of supervisors' notes and price alerts.
func supervisorsOnly() Visibility {
	return Visibility{Roles: []Role{RoleSupervisor, RoleAdmin}}
}

// flow is the state of the later steps, embedded in Opening.
type flow struct {
	Failure        *Failure
	Pause          *Pause
	Extended       *Extension
	ReadOut        *ReadOut
	ConfirmEndsAt  time.Time
	ConfirmClosed  bool
	Objections     []Objection
	Record         *OpeningRecord
	Chat           []ChatMessage
	Notes          []ViolationNote
	BondsChecked   bool
	DecryptClosed  time.Time
	objectionCount map[string]int
}

// MinBids is the fewest submitted bids the opening proceeds with (R7).
func (s SessionSpec) MinBids() int {
	if s.MinimumBids > 0 {
		return s.MinimumBids
	}
	return defaultMinBids
}

// ConfirmWindow is the length of the confirmation window.
func (s SessionSpec) ConfirmWindow() time.Duration {
	if s.ConfirmWindowMinutes > 0 {
		return time.Duration(s.ConfirmWindowMinutes) * time.Minute
	}
	return defaultConfirmWindow
}

// ReadOutColumns are the columns read out: the session's, or price alone.
func (s SessionSpec) ReadOutColumns() []ReadOutField {
	if len(s.ReadOutFields) > 0 {
		return s.ReadOutFields
	}
	return []ReadOutField{{Key: "price", Label: "投标报价（元）"}}
}

// checkFlowSpec validates the session fields the later steps use.
func checkFlowSpec(s *SessionSpec) error {
	if s.MinimumBids < 0 || s.MinimumBids > 100 {
		return refuse(CodeInvalid, "min_bids must be between 1 and 100")
	}
	if s.ConfirmWindowMinutes < 0 || s.ConfirmWindowMinutes > 120 {
		return refuse(CodeInvalid, "confirm_window_minutes must be between 1 and 120")
	}
	if s.DecryptWindowMinutes < 0 || s.DecryptWindowMinutes > 24*60 {
		return refuse(CodeInvalid, "decrypt_window_minutes must be between 1 and 1440")
	}
	if s.BudgetDeviationPct != 0 && (s.BudgetDeviationPct < 1 || s.BudgetDeviationPct > 100) {
		return refuse(CodeInvalid, "budget_deviation_pct must be between 1 and 100 (centers use 10-30)")
	}
	for _, p := range []struct{ name, v string }{{"budget", s.Budget}, {"reserve_price", s.ReservePrice}} {
		if p.v != "" && !pricePattern.MatchString(p.v) {
			return refuse(CodeInvalid, "%s must be a decimal amount in yuan, got %q", p.name, p.v)
		}
	}
	if len(s.ReadOutFields) > maxReadOutFields {
		return refuse(CodeInvalid, "at most %d read-out fields", maxReadOutFields)
	}
	seen := map[string]bool{}
	for _, f := range s.ReadOutFields {
		if !idPattern.MatchString(f.Key) || seen[f.Key] {
			return refuse(CodeInvalid, "read-out field keys must be distinct ids, got %q", f.Key)
		}
		seen[f.Key] = true
		if err := checkText("read-out field label", f.Label, 40); err != nil {
			return err
		}
	}
	return nil
}

// decideFlow handles the later steps' commands; ok is false for a command
// it does not know.
func (o *Opening) decideFlow(actor Actor, cmd Command, now time.Time) (drafts []Draft, ok bool, err error) {
	switch cmd.Type {
	case CmdPause, CmdResume, CmdExtendDecryption, CmdClassify, CmdStartReadOut, CmdStartConfirmation,
		CmdConfirm, CmdRecordConfirmation, CmdObject, CmdAnswerObjection, CmdCloseConfirmation,
		CmdRecordBonds, CmdRecordOpeningRec, CmdCloseSession, CmdChat, CmdNoteViolation:
	default:
		return nil, false, nil
	}
	if o.Phase == PhaseNone {
		return nil, true, refuse(CodeNotFound, "session %s does not exist", o.Room)
	}
	switch cmd.Type {
	case CmdPause:
		drafts, err = o.pause(actor, cmd, now)
	case CmdResume:
		drafts, err = o.resume(actor, now)
	case CmdExtendDecryption:
		drafts, err = o.extendDecryption(actor, cmd)
	case CmdClassify:
		drafts, err = o.classify(actor, cmd)
	case CmdStartReadOut:
		drafts, err = o.startReadOut(actor)
	case CmdStartConfirmation:
		drafts, err = o.startConfirmation(actor, now)
	case CmdConfirm, CmdRecordConfirmation:
		drafts, err = o.confirm(actor, cmd, now, cmd.Type == CmdRecordConfirmation)
	case CmdObject:
		drafts, err = o.object(actor, cmd)
	case CmdAnswerObjection:
		drafts, err = o.answerObjection(actor, cmd)
	case CmdCloseConfirmation:
		drafts, err = o.closeConfirmation(actor, now)
	case CmdRecordBonds:
		drafts, err = o.recordBonds(actor, cmd)
	case CmdRecordOpeningRec:
		drafts, err = o.recordOpeningRecord(actor, cmd)
	case CmdCloseSession:
		drafts, err = o.closeSession(actor)
	case CmdChat:
		drafts, err = o.chat(actor, cmd)
	case CmdNoteViolation:
		drafts, err = o.noteViolation(actor, cmd)
	}
	return drafts, true, err
}

// allowedWhilePaused are the commands a paused opening still takes.
var allowedWhilePaused = map[string]bool{
	CmdResume: true, CmdAnnounce: true, CmdChat: true, CmdNoteViolation: true, CmdPresence: true,
	CmdSignIn: true, CmdKeySignIn: true, CmdAnswerObjection: true, CmdRecordMedia: true, CmdRecordBonds: true,
}

// checkNotPaused refuses what a paused opening cannot do (R16).
func (o *Opening) checkNotPaused(cmdType string) error {
	if o.Pause != nil && !allowedWhilePaused[cmdType] {
		what := "paused"
		if o.Pause.Kind == PauseKindSuspended {
			what = "suspended"
		}
		return refuse(CodeWrongState, "the opening is %s (%s); the host resumes it", what, o.Pause.Reason)
	}
	return nil
}

func (o *Opening) pause(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	var p Pause
	if err := decodeData(cmd.Data, &p); err != nil {
		return nil, err
	}
	if p.Kind == "" {
		p.Kind = PauseKindPaused
	}
	switch p.Kind {
	case PauseKindPaused:
		if err := requireRole(actor, "pause the opening", RoleHost); err != nil {
			return nil, err
		}
	case PauseKindSuspended:
		if err := requireRole(actor, "suspend the opening", RoleHost, RoleAdmin); err != nil {
			return nil, err
		}
	default:
		return nil, refuse(CodeInvalid, "kind must be paused or suspended, got %q", p.Kind)
	}
	if err := checkText("reason", p.Reason, maxReasonRunes); err != nil {
		return nil, err
	}
	if o.Pause != nil {
		return nil, refuse(CodeWrongState, "the opening is already %s", o.Pause.Kind)
	}
	switch o.Phase {
	case PhaseOpened, PhaseDecrypting, PhaseDecryptionClosed, PhaseReadingOut, PhaseConfirming:
	default:
		return nil, refuse(CodeWrongState, "the opening can be paused between the deadline and the record, not in phase %s", o.Phase)
	}
	p.At = time.Time{}
	p.DecryptLeft, p.ConfirmLeft = 0, 0
	if o.Phase == PhaseDecrypting {
		p.DecryptLeft = max(o.DecryptEndsAt.Sub(now), 0)
	}
	if o.Phase == PhaseConfirming && !o.ConfirmClosed {
		p.ConfirmLeft = max(o.ConfirmEndsAt.Sub(now), 0)
	}
	return []Draft{{Type: EvPaused, Vis: Public(), Data: p}}, nil
}

func (o *Opening) resume(actor Actor, now time.Time) ([]Draft, error) {
	if o.Pause == nil {
		return nil, refuse(CodeWrongState, "the opening is not paused")
	}
	roles := []Role{RoleHost}
	if o.Pause.Kind == PauseKindSuspended {
		roles = append(roles, RoleAdmin)
	}
	if err := requireRole(actor, "resume the opening", roles...); err != nil {
		return nil, err
	}
	var r Resumed
	if o.Phase == PhaseDecrypting {
		r.DecryptEndsAt = now.Add(o.Pause.DecryptLeft).UTC()
	}
	if o.Phase == PhaseConfirming && !o.ConfirmClosed {
		r.ConfirmEndsAt = now.Add(o.Pause.ConfirmLeft).UTC()
	}
	return []Draft{{Type: EvResumed, Vis: Public(), Data: r}}, nil
}

func (o *Opening) extendDecryption(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "extend the decryption window", RoleHost); err != nil {
		return nil, err
	}
	var x Extension
	if err := decodeData(cmd.Data, &x); err != nil {
		return nil, err
	}
	if o.Phase != PhaseDecrypting {
		return nil, refuse(CodeWrongState, "the decryption window is not open")
	}
	if o.Extended != nil {
		return nil, refuse(CodeWrongState, "the decryption window was already extended once")
	}
	if x.Minutes < 1 || x.Minutes > maxExtensionMinutes {
		return nil, refuse(CodeInvalid, "minutes must be between 1 and %d", maxExtensionMinutes)
	}
	if err := checkText("reason", x.Reason, maxReasonRunes); err != nil {
		return nil, err
	}
	x.EndsAt = o.DecryptEndsAt.Add(time.Duration(x.Minutes) * time.Minute).UTC()
	return []Draft{{Type: EvDecryptionExtended, Vis: Public(), Data: x}}, nil
}

// submittedBidders are the bidders whose bid was held at the deadline, in
// registration order: the order of the read-out.
func (o *Opening) submittedBidders() []*Participant {
	var out []*Participant
	for _, id := range o.BidderOrder {
		if p := o.Bidders[id]; p.Submitted != nil && *p.Submitted {
			out = append(out, p)
		}
	}
	return out
}

// SuggestedOutcome is what the host is offered for a bid not unlocked:
// 撤回 where the log shows a server-side failure, 撤销 otherwise (R9).
func (p *Participant) SuggestedOutcome() string {
	for _, a := range p.AttemptLog {
		if a.Code == "server_error" {
			return OutcomeWithdrawn
		}
	}
	return OutcomeRevoked
}

func (o *Opening) classify(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "classify bids", RoleHost); err != nil {
		return nil, err
	}
	var c Classification
	if err := decodeData(cmd.Data, &c); err != nil {
		return nil, err
	}
	if o.Phase != PhaseDecryptionClosed {
		return nil, refuse(CodeWrongState, "bids are classified after the decryption window closes")
	}
	p := o.Bidders[c.Bidder]
	if p == nil || p.Submitted == nil || !*p.Submitted {
		return nil, refuse(CodeNotFound, "bidder %s has no bid in this opening", c.Bidder)
	}
	if p.Opened != nil {
		return nil, refuse(CodeWrongState, "the bid of %s was unlocked", c.Bidder)
	}
	if p.Outcome != "" {
		return nil, refuse(CodeWrongState, "the bid of %s is already classified as %s", c.Bidder, p.Outcome)
	}
	if c.Outcome != OutcomeRevoked && c.Outcome != OutcomeWithdrawn {
		return nil, refuse(CodeInvalid, "outcome must be revoked (撤销) or withdrawn (撤回), got %q", c.Outcome)
	}
	if err := checkText("reason", c.Reason, maxReasonRunes); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvClassified, Vis: Public(), Data: c}}, nil
}

func (o *Opening) startReadOut(actor Actor) ([]Draft, error) {
	if err := requireRole(actor, "start the read-out", RoleHost); err != nil {
		return nil, err
	}
	if o.Phase != PhaseDecryptionClosed {
		return nil, refuse(CodeWrongState, "the read-out follows the close of the decryption window (R11)")
	}
	r := ReadOut{
		Reserve: o.Session.ReservePrice, ControlPrice: o.Session.ControlPrice, Budget: o.Session.Budget,
		Fields: o.Session.ReadOutColumns(), Rows: []ReadOutRow{},
	}
	if r.Budget != "" {
		r.DeviationPct = o.Session.BudgetDeviationPct
		if r.DeviationPct == 0 {
			r.DeviationPct = DefaultBudgetDeviationPct
		}
	}
	var alerts []Draft
	for _, p := range o.submittedBidders() {
		row := ReadOutRow{Bidder: p.Sub, Name: p.Name, Outcome: p.Outcome}
		if p.Opened != nil {
			row.Outcome = outcomeOpened
			row.Sheet = map[string]string{}
			for _, f := range r.Fields {
				if v, ok := p.Opened.Sheet[f.Key]; ok {
					row.Sheet[f.Key] = v
				}
			}
			row.Flags = priceFlags(p.Opened.Sheet["price"], r)
			for _, fl := range row.Flags {
				alerts = append(alerts, Draft{Type: EvPriceAlert, Vis: supervisorsOnly(), Data: PriceAlert{Bidder: p.Sub, Flag: fl, Price: p.Opened.Sheet["price"]}})
			}
		} else if row.Outcome == "" {
			return nil, refuse(CodeWrongState, "classify the bid of %s (撤销 or 撤回) before the read-out", p.Sub)
		}
		r.Rows = append(r.Rows, row)
	}
	r.Digest = r.ComputeDigest()
	return append([]Draft{{Type: EvReadOut, Vis: Public(), Data: r}}, alerts...), nil
}

// ComputeDigest is the SM3 of the read-out's JSON with Digest empty: what a
// bidder's confirmation signs.
func (r ReadOut) ComputeDigest() string {
	r.Digest = ""
	b, _ := json.Marshal(r)
	return hex.EncodeToString(sm3.Sm3Sum(b))
}

// ConfirmationMessage is the text a bidder signs to confirm the read-out.
func ConfirmationMessage(room, bidder, digest string) string {
	return fmt.Sprintf("bidroom confirm read-out\nsession: %s\nbidder: %s\ndigest: %s\n", room, bidder, digest)
}

// ParseConfirmationMessage reads a ConfirmationMessage back, so a signing
// client can check it signs a confirmation for its own session and nothing
// else.
func ParseConfirmationMessage(text string) (room, bidder, digest string, err error) {
	if _, err := fmt.Sscanf(text, "bidroom confirm read-out\nsession: %s\nbidder: %s\ndigest: %s\n", &room, &bidder, &digest); err != nil {
		return "", "", "", fmt.Errorf("not a read-out confirmation: %w", err)
	}
	if text != ConfirmationMessage(room, bidder, digest) || !hexDigest.MatchString(digest) {
		return "", "", "", fmt.Errorf("not a read-out confirmation")
	}
	return room, bidder, digest, nil
}

// priceFlags flags a price above the control price or further from the
// budget than the session allows (R12). An unparsable price is flagged by
// neither: the read-out shows the sheet exactly as sealed.
func priceFlags(price string, r ReadOut) []string {
	p, ok := new(big.Rat).SetString(price)
	if price == "" || !ok {
		return nil
	}
	var flags []string
	if c, ok := new(big.Rat).SetString(r.ControlPrice); r.ControlPrice != "" && ok && p.Cmp(c) > 0 {
		flags = append(flags, FlagAboveControlPrice)
	}
	if b, ok := new(big.Rat).SetString(r.Budget); r.Budget != "" && ok && b.Sign() > 0 {
		dev := new(big.Rat).Sub(p, b)
		dev.Abs(dev)
		limit := new(big.Rat).Mul(b, big.NewRat(int64(r.DeviationPct), 100))
		if dev.Cmp(limit) > 0 {
			flags = append(flags, FlagOffBudget)
		}
	}
	return flags
}

func (o *Opening) startConfirmation(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "open the confirmation", RoleHost); err != nil {
		return nil, err
	}
	if o.Phase != PhaseReadingOut {
		return nil, refuse(CodeWrongState, "the confirmation follows the read-out")
	}
	return []Draft{{Type: EvConfirmationStarted, Vis: Public(), Data: ConfirmationWindow{EndsAt: now.Add(o.Session.ConfirmWindow()).UTC()}}}, nil
}

// respondingBidder checks a bidder may confirm or object now.
func (o *Opening) respondingBidder(actor Actor, what string) (*Participant, error) {
	if err := requireRole(actor, what, RoleBidder); err != nil {
		return nil, err
	}
	p := o.Bidders[actor.Sub]
	if p == nil || p.Submitted == nil || !*p.Submitted {
		return nil, refuse(CodeForbidden, "only bidders whose bids were opened here may %s", what)
	}
	return p, nil
}

func (o *Opening) confirm(actor Actor, cmd Command, now time.Time, verified bool) ([]Draft, error) {
	p, err := o.respondingBidder(actor, "confirm the record")
	if err != nil {
		return nil, err
	}
	var c Confirmation
	if err := decodeData(cmd.Data, &c); err != nil {
		return nil, err
	}
	if o.Phase != PhaseConfirming || o.ConfirmClosed || !now.Before(o.ConfirmEndsAt) {
		return nil, refuse(CodeWrongState, "the confirmation window is not open")
	}
	if p.Confirmation != nil {
		return nil, nil // confirmed already: a retry
	}
	if c.Digest != o.ReadOut.Digest {
		return nil, refuse(CodeConflict, "the read-out changed or the digest is wrong: confirm digest %s", o.ReadOut.Digest)
	}
	c.Bidder, c.At = actor.Sub, time.Time{}
	if verified {
		if !hexDigest.MatchString(c.KeyID) || c.Signature == "" || len(c.Signature) > 512 {
			return nil, refuse(CodeInvalid, "a signed confirmation needs the key id and the signature")
		}
		c.Method = SignInSM2
	} else {
		if p.HasKey {
			return nil, refuse(CodeForbidden, "a bidder with a registered key confirms by signing the read-out")
		}
		c.Method, c.KeyID, c.Signature = SignInToken, "", ""
	}
	return []Draft{{Type: EvConfirmed, Vis: Public(), Data: c}}, nil
}

func (o *Opening) object(actor Actor, cmd Command) ([]Draft, error) {
	if _, err := o.respondingBidder(actor, "raise an objection"); err != nil {
		return nil, err
	}
	var ob Objection
	if err := decodeData(cmd.Data, &ob); err != nil {
		return nil, err
	}
	if o.Phase != PhaseReadingOut && o.Phase != PhaseConfirming {
		return nil, refuse(CodeWrongState, "objections to the opening are raised from the read-out until the record (R13)")
	}
	if err := checkText("objection", ob.Text, maxTextRunes); err != nil {
		return nil, err
	}
	if o.objectionCount[actor.Sub] >= maxObjectionsPerBidder {
		return nil, refuse(CodeInvalid, "at most %d objections per bidder; add to an earlier one in the chat", maxObjectionsPerBidder)
	}
	data := Objection{ID: fmt.Sprintf("obj-%d", o.Seq+1), Bidder: actor.Sub, Text: ob.Text}
	return []Draft{{Type: EvObjection, Vis: Public(), Data: data}}, nil
}

func (o *Opening) answerObjection(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "answer objections", RoleHost); err != nil {
		return nil, err
	}
	var a ObjectionAnswer
	if err := decodeData(cmd.Data, &a); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(o.Objections, func(x Objection) bool { return x.ID == a.ID })
	if i < 0 {
		return nil, refuse(CodeNotFound, "no objection %q", a.ID)
	}
	if o.Objections[i].Answer != "" {
		return nil, refuse(CodeWrongState, "objection %s is already answered", a.ID)
	}
	if err := checkText("answer", a.Text, maxTextRunes); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvObjectionAnswered, Vis: Public(), Data: a}}, nil
}

// Unanswered counts the objections still waiting for the host.
func (o *Opening) Unanswered() int {
	n := 0
	for _, ob := range o.Objections {
		if ob.Answer == "" {
			n++
		}
	}
	return n
}

func (o *Opening) closeConfirmation(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "close the confirmation", RoleSystem, RoleHost); err != nil {
		return nil, err
	}
	if o.Phase != PhaseConfirming || o.ConfirmClosed {
		return nil, refuse(CodeWrongState, "the confirmation window is not open")
	}
	objected := map[string]bool{}
	for _, ob := range o.Objections {
		objected[ob.Bidder] = true
	}
	silent := []string{}
	for _, p := range o.submittedBidders() {
		if p.Confirmation == nil && !objected[p.Sub] {
			silent = append(silent, p.Sub)
		}
	}
	early := now.Before(o.ConfirmEndsAt)
	if early && (actor.Role != RoleHost || len(silent) > 0) {
		return nil, refuse(CodeTooEarly, "the confirmation window ends at %s; the host may close it early only once every bidder has confirmed or objected", o.ConfirmEndsAt.Format(time.RFC3339))
	}
	return []Draft{{Type: EvConfirmationClosed, Vis: Public(), Data: ConfirmationClosed{Silent: silent, Early: early}}}, nil
}

func (o *Opening) recordBonds(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record bonds", RoleSystem); err != nil {
		return nil, err
	}
	var b Bonds
	if err := decodeData(cmd.Data, &b); err != nil {
		return nil, err
	}
	if o.Phase == PhaseScheduled || o.Phase == PhaseCheckIn {
		return nil, refuse(CodeWrongState, "bond status is secret until the deadline (R6)")
	}
	for _, s := range b.Bonds {
		if o.Bidders[s.Bidder] == nil {
			return nil, refuse(CodeNotFound, "bidder %s is not registered", s.Bidder)
		}
		switch s.Status {
		case "paid", "guaranteed", "missing", "unknown":
		default:
			return nil, refuse(CodeInvalid, "bond status must be paid, guaranteed, missing or unknown, got %q", s.Status)
		}
	}
	return []Draft{{Type: EvBondsChecked, Vis: Public(), Data: b}}, nil
}

// RecordReady reports whether the opening record may be generated now.
func (o *Opening) RecordReady() error {
	switch {
	case o.Phase == PhaseFailed && o.Record == nil:
		return nil
	case o.Phase != PhaseConfirming:
		return refuse(CodeWrongState, "the record is generated after the confirmation (or for a failed opening)")
	case !o.ConfirmClosed:
		return refuse(CodeWrongState, "the confirmation window is still open")
	case o.Unanswered() > 0:
		return refuse(CodeWrongState, "%d objection(s) wait for the host's answer (R13)", o.Unanswered())
	case o.Pause != nil:
		return refuse(CodeWrongState, "the opening is paused")
	}
	return nil
}

func (o *Opening) recordOpeningRecord(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "generate the record", RoleHost, RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	var r OpeningRecord
	if err := decodeData(cmd.Data, &r); err != nil {
		return nil, err
	}
	if err := o.RecordReady(); err != nil {
		return nil, err
	}
	if !hexDigest.MatchString(r.Digest) || !hexDigest.MatchString(r.KeyID) || r.Signature == "" || r.Size <= 0 {
		return nil, refuse(CodeInvalid, "the record needs its digest, size, signature and key id")
	}
	r.At = time.Time{}
	return []Draft{{Type: EvOpeningRecordSigned, Vis: Public(), Data: r}}, nil
}

func (o *Opening) closeSession(actor Actor) ([]Draft, error) {
	if err := requireRole(actor, "close the session", RoleHost, RoleAdmin); err != nil {
		return nil, err
	}
	if o.Phase != PhaseRecord {
		return nil, refuse(CodeWrongState, "the session closes once its record is signed")
	}
	return []Draft{{Type: EvClosed, Vis: Public(), Data: struct{}{}}}, nil
}

func (o *Opening) chat(actor Actor, cmd Command) ([]Draft, error) {
	var m ChatMessage
	if err := decodeData(cmd.Data, &m); err != nil {
		return nil, err
	}
	if err := checkText("message", m.Text, maxTextRunes); err != nil {
		return nil, err
	}
	if o.Phase == PhaseClosed {
		return nil, refuse(CodeWrongState, "the session is closed")
	}
	var vis Visibility
	switch actor.Role {
	case RoleBidder:
		if o.Bidders[actor.Sub] == nil {
			return nil, refuse(CodeNotFound, "bidder %s is not registered", actor.Sub)
		}
		if m.To != ChatToHost {
			return nil, refuse(CodeForbidden, "a bidder writes to the host only")
		}
		vis = Staff(actor.Sub)
	case RoleHost:
		switch {
		case m.To == ChatToSupervisors:
			vis = Staff()
		case o.Bidders[m.To] != nil:
			vis = Staff(m.To)
		default:
			return nil, refuse(CodeInvalid, "to must be a bidder's id or supervisors; use an announcement to write to everyone")
		}
	case RoleSupervisor:
		if m.To != ChatToHost {
			return nil, refuse(CodeForbidden, "a supervisor writes to the host only")
		}
		vis = Staff()
	default:
		return nil, refuse(CodeForbidden, "%s may not chat in the opening", actor.Role)
	}
	data := ChatMessage{ID: fmt.Sprintf("msg-%d", o.Seq+1), From: actor.Sub, FromRole: actor.Role, To: m.To, Text: m.Text}
	return []Draft{{Type: EvChat, Vis: vis, Data: data}}, nil
}

func (o *Opening) noteViolation(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record violations", RoleSupervisor); err != nil {
		return nil, err
	}
	var n ViolationNote
	if err := decodeData(cmd.Data, &n); err != nil {
		return nil, err
	}
	if err := checkText("subject", n.Subject, 100); err != nil {
		return nil, err
	}
	if err := checkText("note", n.Text, maxTextRunes); err != nil {
		return nil, err
	}
	n.By, n.At = actor.Sub, time.Time{}
	return []Draft{{Type: EvViolationNoted, Vis: supervisorsOnly(), Data: n}}, nil
}

// failIfTooFew is the deadline's R7 check: the failed event, or nothing.
func (o *Opening) failIfTooFew(submitted int) []Draft {
	if submitted >= o.Session.MinBids() || o.Session.ProceedBelowMin {
		return nil
	}
	return []Draft{{Type: EvFailed, Vis: Public(), Data: Failure{Reason: FailureFewerThanMinBids, Submitted: submitted, Min: o.Session.MinBids()}}}
}

// applyFlow folds the later steps' events; ok is false for an event it
// does not know.
func (o *Opening) applyFlow(e Event) (ok bool, err error) {
	decode := func(v any) error { return json.Unmarshal(e.Data, v) }
	switch e.Type {
	case EvFailed:
		var f Failure
		err = decode(&f)
		o.Failure, o.Phase = &f, PhaseFailed
	case EvPaused:
		var p Pause
		err = decode(&p)
		p.At = e.Time
		o.Pause = &p
	case EvResumed:
		var r Resumed
		err = decode(&r)
		o.Pause = nil
		if !r.DecryptEndsAt.IsZero() {
			o.DecryptEndsAt = r.DecryptEndsAt
		}
		if !r.ConfirmEndsAt.IsZero() {
			o.ConfirmEndsAt = r.ConfirmEndsAt
		}
	case EvDecryptionExtended:
		var x Extension
		err = decode(&x)
		o.Extended, o.DecryptEndsAt = &x, x.EndsAt
	case EvClassified:
		var c Classification
		err = decode(&c)
		if p := o.Bidders[c.Bidder]; p != nil {
			p.Outcome, p.OutcomeReason = c.Outcome, c.Reason
		}
	case EvReadOut:
		var r ReadOut
		err = decode(&r)
		o.ReadOut, o.Phase = &r, PhaseReadingOut
	case EvPriceAlert:
		// Seen by supervisors as it happens; the flags are in the read-out.
	case EvConfirmationStarted:
		var w ConfirmationWindow
		err = decode(&w)
		o.Phase, o.ConfirmEndsAt = PhaseConfirming, w.EndsAt
	case EvConfirmed:
		var c Confirmation
		err = decode(&c)
		c.At = e.Time
		if p := o.Bidders[c.Bidder]; p != nil {
			p.Confirmation = &c
		}
	case EvObjection:
		var ob Objection
		err = decode(&ob)
		ob.At = e.Time
		o.Objections = append(o.Objections, ob)
		if o.objectionCount == nil {
			o.objectionCount = map[string]int{}
		}
		o.objectionCount[ob.Bidder]++
	case EvObjectionAnswered:
		var a ObjectionAnswer
		err = decode(&a)
		for i := range o.Objections {
			if o.Objections[i].ID == a.ID {
				o.Objections[i].Answer, o.Objections[i].AnsweredBy, o.Objections[i].AnsweredAt = a.Text, e.Actor.Sub, e.Time
			}
		}
	case EvConfirmationClosed:
		var c ConfirmationClosed
		err = decode(&c)
		o.ConfirmClosed = true
		for _, id := range c.Silent {
			if p := o.Bidders[id]; p != nil {
				p.Silent = true
			}
		}
	case EvBondsChecked:
		var b Bonds
		err = decode(&b)
		for _, s := range b.Bonds {
			if p := o.Bidders[s.Bidder]; p != nil {
				s := s
				p.Bond = &s
			}
		}
		o.BondsChecked = true
	case EvOpeningRecordSigned:
		var r OpeningRecord
		err = decode(&r)
		r.At = e.Time
		o.Record, o.Phase = &r, PhaseRecord
	case EvClosed:
		o.Phase = PhaseClosed
	case EvChat:
		var m ChatMessage
		err = decode(&m)
		m.At, m.vis = e.Time, e.Vis
		o.Chat = append(o.Chat, m)
		if n := len(o.Chat); n > maxChatKept {
			o.Chat = slices.Clone(o.Chat[n-maxChatKept:])
		}
	case EvViolationNoted:
		var n ViolationNote
		err = decode(&n)
		n.At = e.Time
		o.Notes = append(o.Notes, n)
		if k := len(o.Notes); k > maxNotesKept {
			o.Notes = slices.Clone(o.Notes[k-maxNotesKept:])
		}
	default:
		return false, nil
	}
	return true, err
}

// flowTimer is the later steps' next timer.
func (o *Opening) flowTimer() (at time.Time, cmdType string, ok bool) {
	if !o.OpenedAt.IsZero() && !o.BondsChecked && o.Phase != PhaseClosed {
		// Bonds are looked up once the deadline has passed (R6).
		return o.OpenedAt, CmdRecordBonds, true
	}
	if o.Phase == PhaseConfirming && !o.ConfirmClosed {
		return o.ConfirmEndsAt, CmdCloseConfirmation, true
	}
	return time.Time{}, "", false
}
