package push

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// TestAlertRules: the session's deviation threshold held within min..max,
// the control price switch, rows not opened skipped.
func TestAlertRules(t *testing.T) {
	o := rooms.NewOpening("op")
	ro := func(pct int) *rooms.ReadOut {
		return &rooms.ReadOut{ControlPrice: "1000000", Budget: "1000000", DeviationPct: pct, Rows: []rooms.ReadOutRow{
			{Bidder: "a", Outcome: "opened", Sheet: map[string]string{"price": "1100000"}}, // 10 % off, over the ceiling
			{Bidder: "b", Outcome: "opened", Sheet: map[string]string{"price": "650000"}},  // 35 % off
			{Bidder: "c", Outcome: "revoked"},
			{Bidder: "d", Outcome: "opened", Sheet: map[string]string{"price": "一百万"}},
		}}
	}
	tests := []struct {
		name  string
		rules AlertRules
		pct   int
		want  string
	}{
		{"session 20 within 10..30", AlertRules{true, 10, 30}, 20, "a:above_control_price b:off_budget"},
		{"session 5 raised to 10", AlertRules{false, 10, 30}, 5, "b:off_budget"},
		{"session 50 held to 30", AlertRules{false, 10, 30}, 50, "b:off_budget"},
		{"session 50 held to 40: 35 % passes", AlertRules{false, 10, 40}, 50, ""},
		{"no budget alerts", AlertRules{true, 0, 0}, 20, "a:above_control_price"},
		{"nothing", AlertRules{false, 0, 0}, 20, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range tt.rules.alerts(o, ro(tt.pct), time.Now()) {
				got = append(got, a.Bidder+":"+strings.Join(a.Flags, ","))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("alerts %q, want %q", g, tt.want)
			}
		})
	}
}

// TestDocumentsBounded: publicity and results documents are made of
// their events; results too large for the bound drop the notices' texts
// (keeping digests and signatures) and fit.
func TestDocumentsBounded(t *testing.T) {
	pub, _ := json.Marshal(rooms.Publicity{Evaluation: "ev", Title: "评标", Candidates: []rooms.Candidate{{Bidder: "a"}}, Days: 3})
	ds, err := documentsOf("ev", nil, rooms.Event{Room: "ev", Seq: 7, Type: rooms.EvCandidatesPublished, Data: pub}, AlertRules{}, true, false)
	if err != nil || len(ds) != 1 || ds[0].kind != rooms.DocPublicity || ds[0].id != rooms.OutboxDocumentID("ev", 7, rooms.DocPublicity, "") {
		t.Fatalf("publicity drafts %+v, %v", ds, err)
	}
	if ds, _ := documentsOf("ev", nil, rooms.Event{Seq: 7, Type: rooms.EvCandidatesPublished, Data: pub}, AlertRules{}, false, true); ds != nil {
		t.Fatalf("publicity without endpoints: %+v", ds)
	}

	var n rooms.NoticesIssued
	for i := range 300 {
		nt, _ := json.Marshal(rooms.Notice{Version: rooms.NoticeVersion, Kind: rooms.NoticeResult, Evaluation: "ev", Opening: "op", Title: strings.Repeat("工程", 50),
			Bidder: fmt.Sprintf("b%d", i), Winner: "b0", WinnerName: "甲公司", Price: "1000"})
		n.Notices = append(n.Notices, rooms.NoticeEntry{Bidder: fmt.Sprintf("b%d", i), Kind: rooms.NoticeResult, JSON: string(nt), Digest: strings.Repeat("a", 64), Signature: "c2ln"})
	}
	raw, _ := json.Marshal(n)
	ds, err = documentsOf("ev", nil, rooms.Event{Room: "ev", Seq: 9, Type: rooms.EvNoticesIssued, Data: raw}, AlertRules{}, true, false)
	if err != nil || len(ds) != 1 {
		t.Fatal(ds, err)
	}
	doc := Document{Payload: ds[0].payload}
	b, _ := json.Marshal(doc)
	if len(b) <= rooms.MaxDocumentBytes {
		t.Fatalf("test notices are only %d bytes; make them larger", len(b))
	}
	if !ds[0].trim() {
		t.Fatal("trim refused")
	}
	b, _ = json.Marshal(doc)
	res := ds[0].payload.(*Results)
	if len(b) > rooms.MaxDocumentBytes || !res.Trimmed || len(res.Notices) != 300 || res.Notices[0].Notice != nil || res.Notices[299].Digest == "" || res.Winner != "b0" {
		t.Fatalf("trimmed results: %d bytes, %+v", len(b), res.Notices[0])
	}
	if ds[0].trim() {
		t.Fatal("trimmed twice")
	}
}
