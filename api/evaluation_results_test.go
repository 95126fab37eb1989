package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/evaltest"
)

// req sends a JSON request with an optional Idempotency-Key and returns
// the status and the raw body.
func (e *env) req(method, path, bearer string, body any, key string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	r, _ := http.NewRequest(method, e.url+path, rd)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// resultsEnv: the opening op1 (recordtest: bidders a–d registered, its
// record signed), the evaluation ev1 of bids a and d driven to a report
// every member signed, and the platform's signature over it.
func resultsEnv(t *testing.T) (*env, *evaltest.Evaluation) {
	e := newEnv(t)
	recordtest.Run(t, e.svc, "op1", e.advance)
	if st, body := e.do("POST", "/api/v1/sessions/op1/record", adminKey, nil); st != 201 {
		t.Fatalf("record: %d %v", st, body)
	}
	ev := evaltest.Run(t, e.svc, "ev1", "op1", map[string]string{"a": "1000000", "d": "960000"})
	if st, body := e.do("POST", "/api/v1/evaluations/ev1/report", adminKey, nil); st != 201 {
		t.Fatalf("report: %d %v", st, body)
	}
	return e, ev
}

// tokenKinds are the tokens every endpoint of the results is tried with.
func tokenKinds(e *env, member string) []struct{ name, tok string } {
	return []struct{ name, tok string }{
		{"no token", ""},
		{"bidder of the opening", e.mint("op1", rooms.RoleBidder, "a")},
		{"unregistered sub", e.mint("op1", rooms.RoleBidder, "zz")},
		{"bidder of another session", e.mint("op2", rooms.RoleBidder, "a")},
		{"host", e.mint("op1", rooms.RoleHost, "h1")},
		{"supervisor", e.mint("op1", rooms.RoleSupervisor, "s1")},
		{"admin key", adminKey},
		{"expert", e.mint("op1", rooms.RoleExpert, member)},
	}
}

// TestResultsEndpointsByToken: every endpoint of the results with every
// kind of token, at a point where it answers its rightful caller.
func TestResultsEndpointsByToken(t *testing.T) {
	e, ev := resultsEnv(t)
	member := ev.Members[1]
	// Before publication the publicity is a 404 that says nothing about the room.
	_, unknown := e.req("GET", "/api/v1/evaluations/nope/publicity", "", nil, "")
	st, before := e.req("GET", "/api/v1/evaluations/ev1/publicity", "", nil, "")
	if st != 404 || strings.Replace(string(before), "ev1", "nope", 1) != string(unknown) {
		t.Fatalf("publicity before publication: %d %s (unknown room: %s)", st, before, unknown)
	}
	if st, _ := e.req("GET", "/api/v1/evaluations/op1/publicity", "", nil, ""); st != 404 {
		t.Fatalf("the publicity of an opening: %d", st)
	}
	if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "pub", "type": "publish_candidates", "data": map[string]any{"days": 3}}); st != 200 {
		t.Fatalf("publish: %d %v", st, body)
	}
	// The host's rating needs the report only; the notices need the close.
	type want map[string]int
	objection := map[string]string{"text": "对评标结果有异议：第一中标候选人业绩不满足要求。"}
	rating := map[string]string{"expert": member, "conduct": "fair"}
	endpoints := []struct {
		method, path string
		body         any
		want         want // by token kind; a missing kind is 403
	}{
		{"GET", "/api/v1/evaluations/ev1/publicity", nil, want{"no token": 200, "bidder of the opening": 200, "unregistered sub": 200, "bidder of another session": 200, "host": 200, "supervisor": 200, "admin key": 200, "expert": 200}},
		{"GET", "/api/v1/sessions/op1/results", nil, want{"no token": 401, "bidder of the opening": 200, "supervisor": 200, "admin key": 200}},
		{"POST", "/api/v1/sessions/op1/results/ev1/objections", objection, want{"no token": 401, "bidder of the opening": 201}},
		{"GET", "/api/v1/sessions/op1/results/ev1/ratings", nil, want{"no token": 401, "host": 200}},
		{"GET", "/api/v1/sessions/op1/ratings", nil, want{"no token": 401, "host": 200}},
		{"POST", "/api/v1/sessions/op1/results/ev1/ratings", rating, want{"no token": 401, "host": 201}},
		{"POST", "/api/v1/evaluations/ev1/notices", nil, want{"no token": 401, "admin key": 409}},
	}
	names := []string{}
	for _, m := range e.view(t, "ev1").Committee {
		names = append(names, m.Name)
	}
	for _, ep := range endpoints {
		for _, tk := range tokenKinds(e, member) {
			w, ok := ep.want[tk.name]
			if !ok {
				w = 403
			}
			head := e.svc.Head("ev1")
			st, body := e.req(ep.method, ep.path, tk.tok, ep.body, "")
			if st != w {
				t.Errorf("%s %s with %s: %d %s, want %d", ep.method, ep.path, tk.name, st, body, w)
			}
			if st >= 400 && e.svc.Head("ev1") != head {
				t.Errorf("%s %s with %s: refused, but the evaluation changed", ep.method, ep.path, tk.name)
			}
			if tk.name != "host" && tk.name != "supervisor" && tk.name != "admin key" {
				for _, n := range names {
					if strings.Contains(string(body), n) {
						t.Errorf("%s %s with %s names member %s: %s", ep.method, ep.path, tk.name, n, body)
					}
				}
			}
		}
	}
}

