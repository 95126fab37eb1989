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
	"github.com/bidroom/bidroom/rooms/scoring"
)

var (
	supervisor = rooms.Actor{Sub: "sup1", Role: rooms.RoleSupervisor}
	bidderA    = rooms.Actor{Sub: "a", Role: rooms.RoleBidder}
)

func expertActor(id string) rooms.Actor { return rooms.Actor{Sub: id, Role: rooms.RoleExpert} }

// evalWorld is a pool of 12 experts with real SM2 keys and one evaluation.
type evalWorld struct {
	t     *testing.T
	svc   *rooms.Service
	keys  map[string]*decrypt.PrivateKey
	n     int
	clock *clock
}

func (w *evalWorld) do(room string, a rooms.Actor, typ string, data any) error {
	w.n++
	_, err := w.svc.Execute(context.Background(), room, a, rooms.Command{ID: fmt.Sprintf("c%d", w.n), Type: typ, Data: mustJSON(w.t, data)})
	return err
}

func (w *evalWorld) must(room string, a rooms.Actor, typ string, data any) {
	w.t.Helper()
	if err := w.do(room, a, typ, data); err != nil {
		w.t.Fatalf("%s by %s: %v", typ, a.Sub, err)
	}
}

func (w *evalWorld) sign(id, msg string) string {
	sig, err := w.keys[id].Sign([]byte(msg))
	if err != nil {
		w.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (w *evalWorld) view(a rooms.Actor) rooms.EvaluationView {
	w.t.Helper()
	s, err := w.svc.Snapshot(context.Background(), "ev1", a)
	if err != nil {
		w.t.Fatalf("snapshot as %s: %v", a.Sub, err)
	}
	return s.View.(rooms.EvaluationView)
}

func newEvalWorld(t *testing.T) *evalWorld {
	svc, _, c := newService(t)
	w := &evalWorld{t: t, svc: svc, keys: map[string]*decrypt.PrivateKey{}, clock: c}
	w.must(rooms.PoolRoom, admin, rooms.CmdCreatePool, rooms.PoolSpec{Title: "市专家库"})
	var batch rooms.ExpertBatch
	for i := range 12 {
		id := fmt.Sprintf("x%02d", i)
		k, err := decrypt.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, _ := k.Public().MarshalPEM()
		w.keys[id] = k
		spec := "A01"
		if i >= 8 {
			spec = "B02"
		}
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: id, Name: "专家" + id, Employer: fmt.Sprintf("单位%d", i), Specialties: []string{spec}}, PublicKey: string(pem)})
	}
	batch.Experts[0].Employer = "苏州建设有限公司" // employed by bidder a: excluded
	w.must(rooms.PoolRoom, admin, rooms.CmdAddExperts, batch)
	w.must(rooms.PoolRoom, supervisor, rooms.CmdSuspendExpert, rooms.Suspension{Expert: "x01", Until: start.Add(90 * 24 * time.Hour), Reason: "上次评标中索要评审费"})

	w.must("ev1", admin, rooms.CmdCreateEvaluation, rooms.EvaluationSpec{
		Title: "城东水厂扩建工程施工 评标", Opening: "op1", OpeningHash: "00", Tenderer: "城东水务集团",
		Bids: []rooms.EvalBid{{Bidder: "a", Name: "苏州建设有限公司", Price: "1000000"}, {Bidder: "b", Name: "南通四建", Price: "980000"}},
		Criteria: scoring.Criteria{
			Checks: []scoring.Check{{ID: "q1", Name: "资格审查"}},
			Items:  []scoring.Item{{ID: "t1", Name: "施工方案", Group: "technical", Max: "50"}, {ID: "c1", Name: "业绩", Group: "commercial", Max: "20"}},
			Price:  scoring.PriceRule{Method: scoring.Lowest, Weight: "30", AbovePerPct: "1", BelowPerPct: "0.5"},
		},
		Size: 5, Quotas: []draw.Quota{{Specialty: "A01", Count: 3, Reserves: 2}, {Specialty: "B02", Count: 2, Reserves: 1}},
	})
	// The opening it was made of lists it (the server links the two).
	w.must("op1", admin, rooms.CmdCreateSession, rooms.SessionSpec{Title: "城东水厂扩建工程施工", Section: "CD-2026-017", Category: "construction",
		Deadline: start.Add(48 * time.Hour), CheckInAt: start.Add(47 * time.Hour), ControlPrice: "2000000.00"})
	if err := w.svc.LinkEvaluation(context.Background(), "op1", "ev1"); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestEvaluationFromDrawToTally(t *testing.T) {
	w := newEvalWorld(t)
	ctx := context.Background()
	rec, err := w.svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Eligible != 10 || rec.Excluded[draw.BidderEmployer] != 1 || rec.Excluded[draw.Suspended] != 1 {
		t.Fatalf("eligible %d, excluded %v; want 10, one bidder's employee and one suspended", rec.Eligible, rec.Excluded)
	}
	if _, err := w.svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("a second draw: %v, want wrong_state", err)
	}

	// A supervisor re-runs the draw from the pool's log.
	events, err := w.svc.EventsAfter(ctx, rooms.PoolRoom, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rooms.VerifyDraw(events, "ev1"); err != nil {
		t.Fatalf("verify the draw: %v", err)
	}
	forged := slices.Clone(events)
	last := forged[len(forged)-1]
	var d rooms.DrawRecord
	_ = json.Unmarshal(last.Data, &d)
	d.Seed = strings.Repeat("ab", 32)
	last.Data = mustJSON(t, d)
	last.Seal(last.Prev)
	forged[len(forged)-1] = last
	if _, err := rooms.VerifyDraw(forged, "ev1"); err == nil || !strings.Contains(err.Error(), "not the recorded") {
		t.Fatalf("a draw with a changed seed verified: %v", err)
	}

	members := func() []string {
		var ids []string
		for _, m := range w.view(supervisor).Committee {
			ids = append(ids, m.Expert)
		}
		return ids
	}
	m := members()
	if len(m) != 5 || slices.Contains(m, "x00") || slices.Contains(m, "x01") {
		t.Fatalf("committee %v", m)
	}
	// Names are sealed until the start: the members cannot enter yet.
	if err := w.svc.Admit(ctx, "ev1", expertActor(m[0])); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("a member before the start: %v", err)
	}
	w.must("ev1", admin, rooms.CmdStartEvaluation, nil)

	// m[0] recuses (a conflict, signed); m[1] declines through the admin: reserves of their specialty come in.
	if err := w.do("ev1", expertActor(m[2]), rooms.CmdDeclare, rooms.Declaration{Signature: w.sign(m[3], rooms.DeclarationMessage("ev1", m[2], false))}); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("a declaration signed with another member's key: %v", err)
	}
	w.must("ev1", expertActor(m[0]), rooms.CmdDeclare, rooms.Declaration{Conflict: true, Reason: "与投标人南通四建存在近三年劳动关系", Signature: w.sign(m[0], rooms.DeclarationMessage("ev1", m[0], true))})
	w.must("ev1", admin, rooms.CmdDecline, rooms.Decline{Expert: m[1], Reason: "电话确认：因病不能参加"})
	v := w.view(supervisor)
	if len(v.Replaced) != 2 || v.Replaced[0].Out != m[0] || !v.Replaced[0].Recused || v.Replaced[1].Out != m[1] {
		t.Fatalf("replacements %+v", v.Replaced)
	}
	if err := w.svc.Admit(ctx, "ev1", expertActor(m[0])); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("a replaced member still enters: %v", err)
	}
	m = members()
	for _, id := range m {
		w.must("ev1", expertActor(id), rooms.CmdDeclare, rooms.Declaration{Signature: w.sign(id, rooms.DeclarationMessage("ev1", id, false))})
	}
	if err := w.do("ev1", expertActor(m[0]), rooms.CmdOpenScoring, nil); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("open scoring with no chair: %v", err)
	}
	for _, id := range m[:3] {
		w.must("ev1", expertActor(id), rooms.CmdVoteChair, rooms.ChairVote{Candidate: m[4]})
	}
	chair := expertActor(m[4])
	w.must("ev1", chair, rooms.CmdOpenScoring, nil)

	// Clarification: the chair asks b in writing; b sees the question, not who asked; answers in time.
	ask := rooms.ClarificationRequest{Bidder: "b", Question: "请澄清投标报价中暂列金额的计取依据。", Minutes: 30}
	if err := w.do("ev1", expertActor(m[0]), rooms.CmdAskClarification, ask); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("a question by a member who is not the chair: %v", err)
	}
	if err := w.do("ev1", chair, rooms.CmdAskClarification, rooms.ClarificationRequest{Bidder: "b", Question: "?", Minutes: 1}); rooms.RefusalCode(err) != rooms.CodeInvalid {
		t.Fatalf("a one-minute deadline: %v", err)
	}
	w.must("ev1", chair, rooms.CmdAskClarification, ask)
	w.must("ev1", chair, rooms.CmdAskClarification, rooms.ClarificationRequest{Bidder: "b", Question: "请说明项目经理的在建项目情况。", Minutes: 10})
	qs, err := w.svc.ClarificationsFor(ctx, "op1", "b")
	if err != nil || len(qs["ev1"]) != 2 || qs["ev1"][0].Question != ask.Question {
		t.Fatalf("b's questions: %v %+v", err, qs)
	}
	if got, _ := json.Marshal(qs); strings.Contains(string(got), m[4]) || strings.Contains(string(got), "专家") {
		t.Fatalf("the question names who asked: %s", got)
	}
	if qa, _ := w.svc.ClarificationsFor(ctx, "op1", "a"); len(qa) != 0 {
		t.Fatalf("a sees b's questions: %+v", qa)
	}
	answer := rooms.ClarificationAnswer{ID: "q1", Bidder: "b", Answer: "暂列金额按招标文件第三章规定计取，金额为50000元。"}
	if err := w.do("ev1", expertActor(m[0]), rooms.CmdRecordClarification, answer); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("a member recording an answer: %v", err)
	}
	w.must("ev1", rooms.SystemActor, rooms.CmdRecordClarification, answer)
	if err := w.do("ev1", rooms.SystemActor, rooms.CmdRecordClarification, answer); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("a second answer: %v", err)
	}
	w.clock.set(w.clock.now().Add(11 * time.Minute))
	if err := w.do("ev1", rooms.SystemActor, rooms.CmdRecordClarification, rooms.ClarificationAnswer{ID: "q2", Bidder: "b", Answer: "无"}); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("an answer after the deadline: %v", err)
	}
	if cl := w.view(expertActor(m[1])).Clarifications; len(cl) != 2 || cl[0].Answer != answer.Answer || cl[1].Answer != "" {
		t.Fatalf("the committee's clarifications: %+v", cl)
	}

	sheets := func(t1 string) string {
		s := []scoring.Sheet{
			{Bidder: "a", Checks: map[string]scoring.CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": t1, "c1": "15"}},
			{Bidder: "b", Checks: map[string]scoring.CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": "40", "c1": "10"}},
		}
		b, _ := json.Marshal(s)
		return string(b)
	}
	submit := func(id, text string) error {
		return w.do("ev1", expertActor(id), rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: text, Signature: w.sign(id, rooms.SheetsMessage("ev1", id, text))})
	}
	if err := submit(m[0], sheets("51")); err == nil || !strings.Contains(err.Error(), "outside 0.00-50.00") {
		t.Fatalf("a score out of range: %v", err)
	}
	wrong := sheets("45")
	if err := w.do("ev1", expertActor(m[0]), rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: wrong, Signature: w.sign(m[1], rooms.SheetsMessage("ev1", m[0], wrong))}); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("sheets signed by another key: %v", err)
	}
	for i, id := range m {
		t1 := "45"
		if i == 3 {
			t1 = "5" // far from the others: an outlier
		}
		if err := submit(id, sheets(t1)); err != nil {
			t.Fatalf("sheets of %s: %v", id, err)
		}
		if i == 0 {
			if err := submit(id, sheets(t1)); rooms.RefusalCode(err) != rooms.CodeWrongState {
				t.Fatalf("a second signature: %v", err)
			}
			// Other members see that m[0] signed, not what.
			if o := w.view(expertActor(m[1])); len(o.Sheets) != 0 || o.Tally != nil {
				t.Fatalf("a member sees another's sheets: %+v", o.Sheets)
			}
		}
	}
	v = w.view(expertActor(m[0]))
	if v.Phase != rooms.EvalTallied || v.Tally == nil || len(v.Tally.Outliers) != 1 || v.Tally.Outliers[0].Expert != m[3] {
		t.Fatalf("tally %+v", v.Tally)
	}
	// The chair sends the outlier back; the member rescores; the tally comes again.
	w.must("ev1", chair, rooms.CmdReturnSheet, rooms.Returned{Expert: m[3], Bidder: "a", Item: "t1", Reason: "该项评分与其他成员差异过大，请复核"})
	if v = w.view(supervisor); v.Phase != rooms.EvalScoring || v.Tally != nil {
		t.Fatalf("after the return: %s, tally %v", v.Phase, v.Tally)
	}
	if err := submit(m[3], sheets("44")); err != nil {
		t.Fatal(err)
	}
	v = w.view(supervisor)
	if v.Phase != rooms.EvalTallied || len(v.Tally.Outliers) != 0 || v.Tally.Results[0].Rank != 1 || len(v.Sheets) != 5 {
		t.Fatalf("after the rescore: %s %+v", v.Phase, v.Tally)
	}
	// a: t1 mean (45×4+44)/5 = 44.8, c1 15, price 1,000,000 vs lowest 980,000: 2.0408 % above → 27.96 → 87.76.
	// b: 40 + 10 + 30 = 80.
	if r := v.Tally.Results[0]; r.Bidder != "a" || r.Total != "87.76" {
		t.Fatalf("first %+v, want a at 87.76", r)
	}

	// The report: every member signs its digest; one dissents in writing.
	digest := w.view(expertActor(m[0])).Digest
	signReport := func(id, dig, dissent string) error {
		return w.do("ev1", expertActor(id), rooms.CmdSignReport, rooms.ReportSignature{Digest: dig, Dissent: dissent,
			Signature: w.sign(id, rooms.ReportMessage("ev1", id, dig, dissent))})
	}
	if err := signReport(m[0], strings.Repeat("0", 64), ""); rooms.RefusalCode(err) != rooms.CodeInvalid {
		t.Fatalf("a signature over another digest: %v", err)
	}
	for i, id := range m {
		dissent := ""
		if i == 2 {
			dissent = "本人认为投标人a的施工方案存在重大缺陷，评分偏高，保留意见。"
		}
		if err := signReport(id, digest, dissent); err != nil {
			t.Fatalf("report signature of %s: %v", id, err)
		}
		if i == 0 {
			if err := signReport(id, digest, ""); rooms.RefusalCode(err) != rooms.CodeWrongState {
				t.Fatalf("a second report signature: %v", err)
			}
			if err := w.do("ev1", chair, rooms.CmdReturnSheet, rooms.Returned{Expert: m[1], Bidder: "a", Reason: "复核"}); rooms.RefusalCode(err) != rooms.CodeWrongState {
				t.Fatalf("a sheet sent back while the report is being signed: %v", err)
			}
		}
	}
	v = w.view(supervisor)
	c := v.Completed
	if v.Phase != rooms.EvalReported || c == nil || c.Digest != digest || len(c.Signatures) != 5 || c.Signatures[2].Dissent == "" {
		t.Fatalf("completed report: %s %+v", v.Phase, c)
	}
	if len(c.Report.Candidates) != 2 || c.Report.Candidates[0].Bidder != "a" || c.Report.Candidates[0].Rank != 1 || c.Report.DrawSeed != rec.Seed {
		t.Fatalf("candidates %+v", c.Report.Candidates)
	}
	sig, _ := base64.StdEncoding.DecodeString(c.Signatures[4].Signature)
	if err := w.keys[m[4]].Public().Verify([]byte(rooms.ReportMessage("ev1", m[4], digest, "")), sig); err != nil {
		t.Fatalf("a report signature does not verify with the member's key: %v", err)
	}

	// The platform signs (as the server does for POST /evaluations/{id}/report); the report verifies offline.
	platform, _ := decrypt.GenerateKey()
	msg, _ := c.PlatformMessage("ev1")
	psig, _ := platform.Sign(msg)
	kid := platform.Public().ID()
	w.must("ev1", rooms.SystemActor, rooms.CmdRecordReportSignature, rooms.PlatformSignature{
		Digest: hex.EncodeToString(sm3.Sm3Sum(msg)), Signature: base64.StdEncoding.EncodeToString(psig), KeyID: hex.EncodeToString(kid[:])})
	if err := w.do("ev1", rooms.SystemActor, rooms.CmdRecordReportSignature, rooms.PlatformSignature{Digest: "x"}); rooms.RefusalCode(err) != rooms.CodeWrongState {
		t.Fatalf("a second platform signature: %v", err)
	}
	events, _ = w.svc.EventsAfter(ctx, "ev1", 0)
	checks, err := rooms.VerifyReport(events, platform.Public())
	if err != nil || len(checks) != 8 || !strings.Contains(strings.Join(checks, "\n"), "with dissent") {
		t.Fatalf("verify the report: %v\n%s", err, strings.Join(checks, "\n"))
	}
	other, _ := decrypt.GenerateKey()
	if _, err := rooms.VerifyReport(events, other.Public()); err == nil || !strings.Contains(err.Error(), "platform") {
		t.Fatalf("verified with another platform key: %v", err)
	}
	// A changed score, resealed into a consistent chain: the report no longer follows from the log.
	forged = slices.Clone(events)
	for i := range forged {
		if forged[i].Type == rooms.EvScoresTallied {
			forged[i].Data = json.RawMessage(strings.Replace(string(forged[i].Data), `"total":"87.76"`, `"total":"97.76"`, 1))
		}
		prev := ""
		if i > 0 {
			prev = forged[i-1].Hash
		}
		forged[i].Seal(prev)
	}
	if _, err := rooms.VerifyReport(forged, platform.Public()); err == nil || !strings.Contains(err.Error(), "gives a report") {
		t.Fatalf("a forged tally verified: %v", err)
	}
}

