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

// TestBackupChannelAgainstServer runs the backup channel (R10) with bidtool
// against a real server: seal --backup, submit --backup commits the copy's
// SM3; in the window the copy is refused before a failed unlock, a wrong
// key's failure is reported, another file is refused as backup_mismatch,
// the copy is accepted and unlock --backup opens it.
func TestBackupChannelAgainstServer(t *testing.T) {
	dir, _, keyArgs := setup(t, true)
	pub, err := os.ReadFile(filepath.Join(dir, "bidder.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, backup := filepath.Join(dir, "bid2.sealed"), filepath.Join(dir, "bid2.backup")
	out := mustRun(t, append([]string{"seal", "--in", filepath.Join(dir, "bid.pdf"), "--sheet", filepath.Join(dir, "sheet.json"),
		"--session", "S-002", "--bidder", "B-7", "--out", sealed, "--backup", backup, "--quiet"}, keyArgs...)...)
	if strings.Count(out, "digest SM3") != 2 {
		t.Fatalf("seal --backup printed %q; want two digests", out)
	}

	var mu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	svc := rooms.NewService(log, now)
	issuer, _ := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	bs, _ := blobs.Open(t.TempDir())
	platform, _ := decrypt.GenerateKey()
	hs := httptest.NewServer(api.NewRouter(api.Deps{Svc: svc, Issuer: issuer, AdminKey: "admin-key-0123456789",
		TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, WS: http.NotFoundHandler(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
		Blobs: bs, Platform: platform, MaxBidBytes: 1 << 30}))
	t.Cleanup(hs.Close)

	ctx := context.Background()
	adm := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: now().Add(time.Hour), CheckInAt: now(),
		ProceedBelowMin: true, BackupAllowed: true})
	reg, _ := json.Marshal(rooms.BidderSpec{ID: "B-7", Name: "投标人七", PublicKey: string(pub)})
	for _, c := range []rooms.Command{{ID: "c", Type: rooms.CmdCreateSession, Data: spec}, {ID: "r", Type: rooms.CmdRegisterBidder, Data: reg}} {
		if _, err := svc.Execute(ctx, "S-002", adm, c); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, _ := issuer.Mint(auth.Request{Room: "S-002", Role: rooms.RoleBidder, Sub: "B-7", TTL: time.Hour})
	common := []string{"--server", hs.URL, "--session", "S-002", "--token-file", write(t, filepath.Join(dir, "token"), []byte(tok+"\n"))}
	cmd := func(name string, args ...string) []string { return append(append([]string{name}, common...), args...) }

	if _, err := bidtool(t, cmd("submit", "--in", sealed, "--backup", filepath.Join(dir, "missing"), "--quiet")...); err == nil {
		t.Fatal("submit with a missing backup file succeeded")
	}
	mustRun(t, cmd("submit", "--in", sealed, "--backup", backup, "--quiet")...)
	want, err := fileDigest(backup)
	if err != nil {
		t.Fatal(err)
	}
	if bid, _, err := svc.BidOf(ctx, "S-002", "B-7"); err != nil || bid.BackupDigest != want {
		t.Fatalf("the bid holds backup digest %v (%v); want %s", bid, err, want)
	}

	mu.Lock()
	skew = time.Hour + time.Second
	mu.Unlock()
	for _, c := range []struct {
		actor rooms.Actor
		cmd   rooms.Command
	}{
		{rooms.SystemActor, rooms.Command{ID: "d", Type: rooms.CmdDeadline}},
		{rooms.Actor{Sub: "h", Role: rooms.RoleHost}, rooms.Command{ID: "w", Type: rooms.CmdStartDecryption}},
	} {
		if _, err := svc.Execute(ctx, "S-002", c.actor, c.cmd); err != nil {
			t.Fatal(err)
		}
	}

	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"backup before a failed unlock", cmd("backup", "--in", backup, "--quiet"), "unlock of the bid failed"},
		{"unlock --backup before a failed unlock", cmd("unlock", append([]string{"--backup"}, keyArgs...)...), "wrong_state"},
	}
	for _, r := range refusals {
		if _, err := bidtool(t, r.args...); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: %v; want %q", r.name, err, r.want)
		}
	}

	// A wrong key fails here; bidtool reports it, so the attempt is on record and the channel opens.
	other := t.TempDir()
	mustRun(t, "keygen", "--out", filepath.Join(other, "x"))
	if _, err := bidtool(t, cmd("unlock", "--key", filepath.Join(other, "x.key.pem"))...); err == nil {
		t.Fatal("unlock with another key succeeded")
	}
	snap, err := svc.Snapshot(ctx, "S-002", rooms.Actor{Sub: "B-7", Role: rooms.RoleBidder})
	if err != nil {
		t.Fatal(err)
	}
	sj, _ := json.Marshal(snap)
	if !strings.Contains(string(sj), `"code":"wrong_key"`) || !strings.Contains(string(sj), `"reported":true`) {
		t.Fatalf("the wrong key's failure is not on record: %s", sj)
	}

	refusals = []struct {
		name string
		args []string
		want string
	}{
		{"unlock --backup before the upload", cmd("unlock", append([]string{"--backup"}, keyArgs...)...), "no_backup"},
		{"another file as the backup", cmd("backup", "--in", sealed, "--quiet"), "backup_mismatch"},
	}
	for _, r := range refusals {
		if _, err := bidtool(t, r.args...); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: %v; want %q", r.name, err, r.want)
		}
	}
	if out := mustRun(t, cmd("backup", "--in", backup, "--quiet")...); !strings.Contains(out, "backup accepted: SM3 "+want) {
		t.Fatalf("backup printed %q", out)
	}
	out = mustRun(t, cmd("unlock", append([]string{"--backup"}, keyArgs...)...)...)
	var sheet map[string]string
	if err := json.Unmarshal([]byte(out), &sheet); err != nil || sheet["price"] != "998000.00" {
		t.Fatalf("unlock --backup printed %s (%v)", out, err)
	}
	_, opened, err := svc.BidOf(ctx, "S-002", "B-7")
	if err != nil || opened == nil || !opened.Backup {
		t.Fatalf("the bid is opened %+v (%v); want opened from the backup", opened, err)
	}
}