// view is the supervisor's view of an evaluation.
func (e *env) view(t *testing.T, room string) rooms.EvaluationView {
	t.Helper()
	snap, err := e.svc.Snapshot(context.Background(), room, recordtest.Sup)
	if err != nil {
		t.Fatal(err)
	}
	return snap.View.(rooms.EvaluationView)
}

// TestResultsAPI: a publicity with objections (bad ones refused, a
// replay answered once, one after the end refused), the answers, the
// close, the notices signed once, and each bidder reading their own.
func TestResultsAPI(t *testing.T) {
	e, ev := resultsEnv(t)
	ctx := context.Background()
	cmd := func(typ string, data any) {
		t.Helper()
		if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": typ + fmt.Sprint(time.Now().UnixNano()), "type": typ, "data": data}); st != 200 {
			t.Fatalf("%s: %d %v", typ, st, body)
		}
	}
	a, b, d := e.mint("op1", rooms.RoleBidder, "a"), e.mint("op1", rooms.RoleBidder, "b"), e.mint("op1", rooms.RoleBidder, "d")
	objections := "/api/v1/sessions/op1/results/ev1/objections"
	if st, body := e.req("POST", objections, a, map[string]string{"text": "异议"}, ""); st != 404 {
		t.Fatalf("an objection before publication: %d %s", st, body)
	}
	if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "p0", "type": "publish_candidates", "data": map[string]any{"days": 2}}); st != 400 {
		t.Fatalf("a 2-day publicity: %d %v", st, body)
	}
	cmd("publish_candidates", map[string]any{"days": 3, "note": "公示期三日"})
	st, raw := e.req("GET", "/api/v1/evaluations/ev1/publicity", "", nil, "")
	var pub struct {
		Publicity rooms.Publicity `json:"publicity"`
		Closed    bool            `json:"closed"`
	}
	_ = json.Unmarshal(raw, &pub)
	if st != 200 || pub.Closed || len(pub.Publicity.Candidates) != 2 || pub.Publicity.Candidates[0].Bidder != "d" || pub.Publicity.Days != 3 {
		t.Fatalf("publicity: %d %s", st, raw)
	}

	head := e.svc.Head("ev1")
	for _, bad := range []struct {
		path string
		body any
		want int
	}{
		{objections, map[string]string{"text": ""}, 400},
		{objections, map[string]string{"text": strings.Repeat("x", 2001)}, 400},
		{objections, map[string]string{"text": "x", "extra": "y"}, 400},
		{objections, map[string]string{}, 400},
		{"/api/v1/sessions/op1/results/nope/objections", map[string]string{"text": "x"}, 404},
		{"/api/v1/sessions/op1/results/op1/objections", map[string]string{"text": "x"}, 404},
		{"/api/v1/sessions/ev1/results/ev1/objections", map[string]string{"text": "x"}, 403},
	} {
		if st, body := e.req("POST", bad.path, a, bad.body, ""); st != bad.want {
			t.Errorf("POST %s %v: %d %s, want %d", bad.path, bad.body, st, body, bad.want)
		}
	}
	if e.svc.Head("ev1") != head {
		t.Fatal("refused objections were recorded")
	}
	st, first := e.req("POST", objections, a, map[string]string{"text": "第一中标候选人的项目经理资格存疑。"}, "k1")
	st2, again := e.req("POST", objections, a, map[string]string{"text": "第一中标候选人的项目经理资格存疑。"}, "k1")
	if st != 201 || st2 != 200 || !bytes.Equal(first, again) || e.svc.Head("ev1") != head+1 {
		t.Fatalf("an objection and its replay: %d %s / %d %s, %d events", st, first, st2, again, e.svc.Head("ev1")-head)
	}
	if st, body := e.req("POST", objections, b, map[string]string{"text": "本公司对评标结果有异议。"}, "k1"); st != 201 || !strings.Contains(string(body), `"id":"o2"`) {
		t.Fatalf("b's objection (the same key, another bidder): %d %s", st, body)
	}
	var mine struct {
		Evaluations []struct {
			Evaluation   string                  `json:"evaluation"`
			Publicity    *rooms.Publicity        `json:"publicity"`
			Closed       bool                    `json:"closed"`
			MyObjections []rooms.ResultObjection `json:"my_objections"`
			Notice       *rooms.IssuedNotice     `json:"notice"`
		} `json:"evaluations"`
	}
	results := func(tok string) {
		t.Helper()
		st, raw := e.req("GET", "/api/v1/sessions/op1/results", tok, nil, "")
		mine.Evaluations = nil
		if err := json.Unmarshal(raw, &mine); st != 200 || err != nil {
			t.Fatalf("results: %d %s", st, raw)
		}
	}
	results(a)
	if len(mine.Evaluations) != 1 || len(mine.Evaluations[0].MyObjections) != 1 || mine.Evaluations[0].MyObjections[0].DueAt.IsZero() || mine.Evaluations[0].Notice != nil {
		t.Fatalf("a's results: %+v", mine)
	}
	results(d)
	if got := mine.Evaluations[0].MyObjections; got == nil || len(got) != 0 {
		t.Fatalf("d sees objections: %+v", got)
	}

	// The admin answers one; the notices wait for the close and for the other answer.
	cmd("answer_result_objection", map[string]any{"id": "o1", "answer": "经核查，项目经理资格符合招标文件要求。"})
	if st, body := e.do("POST", "/api/v1/evaluations/ev1/notices", adminKey, nil); st != 409 || !strings.Contains(fmt.Sprint(body), "publicity has closed") {
		t.Fatalf("notices during the publicity: %d %v", st, body)
	}
	e.advance(3*24*time.Hour + time.Minute)
	if st, body := e.req("POST", objections, d, map[string]string{"text": "逾期异议"}, ""); st != 409 || !strings.Contains(string(body), "ended") {
		t.Fatalf("an objection after the publicity: %d %s", st, body)
	}
	if _, err := e.svc.Execute(ctx, "ev1", rooms.SystemActor, rooms.Command{ID: "timer:close", Type: rooms.CmdClosePublicity}); err != nil {
		t.Fatal(err)
	}
	if st, body := e.do("POST", "/api/v1/evaluations/ev1/notices", adminKey, nil); st != 409 || !strings.Contains(fmt.Sprint(body), "o2") {
		t.Fatalf("notices with o2 unanswered: %d %v", st, body)
	}
	cmd("answer_result_objection", map[string]any{"id": "o2", "answer": "评标结果无误。"})
	st, n1 := e.req("POST", "/api/v1/evaluations/ev1/notices", adminKey, nil, "")
	st2, n2 := e.req("POST", "/api/v1/evaluations/ev1/notices", adminKey, nil, "")
	if st != 201 || st2 != 200 || !bytes.Equal(n1, n2) {
		t.Fatalf("notices: %d, then %d (%v)", st, st2, bytes.Equal(n1, n2))
	}
	var issued rooms.NoticesIssued
	_ = json.Unmarshal(n1, &issued)
	if len(issued.Notices) != 2 {
		t.Fatalf("%d notices", len(issued.Notices))
	}

	// Each bidder reads their own notice; b (no bid evaluated) none; the supervisor all of them.
	results(d)
	nd := mine.Evaluations[0].Notice
	if nd == nil || nd.Kind != rooms.NoticeAward || nd.Bidder != "d" || !mine.Evaluations[0].Closed {
		t.Fatalf("d's notice: %+v", mine)
	}
	if _, _, err := rooms.VerifyNotice(nd.NoticeEntry, e.platform.Public()); err != nil {
		t.Fatalf("d's notice does not verify: %v", err)
	}
	results(a)
	if na := mine.Evaluations[0].Notice; na == nil || na.Kind != rooms.NoticeResult || !strings.Contains(na.JSON, `"winner":"d"`) || !strings.Contains(na.JSON, `"price":"960000"`) {
		t.Fatalf("a's notice: %+v", na)
	}
	results(b)
	if mine.Evaluations[0].Notice != nil {
		t.Fatalf("b got a notice: %+v", mine.Evaluations[0].Notice)
	}
	st, raw = e.req("GET", "/api/v1/sessions/op1/results", e.mint("op1", rooms.RoleSupervisor, "s1"), nil, "")
	var staff struct {
		Evaluations []struct {
			Objections []rooms.ResultObjection `json:"objections"`
			Notices    []rooms.IssuedNotice    `json:"notices"`
		} `json:"evaluations"`
	}
	if err := json.Unmarshal(raw, &staff); err != nil || st != 200 || len(staff.Evaluations[0].Notices) != 2 || len(staff.Evaluations[0].Objections) != 2 {
		t.Fatalf("the supervisor's results: %d %s", st, raw)
	}
	_ = ev
}

