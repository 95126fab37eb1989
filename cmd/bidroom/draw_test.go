package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestDrawVerify: a supervisor re-runs a recorded draw from the pool's
// log file and gets the same names; a log with the seed changed fails.
func TestDrawVerify(t *testing.T) {
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	clock := &demoClock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	svc := rooms.NewService(log, clock.now)
	ctx := context.Background()
	admin := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	do := func(room, id, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	do(rooms.PoolRoom, "p", rooms.CmdCreatePool, rooms.PoolSpec{Title: "专家库"})
	var batch rooms.ExpertBatch
	for i := range 9 {
		k, _ := decrypt.GenerateKey()
		pem, _ := k.Public().MarshalPEM()
		batch.Experts = append(batch.Experts, rooms.PoolExpert{Expert: draw.Expert{ID: fmt.Sprintf("x%d", i), Name: fmt.Sprintf("专家%d", i), Employer: fmt.Sprintf("院%d", i), Specialties: []string{"A01"}}, PublicKey: string(pem)})
	}
	do(rooms.PoolRoom, "add", rooms.CmdAddExperts, batch)
	do("ev1", "ev", rooms.CmdCreateEvaluation, rooms.EvaluationSpec{
		Title: "评标", Opening: "op1", Tenderer: "招标人", Size: 5,
		Bids:     []rooms.EvalBid{{Bidder: "a", Name: "甲", Price: "100"}},
		Criteria: scoring.Criteria{Price: scoring.PriceRule{Method: scoring.Lowest, Weight: "100"}},
		Quotas:   []draw.Quota{{Specialty: "A01", Count: 5, Reserves: 2}},
	})
	rec, err := svc.DrawCommittee(ctx, "ev1", rooms.PoolRoom)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := svc.EventsAfter(ctx, rooms.PoolRoom, 0)
	var lines bytes.Buffer
	for _, e := range events {
		b, _ := e.Encode()
		lines.Write(append(b, '\n'))
	}
	file := filepath.Join(t.TempDir(), "pool.jsonl")
	if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"draw", "--verify", "--evaluation", "ev1", "--log", file}, &out, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	for i, s := range rec.Drawn {
		if !strings.Contains(out.String(), fmt.Sprintf("%2d. ", i+1)) || !strings.Contains(out.String(), s.Expert+" "+s.Name) {
			t.Fatalf("the output lacks seat %d (%s):\n%s", i+1, s.Expert, out.String())
		}
	}
	tampered := strings.Replace(lines.String(), rec.Seed, strings.Repeat("0", 64), 1)
	if err := os.WriteFile(file, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"draw", "--verify", "--evaluation", "ev1", "--log", file}, &out, &out); err == nil {
		t.Fatal("a log with another seed verified")
	}
	if err := run(ctx, []string{"draw", "--verify", "--evaluation", "ev9", "--log", file}, &out, &out); err == nil {
		t.Fatal("a draw that never happened verified")
	}
}
