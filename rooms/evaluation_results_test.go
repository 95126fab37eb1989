package rooms_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/evaltest"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// resultsWorld is an evaluation of four bids driven to a report every
// member and the platform signed, on the real store with real SM2 keys.
type resultsWorld struct {
	t        *testing.T
	svc      *rooms.Service
	clock    *clock
	ev       *evaltest.Evaluation
	platform *decrypt.PrivateKey
	n        int
}

var evalBids = map[string]string{"a": "1000000", "b": "980000", "c": "990000", "d": "1200000"}

func newResultsWorld(t *testing.T) *resultsWorld {
	t.Helper()
	svc, _, c := newService(t)
	w := &resultsWorld{t: t, svc: svc, clock: c}
	w.ev = evaltest.Run(t, svc, "ev1", "op1", evalBids)
	var err error
	if w.platform, err = decrypt.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	// The platform signs, as POST /evaluations/{id}/report does.
	done, _, err := svc.CompletedReport(context.Background(), "ev1")
	if err != nil || done == nil {
		t.Fatalf("completed report: %v", err)
	}
	msg, _ := done.PlatformMessage("ev1")
	sig, _ := w.platform.Sign(msg)
	kid := w.platform.Public().ID()
	w.must(rooms.SystemActor, rooms.CmdRecordReportSignature, rooms.PlatformSignature{
		Digest: hex.EncodeToString(sm3.Sm3Sum(msg)), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:])})
	return w
}

func (w *resultsWorld) do(a rooms.Actor, typ string, data any) error {
	w.n++
	_, err := w.svc.Execute(context.Background(), "ev1", a, rooms.Command{ID: fmt.Sprintf("r%d", w.n), Type: typ, Data: mustJSON(w.t, data)})
	return err
}

func (w *resultsWorld) must(a rooms.Actor, typ string, data any) {
	w.t.Helper()
	if err := w.do(a, typ, data); err != nil {
		w.t.Fatalf("%s by %s %s: %v", typ, a.Role, a.Sub, err)
	}
}

// refused checks that the command is refused with code and appends nothing.
func (w *resultsWorld) refused(a rooms.Actor, typ string, data any, code string) {
	w.t.Helper()
	head := w.svc.Head("ev1")
	if err := w.do(a, typ, data); rooms.RefusalCode(err) != code {
		w.t.Errorf("%s by %s %s: %v, want %s", typ, a.Role, a.Sub, err, code)
	}
	if got := w.svc.Head("ev1"); got != head {
		w.t.Errorf("%s by %s: a refused command appended %d → %d", typ, a.Role, head, got)
	}
}

func (w *resultsWorld) view(a rooms.Actor) rooms.EvaluationView {
	w.t.Helper()
	s, err := w.svc.Snapshot(context.Background(), "ev1", a)
	if err != nil {
		w.t.Fatalf("snapshot as %s: %v", a.Sub, err)
	}
	return s.View.(rooms.EvaluationView)
}

func (w *resultsWorld) state() *rooms.Evaluation {
	w.t.Helper()
	events, err := w.svc.EventsAfter(context.Background(), "ev1", 0)
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := rooms.NewState("ev1", events)
	if err != nil {
		w.t.Fatal(err)
	}
	return st.(*rooms.Evaluation)
}

func (w *resultsWorld) member(i int) rooms.Actor { return expertActor(w.ev.Members[i]) }

// undrawn is a pool expert who is not on the committee.
func (w *resultsWorld) undrawn() rooms.Actor {
	for id := range w.ev.Keys {
		if !slices.Contains(w.ev.Members, id) {
			return expertActor(id)
		}
	}
	w.t.Fatal("every expert sits")
	return rooms.Actor{}
}

// signNotices signs what the room gives at the server's time, as POST
// /evaluations/{id}/notices does.
func (w *resultsWorld) signNotices(key *decrypt.PrivateKey) rooms.NoticesIssued {
	w.t.Helper()
	at := w.svc.Now().Truncate(time.Second)
	issued, drafts, err := w.svc.NoticesToSign(context.Background(), "ev1", at)
	if err != nil || issued != nil {
		w.t.Fatalf("notices to sign: %v %v", issued, err)
	}
	for i := range drafts {
		sig, err := key.Sign(rooms.NoticeMessage("ev1", drafts[i].JSON))
		if err != nil {
			w.t.Fatal(err)
		}
		drafts[i].Signature = base64.StdEncoding.EncodeToString(sig)
	}
	kid := key.Public().ID()
	return rooms.NoticesIssued{IssuedAt: at, Notices: drafts, KeyID: hex.EncodeToString(kid[:])}
}

