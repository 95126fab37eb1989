package record

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// Format names the version of the record's layout; it is the first field
// of every record, so a verifier knows which rules built it.
const Format = "bidroom-opening-record/1"

// Record is the opening record (开标记录表). Its canonical encoding — the
// exact bytes the platform signs and whose SM3 goes into the log — is
// json.Marshal(rec): fields in the order declared here, maps with sorted
// keys, times in UTC RFC 3339, no indentation. Nothing in it is computed
// from anything but the room's log up to LogHead.
type Record struct {
	Format        string         `json:"format"`
	Session       string         `json:"session"` // the room id
	Tender        Tender         `json:"tender"`
	Phases        []PhaseChange  `json:"phases"`
	Counts        *rooms.Opened  `json:"counts,omitempty"` // announced at the deadline
	Failure       *Failure       `json:"failure,omitempty"`
	Bidders       []Bidder       `json:"bidders"`
	Staff         []StaffSignIn  `json:"staff"`
	BondsChecked  time.Time      `json:"bonds_checked_at,omitzero"`
	Decryption    *Decryption    `json:"decryption,omitempty"`
	Pauses        []Pause        `json:"pauses"`
	ReadOut       *ReadOut       `json:"read_out,omitempty"`
	Confirmation  *Confirmation  `json:"confirmation,omitempty"`
	Objections    []Objection    `json:"objections"`
	Recordings    []Recording    `json:"recordings"`
	Announcements []Announcement `json:"announcements"`
	LogHead       LogHead        `json:"log_head"`
}

// Tender is the session as created from the tender data.
type Tender struct {
	Title                string               `json:"title"`
	Section              string               `json:"section,omitempty"`
	Category             string               `json:"category"`
	Deadline             time.Time            `json:"deadline"`
	ControlPrice         string               `json:"control_price,omitempty"` // 最高限价
	Reserve              string               `json:"reserve_price,omitempty"` // 标底
	Budget               string               `json:"budget,omitempty"`
	DeviationPct         int                  `json:"budget_deviation_pct,omitempty"`
	MinBids              int                  `json:"min_bids"`
	ProceedBelowMin      bool                 `json:"proceed_below_min,omitempty"`
	BackupAllowed        bool                 `json:"backup_allowed,omitempty"`
	DecryptWindowMinutes int                  `json:"decrypt_window_minutes"`
	ConfirmWindowMinutes int                  `json:"confirm_window_minutes"`
	ReadOutFields        []rooms.ReadOutField `json:"read_out_fields"`
	CreatedAt            time.Time            `json:"created_at"`
}

// PhaseChange is when the opening entered a phase, and by which event.
type PhaseChange struct {
	Phase rooms.Phase `json:"phase"`
	At    time.Time   `json:"at"`
	Seq   uint64      `json:"seq"`
	By    string      `json:"by"` // role:sub of the event's actor
}

// Failure is 流标: why the opening stopped at the deadline (R7).
type Failure struct {
	Reason    string    `json:"reason"` // rooms.FailureFewerThanMinBids
	Text      string    `json:"text"`   // the reason as a person reads it (zh-CN)
	Submitted int       `json:"submitted"`
	Min       int       `json:"min"`
	At        time.Time `json:"at"`
}

// Bidder is one registered bidder and what became of their bid.
type Bidder struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	KeyID     string            `json:"key_id,omitempty"` // the registered SM2 key, SM3 of its SPKI, hex
	Submitted bool              `json:"submitted"`        // a bid was held at the deadline
	Bid       *Bid              `json:"bid,omitempty"`
	Bond      *rooms.BondStatus `json:"bond,omitempty"`
	SignIn    *SignIn           `json:"sign_in,omitempty"`
	Attempts  []rooms.Attempt   `json:"attempts"` // every unlock attempt, in order
	// Outcome: opened, revoked (撤销), withdrawn (撤回); "" without a bid.
	Outcome         string    `json:"outcome,omitempty"`
	OpenedAt        time.Time `json:"opened_at,omitzero"`
	Backup          bool      `json:"backup,omitempty"`           // opened from the backup file (R10)
	PlaintextDigest string    `json:"plaintext_digest,omitempty"` // SM3 of the opened bid file
	Reason          string    `json:"reason,omitempty"`           // the host's reason for 撤销/撤回
	DecidedBy       string    `json:"decided_by,omitempty"`
	DecidedAt       time.Time `json:"decided_at,omitzero"`
}

