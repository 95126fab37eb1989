package storetest

import (
	"context"
	"testing"

	"github.com/bidroom/bidroom/rooms"
)

// BenchAppend measures durable single-event appends to one room (what one
// command costs the store) and the read-back of the whole log, reporting
// appends/s and events/s read.
func BenchAppend(b *testing.B, l rooms.Log) {
	ctx := context.Background()
	room := "bench"
	var seq uint64
	prev := ""
	b.ResetTimer()
	for b.Loop() {
		evs := Chain(room, seq, prev, 1)
		if err := l.Append(ctx, room, seq, "", evs); err != nil {
			b.Fatal(err)
		}
		seq, prev = evs[0].Seq, evs[0].Hash
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.StartTimer()
}

// BenchRead measures reading a 1000-event log back, as a server does when
// it loads a room.
func BenchRead(b *testing.B, l rooms.Log) {
	ctx := context.Background()
	const n = 1000
	if err := l.Append(ctx, "read", 0, "", Chain("read", 0, "", n)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		evs, err := l.Read(ctx, "read", 0, n)
		if err != nil || len(evs) != n {
			b.Fatalf("read %d events: %v", len(evs), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
