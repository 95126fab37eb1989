package rooms

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLegacySessionCreatedTerms: logs written before session_terms carry
// the sealed terms in session_created. The state still holds them for
// staff, and non-staff get the event and the view without them.
func TestLegacySessionCreatedTerms(t *testing.T) {
	spec := SessionSpec{Title: "旧日志", Category: "construction", Deadline: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), ControlPrice: "100",
		SealedTerms: SealedTerms{ReservePrice: "88.50", Budget: "90", BudgetDeviationPct: 10}}
	data, _ := json.Marshal(spec)
	e := Event{Room: "old", Seq: 1, Type: EvSessionCreated, Vis: Public(), Data: data}
	o := NewOpening("old")
	if err := o.Apply(e); err != nil {
		t.Fatal(err)
	}
	if o.Session.ReservePrice != "88.50" || o.Session.Budget != "90" || o.Session.BudgetDeviationPct != 10 {
		t.Fatalf("legacy terms not folded: %+v", o.Session.SealedTerms)
	}
	pub := string(PublicData(&e))
	if strings.Contains(pub, "88.50") || strings.Contains(pub, `"budget"`) || !strings.Contains(pub, "旧日志") {
		t.Errorf("public data of a legacy session_created = %s", pub)
	}
	staff, _ := json.Marshal(o.Project(Actor{Sub: "h", Role: RoleHost}))
	bidder, _ := json.Marshal(o.Project(Actor{Sub: "a", Role: RoleBidder}))
	if !strings.Contains(string(staff), `"reserve_price":"88.50"`) || strings.Contains(string(bidder), "88.50") {
		t.Errorf("views: staff %s\nbidder %s", staff, bidder)
	}
	// A new log: the terms in their own staff-only event, none in session_created.
	drafts, err := NewOpening("new").Decide(Actor{Sub: "adm", Role: RoleAdmin}, Command{ID: "c", Type: CmdCreateSession, Data: func() json.RawMessage {
		s := spec
		s.Deadline, s.CheckInAt = time.Now().Add(time.Hour), time.Now()
		b, _ := json.Marshal(s)
		return b
	}()}, time.Now())
	if err != nil || len(drafts) != 2 || drafts[1].Type != EvSessionTerms || drafts[1].Vis.VisibleTo(Actor{Sub: "a", Role: RoleBidder}) {
		t.Fatalf("create drafts = %+v, %v", drafts, err)
	}
	if created, _ := json.Marshal(drafts[0].Data); strings.Contains(string(created), "88.50") {
		t.Errorf("session_created carries the reserve: %s", created)
	}
}
