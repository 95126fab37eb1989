package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/rooms"
)

// TestEvaluationReportPage: the completed report as a printable zh-CN page
// for the committee and supervisors — committee, results with names and
// prices, candidates, each member's dissent, the report's digest and the
// platform's signature — and refused to everyone else, naming nobody.
func TestEvaluationReportPage(t *testing.T) {
	e, ev := resultsEnv(t)
	path := "/api/v1/evaluations/ev1/report.html"
	sup := e.mint("ev1", rooms.RoleSupervisor, "s1")
	st, page := e.req("GET", path, sup, nil, "")
	if st != 200 {
		t.Fatalf("the report page: %d %s", st, page)
	}
	view := e.view(t, "ev1")
	html := string(page)
	for _, want := range []string{"<h1>评标报告</h1>", view.Title, "城东水务集团", "投标人a", "投标人d", "960000", "第 1 名",
		view.Completed.Digest, strings.ReplaceAll(view.PlatformSig.Signature, "+", "&#43;"), view.PlatformSig.KeyID, "主任委员"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, m := range view.Committee {
		if !strings.Contains(html, m.Name) {
			t.Errorf("the page lacks member %s", m.Name)
		}
	}
	dissents := 0
	for _, s := range view.Completed.Signatures {
		if s.Dissent != "" {
			dissents++
			if !strings.Contains(html, s.Dissent) {
				t.Errorf("the page lacks the dissent %q", s.Dissent)
			}
		}
	}
	if dissents == 0 {
		t.Fatal("the driven report has no dissent to print")
	}
	member := e.mint("ev1", rooms.RoleExpert, ev.Members[0])
	if st, _ := e.req("GET", path, member, nil, ""); st != 200 {
		t.Errorf("a member: %d, want 200", st)
	}
	for name, tok := range map[string]string{
		"admin key": adminKey, "bidder": e.mint("op1", rooms.RoleBidder, "a"), "host": e.mint("op1", rooms.RoleHost, "h1"),
		"bidder token for the evaluation": e.mint("ev1", rooms.RoleBidder, "a"), "undrawn expert": e.mint("ev1", rooms.RoleExpert, "nobody-x"),
		"host token for the evaluation": e.mint("ev1", rooms.RoleHost, "h1"),
	} {
		st, body := e.req("GET", path, tok, nil, "")
		if st != 403 {
			t.Errorf("%s: %d, want 403", name, st)
		}
		for _, m := range view.Committee {
			if strings.Contains(string(body), m.Name) {
				t.Errorf("%s's refusal names %s", name, m.Name)
			}
		}
	}
	// The same report as JSON: what the members and the platform signed.
	st, raw := e.req("GET", "/api/v1/evaluations/ev1/report", sup, nil, "")
	var doc struct {
		Completed rooms.CompletedReport   `json:"completed_report"`
		Platform  rooms.PlatformSignature `json:"platform_signature"`
	}
	if err := json.Unmarshal(raw, &doc); st != 200 || err != nil || doc.Completed.Digest != view.Completed.Digest ||
		len(doc.Completed.Signatures) != len(view.Committee) || doc.Platform.Signature != view.PlatformSig.Signature {
		t.Fatalf("the report as JSON: %d %.300s", st, raw)
	}
	if st, _ := e.req("GET", "/api/v1/evaluations/ev1/report", adminKey, nil, ""); st != 403 {
		t.Errorf("the report as JSON to the admin: %d, want 403", st)
	}
	if st, _ := e.req("GET", path, "", nil, ""); st != 401 {
		t.Errorf("no token: %d, want 401", st)
	}
	if st, _ := e.req("GET", "/api/v1/evaluations/op1/report.html", e.mint("op1", rooms.RoleSupervisor, "s1"), nil, ""); st != 404 {
		t.Errorf("an opening's report page: %d, want 404", st)
	}
}
