package api_test

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// TestSignedConfirmation: after the read-out a bidder signs the read-out's
// digest with their registered key; another key, a tampered message or a
// garbage signature is refused, and the recorded confirmation carries the
// signature and key id.
func TestSignedConfirmation(t *testing.T) {
	f := newBidFixture(t)
	for _, b := range []string{"a", "b"} {
		if status, body := f.upload(f.tokens[b], seal(t, "s1", b, f.keys[b], 10_000)); status != 201 {
			t.Fatalf("upload %s: %d %v", b, status, body)
		}
	}
	if status, body := f.do("GET", "/api/v1/sessions/s1/confirm/challenge", f.tokens["a"], nil); status != 409 || errCode(body) != "wrong_state" {
		t.Fatalf("challenge before the read-out: %d %v", status, body)
	}
	f.advance(2*time.Hour + time.Minute)
	ctx := t.Context()
	if _, err := f.svc.Execute(ctx, "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	hostCmd := func(typ string) {
		t.Helper()
		if status, body := f.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": typ, "type": typ}); status != 200 {
			t.Fatalf("%s: %d %v", typ, status, body)
		}
	}
	hostCmd(rooms.CmdStartDecryption)
	for _, b := range []string{"a", "b"} {
		if status, body := f.unlockAs(b, nil); status != 200 {
			t.Fatalf("unlock %s: %d %v", b, status, body)
		}
	}
	hostCmd(rooms.CmdCloseDecryption) // early: every bid is unlocked
	hostCmd(rooms.CmdStartReadOut)
	hostCmd(rooms.CmdStartConfirmation)

	_, ch := f.do("GET", "/api/v1/sessions/s1/confirm/challenge", f.tokens["a"], nil)
	msg, _ := ch["message"].(string)
	digest, _ := ch["digest"].(string)
	aID := f.keys["a"].Public().ID()
	if msg != rooms.ConfirmationMessage("s1", "a", digest) || len(digest) != 64 || ch["key_id"] != hex.EncodeToString(aID[:]) {
		t.Fatalf("challenge %v", ch)
	}
	sign := func(bidder, text string) string {
		sig, err := f.keys[bidder].Sign([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	post := func(token, sig string) (int, map[string]any) {
		return f.do("POST", "/api/v1/sessions/s1/confirm", token, map[string]string{"signature": sig})
	}
	if status, body := post(f.tokens["a"], sign("b", msg)); status != 403 || errCode(body) != "bad_signature" {
		t.Fatalf("a confirms with b's key: %d %v", status, body)
	}
	if status, body := post(f.tokens["a"], sign("a", msg+"x")); status != 403 || errCode(body) != "bad_signature" {
		t.Fatalf("a signs another text: %d %v", status, body)
	}
	if status, body := post(f.tokens["a"], "%%%"); status != 400 {
		t.Fatalf("garbage signature: %d %v", status, body)
	}
	if status, body := post(host, sign("a", msg)); status != 403 {
		t.Fatalf("host confirms: %d %v", status, body)
	}
	good := sign("a", msg)
	for range 2 { // a retry is harmless
		if status, body := post(f.tokens["a"], good); status != 200 || body["digest"] != digest {
			t.Fatalf("a confirms: %d %v", status, body)
		}
	}
	if status, body := f.do("POST", "/api/v1/sessions/s1/commands", f.tokens["b"], map[string]any{"id": "c", "type": "confirm", "data": map[string]string{"digest": digest}}); status != 403 {
		t.Fatalf("b, who has a key, confirms by token: %d %v", status, body)
	}
	snap, err := f.svc.Snapshot(ctx, "s1", rooms.Actor{Sub: "s", Role: rooms.RoleSupervisor})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.View.(rooms.OpeningView).Bidders {
		switch p.Sub {
		case "a":
			c := p.Confirmation
			if c == nil || c.Method != rooms.SignInSM2 || c.Signature != good || c.Digest != digest || len(c.KeyID) != 64 {
				t.Fatalf("a's confirmation %+v", c)
			}
		case "b":
			if p.Confirmation != nil {
				t.Fatalf("b confirmed: %+v", p.Confirmation)
			}
		}
	}
}
