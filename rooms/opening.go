package rooms

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Phase is where an opening session stands.
type Phase string

// The opening's phases so far (RULES.md, "The opening, state by state").
const (
	PhaseNone             Phase = ""                  // no session created yet
	PhaseScheduled        Phase = "scheduled"         // created; bids may be submitted
	PhaseCheckIn          Phase = "check_in"          // hall open: participants sign in, countdown runs
	PhaseOpened           Phase = "opened"            // the deadline passed; the opening has begun
	PhaseDecrypting       Phase = "decrypting"        // the decryption window is open: bidders unlock their bids
	PhaseDecryptionClosed Phase = "decryption_closed" // the window has closed
)

// DefaultDecryptWindow is the decryption window when the session names none.
const DefaultDecryptWindow = 30 * time.Minute

// Categories of tender a session may have.
var Categories = []string{"construction", "procurement", "land", "mining", "state_property"}

// Command types of the opening room.
const (
	CmdCreateSession   = "create_session"
	CmdRegisterBidder  = "register_bidder"
	CmdOpenCheckIn     = "open_check_in"
	CmdSignIn          = "sign_in"
	CmdPresence        = "presence"
	CmdDeadline        = "deadline"
	CmdAnnounce        = "announce"
	CmdRecordMedia     = "record_media"
	CmdSubmitBid       = "submit_bid"
	CmdWithdrawBid     = "withdraw_bid"
	CmdStartDecryption = "start_decryption"
	CmdCloseDecryption = "close_decryption"
	CmdRecordUnlock    = "record_unlock"
	CmdKeySignIn       = "key_sign_in" // a bidder's sign-in, after the server checked their key signature
)

// Event types of the opening room.
const (
	EvSessionCreated    = "session_created"
	EvSessionTerms      = "session_terms" // the sealed terms, staff only (R12)
	EvBidderRegistered  = "bidder_registered"
	EvCheckInOpened     = "check_in_opened"
	EvSignedIn          = "signed_in"
	EvPresenceChanged   = "presence_changed"
	EvOpened            = "opened"
	EvBiddersRevealed   = "bidders_revealed"
	EvAnnouncement      = "announcement"
	EvMediaRecorded     = "media_recorded"
	EvBidSubmitted      = "bid_submitted"
	EvBidWithdrawn      = "bid_withdrawn"
	EvDecryptionStarted = "decryption_started"
	EvDecryptionClosed  = "decryption_closed"
	EvBidOpened         = "bid_opened"
	EvUnlockFailed      = "unlock_failed"
)

// SessionSpec is what a session is created with (from the tender data).
type SessionSpec struct {
	Title                string    `json:"title"`
	Center               string    `json:"center,omitempty"`  // the trading center that owns it (tenancy); "" = the main center
	Section              string    `json:"section,omitempty"` // tender section number (标段编号)
	Category             string    `json:"category"`
	Deadline             time.Time `json:"deadline"`                         // bid deadline = opening time
	CheckInAt            time.Time `json:"check_in_at"`                      // when sign-in opens
	ControlPrice         string    `json:"control_price,omitempty"`          // ceiling (最高限价), yuan, decimal
	DecryptWindowMinutes int       `json:"decrypt_window_minutes,omitempty"` // default 30

	MinimumBids          int            `json:"min_bids,omitempty"`               // fewer submitted → 流标 (R7); default 3
	ProceedBelowMin      bool           `json:"proceed_below_min,omitempty"`      // a re-tender proceeds with fewer (R7)
	BackupAllowed        bool           `json:"backup_allowed,omitempty"`         // a failed unlock may use the backup file (R10)
	ReadOutFields        []ReadOutField `json:"read_out_fields,omitempty"`        // columns read out (R11); default price
	ConfirmWindowMinutes int            `json:"confirm_window_minutes,omitempty"` // default 5 (R15)
	SealedTerms                         // flat in JSON; never in a public event
}

// SealedTerms are the parts of a session spec only staff (host,
// supervisors, admins) see until the read-out publishes them (R12, 招标投标法
// 第22条): the 标底 and the budget with its deviation flag. They travel in
// the staff-only session_terms event, never in session_created, and every
// projection for anyone else leaves them out; the read_out event carries
// them to everyone.
type SealedTerms struct {
	ReservePrice       string `json:"reserve_price,omitempty"`        // 标底, revealed at the read-out (R12)
	Budget             string `json:"budget,omitempty"`               // 预算, for the deviation flag
	BudgetDeviationPct int    `json:"budget_deviation_pct,omitempty"` // flag prices further off the budget; default 20
}

