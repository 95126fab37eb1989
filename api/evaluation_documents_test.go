package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// sealFile seals plain as bidder's bid for session s1.
func sealFile(t *testing.T, bidder string, key *decrypt.PrivateKey, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := decrypt.Seal(&out, bytes.NewReader(plain), decrypt.SealOptions{
		SessionID: "s1", BidderID: bidder, Size: int64(len(plain)), Signer: key,
		Sheet: decrypt.Sheet{Price: "9800000.00"},
	}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// docResponse is one request for a document.
type docResponse struct {
	status  int
	header  http.Header
	body    []byte
	request string
}

func (e *env) document(path, bearer string, header map[string]string) docResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return docResponse{resp.StatusCode, resp.Header, b, path}
}

// TestEvaluationDocuments: the decrypted bid files the opening stored are
// read by the committee's current members once the evaluation started and
// by supervisors — as a PDF or text, inline, never cached — and refused,
// naming nobody, to everyone else.
func TestEvaluationDocuments(t *testing.T) {
	f := newBidFixture(t)
	pdf := []byte("%PDF-1.4\n% 投标文件 a\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	text := []byte(strings.Repeat("投标文件正文：施工组织设计。\n", 100))
	files := map[string][]byte{"a": pdf, "b": text}
	for b, plain := range files {
		if st, body := f.upload(f.tokens[b], sealFile(t, b, f.keys[b], plain)); st != 201 {
			t.Fatalf("upload %s: %d %v", b, st, body)
		}
	}
	f.advance(2*time.Hour + time.Minute)
	if _, err := f.svc.Execute(t.Context(), "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	if st, body := f.do("POST", "/api/v1/sessions/s1/commands", f.mint("s1", rooms.RoleHost, "h1"), map[string]any{"id": "w", "type": "start_decryption"}); st != 200 {
		t.Fatalf("start decryption: %d %v", st, body)
	}
	digests := map[string]string{}
	for b := range files {
		st, body := f.unlockAs(b, nil)
		if st != 200 {
			t.Fatalf("unlock %s: %d %v", b, st, body)
		}
		digests[b] = body["plaintext_digest"].(string)
	}

	// The pool and an evaluation of the two bids (created as the server
	// would from the opening's read-out), its committee drawn over REST.
	if st, body := f.post("/api/v1/pool/experts", adminKey, "text/csv", expertsCSV(t, 15)); st != 201 {
		t.Fatalf("import: %d %s", st, body)
	}
	spec := rooms.EvaluationSpec{Title: "评标", Opening: "s1", Tenderer: "城东水务集团", Size: 5,
		Bids: []rooms.EvalBid{
			{Bidder: "a", Name: "公司a", Price: "9800000.00", PlaintextDigest: digests["a"]},
			{Bidder: "b", Name: "公司b", Price: "9700000.00", PlaintextDigest: digests["b"]},
			{Bidder: "c", Name: "公司c", Price: "9900000.00"}, // opened elsewhere, no file here
		},
		Criteria: scoring.Criteria{Items: []scoring.Item{{ID: "t1", Name: "施工方案", Group: "technical", Max: "60"}},
			Price: scoring.PriceRule{Method: scoring.Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"}},
		Quotas: []draw.Quota{{Specialty: "A01", Count: 3, Reserves: 2}, {Specialty: "B02", Count: 2, Reserves: 1}}}
	raw, _ := json.Marshal(spec)
	if _, err := f.svc.Execute(t.Context(), "ev1", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.Command{ID: "c", Type: rooms.CmdCreateEvaluation, Data: raw}); err != nil {
		t.Fatal(err)
	}
	st, body := f.do("POST", "/api/v1/evaluations/ev1/draw", adminKey, nil)
	if st != 201 {
		t.Fatalf("draw: %d %v", st, body)
	}
	var rec rooms.DrawRecord
	b, _ := json.Marshal(body["draw"])
	_ = json.Unmarshal(b, &rec)
	var members, reserves, names []string
	for _, s := range rec.Drawn {
		names = append(names, s.Name)
		if s.Reserve {
			reserves = append(reserves, s.Expert)
		} else {
			members = append(members, s.Expert)
		}
	}
	doc := "/api/v1/evaluations/ev1/documents/"
	member, sup := f.mint("ev1", rooms.RoleExpert, members[0]), f.mint("ev1", rooms.RoleSupervisor, "s9")

	// Before the start: a supervisor reads, a member does not yet.
	if r := f.document(doc+"a", sup, nil); r.status != 200 {
		t.Fatalf("supervisor before the start: %d %s", r.status, r.body)
	}
	if r := f.document(doc+"a", member, nil); r.status != 403 {
		t.Fatalf("member before the start: %d %s", r.status, r.body)
	}
	if st, body := f.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "go", "type": "start_evaluation"}); st != 200 {
		t.Fatalf("start: %d %v", st, body)
	}
	// The admin replaces the second member: the first reserve of B02 or A01 comes in.
	if st, body := f.do("POST", "/api/v1/sessions/ev1/commands", adminKey, map[string]any{"id": "out", "type": "decline", "data": map[string]any{"expert": members[1], "reason": "因病不能参加"}}); st != 200 {
		t.Fatalf("decline: %d %v", st, body)
	}
	snap, err := f.svc.Snapshot(t.Context(), "ev1", rooms.Actor{Sub: "s9", Role: rooms.RoleSupervisor})
	if err != nil {
		t.Fatal(err)
	}
	incoming := snap.View.(rooms.EvaluationView).Replaced[0].In
	var unused string
	for _, r := range reserves {
		if r != incoming {
			unused = r
		}
	}

	for _, c := range []struct {
		who, bearer, bidder string
		status              int
	}{
		{"a member", member, "a", 200},
		{"a member, the text bid", member, "b", 200},
		{"the reserve who came in", f.mint("ev1", rooms.RoleExpert, incoming), "a", 200},
		{"a supervisor", sup, "b", 200},
		{"a member, a bid with no file", member, "c", 404},
		{"a member, no such bidder", member, "zz", 404},
		{"the admin key", adminKey, "a", 403},
		{"an admin token", f.mint("ev1", rooms.RoleAdmin, "adm"), "a", 403},
		{"a bidder", f.mint("ev1", rooms.RoleBidder, "a"), "a", 403},
		{"the opening's host", f.mint("ev1", rooms.RoleHost, "h1"), "a", 403},
		{"an expert not drawn", f.mint("ev1", rooms.RoleExpert, "x99"), "a", 403},
		{"a reserve not called", f.mint("ev1", rooms.RoleExpert, unused), "a", 403},
		{"the member replaced", f.mint("ev1", rooms.RoleExpert, members[1]), "a", 403},
		{"a member's token for the opening", f.mint("s1", rooms.RoleExpert, members[0]), "a", 403},
		{"a supervisor of another room", f.mint("s1", rooms.RoleSupervisor, "s9"), "a", 403},
		{"a bidder of the opening", f.tokens["a"], "a", 403},
		{"no token", "", "a", 401},
		{"a forged token", "eyJhbGciOiJIUzI1NiJ9.e30.x", "a", 401},
	} {
		r := f.document(doc+c.bidder, c.bearer, nil)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.who, r.status, r.body, c.status)
			continue
		}
		if c.status != 200 {
			for _, n := range names {
				if bytes.Contains(r.body, []byte(n)) {
					t.Errorf("%s: the refusal names %s: %s", c.who, n, r.body)
				}
			}
			if bytes.Contains(r.body, pdf[:20]) || bytes.Contains(r.body, text[:20]) {
				t.Errorf("%s: the refusal carries the document", c.who)
			}
			continue
		}
		want, ctype, ext := files[c.bidder], "application/pdf", "pdf"
		if c.bidder == "b" {
			ctype, ext = "text/plain; charset=utf-8", "txt"
		}
		for k, v := range map[string]string{
			"Content-Type": ctype, "Content-Disposition": fmt.Sprintf(`inline; filename="%s.%s"`, c.bidder, ext),
			"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s is %q, want %q", c.who, k, got, v)
			}
		}
		if !bytes.Equal(r.body, want) {
			t.Errorf("%s: the body is not the decrypted file (%d bytes, want %d)", c.who, len(r.body), len(want))
		}
	}

	// A range of the PDF, as a viewer asks for it.
	if r := f.document(doc+"a", member, map[string]string{"Range": "bytes=0-7"}); r.status != 206 || string(r.body) != "%PDF-1.4" ||
		r.header.Get("Content-Type") != "application/pdf" || r.header.Get("Content-Range") != fmt.Sprintf("bytes 0-7/%d", len(pdf)) {
		t.Fatalf("range: %d %q %v", r.status, r.body, r.header)
	}
	// Reading appends nothing to the evaluation.
	head := f.svc.Head("ev1")
	f.document(doc+"a", member, nil)
	if f.svc.Head("ev1") != head {
		t.Fatal("reading a document changed the evaluation's log")
	}
}