// TestResultsFlow: publicity, objections in and after it, the timer's
// close, the notices signed and recorded once, and their offline check.
func TestResultsFlow(t *testing.T) {
	w := newResultsWorld(t)
	ctx := context.Background()
	sup := supervisor
	pub := rooms.PublishRequest{Days: 5, Note: "公示期内对结果有异议的，可通过开标室页面提出。"}
	if at, _, ok := w.state().NextTimer(); ok {
		t.Fatalf("a timer before the publicity: %s", at)
	}
	for _, days := range []int{-1, 0, 2, 31, 10000} {
		w.refused(admin, rooms.CmdPublishCandidates, rooms.PublishRequest{Days: days}, rooms.CodeInvalid)
	}
	w.refused(admin, rooms.CmdPublishCandidates, rooms.PublishRequest{Days: 3, Note: strings.Repeat("长", 2001)}, rooms.CodeInvalid)
	w.refused(admin, rooms.CmdPublishCandidates, map[string]any{"days": 3, "nope": 1}, rooms.CodeInvalid)
	if _, _, err := w.svc.Publicity(ctx, "ev1"); rooms.RefusalCode(err) != rooms.CodeNotFound {
		t.Fatalf("publicity before it is published: %v", err)
	}
	w.must(admin, rooms.CmdPublishCandidates, pub)
	w.refused(admin, rooms.CmdPublishCandidates, pub, rooms.CodeWrongState)
	p, closed, err := w.svc.Publicity(ctx, "ev1")
	if err != nil || closed || len(p.Candidates) != 3 || p.Candidates[0].Bidder != "b" || p.Candidates[0].Rank != 1 || !p.EndsAt.Equal(start.Add(5*24*time.Hour)) || p.ReportDigest != w.ev.Digest {
		t.Fatalf("publicity %+v closed %v: %v; want b first of 3, ending 5 days on", p, closed, err)
	}
	if at, typ, ok := w.state().NextTimer(); !ok || typ != rooms.CmdClosePublicity || !at.Equal(p.EndsAt) {
		t.Fatalf("timer %s %s %v, want close_publicity at the end", at, typ, ok)
	}

	// Objections: recorded by the server for a bidder of the opening, while the publicity runs.
	obj := func(bidder, text string) rooms.ObjectionRequest {
		return rooms.ObjectionRequest{Opening: "op1", Bidder: bidder, Text: text}
	}
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, rooms.ObjectionRequest{Opening: "op2", Bidder: "a", Text: "异议"}, rooms.CodeNotFound)
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("a", "  "), rooms.CodeInvalid)
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("a", strings.Repeat("异", 2001)), rooms.CodeInvalid)
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("a b", "异议"), rooms.CodeInvalid)
	w.must(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("a", strings.Repeat("异", 2000)))
	w.clock.set(start.Add(time.Hour))
	w.must(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("c", "第一中标候选人项目经理有在建项目，请核查。"))
	res, err := w.svc.ResultsFor(ctx, "op1", bidderA)
	if err != nil || len(res) != 1 || len(res[0].Objections) != 1 || res[0].Objections[0].ID != "o1" || !res[0].Objections[0].DueAt.Equal(start.Add(72*time.Hour)) {
		t.Fatalf("a's results: %v %+v", err, res)
	}
	if all, _ := w.svc.ResultsFor(ctx, "op1", sup); len(all[0].Objections) != 2 {
		t.Fatalf("the supervisor's results: %+v", all)
	}
	if none, _ := w.svc.ResultsFor(ctx, "op2", sup); len(none) != 0 {
		t.Fatalf("results of another opening: %+v", none)
	}

	// Answers: the admin, once each, unknown ids refused.
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o9", Answer: "答复"}, rooms.CodeNotFound)
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: ""}, rooms.CodeInvalid)
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: strings.Repeat("答", 2001)}, rooms.CodeInvalid)
	w.must(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "经复核，评标结果无误。"})
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "再答"}, rooms.CodeWrongState)

	// The close: not before the end; after it no objection is taken (409), and the timer closes.
	w.refused(rooms.SystemActor, rooms.CmdClosePublicity, nil, rooms.CodeTooEarly)
	w.refused(admin, rooms.CmdRecordNotices, rooms.NoticesIssued{}, rooms.CodeForbidden)
	if _, _, err := w.svc.NoticesToSign(ctx, "ev1", w.svc.Now()); rooms.RefusalCode(err) != rooms.CodeWrongState || !strings.Contains(err.Error(), "publicity has closed") {
		t.Fatalf("notices during the publicity: %v", err)
	}
	w.clock.set(p.EndsAt)
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, obj("d", "逾期异议"), rooms.CodeWrongState)
	runScheduler(t, w.svc, func() bool { return w.view(sup).Phase == rooms.EvalPublicityClosed })
	if _, _, ok := w.state().NextTimer(); ok {
		t.Fatal("a timer after the close")
	}
	if _, closed, _ := w.svc.Publicity(ctx, "ev1"); !closed {
		t.Fatal("the publicity is not closed")
	}

	// The notices wait for the last answer, given late (after its 3 days).
	if _, _, err := w.svc.NoticesToSign(ctx, "ev1", w.svc.Now()); rooms.RefusalCode(err) != rooms.CodeWrongState || !strings.Contains(err.Error(), "o2") {
		t.Fatalf("notices with o2 unanswered: %v", err)
	}
	w.must(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o2", Answer: "经核查，该项目已竣工验收，不构成在建项目。"})
	if o := w.view(sup).Results.Objections[1]; !o.Late || o.AnsweredAt.IsZero() {
		t.Fatalf("a late answer: %+v", o)
	}

	issued := w.signNotices(w.platform)
	if len(issued.Notices) != 4 {
		t.Fatalf("%d notices, want one per bid", len(issued.Notices))
	}
	forged := issued
	forged.Notices = slices.Clone(issued.Notices)
	forged.Notices[1].JSON = strings.Replace(forged.Notices[1].JSON, `"price":"980000"`, `"price":"9800000"`, 1)
	w.refused(rooms.SystemActor, rooms.CmdRecordNotices, forged, rooms.CodeInvalid)
	early := issued
	early.IssuedAt = issued.IssuedAt.Add(-time.Hour)
	w.refused(rooms.SystemActor, rooms.CmdRecordNotices, early, rooms.CodeInvalid)
	short := issued
	short.Notices = issued.Notices[:3]
	w.refused(rooms.SystemActor, rooms.CmdRecordNotices, short, rooms.CodeInvalid)
	head := w.svc.Head("ev1")
	cmd := rooms.Command{ID: "notices", Type: rooms.CmdRecordNotices, Data: mustJSON(t, issued)}
	if _, err := w.svc.Execute(ctx, "ev1", rooms.SystemActor, cmd); err != nil {
		t.Fatal(err)
	}
	if r, err := w.svc.Execute(ctx, "ev1", rooms.SystemActor, cmd); err != nil || !r.Duplicate || w.svc.Head("ev1") != head+1 {
		t.Fatalf("a replayed record_notices: %+v %v, head %d → %d", r, err, head, w.svc.Head("ev1"))
	}
	w.refused(rooms.SystemActor, rooms.CmdRecordNotices, issued, rooms.CodeWrongState)
	if again, _, err := w.svc.NoticesToSign(ctx, "ev1", w.svc.Now()); err != nil || again == nil || again.Notices[0].Signature != issued.Notices[0].Signature {
		t.Fatalf("the issued notices: %v", err)
	}
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "x"}, rooms.CodeWrongState)

	// One award to the first candidate, result notices naming the winner and price to all others.
	kinds := map[string]string{}
	for _, n := range issued.Notices {
		var doc rooms.Notice
		if err := json.Unmarshal([]byte(n.JSON), &doc); err != nil {
			t.Fatal(err)
		}
		kinds[n.Bidder] = doc.Kind
		if doc.Winner != "b" || doc.Price != "980000" || doc.WinnerName != "投标人b" || !doc.IssuedAt.Equal(issued.IssuedAt) || doc.ReportDigest != w.ev.Digest {
			t.Errorf("notice to %s: %+v", n.Bidder, doc)
		}
	}
	if want := map[string]string{"a": "result", "b": "award", "c": "result", "d": "result"}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	res, _ = w.svc.ResultsFor(ctx, "op1", rooms.Actor{Sub: "b", Role: rooms.RoleBidder})
	if len(res[0].Notices) != 1 || res[0].Notices[0].Kind != rooms.NoticeAward || len(res[0].Objections) != 0 {
		t.Fatalf("b's results: %+v", res)
	}
	n, checks, err := rooms.VerifyNotice(res[0].Notices[0].NoticeEntry, w.platform.Public())
	if err != nil || n.Bidder != "b" || len(checks) != 3 {
		t.Fatalf("verify b's notice: %v %v", err, checks)
	}
	other, _ := decrypt.GenerateKey()
	if _, _, err := rooms.VerifyNotice(res[0].Notices[0].NoticeEntry, other.Public()); err == nil {
		t.Fatal("a notice verified with another platform key")
	}
	tampered := res[0].Notices[0].NoticeEntry
	tampered.JSON = strings.Replace(tampered.JSON, `"kind":"award"`, `"kind":"award" `, 1)
	if _, _, err := rooms.VerifyNotice(tampered, w.platform.Public()); err == nil || !strings.Contains(err.Error(), "canonical") {
		t.Fatalf("a re-spaced notice: %v", err)
	}
	events, _ := w.svc.EventsAfter(ctx, "ev1", 0)
	if checks, err := rooms.VerifyNotices(events, w.platform.Public()); err != nil || len(checks) != 5 {
		t.Fatalf("verify the log's notices: %v\n%s", err, strings.Join(checks, "\n"))
	}
	if _, err := rooms.VerifyNotices(events, other.Public()); err == nil {
		t.Fatal("the log's notices verified with another platform key")
	}

	// Who sees what of it: the admin, the members and supervisors see the
	// publicity, objections and notices (by digest); the view stays small.
	for _, a := range []rooms.Actor{admin, w.member(0), w.member(3), sup} {
		r := w.view(a).Results
		if r == nil || r.Publicity == nil || len(r.Objections) != 2 || r.Notices == nil || len(r.Notices.Notices) != 4 || r.ClosedAt.IsZero() {
			t.Errorf("%s's results: %+v", a.Role, r)
		}
		if b, _ := json.Marshal(w.view(a)); strings.Contains(string(b), `"json"`) || len(b) > 64<<10 {
			t.Errorf("%s's view holds the notices' texts or is %d bytes", a.Role, len(b))
		}
	}
	if v := w.view(w.member(0)); v.Tally == nil || v.Completed == nil {
		t.Fatal("a member lost the tally and the report after the publicity")
	}
	if v := w.view(sup); v.Phase != rooms.EvalNotified {
		t.Fatalf("phase %s", v.Phase)
	}
}

