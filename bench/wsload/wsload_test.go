package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestRunOnce runs the benchmark's core against a real server: 50 clients,
// 2 s of announcements, a reconnect storm. Every event must arrive and
// every client must resume without a gap.
func TestRunOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := buildServer(t)
	for _, role := range []string{"supervisor", "bidder"} {
		t.Run(role, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const n = 50
			res, err := runOnce(ctx, Options{
				Server: bin, N: n, Role: role, Duration: 2 * time.Second, Interval: 100 * time.Millisecond,
				Batch: 20, BatchPause: 10 * time.Millisecond, Settle: 100 * time.Millisecond,
				StormTimeout: 15 * time.Second, StormTail: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("runOnce: %v", err)
			}
			if !res.Held {
				t.Errorf("held = false, failures %q, client errors %q", res.Failures, res.Errors)
			}
			if res.Connected != n {
				t.Errorf("connected %d, want %d", res.Connected, n)
			}
			b := res.Broadcast
			// The announcer's pace depends on a shared CI box's load; the
			// point is that every announcement it made reached everyone.
			if b.Announcements < 3 {
				t.Errorf("announcements %d, want at least 3 in 2s", b.Announcements)
			}
			if b.Received != b.Expected || b.Lost != 0 || b.PosGaps != 0 {
				t.Errorf("broadcast received %d of %d, lost %d, pos gaps %d; want all, 0, 0", b.Received, b.Expected, b.Lost, b.PosGaps)
			}
			if b.Latency.Samples != b.Expected {
				t.Errorf("latency samples %d, want %d", b.Latency.Samples, b.Expected)
			}
			s := res.Storm
			if !s.Completed || s.CaughtUp != n {
				t.Errorf("storm: completed %v, caught up %d; want true, %d", s.Completed, s.CaughtUp, n)
			}
			if s.Snapshots != 0 {
				t.Errorf("storm: %d snapshot fallbacks, want 0 (all resume)", s.Snapshots)
			}
			if s.Lost != 0 || s.PosGaps != 0 || s.Announcements <= b.Announcements {
				t.Errorf("storm: lost %d, pos gaps %d, announcements %d (broadcast had %d); want 0, 0, more",
					s.Lost, s.PosGaps, s.Announcements, b.Announcements)
			}
			if res.Memory.RSSAfter <= res.Memory.RSSBefore/2 || res.Memory.HeapStackAfter == 0 {
				t.Errorf("memory readings look wrong: %+v", res.Memory)
			}
		})
	}
}

func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bidroom")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput()
	if err != nil {
		t.Fatalf("go build the server: %v\n%s", err, out)
	}
	return bin
}

func TestParseAnnText(t *testing.T) {
	tests := []struct {
		in   string
		idx  uint64
		sent int64
		ok   bool
	}{
		{`12:1700000000123456789"}`, 12, 1700000000123456789, true},
		{`1:5`, 1, 5, true},
		{`12`, 0, 0, false},
		{`:5`, 0, 0, false},
		{`7:`, 0, 0, false},
		{`hello`, 0, 0, false},
	}
	for _, tt := range tests {
		idx, sent, ok := parseAnnText([]byte(tt.in))
		if idx != tt.idx || sent != tt.sent || ok != tt.ok {
			t.Errorf("parseAnnText(%q) = %d, %d, %v; want %d, %d, %v", tt.in, idx, sent, ok, tt.idx, tt.sent, tt.ok)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond / 10) // 0.1 .. 100 ms
	}
	s := h.summary()
	if s.Samples != 1000 {
		t.Errorf("samples %d, want 1000", s.Samples)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50Ms, 50}, {"p99", s.P99Ms, 99}, {"max", s.MaxMs, 100}} {
		if c.got < c.want || c.got > c.want+0.2 {
			t.Errorf("%s = %.2f ms, want %.1f..%.1f", c.name, c.got, c.want, c.want+0.2)
		}
	}
}

func TestViewerEventParsing(t *testing.T) {
	r := &runner{}
	r.phase2Last.Store(^uint64(0))
	r.host = &host{}
	v := &viewer{r: r}
	sent := time.Now().Add(-5 * time.Millisecond)
	staff := `{"v":1,"type":"event","pos":3,"event":{"room":"r","seq":3,"type":"announcement","cmd":"a-1","vis":{},"data":{"text":"` + annText(1, sent) + `"},"prev":"x","hash":"y"}}`
	v.pos.Store(2)
	v.handle([]byte(staff), time.Now(), false)
	public := `{"v":1,"type":"event","pos":5,"event":{"type":"announcement","time":"t","actor":{"sub":"h","role":"host"},"data":{"text":"` + annText(2, sent) + `"}}}`
	v.handle([]byte(public), time.Now(), false)
	if got := v.pos.Load(); got != 5 {
		t.Errorf("pos %d, want 5", got)
	}
	if v.annRecv.Load() != 2 || v.lastAnn.Load() != 2 || v.annGaps.Load() != 0 {
		t.Errorf("announcements recv %d last %d gaps %d; want 2, 2, 0", v.annRecv.Load(), v.lastAnn.Load(), v.annGaps.Load())
	}
	if v.posGaps.Load() != 1 {
		t.Errorf("pos gaps %d, want 1 (3 -> 5)", v.posGaps.Load())
	}
	if l := r.steady.summary(); l.Samples != 2 || l.P50Ms < 5 {
		t.Errorf("latency samples %d p50 %.1f ms, want 2 samples of at least 5 ms", l.Samples, l.P50Ms)
	}
}