// Bid is the sealed bid held at the deadline.
type Bid struct {
	Digest       string    `json:"digest"`
	Size         int64     `json:"size"`
	Version      int       `json:"version"`
	BackupDigest string    `json:"backup_digest,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
}

// SignIn is how and when a participant signed in.
type SignIn struct {
	At     time.Time `json:"at"`
	Method string    `json:"method"`           // sm2 or token
	KeyID  string    `json:"key_id,omitempty"` // sm2: the key that signed the challenge
}

// StaffSignIn is a host, supervisor or admin who signed in.
type StaffSignIn struct {
	Sub  string     `json:"sub"`
	Role rooms.Role `json:"role"`
	At   time.Time  `json:"at"`
}

// Decryption is the decryption window (R8) and its one extension.
type Decryption struct {
	StartedAt time.Time  `json:"started_at"`
	EndsAt    time.Time  `json:"ends_at"` // as first set; pauses and the extension move it
	Extension *Extension `json:"extension,omitempty"`
	ClosedAt  time.Time  `json:"closed_at,omitzero"`
}

// Extension is the host's one lengthening of the window.
type Extension struct {
	Minutes int       `json:"minutes"`
	Reason  string    `json:"reason"`
	EndsAt  time.Time `json:"ends_at"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
}

// Pause is one pause or suspension (中止) and its resumption (R16).
type Pause struct {
	Kind      string      `json:"kind"` // paused or suspended
	Reason    string      `json:"reason"`
	Phase     rooms.Phase `json:"phase"`
	At        time.Time   `json:"at"`
	By        string      `json:"by"`
	ResumedAt time.Time   `json:"resumed_at,omitzero"`
	ResumedBy string      `json:"resumed_by,omitempty"`
	Seconds   int64       `json:"seconds,omitempty"` // how long it lasted
	// The countdowns' new ends on resumption (the time left is kept, R16).
	DecryptEndsAt time.Time `json:"decrypt_ends_at,omitzero"`
	ConfirmEndsAt time.Time `json:"confirm_ends_at,omitzero"`
}

// ReadOut is what was announced at 唱标 (R11, R12), exactly as the log holds
// it; Digest is what the bidders' confirmations sign.
type ReadOut struct {
	At           time.Time            `json:"at"`
	Reserve      string               `json:"reserve_price,omitempty"`
	ControlPrice string               `json:"control_price,omitempty"`
	Budget       string               `json:"budget,omitempty"`
	DeviationPct int                  `json:"deviation_pct,omitempty"`
	Fields       []rooms.ReadOutField `json:"fields"`
	Rows         []rooms.ReadOutRow   `json:"rows"`
	Digest       string               `json:"digest"`
}

// Confirmation is the confirmation window and what each bidder did (R13–R15).
type Confirmation struct {
	StartedAt time.Time   `json:"started_at"`
	EndsAt    time.Time   `json:"ends_at"`
	ClosedAt  time.Time   `json:"closed_at,omitzero"`
	Early     bool        `json:"early,omitempty"` // the host closed it once every bidder had answered
	Confirmed []Confirmed `json:"confirmed"`
	Silent    []string    `json:"silent"` // neither confirmed nor objected (R15)
}

// Confirmed is one bidder's confirmation of the read-out, as the log holds it.
type Confirmed = rooms.Confirmation

// Objection is an objection (异议) and the host's answer, verbatim (R13).
type Objection = rooms.Objection