// runScheduler runs a scheduler (with the pool's sanctions filled in, as
// bidroom serve wires it) until done reports true.
func runScheduler(t *testing.T, svc *rooms.Service, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := rooms.NewScheduler(svc, discard())
	s.Fill = map[string]func(context.Context, string) (json.RawMessage, error){rooms.CmdRecordSanctions: svc.SanctionsFill(rooms.PoolRoom)}
	stopped := make(chan struct{})
	go func() { defer close(stopped); s.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not get there in 10 s")
		}
	}
}

// TestResultsCommandsByRole: every command of the results, in a state
// where it is taken, by every role: allowed, or forbidden.
func TestResultsCommandsByRole(t *testing.T) {
	w := newResultsWorld(t)
	m, chair := w.member(1), w.member(0)
	roles := []struct {
		name  string
		actor rooms.Actor
	}{
		{"bidder", bidderA}, {"host", host}, {"undrawn expert", w.undrawn()}, {"member", m}, {"chair", chair},
		{"supervisor", supervisor}, {"admin", admin}, {"system", rooms.SystemActor},
	}
	type row struct {
		cmd     string
		data    any
		allowed []string // role names; every other role is forbidden
		state   *rooms.Evaluation
		at      time.Time
	}
	var rows []row
	signed, at := w.state(), w.svc.Now()
	rating := rooms.RatingRequest{Expert: m.Sub, Conduct: rooms.ConductPoor, Note: "多次离席"}
	rows = append(rows,
		row{rooms.CmdPublishCandidates, rooms.PublishRequest{Days: 3}, []string{"admin", "system"}, signed, at},
		row{rooms.CmdRateExpert, rating, []string{"supervisor"}, signed, at},
		row{rooms.CmdRecordHostRating, rooms.HostRating{Opening: "op1", Host: "h1", RatingRequest: rating}, []string{"system"}, signed, at},
		row{rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: m.Sub, Points: 10, SuspendDays: 30, Reason: "私下接触投标人"}, []string{"supervisor"}, signed, at},
	)
	w.must(supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: m.Sub, Points: 10, Reason: "评标期间使用手机"})
	rows = append(rows, row{rooms.CmdRecordSanctions, rooms.SanctionsApplied{Pool: rooms.PoolRoom, Results: []rooms.SanctionResult{{ID: "v1", Expert: m.Sub, Credit: -10}}}, []string{"system"}, w.state(), w.svc.Now()})
	w.must(admin, rooms.CmdPublishCandidates, rooms.PublishRequest{Days: 3})
	w.must(rooms.SystemActor, rooms.CmdRecordResultObjection, rooms.ObjectionRequest{Opening: "op1", Bidder: "a", Text: "异议"})
	rows = append(rows,
		row{rooms.CmdRecordResultObjection, rooms.ObjectionRequest{Opening: "op1", Bidder: "a", Text: "再次异议"}, []string{"system"}, w.state(), w.svc.Now()},
		row{rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "答复"}, []string{"admin", "system"}, w.state(), w.svc.Now()},
	)
	w.must(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "答复"})
	w.clock.set(start.Add(3 * 24 * time.Hour))
	rows = append(rows, row{rooms.CmdClosePublicity, nil, []string{"system"}, w.state(), w.svc.Now()})
	w.must(rooms.SystemActor, rooms.CmdClosePublicity, nil)
	rows = append(rows, row{rooms.CmdRecordNotices, w.signNotices(w.platform), []string{"system"}, w.state(), w.svc.Now()})

	for _, r := range rows {
		for _, who := range roles {
			_, err := r.state.Decide(who.actor, rooms.Command{ID: "x", Type: r.cmd, Data: mustJSON(t, r.data)}, r.at)
			want := rooms.CodeForbidden
			if slices.Contains(r.allowed, who.name) {
				want = ""
			}
			if got := rooms.RefusalCode(err); got != want || (want == "" && err != nil) {
				t.Errorf("%s by %s: %v, want %q", r.cmd, who.name, err, want)
			}
			if who.name == "bidder" || who.name == "host" || who.name == "undrawn expert" {
				if err != nil && strings.Contains(err.Error(), "专家") {
					t.Errorf("%s by %s: the refusal names a member: %v", r.cmd, who.name, err)
				}
			}
		}
		// A command the server records is never taken as a plain command.
		// (close_publicity is the timer's, refused to every client by its role like the opening's timers.)
		if strings.HasPrefix(r.cmd, "record_") {
			if err := rooms.CheckClientCommand(r.cmd); rooms.RefusalCode(err) != rooms.CodeForbidden {
				t.Errorf("%s as a plain command: %v", r.cmd, err)
			}
		} else if err := rooms.CheckClientCommand(r.cmd); err != nil {
			t.Errorf("%s refused as a plain command: %v", r.cmd, err)
		}
	}
}