// PublicSpec is the spec as everyone may see it: without the sealed terms.
func (s SessionSpec) PublicSpec() SessionSpec {
	s.SealedTerms = SealedTerms{}
	return s
}

// DecryptWindow is the length of the session's decryption window.
func (s SessionSpec) DecryptWindow() time.Duration {
	if s.DecryptWindowMinutes > 0 {
		return time.Duration(s.DecryptWindowMinutes) * time.Minute
	}
	return DefaultDecryptWindow
}

// DecryptionWindow is the data of decryption_started.
type DecryptionWindow struct {
	EndsAt time.Time `json:"ends_at"`
}

// Unlock is the outcome of one unlock attempt: the data of bid_opened (OK)
// or unlock_failed. Code says why an attempt failed: wrong_key,
// corrupted, signature, server_error.
type Unlock struct {
	Bidder         string            `json:"bidder"`
	OK             bool              `json:"ok"`
	Sheet          map[string]string `json:"sheet,omitempty"`            // the opening sheet, exactly as sealed
	PlaintextSHA   string            `json:"plaintext_digest,omitempty"` // SM3 of the decrypted bid file, hex
	PlaintextBytes int64             `json:"plaintext_size,omitempty"`
	Backup         bool              `json:"backup,omitempty"`   // unlocked from the backup file (R10)
	Reported       bool              `json:"reported,omitempty"` // a failure in the bidder's client, reported by it (the server saw no exchange)
	Code           string            `json:"code,omitempty"`
	Message        string            `json:"message,omitempty"`
}

// BidderSpec is a bidder registration.
type BidderSpec struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PublicKey string `json:"public_key,omitempty"` // SM2 public key or certificate, PEM
}

// SignIn is the data of a signed_in event.
type SignIn struct {
	Sub    string `json:"sub"`
	Role   Role   `json:"role"`
	Method string `json:"method,omitempty"` // "sm2": a bidder signed the server's challenge with their key; "token" otherwise
	KeyID  string `json:"key_id,omitempty"` // the key that signed, SM3 of its public key, hex
}

// Sign-in methods.
const (
	SignInToken = "token" // the room token alone (staff; bidders registered without a key)
	SignInSM2   = "sm2"   // a challenge signed with the bidder's registered SM2 key
)

// Presence is the data of a presence command and event.
type Presence struct {
	Sub    string `json:"sub"`
	Role   Role   `json:"role"`
	Online bool   `json:"online"`
}

// Opened is the data of the opened event: the counts announced at the
// deadline.
type Opened struct {
	Registered int `json:"registered"`
	SignedIn   int `json:"signed_in"`
	Submitted  int `json:"submitted"`
}

// Bid is a sealed bid the server holds for a bidder: the data of a
// bid_submitted event. The transport checks the file (format, signature,
// session and bidder bound into its header) before submitting it.
type Bid struct {
	Bidder       string    `json:"bidder"`
	Digest       string    `json:"digest"`                  // SM3 of the sealed file, hex
	Size         int64     `json:"size"`                    // bytes of the sealed file
	HeaderDigest string    `json:"header_digest"`           // SM3 of the file's header, hex
	Version      int       `json:"version"`                 // 1 for the first submission, +1 per replacement
	BackupDigest string    `json:"backup_digest,omitempty"` // SM3 of the backup file committed with the bid (R10)
	ReceivedAt   time.Time `json:"received_at,omitzero"`
}

// Revealed is the data of the bidders_revealed event: every registered
// bidder's name, made public once the deadline has passed (R6).
type Revealed struct {
	Bidders []BidderName `json:"bidders"`
}

// BidderName pairs a bidder id with its name and whether the bidder
// submitted a bid by the deadline.
type BidderName struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Submitted bool   `json:"submitted"`
}

// Announcement is the data of an announcement event. Time is the event's
// time, filled in by the fold, not by the host.
type Announcement struct {
	Text string    `json:"text"`
	Time time.Time `json:"time,omitzero"`
}

