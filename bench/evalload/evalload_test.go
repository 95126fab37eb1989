package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// TestEvaluationEndToEnd runs a small evaluation against a real server:
// an opening of 4 bids, a committee of 5, 3 supervisors, 3 scoring rounds.
// Every command must be taken, every event reach every supervisor with no
// frame lost, and the report be signed by every member and the platform.
func TestEvaluationEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "bidroom")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput(); err != nil {
		t.Fatalf("go build the server: %v\n%s", err, out)
	}
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const members, bids, sups, rounds = 5, 4, 3, 3
	res, err := runOnce(ctx, Options{Server: bin, Members: members, Bids: bids, Supervisors: sups, Rounds: rounds,
		Gap: 10 * time.Millisecond, Lead: 4 * time.Second, Timeout: 80 * time.Second})
	if err != nil {
		t.Fatalf("runOnce: %v (failures %q)", err, res.Failures)
	}
	if !held(res) {
		t.Errorf("not held: failures %q, lost %d, refused %d, missing fan-out %d", res.Failures, res.Lost, res.Refused, res.MissingFanOut)
	}
	if res.Rounds != rounds {
		t.Errorf("rounds %d, want %d", res.Rounds, rounds)
	}
	// declare ×5, vote ×3, open, sheets ×5 per round, returns ×5 per round after the first, report ×5.
	want := map[string]int{rooms.CmdDeclare: members, rooms.CmdVoteChair: members/2 + 1, rooms.CmdOpenScoring: 1,
		rooms.CmdSubmitSheets: members * rounds, rooms.CmdReturnSheet: members * (rounds - 1), rooms.CmdSignReport: members}
	total := 0
	for _, n := range want {
		total += n
	}
	got := map[string]int{}
	for _, c := range res.ByType {
		got[c.Command] = c.Samples
		if c.P50Ms <= 0 || c.P99Ms < c.P50Ms || c.MaxMs < c.P99Ms || c.MaxMs > 10_000 {
			t.Errorf("%s latency %+v looks wrong", c.Command, c.Latency)
		}
	}
	for cmd, n := range want {
		if got[cmd] != n {
			t.Errorf("%s: %d samples, want %d", cmd, got[cmd], n)
		}
	}
	if res.Commands != total || got["all"] != total {
		t.Errorf("commands %d (all: %d), want %d", res.Commands, got["all"], total)
	}
	if res.FanOut.Samples != total*sups || res.FanAll.Samples != total {
		t.Errorf("fan-out samples %d / %d, want %d / %d", res.FanOut.Samples, res.FanAll.Samples, total*sups, total)
	}
	if res.FanOut.P50Ms <= 0 || res.FanAll.P99Ms < res.FanOut.P50Ms {
		t.Errorf("fan-out %+v / %+v looks wrong", res.FanOut, res.FanAll)
	}
	if res.Round.Samples != rounds-1 {
		t.Errorf("return rounds timed %d, want %d", res.Round.Samples, rounds-1)
	}
	// Every supervisor received every event of the room.
	if res.HeadSeq == 0 || res.Events < res.HeadSeq*sups {
		t.Errorf("events received %d, room head %d; want at least head × %d supervisors", res.Events, res.HeadSeq, sups)
	}
	if res.Server.Commands < total || res.Server.MeanMs <= 0 {
		t.Errorf("server side %+v, want at least %d commands and a mean", res.Server, total)
	}
	if !(res.FormSecs > 0 && res.ScoringSecs > 0 && res.ReportSecs > 0 && res.EvalSecs > res.FormSecs+res.ScoringSecs) {
		t.Errorf("timings out of order: convene %.3f, scoring %.3f, report %.3f, whole %.3f s", res.FormSecs, res.ScoringSecs, res.ReportSecs, res.EvalSecs)
	}
	if res.ServerPeakRSS == 0 || res.ServerCPU <= 0 || res.SheetsBytes == 0 {
		t.Errorf("server peak RSS %d, CPU %.1f %%, sheets %d bytes; want readings", res.ServerPeakRSS, res.ServerCPU, res.SheetsBytes)
	}
	var out bytes.Buffer
	printReport(&out, Report{Result: res, Held: held(res), Command: "evalload (test)"})
	for _, s := range []string{"submit_sheets", "return_sheet", "fan-out", "held: true"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the report lacks %q:\n%s", s, out.String())
		}
	}
}

// TestSheetsText checks the sheets a member signs are what the room
// accepts: one per bid, every check and item, scores in range with at
// most 2 decimals, a failed check with its reason, different each round.
func TestSheetsText(t *testing.T) {
	bids := []string{"B001", "B002", "B003"}
	text, err := sheetsText(bids, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sheets []scoring.Sheet
	if err := json.Unmarshal([]byte(text), &sheets); err != nil {
		t.Fatalf("sheets text is not JSON sheets: %v", err)
	}
	if len(sheets) != len(bids) {
		t.Fatalf("%d sheets, want %d", len(sheets), len(bids))
	}
	if err := criteria.Validate(); err != nil {
		t.Fatalf("criteria: %v", err)
	}
	fails := 0
	for _, s := range sheets {
		if err := criteria.CheckSheet(s); err != nil {
			t.Errorf("sheet for %s: %v", s.Bidder, err)
		}
		for _, c := range s.Checks {
			if !c.Pass {
				fails++
			}
		}
	}
	if fails != 1 {
		t.Errorf("%d failed checks, want 1", fails)
	}
	again, _ := sheetsText(bids, 2, 2)
	if again == text {
		t.Error("round 2's sheets are round 1's")
	}
}
