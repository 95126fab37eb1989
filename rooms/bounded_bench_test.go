package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/stats/statstest"
)

// BenchmarkManyClosedRooms: a store of n finished openings (each created,
// opened for sign-in and failed at its deadline for too few bids: no timer
// left). A fresh Service with the default cache bound and its scheduler's
// first rescan (every room folded once, to index its timers) — then what
// it keeps: rooms cached, the heap it adds over the store's own, and what
// a scheduler tick (the index, nothing due) and a later rescan (one small
// read per room) cost. Run with -benchtime 1x:
//
//	go test ./rooms -run XXX -bench ManyClosedRooms -benchtime 1x
func BenchmarkManyClosedRooms(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("rooms=", n), func(b *testing.B) {
			log := statstest.NewMemLog()
			fill(b, log, n)
			ctx := context.Background()
			heapBase := heapInUse()
			for range b.N {
				svc := rooms.NewService(log, func() time.Time { return start.Add(48 * time.Hour) })
				t0 := time.Now()
				if err := svc.RescanTimers(ctx); err != nil {
					b.Fatal(err)
				}
				first := time.Since(t0)
				heap := heapInUse() - heapBase
				t0 = time.Now()
				const ticks = 1000
				for range ticks {
					if due, _ := svc.DueTimers(svc.Now()); len(due) != 0 {
						b.Fatalf("%d rooms due", len(due))
					}
				}
				tick := time.Since(t0) / ticks
				t0 = time.Now()
				if err := svc.RescanTimers(ctx); err != nil {
					b.Fatal(err)
				}
				again := time.Since(t0)
				b.ReportMetric(float64(svc.CachedRooms()), "cached-rooms")
				b.ReportMetric(float64(heap)/(1<<20), "service-heap-MiB")
				b.ReportMetric(float64(heap)/float64(n), "service-heap-B/room")
				b.ReportMetric(float64(tick.Nanoseconds()), "tick-ns")
				b.ReportMetric(first.Seconds()*1000, "first-rescan-ms")
				b.ReportMetric(again.Seconds()*1000, "rescan-ms")
				runtime.KeepAlive(svc)
			}
		})
	}
}

// fill writes n failed openings to log through a throwaway Service.
func fill(b *testing.B, log rooms.Log, n int) {
	b.Helper()
	now := start
	svc := rooms.NewService(log, func() time.Time { return now })
	svc.SetMaxCachedRooms(100)
	ctx := context.Background()
	spec := mustJSONB(b, rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: start.Add(time.Hour), CheckInAt: start})
	for i := range n {
		room := fmt.Sprint("closed-", i)
		now = start
		for _, c := range []struct {
			a   rooms.Actor
			cmd rooms.Command
		}{
			{admin, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: spec}},
			{rooms.SystemActor, rooms.Command{ID: "open", Type: rooms.CmdOpenCheckIn}},
		} {
			if _, err := svc.Execute(ctx, room, c.a, c.cmd); err != nil {
				b.Fatal(err)
			}
		}
		now = start.Add(time.Hour)
		for _, cmd := range []rooms.Command{{ID: "deadline", Type: rooms.CmdDeadline}, {ID: "bonds", Type: rooms.CmdRecordBonds, Data: []byte(`{"bonds":[]}`)}} {
			if _, err := svc.Execute(ctx, room, rooms.SystemActor, cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func mustJSONB(b *testing.B, v any) []byte {
	b.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