// TestHostRatesOverREST: the host reads the committee once the report is
// complete and rates a member poor: the member's credit in the pool drops
// at once; a second rating replaces the first and gives the points back.
func TestHostRatesOverREST(t *testing.T) {
	e, ev := resultsEnv(t)
	host := e.mint("op1", rooms.RoleHost, "h1")
	path := "/api/v1/sessions/op1/results/ev1/ratings"
	st, raw := e.req("GET", path, host, nil, "")
	var got struct {
		Committee []rooms.ReportMember `json:"committee"`
		Ratings   []rooms.Rating       `json:"ratings"`
	}
	if err := json.Unmarshal(raw, &got); st != 200 || err != nil || len(got.Committee) != 5 || len(got.Ratings) != 0 {
		t.Fatalf("the committee: %d %s", st, raw)
	}
	// Every evaluation of the opening that can be rated, in one answer.
	st, raw = e.req("GET", "/api/v1/sessions/op1/ratings", host, nil, "")
	var all struct {
		Evaluations []struct {
			Evaluation string               `json:"evaluation"`
			Committee  []rooms.ReportMember `json:"committee"`
		} `json:"evaluations"`
	}
	if err := json.Unmarshal(raw, &all); st != 200 || err != nil || len(all.Evaluations) != 1 || all.Evaluations[0].Evaluation != "ev1" || len(all.Evaluations[0].Committee) != 5 {
		t.Fatalf("the host's evaluations to rate: %d %s", st, raw)
	}
	m := ev.Members[2]
	credit := func() int {
		snap, err := e.svc.Snapshot(context.Background(), rooms.PoolRoom, recordtest.Sup)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range snap.View.(rooms.PoolView).Experts {
			if x.ID == m {
				return x.Credit
			}
		}
		t.Fatalf("%s is not in the pool", m)
		return 0
	}
	for _, bad := range []map[string]string{
		{"expert": m, "conduct": "poor"},
		{"expert": m, "conduct": "awful", "note": "x"},
		{"expert": "nobody", "conduct": "good"},
	} {
		if st, body := e.req("POST", path, host, bad, ""); st != 400 && st != 404 {
			t.Errorf("rating %v: %d %s", bad, st, body)
		}
	}
	if st, body := e.req("POST", "/api/v1/sessions/op1/results/nope/ratings", host, map[string]string{"expert": m, "conduct": "good"}, ""); st != 404 {
		t.Fatalf("a rating in no evaluation: %d %s", st, body)
	}
	if st, body := e.req("POST", path, host, map[string]string{"expert": m, "conduct": "poor", "note": "多次迟到，影响评标进度"}, "r1"); st != 201 {
		t.Fatalf("rate: %d %s", st, body)
	}
	if c := credit(); c != 100-rooms.PoorConductCredit {
		t.Fatalf("credit %d after a poor rating", c)
	}
	if st, _ := e.req("POST", path, host, map[string]string{"expert": m, "conduct": "poor", "note": "多次迟到，影响评标进度"}, "r1"); st != 200 || credit() != 100-rooms.PoorConductCredit {
		t.Fatalf("a replayed rating: %d, credit %d", st, credit())
	}
	if st, body := e.req("POST", path, host, map[string]string{"expert": m, "conduct": "good"}, "r2"); st != 201 || strings.Count(string(body), `"id"`) != 1 {
		t.Fatalf("a second rating: %d %s", st, body)
	}
	if c := credit(); c != 100 {
		t.Fatalf("credit %d after the poor rating was replaced", c)
	}
	if r := e.view(t, "ev1").Results; r == nil || len(r.Ratings) != 1 || r.Ratings[0].ByRole != rooms.RoleHost || r.Ratings[0].Replaces != "r1" || len(r.Sanctions) != 2 {
		t.Fatalf("the supervisor's view of the ratings: %+v", r)
	}
}
