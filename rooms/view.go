package rooms

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// OpeningView is the opening room as one viewer may see it: the payload of
// a snapshot. What a role sees is decided here and by event visibility.
type OpeningView struct {
	Kind          string         `json:"kind"` // "opening"
	Room          string         `json:"room"`
	Session       SessionSpec    `json:"session"` // staff: the whole spec; others: without the sealed terms, which the read-out carries
	Phase         Phase          `json:"phase"`
	OpenedAt      time.Time      `json:"opened_at,omitzero"`
	DecryptEndsAt time.Time      `json:"decrypt_ends_at,omitzero"` // end of the decryption window, once started
	Bidders       []Participant  `json:"bidders"`                  // staff: all; others: only themselves until revealed, then names of all
	Staff         []Participant  `json:"staff,omitempty"`          // staff only
	Registered    *int           `json:"registered,omitempty"`     // staff, or anyone once revealed
	Announcements []Announcement `json:"announcements"`
	Recordings    []Recording    `json:"recordings,omitempty"` // staff only
	You           *Participant   `json:"you,omitempty"`        // the viewer's own record, if any

	Failure       *Failure        `json:"failure,omitempty"`         // 流标
	Pause         *Pause          `json:"pause,omitempty"`           // set while paused or suspended
	Extension     *Extension      `json:"extension,omitempty"`       // the decryption window's one extension
	ReadOut       *ReadOut        `json:"read_out,omitempty"`        // from 唱标 on
	ConfirmEndsAt time.Time       `json:"confirm_ends_at,omitzero"`  // the confirmation window's end
	ConfirmClosed bool            `json:"confirm_closed,omitempty"`  //
	Objections    []Objection     `json:"objections,omitempty"`      // public once raised
	Unanswered    int             `json:"unanswered,omitempty"`      // objections waiting for the host
	Record        *OpeningRecord  `json:"record,omitempty"`          // the signed opening record
	Chat          []ChatMessage   `json:"chat,omitempty"`            // the messages this viewer may see
	Notes         []ViolationNote `json:"violation_notes,omitempty"` // supervisors and admins only
}

// Project returns the state as viewer may see it. It never reveals another
// bidder's identity, the count of bidders, or sign-in status to a bidder
// before the deadline (R6).
func (o *Opening) Project(viewer Actor) OpeningView {
	v := OpeningView{
		Kind: "opening", Room: o.Room, Session: o.Session, Phase: o.Phase, OpenedAt: o.OpenedAt, DecryptEndsAt: o.DecryptEndsAt,
		Bidders: []Participant{}, Announcements: slices.Clone(o.Announcements),
	}
	if v.Announcements == nil {
		v.Announcements = []Announcement{}
	}
	staff := viewer.Role.IsStaff()
	if !staff {
		// Everyone else learns the sealed terms from the read-out (R12).
		v.Session = v.Session.PublicSpec()
	}
	for _, id := range o.BidderOrder {
		b := o.Bidders[id]
		switch {
		case staff || b.Sub == viewer.Sub && viewer.Role == RoleBidder:
			p := *b
			if viewer.Role == RoleHost {
				// The host receives no bid events; it learns who submitted
				// at the deadline (Submitted), so snapshots match the stream.
				p.Bid = nil
			}
			if staff && o.Phase == PhaseDecryptionClosed && b.Submitted != nil && *b.Submitted && b.Opened == nil && b.Outcome == "" {
				p.Suggested = b.SuggestedOutcome()
			}
			v.Bidders = append(v.Bidders, p)
		case o.Revealed:
			v.Bidders = append(v.Bidders, Participant{Sub: b.Sub, Role: RoleBidder, Name: b.Name, Submitted: b.Submitted,
				Outcome: b.Outcome, Confirmation: b.Confirmation, Silent: b.Silent, Bond: b.Bond})
		}
	}
	if staff || o.Revealed {
		n := len(o.Bidders)
		v.Registered = &n
	}
	if staff {
		v.Recordings = slices.Clone(o.Recordings)
		for _, p := range o.Staff {
			v.Staff = append(v.Staff, *p)
		}
		slices.SortFunc(v.Staff, func(a, b Participant) int { return strings.Compare(a.Sub, b.Sub) })
	}
	v.Failure, v.Pause, v.Extension, v.ReadOut, v.Record = o.Failure, o.Pause, o.Extended, o.ReadOut, o.Record
	v.ConfirmEndsAt, v.ConfirmClosed, v.Unanswered = o.ConfirmEndsAt, o.ConfirmClosed, o.Unanswered()
	v.Objections = slices.Clone(o.Objections)
	for _, m := range o.Chat {
		if m.vis.VisibleTo(viewer) {
			v.Chat = append(v.Chat, m)
		}
	}
	if supervisorsOnly().VisibleTo(viewer) {
		v.Notes = slices.Clone(o.Notes)
	}
	if p := o.participant(viewer.Sub, viewer.Role, false); p != nil {
		cp := *p
		v.You = &cp
	}
	return v
}

// PublicData is an event's data as viewers other than staff receive it. No
// new event puts a staff-only value in public data; session_created events
// of logs written before the sealed terms had their own event still carry
// them, and lose them here.
func PublicData(e *Event) json.RawMessage {
	if e.Type != EvSessionCreated {
		return e.Data
	}
	var s SessionSpec
	if err := json.Unmarshal(e.Data, &s); err != nil || s.SealedTerms == (SealedTerms{}) {
		return e.Data
	}
	b, err := json.Marshal(s.PublicSpec())
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