// TestEvaluationIsSealed: bidders, hosts and experts outside the committee
// get nothing of the room: no snapshot, no command, no media; the admin
// sees the formation only.
func TestEvaluationIsSealed(t *testing.T) {
	w := newEvalWorld(t)
	ctx := context.Background()
	if _, err := w.svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom); err != nil {
		t.Fatal(err)
	}
	w.must("ev1", admin, rooms.CmdStartEvaluation, nil)
	v := w.view(supervisor)
	inside := map[string]bool{}
	for _, m := range v.Committee {
		inside[m.Expert] = true
	}
	var outsider string
	for id := range w.keys {
		if !inside[id] {
			outsider = id
		}
	}
	commands := []string{rooms.CmdCreateEvaluation, rooms.CmdFormCommittee, rooms.CmdStartEvaluation, rooms.CmdDeclare, rooms.CmdDecline,
		rooms.CmdVoteChair, rooms.CmdOpenScoring, rooms.CmdSubmitSheets, rooms.CmdReturnSheet, rooms.CmdSignReport,
		rooms.CmdAskClarification, rooms.CmdRecordClarification, rooms.CmdRecordReportSignature}
	head := w.svc.Head("ev1")
	for _, who := range []rooms.Actor{bidderA, host, expertActor(outsider), {Sub: "b", Role: rooms.RoleBidder}} {
		for _, check := range []func() error{
			func() error { return w.svc.Admit(ctx, "ev1", who) },
			func() error { return w.svc.AdmitMedia(ctx, "ev1", who) },
			func() error { _, err := w.svc.Snapshot(ctx, "ev1", who); return err },
		} {
			if err := check(); rooms.RefusalCode(err) != rooms.CodeForbidden {
				t.Errorf("%s %s: %v, want forbidden", who.Role, who.Sub, err)
			} else if strings.Contains(err.Error(), "专家") || strings.Contains(err.Error(), "x0") && who.Sub != outsider {
				t.Errorf("%s's refusal names a member: %v", who.Role, err)
			}
		}
		for _, c := range commands {
			if err := w.do("ev1", who, c, map[string]any{}); rooms.RefusalCode(err) != rooms.CodeForbidden && rooms.RefusalCode(err) != rooms.CodeWrongState {
				t.Errorf("%s %s by %s: %v, want a refusal", c, who.Sub, who.Role, err)
			} else if c != rooms.CmdCreateEvaluation && rooms.RefusalCode(err) != rooms.CodeForbidden {
				t.Errorf("%s by %s: %v, want forbidden", c, who.Role, err)
			}
		}
	}
	if got := w.svc.Head("ev1"); got != head {
		t.Fatalf("refused commands appended: head %d → %d", head, got)
	}
	// The pool: admins and supervisors only.
	for _, who := range []rooms.Actor{bidderA, host, expertActor(outsider)} {
		if _, err := w.svc.Snapshot(ctx, rooms.PoolRoom, who); rooms.RefusalCode(err) != rooms.CodeForbidden {
			t.Errorf("the pool as %s: %v", who.Role, err)
		}
	}
	a := w.view(admin)
	if a.Bids != nil || a.Criteria != nil || a.Tally != nil || len(a.Sheets) != 0 || a.Draw == nil {
		t.Fatalf("the admin's view holds more than the formation: %+v", a)
	}
	if err := w.svc.AdmitMedia(ctx, "ev1", admin); rooms.RefusalCode(err) != rooms.CodeForbidden {
		t.Fatalf("the admin in the committee's call: %v", err)
	}
	var member string
	for id := range inside {
		member = id
	}
	w.must("ev1", expertActor(member), rooms.CmdDeclare, rooms.Declaration{Signature: w.sign(member, rooms.DeclarationMessage("ev1", member, false))})
	if all, _ := w.svc.SeesAll(ctx, "ev1", admin); all {
		t.Fatal("the admin may read the whole evaluation log")
	}
	if all, _ := w.svc.SeesAll(ctx, "ev1", supervisor); !all {
		t.Fatal("a supervisor may not read the whole evaluation log")
	}
}

func TestDrawShortageChangesNothing(t *testing.T) {
	w := newEvalWorld(t)
	for _, id := range []string{"x09", "x10"} {
		w.must(rooms.PoolRoom, supervisor, rooms.CmdSuspendExpert, rooms.Suspension{Expert: id, Until: start.Add(24 * time.Hour), Reason: "违规"})
	}
	head := w.svc.Head(rooms.PoolRoom)
	_, err := w.svc.DrawCommittee(context.Background(), "ev1", rooms.PoolRoom)
	want := "too few eligible experts: B02 needs 3 (2 members + 1 reserves), 2 eligible, 1 missing"
	if err == nil || err.Error() != want || rooms.RefusalCode(err) != rooms.CodeInvalid {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if w.svc.Head(rooms.PoolRoom) != head {
		t.Fatal("a failed draw was recorded")
	}
}

func TestKindsAreDistinct(t *testing.T) {
	if got := rooms.Kinds(); !slices.Equal(got, []string{rooms.KindOpening, rooms.KindPool, rooms.KindEvaluation, rooms.KindAuction, rooms.KindOutbox}) {
		t.Fatalf("kinds %v", got)
	}
}
