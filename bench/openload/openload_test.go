package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestOpeningEndToEnd runs a small opening against a real server: every
// bid must be unlocked, read out to every client and confirmed, with no
// event lost and sane timings.
func TestOpeningEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "bidroom")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput(); err != nil {
		t.Fatalf("go build the server: %v\n%s", err, out)
	}
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const bidders, viewers = 5, 5
	res, err := runOnce(ctx, Options{Server: bin, Bidders: bidders, Viewers: viewers, BidBytes: 20_000, Lead: 4 * time.Second, Timeout: 50 * time.Second})
	if err != nil {
		t.Fatalf("runOnce: %v (failures %q)", err, res.Failures)
	}
	if !held(res) {
		t.Errorf("not held: failures %q", res.Failures)
	}
	if res.Unlocked != bidders || res.Confirmed != bidders || res.UnlockFails != 0 {
		t.Errorf("unlocked %d, confirmed %d, unlock failures %d; want %d, %d, 0", res.Unlocked, res.Confirmed, res.UnlockFails, bidders, bidders)
	}
	if res.Lost != 0 || res.Gaps != 0 || res.Dropped != 0 || res.MissingKey != 0 {
		t.Errorf("lost %d (gaps %d, dropped %d, missing %d), want 0", res.Lost, res.Gaps, res.Dropped, res.MissingKey)
	}
	if res.SlackSecs <= 0 || res.SetupSecs <= 0 {
		t.Errorf("setup %.2fs, slack %.2fs; want both positive", res.SetupSecs, res.SlackSecs)
	}
	// Order on the server's clock: opened at (not before) the deadline,
	// then the decryption, then the read-out reaching everyone.
	if res.OpenedSecs < 0 || res.OpenedSecs > 3 || res.DecryptStart < res.OpenedSecs || res.ReadOutSecs < res.DecryptStart ||
		res.TotalSecs < res.ReadOutSecs || res.TotalSecs > 20 {
		t.Errorf("timings out of order or too long: opened %.3f, decryption %.3f, read-out %.3f, total %.3f s",
			res.OpenedSecs, res.DecryptStart, res.ReadOutSecs, res.TotalSecs)
	}
	if res.UnlockSecs <= 0 {
		t.Errorf("decryption started → all unlocked %.3f s, want > 0", res.UnlockSecs)
	}
	// Every client receives at least the opening's public steps; the
	// supervisors see every event.
	if min := uint64(bidders+viewers+1) * 8; res.Events < min || res.Latency.Samples != int(res.Events) {
		t.Errorf("events %d, latency samples %d; want at least %d and one sample per event", res.Events, res.Latency.Samples, min)
	}
	if res.Latency.P50Ms <= 0 || res.Latency.P99Ms < res.Latency.P50Ms || res.Latency.MaxMs > 5000 {
		t.Errorf("latency %+v looks wrong", res.Latency)
	}
	if res.ServerPeakRSS == 0 || res.ServerCPU <= 0 || len(res.Phases) < 6 {
		t.Errorf("server peak RSS %d, CPU %.1f %%, %d phases; want readings", res.ServerPeakRSS, res.ServerCPU, len(res.Phases))
	}
	if res.Record != "recorded" && res.Record != "skipped: no POST /record on this server" {
		t.Errorf("record step %q", res.Record)
	}
}