// TestResultsOutOfPhase: each command where its phase has not come or has
// passed, by the role that may send it.
func TestResultsOutOfPhase(t *testing.T) {
	svc, _, c := newService(t)
	ctx := context.Background()
	ev := evaltest.Run(t, svc, "ev1", "op1", evalBids)
	w := &resultsWorld{t: t, svc: svc, clock: c, ev: ev}
	m := w.member(1).Sub
	// Reported, not yet signed by the platform: no publicity.
	w.refused(admin, rooms.CmdPublishCandidates, rooms.PublishRequest{Days: 3}, rooms.CodeWrongState)
	w.refused(rooms.SystemActor, rooms.CmdRecordResultObjection, rooms.ObjectionRequest{Opening: "op1", Bidder: "a", Text: "异议"}, rooms.CodeNotFound)
	w.refused(admin, rooms.CmdAnswerResultObjection, rooms.ResultObjectionAnswer{ID: "o1", Answer: "x"}, rooms.CodeWrongState)
	w.refused(rooms.SystemActor, rooms.CmdClosePublicity, nil, rooms.CodeWrongState)
	w.refused(rooms.SystemActor, rooms.CmdRecordSanctions, rooms.SanctionsApplied{Pool: rooms.PoolRoom, Results: []rooms.SanctionResult{{ID: "v1", Expert: m}}}, rooms.CodeNotFound)
	if _, _, err := svc.NoticesToSign(ctx, "ev1", svc.Now()); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("notices before the publicity: %v", err)
	}
	// Bad conduct input.
	for _, bad := range []struct {
		data any
		code string
	}{
		{rooms.RatingRequest{Expert: m, Conduct: "excellent"}, rooms.CodeInvalid},
		{rooms.RatingRequest{Expert: m, Conduct: rooms.ConductPoor}, rooms.CodeInvalid}, // poor needs a note
		{rooms.RatingRequest{Expert: m, Conduct: rooms.ConductFair, Note: strings.Repeat("注", 501)}, rooms.CodeInvalid},
		{rooms.RatingRequest{Expert: "nobody", Conduct: rooms.ConductGood}, rooms.CodeNotFound},
		{rooms.RatingRequest{Expert: w.undrawn().Sub, Conduct: rooms.ConductGood}, rooms.CodeNotFound},
	} {
		w.refused(supervisor, rooms.CmdRateExpert, bad.data, bad.code)
	}
	for _, bad := range []struct {
		data any
		code string
	}{
		{rooms.ViolationRequest{Expert: m, Points: 0, Reason: "r"}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: m, Points: 101, Reason: "r"}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: m, Points: 5, SuspendDays: -1, Reason: "r"}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: m, Points: 5, SuspendDays: 3651, Reason: "r"}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: m, Points: 5, Reason: ""}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: m, Points: 5, Reason: strings.Repeat("违", 1001)}, rooms.CodeInvalid},
		{rooms.ViolationRequest{Expert: "nobody", Points: 5, Reason: "r"}, rooms.CodeNotFound},
	} {
		w.refused(supervisor, rooms.CmdNoteExpertViolation, bad.data, bad.code)
	}
	w.refused(rooms.SystemActor, rooms.CmdRecordHostRating, rooms.HostRating{Opening: "op9", Host: "h1", RatingRequest: rooms.RatingRequest{Expert: m, Conduct: rooms.ConductGood}}, rooms.CodeNotFound)
	// A replayed rating command is applied once.
	head := svc.Head("ev1")
	cmd := rooms.Command{ID: "rate-once", Type: rooms.CmdRateExpert, Data: mustJSON(t, rooms.RatingRequest{Expert: m, Conduct: rooms.ConductGood})}
	for range 2 {
		if _, err := svc.Execute(ctx, "ev1", supervisor, cmd); err != nil {
			t.Fatal(err)
		}
	}
	if got := svc.Head("ev1"); got != head+1 {
		t.Fatalf("a replayed rating appended %d events", got-head)
	}

	// Before the report is complete no one is rated; violations are noted from the start only.
	w2 := newEvalWorld(t)
	if _, err := w2.svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom); err != nil {
		t.Fatal(err)
	}
	member := w2.view(supervisor).Committee[0].Expert
	if err := w2.do("ev1", supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: member, Points: 5, Reason: "r"}); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("a violation before the start: %v", err)
	}
	w2.must("ev1", admin, rooms.CmdStartEvaluation, nil)
	if err := w2.do("ev1", supervisor, rooms.CmdRateExpert, rooms.RatingRequest{Expert: member, Conduct: rooms.ConductGood}); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("a rating before the report: %v", err)
	}
	w2.must("ev1", supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: member, Points: 5, Reason: "迟到三十分钟"})
	// The member declines afterwards: a violation may still be noted on them.
	w2.must("ev1", admin, rooms.CmdDecline, rooms.Decline{Expert: member, Reason: "身体不适"})
	w2.must("ev1", supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: member, Points: 5, Reason: "未如实说明"})
}