// Participant is a bidder or staff member as the room knows them.
type Participant struct {
	Sub       string    `json:"sub"`
	Role      Role      `json:"role"`
	Name      string    `json:"name,omitempty"`
	SignedIn  bool      `json:"signed_in"`
	SignedAt  time.Time `json:"signed_at,omitzero"`
	Online    bool      `json:"online"`
	PublicKey string    `json:"-"`
	HasKey    bool      `json:"has_key,omitempty"`      // bidders: registered with a key, so they sign in with it
	Bid       *Bid      `json:"bid,omitempty"`          // bidders: the sealed bid held, nil if none (or withdrawn)
	Opened    *Unlock   `json:"opened,omitempty"`       // bidders: the successful unlock, once it happened
	Attempts  int       `json:"attempts,omitempty"`     // bidders: unlock attempts so far
	LastFail  *Unlock   `json:"last_failure,omitempty"` // bidders: the latest failed attempt (its code is evidence)
	Submitted *bool     `json:"submitted,omitempty"`    // bidders: whether a bid was held at the deadline (set from then on)

	AttemptLog    []Attempt     `json:"attempt_log,omitempty"`    // bidders: the latest unlock attempts, the record's evidence
	Outcome       string        `json:"outcome,omitempty"`        // bidders not unlocked: revoked (撤销) or withdrawn (撤回)
	OutcomeReason string        `json:"outcome_reason,omitempty"` // the host's stated reason
	Suggested     string        `json:"suggested_outcome,omitempty"`
	Confirmation  *Confirmation `json:"confirmation,omitempty"`
	Silent        bool          `json:"silent,omitempty"` // neither confirmed nor objected in the window (R15)
	Bond          *BondStatus   `json:"bond,omitempty"`
}

// Opening is the state of an opening room: the fold of its events.
type Opening struct {
	Room          string
	Seq           uint64
	Hash          string
	Session       SessionSpec
	Phase         Phase
	OpenedAt      time.Time
	Bidders       map[string]*Participant // by bidder id
	BidderOrder   []string                // registration order
	Staff         map[string]*Participant // hosts, supervisors, admins who signed in
	Revealed      bool
	DecryptEndsAt time.Time
	Announcements []Announcement
	Recordings    []Recording
	Evaluations   []string       // the evaluations made of this opening, in order (linked by the server)
	bidVersions   map[string]int // last bid version per bidder, withdrawn ones included
	flow
}

// KindOpening is the opening room kind (开标).
const KindOpening = "opening"

// Kind is "opening".
func (o *Opening) Kind() string { return KindOpening }

// Head is the seq and hash of the last event folded.
func (o *Opening) Head() (uint64, string) { return o.Seq, o.Hash }

// Created reports whether the session was created.
func (o *Opening) Created() bool { return o.Phase != PhaseNone }

// Summary is the session's row in the admin's list.
func (o *Opening) Summary() Summary {
	return Summary{Kind: KindOpening, Title: o.Session.Title, Category: o.Session.Category, Phase: string(o.Phase), Deadline: o.Session.Deadline, Center: o.Session.Center}
}

// View is viewer's projection (an OpeningView).
func (o *Opening) View(viewer Actor) any { return o.Project(viewer) }

// NewOpening returns the empty state of a room.
func NewOpening(room string) *Opening {
	return &Opening{Room: room, Bidders: map[string]*Participant{}, Staff: map[string]*Participant{}, bidVersions: map[string]int{}}
}

// maxAnnouncementsKept bounds the announcements a snapshot carries.
const maxAnnouncementsKept = 50

// Apply folds one event into the state. Events must come in sequence.
func (o *Opening) Apply(e Event) error {
	return applyNext(&o.Seq, &o.Hash, e, o.apply)
}

