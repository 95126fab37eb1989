package rooms_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/rooms"
)

// An opening lists the evaluations made of it, linked by the server only;
// bidders see nothing of the link.
func TestOpeningLinksItsEvaluations(t *testing.T) {
	w := newEvalWorld(t)
	ctx := context.Background()
	w.must("op1", admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: "a", Name: "苏州建设有限公司"})
	if err := w.svc.LinkEvaluation(ctx, "op1", "ev1"); err != nil {
		t.Fatalf("linking again: %v", err)
	}
	head := w.svc.Head("op1")
	for _, who := range []rooms.Actor{admin, host, supervisor, bidderA} {
		if err := w.do("op1", who, rooms.CmdLinkEvaluation, rooms.EvaluationLink{Evaluation: "ev9"}); rooms.RefusalCode(err) != rooms.CodeForbidden {
			t.Errorf("link_evaluation by %s: %v, want forbidden", who.Role, err)
		}
	}
	if err := rooms.CheckClientCommand(rooms.CmdLinkEvaluation); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Errorf("link_evaluation as a plain command: %v", err)
	}
	for _, bad := range []string{"", "op1", "a b", strings.Repeat("x", 65)} {
		if err := w.do("op1", rooms.SystemActor, rooms.CmdLinkEvaluation, rooms.EvaluationLink{Evaluation: bad}); rooms.RefusalCode(err) != rooms.CodeInvalid {
			t.Errorf("link %q: %v, want invalid", bad, err)
		}
	}
	if got := w.svc.Head("op1"); got != head {
		t.Fatalf("refused links appended: %d → %d", head, got)
	}
	if err := w.svc.LinkEvaluation(ctx, "op1", "ev2"); err != nil {
		t.Fatal(err)
	}
	ids, err := w.svc.LinkedEvaluations(ctx, "op1")
	if err != nil || !slices.Equal(ids, []string{"ev1", "ev2"}) {
		t.Fatalf("linked: %v %v", ids, err)
	}
	if ids, _ := w.svc.LinkedEvaluations(ctx, "ev1"); len(ids) != 0 {
		t.Fatalf("an evaluation lists evaluations: %v", ids)
	}
	events, _ := w.svc.EventsAfter(ctx, "op1", head)
	for _, e := range events {
		if e.Type != rooms.EvEvaluationLinked || e.Vis.VisibleTo(bidderA) || !e.Vis.VisibleTo(supervisor) {
			t.Errorf("%s visible to %+v", e.Type, e.Vis)
		}
	}
	raw, _ := json.Marshal(w.svcView(t, "op1", bidderA))
	if strings.Contains(string(raw), "ev1") {
		t.Errorf("a bidder's view names the evaluation: %s", raw)
	}
}

func (w *evalWorld) svcView(t *testing.T, room string, a rooms.Actor) any {
	t.Helper()
	s, err := w.svc.Snapshot(context.Background(), room, a)
	if err != nil {
		t.Fatal(err)
	}
	return s.View
}