// TestViolationReachesNextDraw: a supervisor notes a violation with a
// suspension and another that takes a member below the credit floor;
// poor ratings (one replaced by a better one) deduct and give back; the
// scheduler carries them to the pool; the next draw excludes both.
func TestViolationReachesNextDraw(t *testing.T) {
	w := newResultsWorld(t)
	ctx := context.Background()
	m0, m1, m2 := w.ev.Members[0], w.ev.Members[1], w.ev.Members[2]
	w.must(supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: m0, Points: 10, SuspendDays: 180, Reason: "评标期间私下联系投标人"})
	w.must(supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: m1, Points: 45, Reason: "未按评标办法评分，经复核确认"})
	w.must(supervisor, rooms.CmdRateExpert, rooms.RatingRequest{Expert: m2, Conduct: rooms.ConductPoor, Note: "多次离席"})
	w.must(rooms.SystemActor, rooms.CmdRecordHostRating, rooms.HostRating{Opening: "op1", Host: "h1", RatingRequest: rooms.RatingRequest{Expert: m2, Conduct: rooms.ConductPoor, Note: "迟到"}})
	w.must(supervisor, rooms.CmdRateExpert, rooms.RatingRequest{Expert: m2, Conduct: rooms.ConductGood})
	w.must(supervisor, rooms.CmdRateExpert, rooms.RatingRequest{Expert: m0, Conduct: rooms.ConductFair})
	st := w.state()
	if p := st.PendingSanctions(); len(p) != 5 {
		t.Fatalf("pending %+v, want 2 violations and 3 credit changes (the fair one changes nothing)", p)
	}
	if _, typ, ok := st.NextTimer(); !ok || typ != rooms.CmdRecordSanctions {
		t.Fatalf("timer %s %v", typ, ok)
	}

	// Who sees the conduct records: supervisors all, a member their own, nobody else.
	if v := w.view(supervisor).Results; len(v.Ratings) != 3 || len(v.Violations) != 2 || v.Pending != 5 {
		t.Fatalf("the supervisor's view: %+v", v)
	}
	if v := w.view(expertActor(m2)).Results; v == nil || len(v.Ratings) != 2 || len(v.Violations) != 0 || v.Pending != 0 {
		t.Fatalf("m2's view: %+v", v)
	}
	if v := w.view(expertActor(w.ev.Members[4])).Results; v != nil {
		t.Fatalf("an unconcerned member sees conduct records: %+v", v)
	}
	if v := w.view(admin).Results; v != nil {
		t.Fatalf("the admin sees conduct records: %+v", v)
	}

	runScheduler(t, w.svc, func() bool { return len(w.state().PendingSanctions()) == 0 })
	pool := func() *rooms.Pool {
		events, _ := w.svc.EventsAfter(ctx, rooms.PoolRoom, 0)
		st, _ := rooms.NewState(rooms.PoolRoom, events)
		return st.(*rooms.Pool)
	}
	p := pool()
	if x := p.Experts[m0]; x.Credit != 90 || !x.SuspendedUntil.Equal(start.Add(180*24*time.Hour)) || !strings.Contains(x.SuspendReason, "ev1") {
		t.Fatalf("m0 in the pool: credit %d, suspended until %s (%s)", x.Credit, x.SuspendedUntil, x.SuspendReason)
	}
	if x := p.Experts[m1]; x.Credit != 55 {
		t.Fatalf("m1's credit %d, want 55", x.Credit)
	}
	if x := p.Experts[m2]; x.Credit != 95 {
		t.Fatalf("m2's credit %d, want 95 (two poor ratings, one replaced by good)", x.Credit)
	}
	if n, err := w.svc.ApplySanctions(ctx, "ev1", rooms.PoolRoom); err != nil || n != 0 {
		t.Fatalf("a second application: %d %v", n, err)
	}
	if v := w.view(supervisor).Results; len(v.Sanctions) != 5 || v.Pending != 0 {
		t.Fatalf("sanctions recorded %+v", v.Sanctions)
	}

	// The next evaluation from the same pool, with a credit floor of 60.
	spec := rooms.EvaluationSpec{Title: "下一标段评标", Opening: "op2", OpeningHash: "00", Tenderer: "城西水务",
		Bids:     []rooms.EvalBid{{Bidder: "e", Name: "戊公司", Price: "500000"}},
		Criteria: scoring.Criteria{Items: []scoring.Item{{ID: "t1", Name: "方案", Group: "technical", Max: "60"}}, Price: scoring.PriceRule{Method: scoring.Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"}},
		Size:     5, MinCredit: 60, Quotas: []draw.Quota{{Specialty: "A01", Count: 5, Reserves: 1}}}
	if _, err := w.svc.Execute(ctx, "ev2", admin, rooms.Command{ID: "create", Type: rooms.CmdCreateEvaluation, Data: mustJSON(t, spec)}); err != nil {
		t.Fatal(err)
	}
	rec, err := w.svc.DrawCommittee(ctx, "ev2", rooms.PoolRoom)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Excluded[draw.Suspended] != 1 || rec.Excluded[draw.LowCredit] != 1 || rec.Eligible != 6 {
		t.Fatalf("eligible %d, excluded %v; want 6, one suspended, one below the credit floor", rec.Eligible, rec.Excluded)
	}
	for _, s := range rec.Drawn {
		if s.Expert == m0 || s.Expert == m1 {
			t.Fatalf("%s was drawn again", s.Expert)
		}
	}
}

// TestSanctionsKeepALongerSuspension: a suspension that a longer one
// already covers is not shortened; the record says so.
func TestSanctionsKeepALongerSuspension(t *testing.T) {
	w := newResultsWorld(t)
	ctx := context.Background()
	m0 := w.ev.Members[0]
	long := start.Add(3 * 365 * 24 * time.Hour)
	if _, err := w.svc.Execute(ctx, rooms.PoolRoom, supervisor, rooms.Command{ID: "long", Type: rooms.CmdSuspendExpert, Data: mustJSON(t, rooms.Suspension{Expert: m0, Until: long, Reason: "另案处理"})}); err != nil {
		t.Fatal(err)
	}
	w.must(supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: m0, Points: 5, SuspendDays: 30, Reason: "违规"})
	if n, err := w.svc.ApplySanctions(ctx, "ev1", rooms.PoolRoom); err != nil || n != 1 {
		t.Fatalf("apply: %d %v", n, err)
	}
	s := w.view(supervisor).Results.Sanctions[0]
	if !s.SuspendedUntil.Equal(long) || !strings.Contains(s.Note, "already suspended") || s.Credit != -5 {
		t.Fatalf("sanction %+v", s)
	}
}

