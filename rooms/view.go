package rooms

import (
	"slices"
	"strings"
	"time"
)

// OpeningView is the opening room as one viewer may see it: the payload of
// a snapshot. What a role sees is decided here and by event visibility.
type OpeningView struct {
	Kind          string         `json:"kind"` // "opening"
	Room          string         `json:"room"`
	Session       SessionSpec    `json:"session"`
	Phase         Phase          `json:"phase"`
	OpenedAt      time.Time      `json:"opened_at,omitzero"`
	DecryptEndsAt time.Time      `json:"decrypt_ends_at,omitzero"` // end of the decryption window, once started
	Bidders       []Participant  `json:"bidders"`                  // staff: all; others: only themselves until revealed, then names of all
	Staff         []Participant  `json:"staff,omitempty"`          // staff only
	Registered    *int           `json:"registered,omitempty"`     // staff, or anyone once revealed
	Announcements []Announcement `json:"announcements"`
	Recordings    []Recording    `json:"recordings,omitempty"` // staff only
	You           *Participant   `json:"you,omitempty"`        // the viewer's own record, if any
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
			v.Bidders = append(v.Bidders, p)
		case o.Revealed:
			v.Bidders = append(v.Bidders, Participant{Sub: b.Sub, Role: RoleBidder, Name: b.Name, Submitted: b.Submitted})
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
	if p := o.participant(viewer.Sub, viewer.Role, false); p != nil {
		cp := *p
		v.You = &cp
	}
	return v
}
