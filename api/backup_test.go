package api_test

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// TestBackupChannel: a bidder commits its backup copy's digest with the
// bid; after a failed unlock it uploads the copy inside the window and
// unlocks that. Another file, a bidder with no committed backup, and a
// backup before any failure are refused.
func TestBackupChannel(t *testing.T) {
	f := newBidFixture(t)
	bidA, backupA := seal(t, "s1", "a", f.keys["a"], 5000), seal(t, "s1", "a", f.keys["a"], 5000)
	sum := sm3.Sm3Sum(backupA)
	if status, body := f.uploadTo(bidUploads, f.tokens["a"], bidA, map[string]string{"backup_digest": hex.EncodeToString(sum)}); status != 201 {
		t.Fatalf("upload a with its backup digest: %d %v", status, body)
	}
	if status, body := f.upload(f.tokens["b"], seal(t, "s1", "b", f.keys["b"], 5000)); status != 201 {
		t.Fatalf("upload b: %d %v", status, body)
	}
	f.advance(2*time.Hour + time.Minute)
	ctx := t.Context()
	if _, err := f.svc.Execute(ctx, "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	if status, body := f.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "w", "type": "start_decryption"}); status != 200 {
		t.Fatalf("start decryption: %d %v", status, body)
	}
	if status, body := f.do("POST", backupUploads, f.tokens["a"], map[string]any{"size": len(backupA)}); status != 409 || errCode(body) != "wrong_state" {
		t.Fatalf("backup before a failed unlock: %d %v", status, body)
	}
	if status, body := f.unlockAs("a", make([]byte, 16)); status != 422 || errCode(body) != "wrong_key" {
		t.Fatalf("failing unlock: %d %v", status, body)
	}
	if status, body := f.unlockAs("b", make([]byte, 16)); status != 422 {
		t.Fatalf("b's failing unlock: %d %v", status, body)
	}
	if status, body := f.do("POST", backupUploads, f.tokens["b"], map[string]any{"size": 10}); status != 409 || errCode(body) != "wrong_state" {
		t.Fatalf("backup with no committed digest: %d %v", status, body)
	}
	if status, body := f.do("GET", "/api/v1/sessions/s1/bids/mine/unlock?backup=1", f.tokens["a"], nil); status != 409 || errCode(body) != "no_backup" {
		t.Fatalf("backup unlock before the upload: %d %v", status, body)
	}
	if status, body := f.uploadTo(backupUploads, f.tokens["a"], seal(t, "s1", "a", f.keys["a"], 5000), nil); status != 422 || errCode(body) != "backup_mismatch" {
		t.Fatalf("another sealed file as the backup: %d %v", status, body)
	}
	if status, body := f.uploadTo(backupUploads, f.tokens["a"], backupA, nil); status != 200 || body["accepted"] != true {
		t.Fatalf("backup upload: %d %v", status, body)
	}
	// Unlock the backup: its own wrapped key, then the data key to the platform.
	status, ch := f.do("GET", "/api/v1/sessions/s1/bids/mine/unlock?backup=1", f.tokens["a"], nil)
	if status != 200 || ch["digest"] != hex.EncodeToString(sum) {
		t.Fatalf("backup challenge: %d %v", status, ch)
	}
	wrapped, _ := base64.StdEncoding.DecodeString(ch["wrapped_key"].(string))
	dk, err := f.keys["a"].Decrypt(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	platform, _ := decrypt.ParsePublicKeyPEM([]byte(ch["platform_key"].(string)))
	ct, _ := platform.Encrypt(dk)
	status, body := f.do("POST", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens["a"], map[string]any{"encrypted_key": base64.StdEncoding.EncodeToString(ct), "backup": true})
	if status != 200 || body["opened"] != true {
		t.Fatalf("backup unlock: %d %v", status, body)
	}
	snap, _ := f.svc.Snapshot(ctx, "s1", rooms.Actor{Sub: "s", Role: rooms.RoleSupervisor})
	for _, p := range snap.View.(rooms.OpeningView).Bidders {
		if p.Sub == "a" && (p.Opened == nil || !p.Opened.Backup || len(p.AttemptLog) != 2 || !p.AttemptLog[1].Backup) {
			t.Fatalf("a after the backup unlock: opened %+v attempts %+v", p.Opened, p.AttemptLog)
		}
	}
}

// TestClientReportedUnlockFailure: a failure in the bidder's own client is
// recorded as an attempt (evidence for 撤销/撤回), only inside the window,
// only with a client's code, only by the bidder.
func TestClientReportedUnlockFailure(t *testing.T) {
	f := newBidFixture(t)
	if status, body := f.upload(f.tokens["a"], seal(t, "s1", "a", f.keys["a"], 1000)); status != 201 {
		t.Fatalf("upload: %d %v", status, body)
	}
	report := func(token, code string) (int, map[string]any) {
		return f.do("POST", "/api/v1/sessions/s1/bids/mine/unlock/failure", token, map[string]string{"code": code, "message": "所选私钥无法解开数据密钥"})
	}
	if status, body := report(f.tokens["a"], "wrong_key"); status != 409 {
		t.Fatalf("report before the window: %d %v", status, body)
	}
	f.advance(2*time.Hour + time.Minute)
	ctx := t.Context()
	if _, err := f.svc.Execute(ctx, "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	if status, body := f.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "w", "type": "start_decryption"}); status != 200 {
		t.Fatalf("start decryption: %d %v", status, body)
	}
	if status, body := report(f.tokens["a"], "server_error"); status != 400 {
		t.Fatalf("a client claiming a server fault: %d %v", status, body)
	}
	if status, body := report(host, "wrong_key"); status != 403 {
		t.Fatalf("host reports: %d %v", status, body)
	}
	if status, body := report(f.tokens["a"], "wrong_key"); status != 200 {
		t.Fatalf("report: %d %v", status, body)
	}
	snap, _ := f.svc.Snapshot(ctx, "s1", rooms.Actor{Sub: "s", Role: rooms.RoleSupervisor})
	for _, p := range snap.View.(rooms.OpeningView).Bidders {
		if p.Sub == "a" && (len(p.AttemptLog) != 1 || p.AttemptLog[0].Code != "wrong_key" || p.Opened != nil) {
			t.Fatalf("a's attempts %+v", p.AttemptLog)
		}
	}
}