// TestRepresentativeStaysOutOfThePool: a violation noted on the
// tenderer's representative is recorded in the evaluation only: they are
// not a pool expert, so nothing is pending for the pool.
func TestRepresentativeStaysOutOfThePool(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	w := &evalWorld{t: t, svc: svc, keys: map[string]*decrypt.PrivateKey{}}
	w.must(rooms.PoolRoom, admin, rooms.CmdCreatePool, rooms.PoolSpec{Title: "专家库"})
	var batch rooms.ExpertBatch
	for i := range 6 {
		k, _ := decrypt.GenerateKey()
		pem, _ := k.Public().MarshalPEM()
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: fmt.Sprintf("x%d", i), Name: "专家", Employer: fmt.Sprintf("院%d", i), Specialties: []string{"A01"}}, PublicKey: string(pem)})
	}
	w.must(rooms.PoolRoom, admin, rooms.CmdAddExperts, batch)
	rk, _ := decrypt.GenerateKey()
	rpem, _ := rk.Public().MarshalPEM()
	w.must("ev1", admin, rooms.CmdCreateEvaluation, rooms.EvaluationSpec{
		Title: "评标", Opening: "op1", OpeningHash: "00", Tenderer: "城东水务集团",
		Bids:     []rooms.EvalBid{{Bidder: "a", Name: "甲", Price: "100"}},
		Criteria: scoring.Criteria{Items: []scoring.Item{{ID: "t1", Name: "方案", Group: "technical", Max: "60"}}, Price: scoring.PriceRule{Method: scoring.Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"}},
		Size:     5, Reps: []rooms.Rep{{ID: "rep1", Name: "招标人代表", PublicKey: string(rpem)}},
		Quotas: []draw.Quota{{Specialty: "A01", Count: 4, Reserves: 1}},
	})
	if _, err := svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom); err != nil {
		t.Fatal(err)
	}
	w.must("ev1", admin, rooms.CmdStartEvaluation, nil)
	w.must("ev1", supervisor, rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: "rep1", Points: 20, SuspendDays: 10, Reason: "向评委暗示倾向性意见"})
	v := w.view(supervisor).Results
	if v == nil || len(v.Violations) != 1 || v.Violations[0].Pool || v.Pending != 0 {
		t.Fatalf("the representative's violation: %+v", v)
	}
	if _, _, ok, _ := svc.NextTimer(ctx, "ev1"); ok {
		t.Fatal("a timer for a violation that goes nowhere")
	}
}