// Recording is one finished media file and its SM3 (R17).
type Recording struct {
	File    string    `json:"file"`
	Kind    string    `json:"kind"`
	Feed    string    `json:"feed"`
	Bytes   int64     `json:"bytes"`
	SM3     string    `json:"sm3"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Recovered: completed after the recording server stopped (see
	// rooms.Recording).
	Recovered bool `json:"recovered,omitempty"`
}

// Announcement is a host's announcement to the room.
type Announcement struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// LogHead is the last event the record covers: a verifier checks the log's
// hash chain up to it.
type LogHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// ErrBuild reports a log the record cannot be built from.
var ErrBuild = errors.New("cannot build the opening record")

// Build folds a room's log, from seq 1, into its opening record. It stops
// before the first opening_record_signed event (a record cannot describe its
// own signing), so the log may be given whole. Chat and supervisors'
// violation notes are not part of the record (they are not public);
// presence changes and price alerts neither (the flags are in the
// read-out). The log must be an unbroken hash chain the domain folds.
func Build(room string, events []rooms.Event) (*Record, error) {
	if i := indexOfRecord(events); i >= 0 {
		events = events[:i]
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: session %s has no events", ErrBuild, room)
	}
	if err := rooms.VerifyChain(0, "", events); err != nil {
		return nil, fmt.Errorf("%w: the log of %s is not an intact hash chain from seq 1: %v", ErrBuild, room, err)
	}
	b := builder{room: room, state: rooms.NewOpening(room), bidders: map[string]int{}, rec: &Record{
		Format: Format, Session: room, Phases: []PhaseChange{}, Bidders: []Bidder{}, Staff: []StaffSignIn{},
		Pauses: []Pause{}, Objections: []Objection{}, Recordings: []Recording{}, Announcements: []Announcement{},
	}}
	for _, e := range events {
		if e.Room != room {
			return nil, fmt.Errorf("%w: event #%d belongs to session %q, not %q", ErrBuild, e.Seq, e.Room, room)
		}
		if err := b.state.Apply(e); err != nil {
			return nil, fmt.Errorf("%w: the domain cannot fold the log: %v", ErrBuild, err)
		}
		if err := b.fold(e); err != nil {
			return nil, fmt.Errorf("%w: event #%d (%s): %v", ErrBuild, e.Seq, e.Type, err)
		}
		if n := len(b.rec.Phases); n == 0 || b.rec.Phases[n-1].Phase != b.state.Phase {
			b.rec.Phases = append(b.rec.Phases, PhaseChange{Phase: b.state.Phase, At: e.Time, Seq: e.Seq, By: by(e)})
		}
	}
	if b.state.Phase == rooms.PhaseNone {
		return nil, fmt.Errorf("%w: no session was created in %s", ErrBuild, room)
	}
	b.sealedTerms()
	last := events[len(events)-1]
	b.rec.LogHead = LogHead{Seq: last.Seq, Hash: last.Hash}
	return b.rec, nil
}

// indexOfRecord is the index of the first opening_record_signed event, or -1.
func indexOfRecord(events []rooms.Event) int {
	for i, e := range events {
		if e.Type == rooms.EvOpeningRecordSigned {
			return i
		}
	}
	return -1
}

func by(e rooms.Event) string { return string(e.Actor.Role) + ":" + e.Actor.Sub }

type builder struct {
	room    string
	state   *rooms.Opening
	rec     *Record
	bidders map[string]int // index in rec.Bidders
}

func (b *builder) bidder(id string) (*Bidder, error) {
	i, ok := b.bidders[id]
	if !ok {
		return nil, fmt.Errorf("bidder %q is not registered", id)
	}
	return &b.rec.Bidders[i], nil
}

// sealedTerms puts the 标底 and the budget into the tender once the read-out
// has published them; a session that ended before its read-out (流标) keeps
// them sealed in its record too, since every bidder may read the record (R12).
func (b *builder) sealedTerms() {
	s := b.state.Session
	if b.rec.ReadOut == nil {
		return
	}
	dev := s.BudgetDeviationPct
	if s.Budget != "" && dev == 0 {
		dev = rooms.DefaultBudgetDeviationPct
	}
	b.rec.Tender.Reserve, b.rec.Tender.Budget, b.rec.Tender.DeviationPct = s.ReservePrice, s.Budget, dev
}

// fold adds one event to the record; the domain has already accepted it.
func (b *builder) fold(e rooms.Event) error {
	r := b.rec
	decode := func(v any) error { return json.Unmarshal(e.Data, v) }
	switch e.Type {
	case rooms.EvSessionCreated:
		var s rooms.SessionSpec
		if err := decode(&s); err != nil {
			return err
		}
		fields := s.ReadOutColumns()
		r.Tender = Tender{
			Title: s.Title, Section: s.Section, Category: s.Category, Deadline: s.Deadline,
			ControlPrice: s.ControlPrice,
			MinBids:      s.MinBids(), ProceedBelowMin: s.ProceedBelowMin, BackupAllowed: s.BackupAllowed,
			DecryptWindowMinutes: int(s.DecryptWindow() / time.Minute), ConfirmWindowMinutes: int(s.ConfirmWindow() / time.Minute),
			ReadOutFields: fields, CreatedAt: e.Time,
		}
	case rooms.EvBidderRegistered:
		var s rooms.BidderSpec
		if err := decode(&s); err != nil {
			return err
		}
		bd := Bidder{ID: s.ID, Name: s.Name, Attempts: []rooms.Attempt{}}
		if s.PublicKey != "" {
			if k, err := decrypt.ParsePublicKeyPEM([]byte(s.PublicKey)); err == nil {
				id := k.ID()
				bd.KeyID = hex.EncodeToString(id[:])
			}
		}
		b.bidders[s.ID] = len(r.Bidders)
		r.Bidders = append(r.Bidders, bd)
	case rooms.EvSignedIn:
		var s rooms.SignIn
		if err := decode(&s); err != nil {
			return err
		}
		if s.Role != rooms.RoleBidder {
			r.Staff = append(r.Staff, StaffSignIn{Sub: s.Sub, Role: s.Role, At: e.Time})
			return nil
		}
		bd, err := b.bidder(s.Sub)
		if err != nil {
			return err
		}
		method := s.Method
		if method == "" {
			method = rooms.SignInToken
		}
		bd.SignIn = &SignIn{At: e.Time, Method: method, KeyID: s.KeyID}
	case rooms.EvOpened:
		var o rooms.Opened
		if err := decode(&o); err != nil {
			return err
		}
		r.Counts = &o
	case rooms.EvBiddersRevealed:
		var rv rooms.Revealed
		if err := decode(&rv); err != nil {
			return err
		}
		for _, n := range rv.Bidders {
			bd, err := b.bidder(n.ID)
			if err != nil {
				return err
			}
			bd.Submitted = n.Submitted
			if !n.Submitted {
				bd.Bid = nil
			}
		}
	case rooms.EvFailed:
		var f rooms.Failure
		if err := decode(&f); err != nil {
			return err
		}
		r.Failure = &Failure{Reason: f.Reason, Text: failureText(f), Submitted: f.Submitted, Min: f.Min, At: e.Time}
	case rooms.EvBidSubmitted:
		var bid rooms.Bid
		if err := decode(&bid); err != nil {
			return err
		}
		bd, err := b.bidder(bid.Bidder)
		if err != nil {
			return err
		}
		bd.Bid = &Bid{Digest: bid.Digest, Size: bid.Size, Version: bid.Version, BackupDigest: bid.BackupDigest, ReceivedAt: e.Time}
	case rooms.EvBidWithdrawn:
		var bid rooms.Bid
		if err := decode(&bid); err != nil {
			return err
		}
		bd, err := b.bidder(bid.Bidder)
		if err != nil {
			return err
		}
		bd.Bid = nil
	case rooms.EvBondsChecked:
		var bs rooms.Bonds
		if err := decode(&bs); err != nil {
			return err
		}
		for _, s := range bs.Bonds {
			bd, err := b.bidder(s.Bidder)
			if err != nil {
				return err
			}
			s := s
			bd.Bond = &s
		}
		r.BondsChecked = e.Time
	case rooms.EvDecryptionStarted:
		var w rooms.DecryptionWindow
		if err := decode(&w); err != nil {
			return err
		}
		r.Decryption = &Decryption{StartedAt: e.Time, EndsAt: w.EndsAt}
	case rooms.EvDecryptionExtended:
		var x rooms.Extension
		if err := decode(&x); err != nil {
			return err
		}
		if r.Decryption != nil {
			r.Decryption.Extension = &Extension{Minutes: x.Minutes, Reason: x.Reason, EndsAt: x.EndsAt, At: e.Time, By: by(e)}
		}
	case rooms.EvDecryptionClosed:
		if r.Decryption != nil {
			r.Decryption.ClosedAt = e.Time
		}
	case rooms.EvBidOpened, rooms.EvUnlockFailed:
		var u rooms.Unlock
		if err := decode(&u); err != nil {
			return err
		}
		bd, err := b.bidder(u.Bidder)
		if err != nil {
			return err
		}
		bd.Attempts = append(bd.Attempts, rooms.Attempt{At: e.Time, OK: u.OK, Code: u.Code, Message: u.Message, Backup: u.Backup, Reported: u.Reported})
		if u.OK {
			bd.Outcome, bd.OpenedAt, bd.Backup, bd.PlaintextDigest = "opened", e.Time, u.Backup, u.PlaintextSHA
		}
	case rooms.EvPaused:
		var p rooms.Pause
		if err := decode(&p); err != nil {
			return err
		}
		r.Pauses = append(r.Pauses, Pause{Kind: p.Kind, Reason: p.Reason, Phase: b.state.Phase, At: e.Time, By: by(e)})
	case rooms.EvResumed:
		var rs rooms.Resumed
		if err := decode(&rs); err != nil {
			return err
		}
		if n := len(r.Pauses); n > 0 && r.Pauses[n-1].ResumedAt.IsZero() {
			p := &r.Pauses[n-1]
			p.ResumedAt, p.ResumedBy, p.Seconds = e.Time, by(e), int64(e.Time.Sub(p.At)/time.Second)
			p.DecryptEndsAt, p.ConfirmEndsAt = rs.DecryptEndsAt, rs.ConfirmEndsAt
		}
	case rooms.EvClassified:
		var c rooms.Classification
		if err := decode(&c); err != nil {
			return err
		}
		bd, err := b.bidder(c.Bidder)
		if err != nil {
			return err
		}
		bd.Outcome, bd.Reason, bd.DecidedBy, bd.DecidedAt = c.Outcome, c.Reason, by(e), e.Time
	case rooms.EvReadOut:
		var ro rooms.ReadOut
		if err := decode(&ro); err != nil {
			return err
		}
		if got := ro.ComputeDigest(); got != ro.Digest {
			return fmt.Errorf("the read-out's digest %s does not match its content (%s)", ro.Digest, got)
		}
		r.ReadOut = &ReadOut{At: e.Time, Reserve: ro.Reserve, ControlPrice: ro.ControlPrice, Budget: ro.Budget,
			DeviationPct: ro.DeviationPct, Fields: ro.Fields, Rows: ro.Rows, Digest: ro.Digest}
	case rooms.EvConfirmationStarted:
		var w rooms.ConfirmationWindow
		if err := decode(&w); err != nil {
			return err
		}
		r.Confirmation = &Confirmation{StartedAt: e.Time, EndsAt: w.EndsAt, Confirmed: []Confirmed{}, Silent: []string{}}
	case rooms.EvConfirmed:
		var c rooms.Confirmation
		if err := decode(&c); err != nil {
			return err
		}
		if r.Confirmation != nil {
			r.Confirmation.Confirmed = append(r.Confirmation.Confirmed, Confirmed{Bidder: c.Bidder, Method: c.Method, Digest: c.Digest, KeyID: c.KeyID, Signature: c.Signature, At: e.Time})
		}
	case rooms.EvObjection:
		var o rooms.Objection
		if err := decode(&o); err != nil {
			return err
		}
		r.Objections = append(r.Objections, Objection{ID: o.ID, Bidder: o.Bidder, Text: o.Text, At: e.Time})
	case rooms.EvObjectionAnswered:
		var a rooms.ObjectionAnswer
		if err := decode(&a); err != nil {
			return err
		}
		for i := range r.Objections {
			if r.Objections[i].ID == a.ID {
				r.Objections[i].Answer, r.Objections[i].AnsweredBy, r.Objections[i].AnsweredAt = a.Text, by(e), e.Time
			}
		}
	case rooms.EvConfirmationClosed:
		var c rooms.ConfirmationClosed
		if err := decode(&c); err != nil {
			return err
		}
		if r.Confirmation != nil {
			r.Confirmation.ClosedAt, r.Confirmation.Early = e.Time, c.Early
			r.Confirmation.Silent = append([]string{}, c.Silent...)
		}
	case rooms.EvMediaRecorded:
		var m rooms.Recording
		if err := decode(&m); err != nil {
			return err
		}
		r.Recordings = append(r.Recordings, Recording{File: m.File, Kind: m.Kind, Feed: m.Feed, Bytes: m.Bytes, SM3: m.SM3, Started: m.Started, Ended: m.Ended, Recovered: m.Recovered})
	case rooms.EvAnnouncement:
		var a rooms.Announcement
		if err := decode(&a); err != nil {
			return err
		}
		r.Announcements = append(r.Announcements, Announcement{At: e.Time, By: by(e), Text: a.Text})
	}
	return nil
}

func failureText(f rooms.Failure) string {
	if f.Reason == rooms.FailureFewerThanMinBids {
		return fmt.Sprintf("截止时间递交的投标文件 %d 份，少于 %d 份，不予开标（流标），依法重新招标", f.Submitted, f.Min)
	}
	return f.Reason
}

// Encode returns the record's canonical encoding: the bytes signed.
func Encode(rec *Record) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode the opening record: %w", err)
	}
	return b, nil
}

// Sign encodes rec canonically and signs the bytes with the platform key
// (SM2 with SM3, user id 1234567812345678, DER signature).
func Sign(rec *Record, platform *decrypt.PrivateKey) (recordJSON, sig []byte, err error) {
	recordJSON, err = Encode(rec)
	if err != nil {
		return nil, nil, err
	}
	sig, err = platform.Sign(recordJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the opening record: %w", err)
	}
	return recordJSON, sig, nil
}
