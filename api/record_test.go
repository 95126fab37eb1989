package api_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
)

// get fetches path and returns the status, content type and raw body.
func (e *env) get(path, bearer string) (int, string, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func (e *env) mint(room string, role rooms.Role, sub string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: room, Role: role, Sub: sub, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// TestOpeningRecordAPI: the host generates the signed record once the
// opening allows it; participants read it and its page; staff read the
// log; what they read verifies.
func TestOpeningRecordAPI(t *testing.T) {
	e := newEnv(t)
	const room = "s-rec"
	host := e.mint(room, rooms.RoleHost, "h1")
	sup := e.mint(room, rooms.RoleSupervisor, "s1")
	bidder := e.mint(room, rooms.RoleBidder, "a")
	elsewhere := e.mint("s-other", rooms.RoleHost, "h1")

	if st, body := e.do("POST", "/api/v1/sessions/"+room+"/record", host, nil); st != 404 {
		t.Fatalf("record of a session that does not exist: %d %v", st, body)
	}
	// A session not yet through its confirmation: 409 with the domain's reason.
	if st, body := e.do("POST", "/api/v1/sessions", adminKey, session("s-early")); st != 201 {
		t.Fatalf("create: %d %v", st, body)
	}
	st, body := e.do("POST", "/api/v1/sessions/s-early/record", adminKey, nil)
	if msg, _ := body["error"].(map[string]any)["message"].(string); st != 409 || errCode(body) != rooms.CodeWrongState || !strings.Contains(msg, "after the confirmation") {
		t.Fatalf("record before the confirmation: %d %v; want 409 wrong_state with the domain's message", st, body)
	}

	recordtest.Run(t, e.svc, room, e.advance)
	if st, _, _ := e.get("/api/v1/sessions/"+room+"/record", bidder); st != 404 {
		t.Fatalf("GET record before it exists: %d, want 404", st)
	}
	for _, tc := range []struct {
		who, tok string
		status   int
	}{{"bidder", bidder, 403}, {"supervisor", sup, 403}, {"another room's host", elsewhere, 403}, {"nobody", "", 401}} {
		if st, body := e.do("POST", "/api/v1/sessions/"+room+"/record", tc.tok, nil); st != tc.status {
			t.Errorf("POST record as %s: %d %v, want %d", tc.who, st, body, tc.status)
		}
	}
	st, made := e.do("POST", "/api/v1/sessions/"+room+"/record", host, nil)
	if st != 201 || len(made["digest"].(string)) != 64 || made["key_id"] == "" || made["size"].(float64) <= 0 {
		t.Fatalf("POST record as host: %d %v", st, made)
	}
	for _, tok := range []string{host, adminKey} {
		st, again := e.do("POST", "/api/v1/sessions/"+room+"/record", tok, nil)
		if st != 200 || again["digest"] != made["digest"] || again["signature"] != made["signature"] {
			t.Fatalf("second POST: %d %v; want 200 with the same record %v", st, again, made)
		}
	}

	// Any participant reads the record; the record field is the signed bytes.
	st, ctype, raw := e.get("/api/v1/sessions/"+room+"/record", bidder)
	if st != 200 || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("GET record as bidder: %d %s %s", st, ctype, raw)
	}
	var env struct {
		Record    json.RawMessage `json:"record"`
		Signature string          `json:"signature"`
		KeyID     string          `json:"key_id"`
		Digest    string          `json:"digest"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if record.Digest(env.Record) != made["digest"] || env.KeyID != made["key_id"] {
		t.Fatalf("the record served has digest %s, the log %v", record.Digest(env.Record), made["digest"])
	}
	if st, _, _ := e.get("/api/v1/sessions/"+room+"/log", bidder); st != 403 {
		t.Errorf("a bidder reads the whole log: %d, want 403", st)
	}
	st, ctype, logBody := e.get("/api/v1/sessions/"+room+"/log", sup)
	if st != 200 || ctype != "application/x-ndjson" {
		t.Fatalf("GET log as supervisor: %d %s", st, ctype)
	}
	var events []rooms.Event
	sc := bufio.NewScanner(bytes.NewReader(logBody))
	sc.Buffer(nil, rooms.MaxEventBytes)
	for sc.Scan() {
		ev, err := rooms.DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	sig, _ := base64.StdEncoding.DecodeString(env.Signature)
	if err := record.Verify(env.Record, sig, e.platform.Public(), events, nil); err != nil {
		t.Fatalf("the served record does not verify against the served log: %v", err)
	}
	if events[len(events)-1].Type != rooms.EvOpeningRecordSigned {
		t.Errorf("last event %s, want opening_record_signed", events[len(events)-1].Type)
	}

	st, ctype, page := e.get("/api/v1/sessions/"+room+"/record.html", bidder)
	if st != 200 || !strings.HasPrefix(ctype, "text/html") || !bytes.Contains(page, []byte("开标记录表")) || !bytes.Contains(page, []byte(env.Digest)) {
		t.Fatalf("GET record.html: %d %s, %d bytes", st, ctype, len(page))
	}
	if st, _, _ := e.get("/api/v1/sessions/"+room+"/record.html", elsewhere); st != 403 {
		t.Errorf("another room's token reads the page: %d", st)
	}
	// The session can now close (the record is signed).
	if st, body := e.do("POST", "/api/v1/sessions/"+room+"/commands", host, map[string]any{"id": "close", "type": "close_session"}); st != 200 {
		t.Fatalf("close after the record: %d %v", st, body)
	}
}
