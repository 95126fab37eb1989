package blobgc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/bidroom/bidroom/archive"
)

// BenchmarkSweep is one collection of a store of 10,000 finished openings
// on the embedded store, each with 3 bids: its log (14 events) names 10
// blobs — the sealed bids, their backups, the decrypted files, the signed
// record — and every tenth opening left one blob no log names (a refused
// bid). Every blob is older than the grace, so the run lists all 101,000
// and reads every log; it removes the 1,000 orphans (put back, with the
// timer stopped, for the next iteration). It reports the heap in use at
// its highest, sampled as the run goes, and how long each phase took.
// listing-only is the same store with every blob within the grace: the
// listing alone.
//
//	go test ./blobgc -run XXX -bench Sweep -benchtime 1x
func BenchmarkSweep(b *testing.B) {
	const openings, bidders, orphanEvery = 10_000, 3, 10
	f := newFixture(b)
	ctx := context.Background()
	old := time.Now().Add(-30 * 24 * time.Hour)
	put := func(d string) {
		p := f.blobPath(d)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(d[:16]), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			b.Fatal(err)
		}
	}
	var orphans []string
	events := 0
	for i := range openings {
		room := fmt.Sprintf("open-%05d", i)
		log := openingLog(room, bidders)
		if err := f.log.Append(ctx, room, 0, "", log); err != nil {
			b.Fatal(err)
		}
		events += len(log)
		refs, err := archive.References(room, log)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range refs {
			if r.Blob != "" {
				put(r.Blob)
			}
		}
		if i%orphanEvery == 0 {
			orphans = append(orphans, digestOf("refused "+room))
		}
	}
	b.Run("all-old", func(b *testing.B) { benchmarkRun(b, f.collector(Config{}, nil), put, orphans, events) })
	// The same store seen from a month back: every blob within the grace,
	// so the run only lists them, and reads no log.
	young := f.collector(Config{Now: func() time.Time { return old.Add(-time.Hour) }}, nil)
	b.Run("listing-only", func(b *testing.B) { benchmarkRun(b, young, put, nil, 0) })
}

// benchmarkRun runs c, putting orphans back before each run; events is
// how many events a run must read.
func benchmarkRun(b *testing.B, c *Collector, put func(string), orphans []string, events int) {
	var peak uint64
	var calls int
	var start, logs, remove time.Time // when the run, its log reading and its removals began
	sample := func(p Progress) {
		switch {
		case p.Phase == "uploads" && start.IsZero():
			start = time.Now()
		case p.Phase == "logs" && logs.IsZero():
			logs = time.Now()
		case p.Phase == "remove" && remove.IsZero():
			remove = time.Now()
		}
		if calls++; calls%200 == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}
	var r Report
	end := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, d := range orphans {
			put(d)
		}
		start, logs, remove = time.Time{}, time.Time{}, time.Time{}
		runtime.GC()
		b.StartTimer()
		var err error
		if r, err = c.Run(context.Background(), false, sample); err != nil {
			b.Fatal(err)
		}
		end = time.Now()
		if r.BlobsRemoved != len(orphans) || r.Events != int64(events) {
			b.Fatalf("%+v, want %d removed of %d events", r, len(orphans), events)
		}
	}
	b.ReportMetric(float64(r.Blobs), "blobs")
	b.ReportMetric(float64(r.Rooms), "rooms")
	b.ReportMetric(float64(r.Events), "events")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-peak")
	if !logs.IsZero() {
		b.ReportMetric(logs.Sub(start).Seconds(), "s-listing")
		b.ReportMetric(remove.Sub(logs).Seconds(), "s-logs")
		b.ReportMetric(end.Sub(remove).Seconds(), "s-removing")
	}
}
