package rooms_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
)

// The committee's call is recorded like the opening's: the server files
// each finished track with its SM3, supervisors see it, nobody else.
func TestEvaluationRecordsTheCall(t *testing.T) {
	w := newEvalWorld(t)
	ctx := context.Background()
	if _, err := w.svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom); err != nil {
		t.Fatal(err)
	}
	w.must("ev1", admin, rooms.CmdStartEvaluation, nil)
	member := w.view(supervisor).Committee[0].Expert
	rec := rooms.Recording{Hall: "evaluation", Feed: member, Publisher: member, Kind: "video", Codec: "video/VP8",
		File: "ev1-evaluation-" + member + "-video.ivf", Bytes: 1234, SM3: strings.Repeat("0a", 32), Packets: 10,
		Started: start, Ended: start.Add(time.Minute)}
	head := w.svc.Head("ev1")
	for _, who := range []rooms.Actor{admin, supervisor, expertActor(member)} {
		if err := w.do("ev1", who, rooms.CmdRecordMedia, rec); rooms.RefusalCode(err) != rooms.CodeForbidden {
			t.Errorf("record_media by %s: %v, want forbidden", who.Role, err)
		}
	}
	bad := rec
	bad.SM3 = "abc"
	if err := w.do("ev1", rooms.SystemActor, rooms.CmdRecordMedia, bad); rooms.RefusalCode(err) != rooms.CodeInvalid {
		t.Errorf("a recording without its SM3: %v, want invalid", err)
	}
	if got := w.svc.Head("ev1"); got != head {
		t.Fatalf("refused recordings appended: head %d → %d", head, got)
	}
	w.must("ev1", rooms.SystemActor, rooms.CmdRecordMedia, rec)
	if got := w.view(supervisor).Recordings; len(got) != 1 || got[0].SM3 != rec.SM3 || got[0].Feed != member {
		t.Fatalf("the supervisor's recordings: %+v", got)
	}
	for _, who := range []rooms.Actor{admin, expertActor(member)} {
		if got := w.view(who).Recordings; len(got) != 0 {
			t.Errorf("%s sees the recordings: %+v", who.Role, got)
		}
	}
	events, err := w.svc.EventsAfter(ctx, "ev1", head)
	if err != nil || len(events) != 1 || events[0].Type != rooms.EvMediaRecorded {
		t.Fatalf("the log after the recording: %v %v", events, err)
	}
	if events[0].Vis.VisibleTo(expertActor(member)) || events[0].Vis.VisibleTo(admin) || !events[0].Vis.VisibleTo(supervisor) {
		t.Fatalf("media_recorded visibility %+v", events[0].Vis)
	}
}

// The main venue is named on the spec and shown in every view; a name too
// long is refused.
func TestEvaluationVenue(t *testing.T) {
	w := newEvalWorld(t)
	base := w.view(supervisor)
	spec := rooms.EvaluationSpec{Title: base.Title, Opening: "op1", Tenderer: base.Tenderer, Bids: base.Bids, Criteria: *base.Criteria,
		Size: 5, Quotas: []draw.Quota{{Specialty: "A01", Count: 3, Reserves: 1}, {Specialty: "B02", Count: 2}}}
	spec.Venue = strings.Repeat("县", 22)
	if err := w.do("ev2", admin, rooms.CmdCreateEvaluation, spec); rooms.RefusalCode(err) != rooms.CodeInvalid {
		t.Fatalf("a 66-byte venue: %v, want invalid", err)
	}
	spec.Venue = " 市公共资源交易中心 "
	w.must("ev2", admin, rooms.CmdCreateEvaluation, spec)
	s, err := w.svc.Snapshot(context.Background(), "ev2", admin)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.View.(rooms.EvaluationView).Venue; got != "市公共资源交易中心" {
		t.Fatalf("venue %q", got)
	}
}