func (o *Opening) apply(e Event) error {
	switch e.Type {
	case EvSessionCreated:
		// Logs written before session_terms existed carry the terms here.
		if err := json.Unmarshal(e.Data, &o.Session); err != nil {
			return err
		}
		o.Phase = PhaseScheduled
	case EvSessionTerms:
		if err := json.Unmarshal(e.Data, &o.Session.SealedTerms); err != nil {
			return err
		}
	case EvBidderRegistered:
		var b BidderSpec
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return err
		}
		o.Bidders[b.ID] = &Participant{Sub: b.ID, Role: RoleBidder, Name: b.Name, PublicKey: b.PublicKey, HasKey: b.PublicKey != ""}
		o.BidderOrder = append(o.BidderOrder, b.ID)
	case EvCheckInOpened:
		o.Phase = PhaseCheckIn
	case EvSignedIn:
		var s SignIn
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		p := o.participant(s.Sub, s.Role, true)
		p.SignedIn, p.SignedAt, p.Online = true, e.Time, true
	case EvPresenceChanged:
		var p Presence
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return err
		}
		if q := o.participant(p.Sub, p.Role, false); q != nil {
			q.Online = p.Online
		}
	case EvOpened:
		o.Phase, o.OpenedAt = PhaseOpened, e.Time
	case EvBiddersRevealed:
		var r Revealed
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return err
		}
		for _, n := range r.Bidders {
			if p := o.Bidders[n.ID]; p != nil {
				submitted := n.Submitted
				p.Submitted = &submitted
			}
		}
		o.Revealed = true
	case EvBidSubmitted:
		var b Bid
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return err
		}
		if p := o.Bidders[b.Bidder]; p != nil {
			b.ReceivedAt = e.Time
			p.Bid = &b
			o.bidVersions[b.Bidder] = b.Version
		}
	case EvBidWithdrawn:
		var b Bid
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return err
		}
		if p := o.Bidders[b.Bidder]; p != nil {
			p.Bid = nil
		}
	case EvDecryptionStarted:
		var w DecryptionWindow
		if err := json.Unmarshal(e.Data, &w); err != nil {
			return err
		}
		o.Phase, o.DecryptEndsAt = PhaseDecrypting, w.EndsAt
	case EvDecryptionClosed:
		o.Phase, o.DecryptClosed = PhaseDecryptionClosed, e.Time
	case EvBidOpened, EvUnlockFailed:
		var u Unlock
		if err := json.Unmarshal(e.Data, &u); err != nil {
			return err
		}
		if p := o.Bidders[u.Bidder]; p != nil {
			p.Attempts++
			p.AttemptLog = append(p.AttemptLog, Attempt{At: e.Time, OK: u.OK, Code: u.Code, Message: u.Message, Backup: u.Backup, Reported: u.Reported})
			if n := len(p.AttemptLog); n > maxAttemptsKept {
				p.AttemptLog = slices.Clone(p.AttemptLog[n-maxAttemptsKept:])
			}
			if u.OK {
				p.Opened = &u
			} else {
				p.LastFail = &u
			}
		}
	case EvMediaRecorded:
		var r Recording
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return err
		}
		o.Recordings = append(o.Recordings, r)
	case EvAnnouncement:
		var a Announcement
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return err
		}
		a.Time = e.Time
		o.Announcements = append(o.Announcements, a)
		if n := len(o.Announcements); n > maxAnnouncementsKept {
			o.Announcements = slices.Clone(o.Announcements[n-maxAnnouncementsKept:])
		}
	case EvEvaluationLinked:
		return o.applyEvaluationLink(e)
	default:
		if ok, err := o.applyFlow(e); !ok {
			return fmt.Errorf("unknown event type %q", e.Type)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// participant finds (or, with create, adds) the record of sub in role.
func (o *Opening) participant(sub string, role Role, create bool) *Participant {
	if role == RoleBidder {
		return o.Bidders[sub]
	}
	p := o.Staff[sub]
	if p == nil && create {
		p = &Participant{Sub: sub, Role: role}
		o.Staff[sub] = p
	}
	return p
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidID reports whether s is usable as a room, bidder or subject id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

func checkText(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return refuse(CodeInvalid, "%s is required", field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return refuse(CodeInvalid, "%s must be valid text of at most %d characters", field, max)
	}
	return nil
}

var pricePattern = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,4})?$`)

// Decide validates cmd from actor against the state at time now and
// returns the events it yields, or a *Refusal. It never changes the state.
// No events and no error means the command changes nothing (e.g. a repeated
// sign-in) and is acknowledged as such.
func (o *Opening) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := o.checkNotPaused(cmd.Type); err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdCreateSession:
		return o.createSession(actor, cmd, now)
	}
	if o.Phase == PhaseNone {
		return nil, refuse(CodeNotFound, "session %s does not exist", o.Room)
	}
	if err := o.Admits(actor); err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdRegisterBidder:
		return o.registerBidder(actor, cmd)
	case CmdOpenCheckIn:
		return o.openCheckIn(actor, now)
	case CmdSignIn:
		return o.signIn(actor, SignIn{Method: SignInToken})
	case CmdKeySignIn:
		return o.keySignIn(actor, cmd)
	case CmdPresence:
		return o.presence(actor, cmd)
	case CmdDeadline:
		return o.deadline(actor, now)
	case CmdRecordMedia:
		return o.recordMedia(actor, cmd)
	case CmdAnnounce:
		return o.announce(actor, cmd)
	case CmdSubmitBid:
		return o.submitBid(actor, cmd, now)
	case CmdWithdrawBid:
		return o.withdrawBid(actor, now)
	case CmdStartDecryption:
		return o.startDecryption(actor, now)
	case CmdCloseDecryption:
		return o.closeDecryption(actor, now)
	case CmdRecordUnlock:
		return o.recordUnlock(actor, cmd, now)
	case CmdLinkEvaluation:
		return o.linkEvaluation(actor, cmd)
	}
	if drafts, ok, err := o.decideFlow(actor, cmd, now); ok {
		return drafts, err
	}
	return nil, refuse(CodeUnknownCommand, "unknown command %q", cmd.Type)
}

// Admits reports whether viewer may see or act in the room at all: a bidder
// must be registered in it. A token minted for any other sub gets a refusal
// that names nobody else, not an outsider's view.
func (o *Opening) Admits(viewer Actor) error {
	if viewer.Role == RoleExpert {
		// Evaluation experts are not at the opening (R21): their room is
		// the evaluation made of it.
		return refuse(CodeForbidden, "evaluation experts do not attend the opening (R21); enter the evaluation room with its own link")
	}
	if viewer.Role == RoleBidder && o.Bidders[viewer.Sub] == nil {
		return refuse(CodeForbidden, "%s is not a registered bidder of session %s; ask the agent to register you", viewer.Sub, o.Room)
	}
	return nil
}

func requireRole(actor Actor, what string, roles ...Role) error {
	if slices.Contains(roles, actor.Role) {
		return nil
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return refuse(CodeForbidden, "%s may not %s (only %s)", actor.Role, what, strings.Join(names, ", "))
}

func (o *Opening) createSession(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "create a session", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if o.Phase != PhaseNone {
		return nil, refuse(CodeWrongState, "session %s already exists", o.Room)
	}
	var s SessionSpec
	if err := decodeData(cmd.Data, &s); err != nil {
		return nil, err
	}
	if err := checkText("title", s.Title, 200); err != nil {
		return nil, err
	}
	if err := checkCenter(s.Center); err != nil {
		return nil, err
	}
	if len(s.Section) > 64 {
		return nil, refuse(CodeInvalid, "section must be at most 64 characters")
	}
	if !slices.Contains(Categories, s.Category) {
		return nil, refuse(CodeInvalid, "category must be one of %s, got %q", strings.Join(Categories, ", "), s.Category)
	}
	if s.Deadline.IsZero() || !s.Deadline.After(now) {
		return nil, refuse(CodeInvalid, "deadline must be in the future (server time %s)", now.Format(time.RFC3339))
	}
	if s.CheckInAt.IsZero() || s.CheckInAt.After(s.Deadline) {
		return nil, refuse(CodeInvalid, "check_in_at must be set and not after the deadline")
	}
	if s.ControlPrice != "" && !pricePattern.MatchString(s.ControlPrice) {
		return nil, refuse(CodeInvalid, "control_price must be a decimal amount in yuan, got %q", s.ControlPrice)
	}
	if err := checkFlowSpec(&s); err != nil {
		return nil, err
	}
	s.Deadline, s.CheckInAt = s.Deadline.UTC(), s.CheckInAt.UTC()
	drafts := []Draft{{Type: EvSessionCreated, Vis: Public(), Data: s.PublicSpec()}}
	if s.SealedTerms != (SealedTerms{}) {
		drafts = append(drafts, Draft{Type: EvSessionTerms, Vis: Staff(), Data: s.SealedTerms})
	}
	return drafts, nil
}

func (o *Opening) registerBidder(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "register bidders", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if o.Phase != PhaseScheduled && o.Phase != PhaseCheckIn {
		return nil, refuse(CodeWrongState, "bidders can only be registered before the deadline")
	}
	var b BidderSpec
	if err := decodeData(cmd.Data, &b); err != nil {
		return nil, err
	}
	if !ValidID(b.ID) {
		return nil, refuse(CodeInvalid, "bidder id must be 1-64 letters, digits, '.', '_' or '-', got %q", b.ID)
	}
	if err := checkText("name", b.Name, 200); err != nil {
		return nil, err
	}
	if len(b.PublicKey) > 8<<10 {
		return nil, refuse(CodeInvalid, "public_key must be at most 8 KiB of PEM")
	}
	if _, dup := o.Bidders[b.ID]; dup {
		return nil, refuse(CodeInvalid, "bidder %s is already registered", b.ID)
	}
	return []Draft{{Type: EvBidderRegistered, Vis: Staff(b.ID), Data: b}}, nil
}

func (o *Opening) openCheckIn(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "open sign-in", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if o.Phase != PhaseScheduled {
		return nil, refuse(CodeWrongState, "sign-in is already open")
	}
	if now.Before(o.Session.CheckInAt) {
		return nil, refuse(CodeTooEarly, "sign-in opens at %s", o.Session.CheckInAt.Format(time.RFC3339))
	}
	return []Draft{{Type: EvCheckInOpened, Vis: Public(), Data: struct{}{}}}, nil
}

func (o *Opening) signIn(actor Actor, how SignIn) ([]Draft, error) {
	if err := requireRole(actor, "sign in", RoleBidder, RoleHost, RoleSupervisor); err != nil {
		return nil, err
	}
	if b := o.Bidders[actor.Sub]; actor.Role == RoleBidder && b != nil && b.PublicKey != "" && how.Method != SignInSM2 {
		return nil, refuse(CodeForbidden, "a bidder signs in by proving their key: use the sign-in page or `bidtool signin`")
	}
	if o.Phase != PhaseCheckIn && o.Phase != PhaseOpened {
		return nil, refuse(CodeWrongState, "sign-in opens at %s", o.Session.CheckInAt.Format(time.RFC3339))
	}
	if actor.Role == RoleBidder && o.Bidders[actor.Sub] == nil {
		return nil, refuse(CodeNotFound, "bidder %s is not registered for this session", actor.Sub)
	}
	if p := o.participant(actor.Sub, actor.Role, false); p != nil && p.SignedIn {
		return nil, nil
	}
	how.Sub, how.Role = actor.Sub, actor.Role
	return []Draft{{Type: EvSignedIn, Vis: Staff(actor.Sub), Data: how}}, nil
}

// keySignIn signs a bidder in after the transport verified their signature
// over a fresh challenge with the key registered for them.
func (o *Opening) keySignIn(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "sign in with a key", RoleBidder); err != nil {
		return nil, err
	}
	var in SignIn
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if !hexDigest.MatchString(in.KeyID) {
		return nil, refuse(CodeInvalid, "a key sign-in needs the signing key's id")
	}
	if b := o.Bidders[actor.Sub]; b != nil && b.PublicKey == "" {
		return nil, refuse(CodeWrongState, "bidder %s has no registered key to sign in with", actor.Sub)
	}
	return o.signIn(actor, SignIn{Method: SignInSM2, KeyID: in.KeyID})
}

func (o *Opening) presence(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "report presence", RoleSystem); err != nil {
		return nil, err
	}
	var p Presence
	if err := decodeData(cmd.Data, &p); err != nil {
		return nil, err
	}
	q := o.participant(p.Sub, p.Role, false)
	if q == nil || !q.SignedIn || q.Online == p.Online {
		return nil, nil
	}
	return []Draft{{Type: EvPresenceChanged, Vis: Staff(p.Sub), Data: p}}, nil
}

func (o *Opening) deadline(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "open the bids", RoleSystem); err != nil {
		return nil, err
	}
	if o.Phase != PhaseScheduled && o.Phase != PhaseCheckIn {
		return nil, refuse(CodeWrongState, "the session is already open")
	}
	if now.Before(o.Session.Deadline) {
		return nil, refuse(CodeTooEarly, "the opening cannot be brought forward: it starts at %s", o.Session.Deadline.Format(time.RFC3339))
	}
	opened := Opened{Registered: len(o.Bidders)}
	names := make([]BidderName, 0, len(o.BidderOrder))
	for _, id := range o.BidderOrder {
		b := o.Bidders[id]
		if b.SignedIn {
			opened.SignedIn++
		}
		if b.Bid != nil {
			opened.Submitted++
		}
		names = append(names, BidderName{ID: id, Name: b.Name, Submitted: b.Bid != nil})
	}
	return append([]Draft{
		{Type: EvOpened, Vis: Public(), Data: opened},
		{Type: EvBiddersRevealed, Vis: Public(), Data: Revealed{Bidders: names}},
	}, o.failIfTooFew(opened.Submitted)...), nil
}

func (o *Opening) announce(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "make announcements", RoleHost); err != nil {
		return nil, err
	}
	var a Announcement
	if err := decodeData(cmd.Data, &a); err != nil {
		return nil, err
	}
	if err := checkText("text", a.Text, 2000); err != nil {
		return nil, err
	}
	a.Time = time.Time{}
	return []Draft{{Type: EvAnnouncement, Vis: Public(), Data: a}}, nil
}

// bidVisibility: a bidder's own bid events are seen by that bidder and by
// supervisors and admins — not by the host (the tendering side) and not by
// other bidders, so nobody learns who submitted before the deadline (R2, R6).
func bidVisibility(bidder string) Visibility {
	return Visibility{Roles: []Role{RoleSupervisor, RoleAdmin}, Subjects: []string{bidder}}
}

// BiddingOpen reports whether bids may be submitted at now: before the
// deadline on the server's clock and before the opening (R1).
func (o *Opening) BiddingOpen(now time.Time) error {
	if o.Phase != PhaseScheduled && o.Phase != PhaseCheckIn || !now.Before(o.Session.Deadline) {
		return refuse(CodeWrongState, "the bid deadline passed at %s; no bid can be submitted, replaced or withdrawn", o.Session.Deadline.Format(time.RFC3339))
	}
	return nil
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (o *Opening) submitBid(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "submit bids", RoleBidder); err != nil {
		return nil, err
	}
	if err := o.BiddingOpen(now); err != nil {
		return nil, err
	}
	if o.Bidders[actor.Sub] == nil {
		return nil, refuse(CodeNotFound, "bidder %s is not registered for this session", actor.Sub)
	}
	var b Bid
	if err := decodeData(cmd.Data, &b); err != nil {
		return nil, err
	}
	if b.Bidder != actor.Sub {
		return nil, refuse(CodeForbidden, "a bidder may only submit their own bid")
	}
	if !hexDigest.MatchString(b.Digest) || !hexDigest.MatchString(b.HeaderDigest) || b.Size <= 0 {
		return nil, refuse(CodeInvalid, "a bid needs its SM3 digest, header digest and size")
	}
	if b.BackupDigest != "" && !hexDigest.MatchString(b.BackupDigest) {
		return nil, refuse(CodeInvalid, "backup_digest must be the backup file's SM3, hex")
	}
	if b.BackupDigest == b.Digest && b.Digest != "" {
		return nil, refuse(CodeInvalid, "the backup must be a separately sealed copy (bidtool seal --backup), not the same file")
	}
	b.Version = o.bidVersions[actor.Sub] + 1
	b.ReceivedAt = time.Time{}
	return []Draft{{Type: EvBidSubmitted, Vis: bidVisibility(actor.Sub), Data: b}}, nil
}

func (o *Opening) withdrawBid(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "withdraw bids", RoleBidder); err != nil {
		return nil, err
	}
	if err := o.BiddingOpen(now); err != nil {
		return nil, err
	}
	p := o.Bidders[actor.Sub]
	if p == nil || p.Bid == nil {
		return nil, refuse(CodeNotFound, "there is no bid to withdraw")
	}
	return []Draft{{Type: EvBidWithdrawn, Vis: bidVisibility(actor.Sub), Data: Bid{Bidder: actor.Sub, Digest: p.Bid.Digest, Version: p.Bid.Version}}}, nil
}

// unlockVisibility: an unlock's outcome is seen by the staff and by the
// bidder concerned (the sheet is read out to everyone later).
func unlockVisibility(bidder string) Visibility { return Staff(bidder) }

func (o *Opening) startDecryption(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "start the decryption", RoleHost); err != nil {
		return nil, err
	}
	if o.Phase != PhaseOpened {
		return nil, refuse(CodeWrongState, "the decryption can start only after the opening, once")
	}
	return []Draft{{Type: EvDecryptionStarted, Vis: Public(), Data: DecryptionWindow{EndsAt: now.Add(o.Session.DecryptWindow()).UTC()}}}, nil
}

func (o *Opening) closeDecryption(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "close the decryption", RoleSystem, RoleHost); err != nil {
		return nil, err
	}
	if o.Phase != PhaseDecrypting {
		return nil, refuse(CodeWrongState, "the decryption window is not open")
	}
	if now.Before(o.DecryptEndsAt) && (actor.Role != RoleHost || !o.allUnlocked()) {
		return nil, refuse(CodeTooEarly, "the decryption window ends at %s; the host may close it early only once every bid is unlocked", o.DecryptEndsAt.Format(time.RFC3339))
	}
	return []Draft{{Type: EvDecryptionClosed, Vis: Public(), Data: struct{}{}}}, nil
}

// allUnlocked reports whether every bid held at the deadline is unlocked.
func (o *Opening) allUnlocked() bool {
	for _, p := range o.submittedBidders() {
		if p.Opened == nil {
			return false
		}
	}
	return true
}

// UnlockOpen reports whether bidder may unlock now: inside the window,
// with a bid held that is not opened yet.
func (o *Opening) UnlockOpen(bidder string, now time.Time) error {
	if o.Phase != PhaseDecrypting || !now.Before(o.DecryptEndsAt) {
		return refuse(CodeWrongState, "bids can be unlocked only while the decryption window is open")
	}
	if err := o.checkNotPaused(CmdRecordUnlock); err != nil {
		return err
	}
	p := o.Bidders[bidder]
	if p == nil || p.Bid == nil {
		return refuse(CodeNotFound, "bidder %s has no bid in this session", bidder)
	}
	if p.Opened != nil {
		return refuse(CodeWrongState, "the bid of %s is already opened", bidder)
	}
	return nil
}

// MaxUnlockAttempts bounds the attempts recorded per bid: retries are
// allowed (R8), an endless stream of them is not.
const MaxUnlockAttempts = 100

// ClientUnlockCodes are the failures a bidder's client may report: ones the
// server cannot see because they happen before anything is sent.
var ClientUnlockCodes = map[string]bool{"wrong_key": true, "bad_key": true, "wrong_password": true, "timeout": true, "client_error": true}

// BackupOpen reports whether bidder may unlock from the backup file now:
// the session allows it (R10), a backup digest was committed with the bid
// before the deadline, and an unlock of the bid itself has failed.
func (o *Opening) BackupOpen(bidder string) error {
	p := o.Bidders[bidder]
	switch {
	case !o.Session.BackupAllowed:
		return refuse(CodeForbidden, "this session does not accept backup files")
	case p == nil || p.Bid == nil:
		return refuse(CodeNotFound, "bidder %s has no bid in this session", bidder)
	case p.Bid.BackupDigest == "":
		return refuse(CodeWrongState, "no backup file digest was committed with the bid before the deadline")
	case p.LastFail == nil:
		return refuse(CodeWrongState, "the backup file is for a bid whose unlock failed; unlock the bid first")
	}
	return nil
}

// recordUnlock records an unlock attempt the transport carried out. The
// actor is the bidder (only they can unlock their bid); a success is
// recorded once, so a bid is opened exactly once whatever the retries.
func (o *Opening) recordUnlock(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "unlock bids", RoleBidder); err != nil {
		return nil, err
	}
	var u Unlock
	if err := decodeData(cmd.Data, &u); err != nil {
		return nil, err
	}
	if u.Bidder != actor.Sub {
		return nil, refuse(CodeForbidden, "a bidder may only unlock their own bid")
	}
	if err := o.UnlockOpen(actor.Sub, now); err != nil {
		return nil, err
	}
	if o.Bidders[actor.Sub].Attempts >= MaxUnlockAttempts {
		return nil, refuse(CodeInvalid, "%d unlock attempts are recorded for this bid; ask the host for help", MaxUnlockAttempts)
	}
	if u.Reported && (u.OK || !ClientUnlockCodes[u.Code]) {
		return nil, refuse(CodeInvalid, "a client reports only its own failures (wrong_key, bad_key, wrong_password, timeout, client_error)")
	}
	if u.Backup {
		if err := o.BackupOpen(actor.Sub); err != nil {
			return nil, err
		}
	}
	typ := EvUnlockFailed
	if u.OK {
		typ = EvBidOpened
		if len(u.Sheet) == 0 || !hexDigest.MatchString(u.PlaintextSHA) {
			return nil, refuse(CodeInvalid, "an opened bid needs its sheet and plaintext digest")
		}
	} else if u.Code == "" {
		return nil, refuse(CodeInvalid, "a failed attempt needs an error code")
	}
	return []Draft{{Type: typ, Vis: unlockVisibility(actor.Sub), Data: u}}, nil
}

// NextTimer returns the next time-driven command the room is waiting for.
func (o *Opening) NextTimer() (at time.Time, cmdType string, ok bool) {
	if o.Pause != nil {
		return time.Time{}, "", false // countdowns are frozen (R16)
	}
	if at, cmdType, ok := o.flowTimer(); ok {
		return at, cmdType, true
	}
	switch o.Phase {
	case PhaseScheduled:
		return o.Session.CheckInAt, CmdOpenCheckIn, true
	case PhaseCheckIn:
		return o.Session.Deadline, CmdDeadline, true
	case PhaseDecrypting:
		return o.DecryptEndsAt, CmdCloseDecryption, true
	}
	return time.Time{}, "", false
}

// recordMedia files a finished recording; only the server does this.
func (o *Opening) recordMedia(actor Actor, cmd Command) ([]Draft, error) {
	r, err := decideRecording(actor, cmd)
	if err != nil {
		return nil, err
	}
	return []Draft{{Type: EvMediaRecorded, Vis: Staff(), Data: r}}, nil
}
