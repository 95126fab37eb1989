package signaling_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
	"github.com/bidroom/bidroom/signaling"
)

// TestEvaluationOverTheSocket: a member of a sealed evaluation gets its
// snapshot (kind evaluation) and its events; a bidder or host of the
// opening is refused at the handshake; the admin's stream carries the
// committee's formation but not a member's declaration.
func TestEvaluationOverTheSocket(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	admin := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	e.exec(rooms.PoolRoom, admin, rooms.CmdCreatePool, rooms.PoolSpec{Title: "专家库"})
	keys := map[string]*decrypt.PrivateKey{}
	var batch rooms.ExpertBatch
	for i := range 6 {
		id := fmt.Sprintf("x%d", i)
		k, _ := decrypt.GenerateKey()
		pem, _ := k.Public().MarshalPEM()
		keys[id] = k
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: id, Name: "专家" + id, Employer: "院" + id, Specialties: []string{"A01"}}, PublicKey: string(pem)})
	}
	e.exec(rooms.PoolRoom, admin, rooms.CmdAddExperts, batch)
	e.exec("ev1", admin, rooms.CmdCreateEvaluation, rooms.EvaluationSpec{
		Title: "评标", Opening: "r1", Tenderer: "招标人", Size: 5,
		Bids:     []rooms.EvalBid{{Bidder: "a", Name: "公司a", Price: "100"}},
		Criteria: scoring.Criteria{Price: scoring.PriceRule{Method: scoring.Lowest, Weight: "100"}},
		Quotas:   []draw.Quota{{Specialty: "A01", Count: 5, Reserves: 1}},
	})
	rec, err := e.svc.DrawCommittee(t.Context(), "ev1", rooms.PoolRoom)
	if err != nil {
		t.Fatal(err)
	}
	e.exec("ev1", admin, rooms.CmdStartEvaluation, nil)
	member, leaver := rec.Drawn[0].Expert, rec.Drawn[1].Expert

	for _, who := range []struct {
		role rooms.Role
		sub  string
	}{{rooms.RoleBidder, "a"}, {rooms.RoleHost, "h1"}, {rooms.RoleExpert, rec.Drawn[5].Expert}} {
		_, resp, err := e.dial("room=ev1", e.token("ev1", who.role, who.sub), nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s connected to the evaluation (%v)", who.role, who.sub, err)
		}
	}

	m := e.mustDial("room=ev1", e.token("ev1", rooms.RoleExpert, member))
	m.expect("welcome")
	if snap := m.expect("snapshot"); snap.Kind != rooms.KindEvaluation || !strings.Contains(string(snap.State), `"phase":"convened"`) {
		t.Fatalf("member snapshot %s %s", snap.Kind, snap.State)
	}
	adm := e.mustDial("room=ev1", e.token("ev1", rooms.RoleAdmin, "adm"))
	adm.expect("welcome")
	adm.expect("snapshot")

	left := e.mustDial("room=ev1", e.token("ev1", rooms.RoleExpert, leaver))
	left.expect("welcome")
	left.expect("snapshot")

	sig, _ := keys[member].Sign([]byte(rooms.DeclarationMessage("ev1", member, false)))
	m.send(command("d1", rooms.CmdDeclare, rooms.Declaration{Signature: base64.StdEncoding.EncodeToString(sig)}))
	if _, ev := ackAndEvent(m); !strings.Contains(string(ev.Event), `"declared"`) {
		t.Fatalf("the member's event: %s", ev.Event)
	}
	e.exec("ev1", admin, rooms.CmdDecline, rooms.Decline{Expert: leaver, Reason: "因病不能参加"})
	if ev := adm.expect("event"); !strings.Contains(string(ev.Event), rooms.EvMemberReplaced) {
		t.Fatalf("the admin's next event is %s, want the replacement (not the declaration)", ev.Event)
	}
	// The replaced member's socket shows the declaration and its own replacement, then nothing more.
	if ev := left.expect("event"); !strings.Contains(string(ev.Event), `"declared"`) {
		t.Fatalf("the leaver's first event: %s", ev.Event)
	}
	if ev := left.expect("event"); !strings.Contains(string(ev.Event), rooms.EvMemberReplaced) {
		t.Fatalf("the leaver's second event: %s", ev.Event)
	}
	other := rec.Drawn[2].Expert
	sig, _ = keys[other].Sign([]byte(rooms.DeclarationMessage("ev1", other, false)))
	e.exec("ev1", rooms.Actor{Sub: other, Role: rooms.RoleExpert}, rooms.CmdDeclare, rooms.Declaration{Signature: base64.StdEncoding.EncodeToString(sig)})
	m.expect("event") // the replacement
	if ev := m.expect("event"); !strings.Contains(string(ev.Event), other) {
		t.Fatalf("the member did not see %s's declaration: %s", other, ev.Event)
	}
	_ = left.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, b, err := left.ReadMessage(); err == nil {
		t.Fatalf("a replaced member still receives the committee's events: %s", b)
	}
}
