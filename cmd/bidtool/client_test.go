package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestSubmitAndUnlockAgainstServer runs bidtool submit before the deadline
// and bidtool unlock in the decryption window against a real server.
func TestSubmitAndUnlockAgainstServer(t *testing.T) {
	dir, _, keyArgs := setup(t, true)
	pub, err := os.ReadFile(filepath.Join(dir, "bidder.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	svc := rooms.NewService(log, now)
	issuer, _ := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	bs, _ := blobs.Open(t.TempDir())
	platform, _ := decrypt.GenerateKey()
	hs := httptest.NewServer(api.NewRouter(api.Deps{Svc: svc, Issuer: issuer, AdminKey: "admin-key-0123456789",
		TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, WS: http.NotFoundHandler(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
		Blobs: bs, Platform: platform, MaxBidBytes: 1 << 30}))
	defer hs.Close()

	ctx := context.Background()
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: now().Add(time.Hour), CheckInAt: now(), ProceedBelowMin: true})
	if _, err := svc.Execute(ctx, "S-001", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.Command{ID: "c", Type: rooms.CmdCreateSession, Data: spec}); err != nil {
		t.Fatal(err)
	}
	reg, _ := json.Marshal(rooms.BidderSpec{ID: "B-7", Name: "投标人七", PublicKey: string(pub)})
	if _, err := svc.Execute(ctx, "S-001", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.Command{ID: "r", Type: rooms.CmdRegisterBidder, Data: reg}); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := issuer.Mint(auth.Request{Room: "S-001", Role: rooms.RoleBidder, Sub: "B-7", TTL: time.Hour})
	tokFile := write(t, filepath.Join(dir, "token"), []byte(tok+"\n"))
	common := []string{"--server", hs.URL, "--session", "S-001", "--token-file", tokFile}

	out := mustRun(t, append([]string{"submit", "--in", filepath.Join(dir, "bid.sealed"), "--quiet", "--receipt-out", filepath.Join(dir, "receipt.json")}, common...)...)
	if !strings.Contains(out, `"signature"`) || !strings.Contains(out, `"bidder":"B-7"`) {
		t.Fatalf("submit printed %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "receipt.json")); err != nil {
		t.Fatal(err)
	}
	// Unlocking before the window is refused with the server's reason.
	if _, err := bidtool(t, append(append([]string{"unlock"}, common...), keyArgs...)...); err == nil || !strings.Contains(err.Error(), "wrong_state") {
		t.Fatalf("unlock before the window: %v", err)
	}
	mu.Lock()
	skew = time.Hour + time.Second
	mu.Unlock()
	if _, err := svc.Execute(ctx, "S-001", rooms.SystemActor, rooms.Command{ID: "d", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	// A submission after the deadline is refused (R1).
	if _, err := bidtool(t, append([]string{"submit", "--in", filepath.Join(dir, "bid.sealed"), "--quiet"}, common...)...); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("late submit: %v", err)
	}
	if _, err := svc.Execute(ctx, "S-001", rooms.Actor{Sub: "h", Role: rooms.RoleHost}, rooms.Command{ID: "w", Type: rooms.CmdStartDecryption}); err != nil {
		t.Fatal(err)
	}
	// The wrong key cannot unwrap; the right one opens the bid and prints the sheet.
	other := t.TempDir()
	mustRun(t, "keygen", "--out", filepath.Join(other, "x"))
	if _, err := bidtool(t, append(append([]string{"unlock"}, common...), "--key", filepath.Join(other, "x.key.pem"))...); err == nil {
		t.Fatal("unlock with another key succeeded")
	}
	out = mustRun(t, append(append([]string{"unlock"}, common...), keyArgs...)...)
	var sheet map[string]string
	if err := json.Unmarshal([]byte(out), &sheet); err != nil || sheet["price"] != "998000.00" || sheet["project_manager"] != "李四" {
		t.Fatalf("unlock printed %s (%v)", out, err)
	}
}

// TestSignInAgainstServer runs bidtool signin against a real server: a key
// that is not the registered one is refused, the registered one (with its
// password) signs the bidder in, and signing in again is harmless.
func TestSignInAgainstServer(t *testing.T) {
	dir, _, keyArgs := setup(t, true)
	pub, err := os.ReadFile(filepath.Join(dir, "bidder.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	svc := rooms.NewService(log, nil)
	issuer, _ := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	bs, _ := blobs.Open(t.TempDir())
	platform, _ := decrypt.GenerateKey()
	hs := httptest.NewServer(api.NewRouter(api.Deps{Svc: svc, Issuer: issuer, AdminKey: "admin-key-0123456789",
		TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, WS: http.NotFoundHandler(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
		Blobs: bs, Platform: platform, MaxBidBytes: 1 << 30}))
	defer hs.Close()

	ctx := context.Background()
	adm := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: time.Now().Add(time.Hour), CheckInAt: time.Now()})
	reg, _ := json.Marshal(rooms.BidderSpec{ID: "B-7", Name: "投标人七", PublicKey: string(pub)})
	for _, c := range []struct {
		actor rooms.Actor
		cmd   rooms.Command
	}{
		{adm, rooms.Command{ID: "c", Type: rooms.CmdCreateSession, Data: spec}},
		{adm, rooms.Command{ID: "r", Type: rooms.CmdRegisterBidder, Data: reg}},
		{rooms.SystemActor, rooms.Command{ID: "o", Type: rooms.CmdOpenCheckIn}},
	} {
		if _, err := svc.Execute(ctx, "S-001", c.actor, c.cmd); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, _ := issuer.Mint(auth.Request{Room: "S-001", Role: rooms.RoleBidder, Sub: "B-7", TTL: time.Hour})
	tokFile := write(t, filepath.Join(dir, "token"), []byte(tok+"\n"))
	common := []string{"signin", "--server", hs.URL, "--session", "S-001", "--token-file", tokFile}

	other := t.TempDir()
	mustRun(t, "keygen", "--out", filepath.Join(other, "x"))
	if _, err := bidtool(t, append(common, "--key", filepath.Join(other, "x.key.pem"))...); err == nil || !strings.Contains(err.Error(), "bad_signature") {
		t.Fatalf("signin with another key: %v; want bad_signature", err)
	}
	if _, err := bidtool(t, append(common, "--key", filepath.Join(dir, "bidder.key.pem"))...); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("signin with an encrypted key and no password: %v", err)
	}
	out := mustRun(t, append(common, keyArgs...)...)
	if !strings.HasPrefix(out, "signed in to S-001 with key ") {
		t.Fatalf("signin printed %q", out)
	}
	if !svc.SignedIn("S-001", rooms.Actor{Sub: "B-7", Role: rooms.RoleBidder}) {
		t.Fatal("B-7 is not signed in")
	}
	if out := mustRun(t, append(common, keyArgs...)...); !strings.HasPrefix(out, "already signed in to S-001") {
		t.Fatalf("second signin printed %q", out)
	}
}
