// Package evaltest drives an evaluation room to a report signed by every
// member, for the tests of the packages around rooms (api, cmd): a pool
// of experts with real SM2 keys, the draw, declarations, the chair, one
// round of signed score sheets and the members' report signatures.
package evaltest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// Admin is the actor that creates the pool and the evaluation.
var Admin = rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}

// Evaluation is the outcome of Run.
type Evaluation struct {
	Room    string
	Members []string                       // the committee, in seat order
	Keys    map[string]*decrypt.PrivateKey // every pool expert's key
	Digest  string                         // the report's digest
}

// Run creates a pool of 8 experts (unless the pool exists) and evaluation
// room over bids (bidder → price) with 5 members, and drives it to a
// report every member signed; the third member signs with a dissent.
func Run(t testing.TB, svc *rooms.Service, room, opening string, bids map[string]string) *Evaluation {
	t.Helper()
	ctx := context.Background()
	n := 0
	do := func(r string, a rooms.Actor, typ string, data any) {
		t.Helper()
		n++
		raw, _ := json.Marshal(data)
		if _, err := svc.Execute(ctx, r, a, rooms.Command{ID: fmt.Sprintf("evaltest-%s-%d", room, n), Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s by %s: %v", typ, a.Sub, err)
		}
	}
	ev := &Evaluation{Room: room, Keys: map[string]*decrypt.PrivateKey{}}
	if ok, err := svc.Exists(ctx, rooms.PoolRoom); err != nil {
		t.Fatal(err)
	} else if !ok {
		do(rooms.PoolRoom, Admin, rooms.CmdCreatePool, rooms.PoolSpec{Title: "专家库"})
	}
	var batch rooms.ExpertBatch
	for i := range 8 {
		id := fmt.Sprintf("%s-x%d", room, i)
		k, err := decrypt.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, _ := k.Public().MarshalPEM()
		ev.Keys[id] = k
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: id, Name: fmt.Sprintf("专家%d", i), Employer: fmt.Sprintf("设计院%d", i), Specialties: []string{"A01"}}, PublicKey: string(pem)})
	}
	do(rooms.PoolRoom, Admin, rooms.CmdAddExperts, batch)
	spec := rooms.EvaluationSpec{Title: "评标", Opening: opening, Tenderer: "城东水务集团", Size: 5,
		Criteria: scoring.Criteria{
			Checks: []scoring.Check{{ID: "q1", Name: "资格审查"}},
			Items:  []scoring.Item{{ID: "t1", Name: "施工方案", Group: "technical", Max: "60"}},
			Price:  scoring.PriceRule{Method: scoring.Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"},
		},
		Quotas: []draw.Quota{{Specialty: "A01", Count: 5, Reserves: 2}}}
	for b, p := range bids {
		spec.Bids = append(spec.Bids, rooms.EvalBid{Bidder: b, Name: "投标人" + b, Price: p})
	}
	do(room, Admin, rooms.CmdCreateEvaluation, spec)
	// The server links an evaluation to its opening; a caller with no
	// opening of its own gets a bare session to link to.
	if ok, err := svc.Exists(ctx, opening); err != nil {
		t.Fatal(err)
	} else if !ok {
		now := svc.Now()
		do(opening, Admin, rooms.CmdCreateSession, rooms.SessionSpec{Title: "城东污水处理厂提标改造工程施工", Category: "construction",
			Deadline: now.Add(48 * time.Hour), CheckInAt: now.Add(47 * time.Hour), ControlPrice: "2000000.00"})
	}
	if err := svc.LinkEvaluation(ctx, opening, room); err != nil {
		t.Fatal(err)
	}
	rec, err := svc.DrawCommittee(ctx, room, rooms.PoolRoom)
	if err != nil {
		t.Fatal(err)
	}
	do(room, Admin, rooms.CmdStartEvaluation, nil)
	for _, s := range rec.Drawn {
		if !s.Reserve {
			ev.Members = append(ev.Members, s.Expert)
		}
	}
	sign := func(id, msg string) string {
		sig, err := ev.Keys[id].Sign([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	expert := func(id string) rooms.Actor { return rooms.Actor{Sub: id, Role: rooms.RoleExpert} }
	for _, id := range ev.Members {
		do(room, expert(id), rooms.CmdDeclare, rooms.Declaration{Signature: sign(id, rooms.DeclarationMessage(room, id, false))})
	}
	chair := ev.Members[0]
	for _, id := range ev.Members[:3] {
		do(room, expert(id), rooms.CmdVoteChair, rooms.ChairVote{Candidate: chair})
	}
	do(room, expert(chair), rooms.CmdOpenScoring, nil)
	for _, id := range ev.Members {
		var sheets []scoring.Sheet
		for b := range bids {
			sheets = append(sheets, scoring.Sheet{Bidder: b, Checks: map[string]scoring.CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": "50"}})
		}
		text, _ := json.Marshal(sheets)
		do(room, expert(id), rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: string(text), Signature: sign(id, rooms.SheetsMessage(room, id, string(text)))})
	}
	snap, err := svc.Snapshot(ctx, room, expert(chair))
	if err != nil {
		t.Fatal(err)
	}
	ev.Digest = snap.View.(rooms.EvaluationView).Digest
	for i, id := range ev.Members {
		dissent := ""
		if i == 2 {
			dissent = "对排序有不同意见，理由见附件。"
		}
		do(room, expert(id), rooms.CmdSignReport, rooms.ReportSignature{Digest: ev.Digest, Dissent: dissent, Signature: sign(id, rooms.ReportMessage(room, id, ev.Digest, dissent))})
	}
	return ev
}
