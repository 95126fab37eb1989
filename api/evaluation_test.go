package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
)

// expertsCSV is a pool import of n experts with fresh SM2 keys.
func expertsCSV(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"id", "name", "employer", "specialties", "center", "phone", "credit", "public_key"})
	for i := range n {
		k, err := decrypt.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, _ := k.Public().MarshalPEM()
		spec := "A01;C03"
		if i%3 == 0 {
			spec = "B02"
		}
		_ = w.Write([]string{fmt.Sprintf("x%02d", i), fmt.Sprintf("专家%02d", i), fmt.Sprintf("设计院%d", i), spec, "市中心", "13800000000", "", string(pem)})
	}
	w.Flush()
	return b.String()
}

func (e *env) post(path, bearer, ctype, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestEvaluationAPI: an evaluation from a finished opening, its committee
// drawn from an imported pool, and every endpoint refusing every role
// that is not the committee's or a supervisor's, naming nobody.
func TestEvaluationAPI(t *testing.T) {
	e := newEnv(t)
	recordtest.Run(t, e.svc, "op1", e.advance)
	if st, body := e.do("POST", "/api/v1/sessions/op1/record", adminKey, nil); st != 201 {
		t.Fatalf("record: %d %v", st, body)
	}

	// A bad row refuses the whole import and adds nobody.
	bad := strings.Replace(expertsCSV(t, 2), "x01", "x 01", 1)
	if st, body := e.post("/api/v1/pool/experts", adminKey, "text/csv", bad); st != 400 || !strings.Contains(body, "expert 2 (x 01)") {
		t.Fatalf("a bad import: %d %s", st, body)
	}
	if st, body := e.post("/api/v1/pool/experts", e.mint(rooms.PoolRoom, rooms.RoleSupervisor, "s1"), "text/csv", expertsCSV(t, 1)); st != 403 {
		t.Fatalf("an import by a supervisor: %d %s", st, body)
	}
	if st, body := e.post("/api/v1/pool/experts", adminKey, "text/csv", expertsCSV(t, 15)); st != 201 || !strings.Contains(body, `"added":15`) {
		t.Fatalf("import: %d %s", st, body)
	}

	spec := map[string]any{
		"id": "ev1", "opening": "op1", "tenderer": "城东水务集团", "size": 5,
		"quotas": []map[string]any{{"specialty": "A01", "count": 3, "reserves": 2}, {"specialty": "B02", "count": 2, "reserves": 1}},
		"criteria": map[string]any{
			"checks": []map[string]any{{"id": "q1", "name": "资格审查"}},
			"items":  []map[string]any{{"id": "t1", "name": "施工方案", "group": "technical", "max": "50"}, {"id": "c1", "name": "业绩", "group": "commercial", "max": "20"}},
			"price":  map[string]any{"method": "mean_trimmed", "weight": "30", "above_per_pct": "1", "below_per_pct": "0.5"},
		},
	}
	if st, body := e.do("POST", "/api/v1/evaluations", e.mint("ev1", rooms.RoleHost, "h1"), spec); st != 403 {
		t.Fatalf("create as host: %d %v", st, body)
	}
	st, body := e.do("POST", "/api/v1/evaluations", adminKey, spec)
	if st != 201 {
		t.Fatalf("create: %d %v", st, body)
	}
	st, body = e.do("POST", "/api/v1/evaluations/ev1/draw", adminKey, nil)
	if st != 201 {
		t.Fatalf("draw: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/evaluations/ev1/draw", adminKey, nil); st != 409 {
		t.Fatalf("a second draw: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "go", "type": "start_evaluation"}); st != 200 {
		t.Fatalf("start: %d %v", st, body)
	}
	snap, err := e.svc.Snapshot(context.Background(), "ev1", recordtest.Sup)
	if err != nil {
		t.Fatal(err)
	}
	v := snap.View.(rooms.EvaluationView)
	if len(v.Bids) != 2 || len(v.Committee) != 5 {
		// recordtest's opening reads out a and d as opened.
		t.Fatalf("bids %+v, committee %d", v.Bids, len(v.Committee))
	}
	member := v.Committee[0].Expert
	names := []string{}
	for _, m := range v.Committee {
		names = append(names, m.Name)
	}

	outsiders := map[string]string{
		"a bidder of the opening":  e.mint("ev1", rooms.RoleBidder, "a"),
		"the opening's host":       e.mint("ev1", rooms.RoleHost, "h1"),
		"an expert not drawn":      e.mint("ev1", rooms.RoleExpert, "x99"),
		"a bidder token for op1":   e.mint("op1", rooms.RoleBidder, "a"),
		"a member's token for op1": e.mint("op1", rooms.RoleExpert, member),
	}
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/sessions/ev1", nil},
		{"POST", "/api/v1/sessions/ev1/commands", map[string]any{"id": "x", "type": "vote_chair", "data": map[string]any{"candidate": member}}},
		{"GET", "/api/v1/sessions/ev1/log", nil},
		{"GET", "/api/v1/sessions/ev1/media?hall=evaluation", nil},
		{"GET", "/api/v1/sessions/ev1/record", nil},
		{"GET", "/api/v1/sessions/ev1/signin/challenge", nil},
		{"POST", "/whep/ev1?hall=evaluation", "v=0"},
		{"POST", "/api/v1/evaluations/ev1/report", nil},
		{"POST", "/whip/ev1?hall=evaluation", "v=0"},
		{"GET", "/api/v1/sessions/" + rooms.PoolRoom, nil},
	}
	head := e.svc.Head("ev1")
	for who, tok := range outsiders {
		for _, ep := range endpoints {
			var st int
			var text string
			if s, ok := ep.body.(string); ok {
				st, text = e.post(ep.path, tok, "application/sdp", s)
			} else {
				var body map[string]any
				st, body = e.do(ep.method, ep.path, tok, ep.body)
				text = fmt.Sprint(body)
			}
			if st != 403 && st != 401 && st != 404 {
				t.Errorf("%s %s as %s: %d %s, want a refusal", ep.method, ep.path, who, st, text)
			}
			for _, n := range names {
				if strings.Contains(text, n) {
					t.Errorf("%s %s as %s: the refusal names member %s: %s", ep.method, ep.path, who, n, text)
				}
			}
		}
	}
	if got := e.svc.Head("ev1"); got != head {
		t.Fatalf("refused requests appended to the evaluation: %d → %d", head, got)
	}
	// The member enters; a supervisor reads the whole log; the admin does not once the committee acts.
	if st, body := e.do("GET", "/api/v1/sessions/ev1", e.mint("ev1", rooms.RoleExpert, member), nil); st != 200 {
		t.Fatalf("the member: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", e.mint("ev1", rooms.RoleExpert, member), map[string]any{"id": "v", "type": "vote_chair", "data": map[string]any{"candidate": member}}); st != 409 {
		t.Fatalf("a vote before declaring: %d %v", st, body)
	}
	if st, _ := e.do("GET", "/api/v1/sessions/ev1/log", e.mint("ev1", rooms.RoleSupervisor, "s1"), nil); st != 200 {
		t.Fatalf("the supervisor's log: %d", st)
	}
	// A bidder of the opening reads the questions put to it (none yet) from the opening's side; nobody else does.
	if st, body := e.do("GET", "/api/v1/sessions/op1/clarifications", e.mint("op1", rooms.RoleBidder, "a"), nil); st != 200 || fmt.Sprint(body["clarifications"]) != "[]" {
		t.Fatalf("a's clarifications: %d %v", st, body)
	}
	for who, tok := range map[string]string{"host": e.mint("op1", rooms.RoleHost, "h1"), "unregistered": e.mint("op1", rooms.RoleBidder, "zz"), "member": e.mint("op1", rooms.RoleExpert, member)} {
		if st, body := e.do("GET", "/api/v1/sessions/op1/clarifications", tok, nil); st != 403 {
			t.Errorf("clarifications as %s: %d %v", who, st, body)
		}
	}
	if st, body := e.do("POST", "/api/v1/sessions/op1/clarifications/ev1/q1", e.mint("op1", rooms.RoleBidder, "a"), map[string]string{"answer": "答复"}); st != 404 {
		t.Fatalf("an answer to no question: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "f", "type": "form_committee", "data": map[string]any{}}); st != 403 {
		t.Fatalf("form_committee as a plain command: %d %v", st, body)
	}

	// The platform signs the report only once every member signed it, and only for an admin or a supervisor.
	if st, body := e.do("POST", "/api/v1/evaluations/ev1/report", adminKey, nil); st != 409 {
		t.Fatalf("a report signature before the report: %d %v", st, body)
	}
	for _, tok := range []string{e.mint("ev1", rooms.RoleExpert, member), e.mint("ev1", rooms.RoleBidder, "a")} {
		if st, body := e.do("POST", "/api/v1/evaluations/ev1/report", tok, nil); st != 403 {
			t.Fatalf("a report signature asked by a member or bidder: %d %v", st, body)
		}
	}
}
