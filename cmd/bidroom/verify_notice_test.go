package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/evaltest"
)

// TestVerifyNoticeCommand: an evaluation through its publicity to the
// notices the platform signs (POST /evaluations/{id}/notices); `bidroom
// verify --notice` passes on them, fails on an altered one and with
// another platform key; `verify --report` checks them in the log too.
func TestVerifyNoticeCommand(t *testing.T) {
	e := newEvaluationServer(t, map[string]string{"a": "1000000", "b": "980000", "c": "1010000"})
	dir, svc, clock, hs, issuer, platform, post := e.dir, e.svc, e.clock, e.hs, e.issuer, e.platform, e.post
	ctx := context.Background()
	if st, b := post("/api/v1/evaluations/ev1/report"); st != http.StatusCreated {
		t.Fatalf("POST report: %d %s", st, b)
	}
	exec := func(a rooms.Actor, id, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		if _, err := svc.Execute(ctx, "ev1", a, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	exec(evaltest.Admin, "publish", rooms.CmdPublishCandidates, rooms.PublishRequest{Days: 3})
	clock.advance(3 * 24 * time.Hour)
	exec(rooms.SystemActor, "close", rooms.CmdClosePublicity, nil)
	st, issued := post("/api/v1/evaluations/ev1/notices")
	if st != http.StatusCreated {
		t.Fatalf("POST notices: %d %s", st, issued)
	}
	platformPEM, _ := platform.Public().MarshalPEM()
	keyFile := writeTestFile(t, dir, "platform.pem", platformPEM)
	var out bytes.Buffer
	all := writeTestFile(t, dir, "notices.json", issued)
	if err := run(ctx, []string{"verify", "--notice", all, "--platform-key", keyFile}, &out, &out); err != nil {
		t.Fatalf("verify --notice: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "核验通过 / OK") || strings.Count(s, "平台签名有效") != 3 || strings.Count(s, "中标通知书 / award notice") != 1 || !strings.Contains(s, "winner b 投标人b, price 980000") {
		t.Fatalf("verify --notice printed:\n%s", s)
	}

	// One notice, as a bidder keeps it: checked with the key fetched from the server.
	var doc rooms.NoticesIssued
	_ = json.Unmarshal(issued, &doc)
	one, _ := json.Marshal(rooms.IssuedNotice{NoticeEntry: doc.Notices[0], IssuedAt: doc.IssuedAt, KeyID: doc.KeyID})
	out.Reset()
	if err := run(ctx, []string{"verify", "--notice", writeTestFile(t, dir, "one.json", one), "--server", hs.URL}, &out, &out); err != nil {
		t.Fatalf("verify --notice (one, key from the server): %v\n%s", err, out.String())
	}
	// Altered, or with another key: FAILED.
	altered := doc.Notices[0]
	altered.JSON = strings.Replace(altered.JSON, `"price":"980000"`, `"price":"98000"`, 1)
	bad, _ := json.Marshal(altered)
	out.Reset()
	if err := run(ctx, []string{"verify", "--notice", writeTestFile(t, dir, "bad.json", bad), "--platform-key", keyFile}, &out, &out); err == nil || !strings.Contains(out.String(), "核验失败 / FAILED") {
		t.Fatalf("an altered notice verified: %v\n%s", err, out.String())
	}
	other, _ := decrypt.GenerateKey()
	otherPEM, _ := other.Public().MarshalPEM()
	out.Reset()
	if err := run(ctx, []string{"verify", "--notice", all, "--platform-key", writeTestFile(t, dir, "other.pem", otherPEM)}, &out, &out); err == nil || !strings.Contains(out.String(), "核验失败 / FAILED") {
		t.Fatalf("notices verified with another platform key: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--notice", writeTestFile(t, dir, "empty.json", []byte(`{"evaluations":[]}`)), "--platform-key", keyFile}, &out, &out); err == nil || !strings.Contains(err.Error(), "no notice") {
		t.Fatalf("a file without notices: %v", err)
	}

	// verify --report checks the notices the log holds.
	sup, _, err := issuer.Mint(auth.Request{Room: "ev1", Role: rooms.RoleSupervisor, Sub: "s1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--report", "--server", hs.URL, "--session", "ev1", "--token", sup}, &out, &out); err != nil {
		t.Fatalf("verify --report: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "award and result notices") || strings.Count(s, "通知书有效") != 3 || !strings.Contains(s, "核验通过 / OK") {
		t.Fatalf("verify --report printed:\n%s", s)
	}
}
