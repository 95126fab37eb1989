package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestDemoStampUnique: a server restarted within the second it started
// gives its demo rooms other ids (they used to collide, and the start
// failed).
func TestDemoStampUnique(t *testing.T) {
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	now := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	svc := rooms.NewService(log, func() time.Time { return now })
	ctx := context.Background()
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "示范", Category: "construction", Deadline: now.Add(time.Hour), CheckInAt: now})
	for i, want := range []string{"20261206-093000", "20261206-093000-2", "20261206-093000-3"} {
		got, err := demoStamp(ctx, svc, now)
		if err != nil || got != want {
			t.Fatalf("start %d: stamp %q (%v), want %q", i+1, got, err, want)
		}
		if _, err := svc.Execute(ctx, "demo-"+got, rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: spec}); err != nil {
			t.Fatal(err)
		}
	}
}
