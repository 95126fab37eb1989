package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/media"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

const adminKey = "test-admin-key-0123456789"

type env struct {
	t        testing.TB
	url      string
	issuer   *auth.Issuer
	platform *decrypt.PrivateKey
	svc      *rooms.Service
	media    *media.Server
	mu       sync.Mutex
	skew     time.Duration // added to the server clock
	routes   gin.RoutesInfo
	blobDir  string            // the blob store's directory
	gc       *blobgc.Collector // its collector, served at POST /api/v1/blobs/gc
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.skew)
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.skew += d
	e.mu.Unlock()
}

func newEnv(t *testing.T) *env { return newEnvFor(t) }

// newEnvB is newEnv for benchmarks.
func newEnvB(b *testing.B) *env { return newEnvFor(b) }

// newEnvFor builds the test server; edits change its dependencies first.
func newEnvFor(tb testing.TB, edits ...func(*api.Deps)) *env {
	tb.Helper()
	dir := tb.TempDir()
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	e := &env{t: tb}
	sfu, err := media.New(media.Config{UDPListen: "127.0.0.1:0", IncludeLoopback: true, MaxSDPBytes: 16 << 10}, slog.New(slog.NewTextHandler(io.Discard, nil)), media.Hooks{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sfu.Close() })
	e.media = sfu
	svc := rooms.NewService(log, e.now)
	e.svc = svc
	e.issuer, _ = auth.NewIssuer([]byte(strings.Repeat("s", 32)), nil)
	e.blobDir = filepath.Join(dir, "blobs")
	bs, err := blobs.Open(e.blobDir)
	if err != nil {
		tb.Fatal(err)
	}
	if e.gc, err = blobgc.New(bs, log, blobgc.Config{UploadTTL: 48 * time.Hour, OrphanGrace: 24 * time.Hour}, nil, nil); err != nil {
		tb.Fatal(err)
	}
	if e.platform, err = decrypt.GenerateKey(); err != nil {
		tb.Fatal(err)
	}
	deps := api.Deps{
		Svc: svc, Issuer: e.issuer, AdminKey: adminKey, TokenTTL: time.Hour, CheckInLead: time.Hour,
		MaxBodyBytes: 4096, WS: http.NotFoundHandler(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(ctx context.Context) error { _, err := log.Rooms(ctx); return err },
		Blobs: bs, Platform: e.platform, MaxBidBytes: 1 << 30,
		MediaHTTP: sfu.Handler(api.MediaAuthenticator(e.issuer, svc)), Media: sfu, GC: e.gc,
	}
	for _, edit := range edits {
		edit(&deps)
	}
	r := api.NewRouter(deps)
	e.routes = r.Routes()
	hs := httptest.NewServer(r)
	tb.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

// do sends a request and returns the status and decoded body.
func (e *env) do(method, path, bearer string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	if e, ok := body["error"].(map[string]any); ok {
		return e["code"].(string)
	}
	return ""
}

func session(id string) map[string]any {
	return map[string]any{
		"id": id, "title": "道路工程", "category": "construction", "control_price": "5000000", "proceed_below_min": true,
		"deadline": time.Now().Add(2 * time.Hour).Format(time.RFC3339),
		"bidders":  []map[string]string{{"id": "a", "name": "甲公司"}, {"id": "b", "name": "乙公司"}},
	}
}

func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("POST", "/api/v1/sessions", adminKey, session("s1"))
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	state := body["state"].(map[string]any)
	if state["phase"] != "scheduled" || len(state["bidders"].([]any)) != 2 {
		t.Fatalf("created state = %v", state)
	}
	// check_in_at defaulted to deadline - lead.
	sess := state["session"].(map[string]any)
	dl, _ := time.Parse(time.RFC3339, sess["deadline"].(string))
	ci, _ := time.Parse(time.RFC3339, sess["check_in_at"].(string))
	if dl.Sub(ci) != time.Hour {
		t.Errorf("check_in_at %v is not an hour before the deadline %v", ci, dl)
	}

	if status, body = e.do("POST", "/api/v1/sessions", adminKey, session("s1")); status != 409 || errCode(body) != "wrong_state" {
		t.Errorf("create twice: %d %v", status, body)
	}
	status, body = e.do("GET", "/api/v1/sessions", adminKey, nil)
	if status != 200 || len(body["sessions"].([]any)) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	if status, _ = e.do("POST", "/api/v1/sessions/s1/bidders", adminKey, map[string]string{"id": "c", "name": "丙公司"}); status != 201 {
		t.Fatalf("register: %d", status)
	}

	// A bidder's view of the session names nobody else.
	tok, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleBidder, Sub: "a", TTL: time.Hour})
	status, body = e.do("GET", "/api/v1/sessions/s1", tok, nil)
	raw, _ := json.Marshal(body)
	if status != 200 || strings.Contains(string(raw), "乙公司") || strings.Contains(string(raw), "丙公司") || body["seq"] != nil {
		t.Fatalf("bidder view: %d %s", status, raw)
	}
	// Commands over REST: a bidder may not announce, sign-in is not open yet.
	status, body = e.do("POST", "/api/v1/sessions/s1/commands", tok, map[string]any{"id": "1", "type": "announce", "data": map[string]string{"text": "x"}})
	if status != 403 || errCode(body) != "forbidden" {
		t.Errorf("bidder announce: %d %v", status, body)
	}
	status, body = e.do("POST", "/api/v1/sessions/s1/commands", tok, map[string]any{"id": "2", "type": "sign_in"})
	if status != 409 || errCode(body) != "wrong_state" {
		t.Errorf("early sign-in: %d %v", status, body)
	}
	host, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	cmd := map[string]any{"id": "3", "type": "announce", "data": map[string]string{"text": "开标前请准备"}}
	if status, body = e.do("POST", "/api/v1/sessions/s1/commands", host, cmd); status != 200 || body["duplicate"] != false {
		t.Errorf("host announce: %d %v", status, body)
	}
	if status, body = e.do("POST", "/api/v1/sessions/s1/commands", host, cmd); status != 200 || body["duplicate"] != true {
		t.Errorf("host announce retry: %d %v", status, body)
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/api/v1/sessions", adminKey, session("s1"))
	other, _, _ := e.issuer.Mint(auth.Request{Room: "s2", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	bidder, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleBidder, Sub: "a", TTL: time.Hour})
	hostTok, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	past, _ := auth.NewIssuer([]byte(strings.Repeat("s", 32)), func() time.Time { return time.Now().Add(-3 * time.Hour) })
	expired, _, _ := past.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	tests := []struct {
		name, method, path, bearer string
		body                       any
		status                     int
		code                       string
	}{
		{"list without key", "GET", "/api/v1/sessions", "", nil, 401, "unauthorized"},
		{"list with wrong key", "GET", "/api/v1/sessions", "nope", nil, 401, "unauthorized"},
		{"list with a token", "GET", "/api/v1/sessions", bidder, nil, 401, "unauthorized"},
		{"create with a token", "POST", "/api/v1/sessions", bidder, session("s3"), 403, "forbidden"},
		{"malformed JSON", "POST", "/api/v1/sessions", adminKey, `{"title":`, 400, "invalid"},
		{"unknown field", "POST", "/api/v1/sessions", adminKey, `{"title":"x","colour":"red"}`, 400, "invalid"},
		{"oversize body", "POST", "/api/v1/sessions", adminKey, `{"title":"` + strings.Repeat("x", 8000) + `"}`, 413, "too_large"},
		{"bad id", "POST", "/api/v1/sessions", adminKey, map[string]any{"id": "a/b", "title": "x"}, 400, "invalid"},
		{"past deadline", "POST", "/api/v1/sessions", adminKey, map[string]any{"title": "x", "category": "land", "deadline": time.Now().Add(-time.Hour)}, 400, "invalid"},
		{"get other room", "GET", "/api/v1/sessions/s1", other, nil, 403, "forbidden"},
		{"get expired", "GET", "/api/v1/sessions/s1", expired, nil, 401, "unauthorized"},
		{"get missing", "GET", "/api/v1/sessions/nosuch", adminKey, nil, 404, "not_found"},
		{"register duplicate", "POST", "/api/v1/sessions/s1/bidders", adminKey, map[string]string{"id": "a", "name": "甲"}, 400, "invalid"},
		{"register in missing", "POST", "/api/v1/sessions/nosuch/bidders", adminKey, map[string]string{"id": "z", "name": "甲"}, 404, "not_found"},
		{"unknown command", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "1", "type": "drop"}, 400, "unknown_command"},
		{"bidder fakes an unlock", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "u1", "type": "record_unlock",
			"data": map[string]any{"bidder": "a", "ok": true, "sheet": map[string]string{"price": "1"}, "plaintext_digest": strings.Repeat("0", 64)}}, 403, "forbidden"},
		{"bidder fakes a bid", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "b1", "type": "submit_bid", "data": map[string]any{"bidder": "a"}}, 403, "forbidden"},
		{"bidder fakes a key sign-in", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "k1", "type": "key_sign_in", "data": map[string]any{"key_id": strings.Repeat("0", 64)}}, 403, "forbidden"},
		{"host posts a record it did not have signed", "POST", "/api/v1/sessions/s1/commands", hostTok, map[string]any{"id": "r1", "type": "record_opening_record", "data": map[string]any{}}, 403, "forbidden"},
		{"bidder fakes a signed confirmation", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "c1", "type": "record_confirmation", "data": map[string]any{}}, 403, "forbidden"},
		{"command without id", "POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"type": "sign_in"}, 400, "invalid"},
		{"token bad role", "POST", "/api/v1/tokens", adminKey, map[string]any{"room": "s1", "role": "king", "sub": "x"}, 400, "invalid"},
		{"token bad ttl", "POST", "/api/v1/tokens", adminKey, map[string]any{"room": "s1", "role": "host", "sub": "x", "ttl": "forever"}, 400, "invalid"},
		{"token bad grant", "POST", "/api/v1/tokens", adminKey, map[string]any{"room": "s1", "role": "host", "sub": "x", "grants": []string{"root"}}, 400, "invalid"},
		{"token without key", "POST", "/api/v1/tokens", "", map[string]any{"room": "s1", "role": "host", "sub": "x"}, 401, "unauthorized"},
		{"no demo", "GET", "/api/v1/demo", "", nil, 404, "not_found"},
		{"whip without the publish grant", "POST", "/whip/s1", bidder, "v=0", 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.do(tt.method, tt.path, tt.bearer, tt.body)
			if status != tt.status || errCode(body) != tt.code {
				t.Fatalf("got %d %q (%v), want %d %q", status, errCode(body), body, tt.status, tt.code)
			}
			if msg := body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Error("error without a message")
			}
		})
	}
	// Nothing refused changed anything: still one session with two bidders.
	_, body := e.do("GET", "/api/v1/sessions/s1", adminKey, nil)
	if n := len(body["state"].(map[string]any)["bidders"].([]any)); n != 2 {
		t.Fatalf("bidders = %d after refusals, want 2", n)
	}
	if _, body := e.do("GET", "/api/v1/sessions", adminKey, nil); len(body["sessions"].([]any)) != 1 {
		t.Fatalf("sessions = %v, want only s1", body)
	}
}

func TestTokensAndHealth(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("POST", "/api/v1/tokens", adminKey, map[string]any{"room": "s1", "role": "bidder", "sub": "a", "ttl": "30m", "grants": []string{"view"}})
	if status != 201 {
		t.Fatalf("mint: %d %v", status, body)
	}
	c, err := e.issuer.Verify(body["token"].(string))
	if err != nil || c.Room != "s1" || c.Role != rooms.RoleBidder || !c.HasGrant("view") || c.HasGrant("publish") {
		t.Fatalf("minted claims = %+v, %v", c, err)
	}
	if exp := c.ExpiresAt.Time; time.Until(exp) > 31*time.Minute || time.Until(exp) < 29*time.Minute {
		t.Errorf("expiry %v, want in 30 min", exp)
	}
	for _, p := range []string{"/healthz", "/readyz", "/api/v1/time"} {
		if status, _ := e.do("GET", p, "", nil); status != 200 {
			t.Errorf("%s: %d", p, status)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	post := func(key string) int {
		raw, _ := json.Marshal(session("s9"))
		req, _ := http.NewRequest("POST", e.url+"/api/v1/sessions", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("k1"); got != 201 {
		t.Fatalf("first create: %d", got)
	}
	if got := post("k1"); got != 201 {
		t.Fatalf("retry with the same key: %d, want the original 201", got)
	}
	if got := post("k2"); got != 409 {
		t.Fatalf("another key: %d, want 409", got)
	}
	_, body := e.do("GET", "/api/v1/sessions/s9", adminKey, nil)
	if n := len(body["state"].(map[string]any)["bidders"].([]any)); n != 2 {
		t.Fatalf("bidders = %d after a retried create, want 2", n)
	}
}

// TestRESTCommandsObserved: a command sent over REST reaches the command
// metrics as the websocket's do, with its type and outcome: done, refused
// by the room, or refused before it (not a client command).
func TestRESTCommandsObserved(t *testing.T) {
	type seen struct {
		command, result string
		took            time.Duration
	}
	var mu sync.Mutex
	var got []seen
	e := newEnvFor(t, func(d *api.Deps) {
		d.Commands = func(command string, err error, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{command, rooms.RefusalCode(err), took})
		}
	})
	e.do("POST", "/api/v1/sessions", adminKey, session("s1"))
	host, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	bidder, _, _ := e.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleBidder, Sub: "a", TTL: time.Hour})
	if status, body := e.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "1", "type": "announce", "data": map[string]string{"text": "x"}}); status != 200 {
		t.Fatalf("announce: %d %v", status, body)
	}
	if status, _ := e.do("POST", "/api/v1/sessions/s1/commands", bidder, map[string]any{"id": "2", "type": "announce", "data": map[string]string{"text": "x"}}); status != 403 {
		t.Fatalf("bidder announce: %d, want 403", status)
	}
	if status, _ := e.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "3", "type": "create_session"}); status == 200 {
		t.Fatal("create_session over the commands endpoint was accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seen{{"announce", "", 0}, {"announce", "forbidden", 0}, {"create_session", "", 0}}
	if len(got) != len(want) {
		t.Fatalf("observed %+v, want 3 commands", got)
	}
	for i, g := range got {
		if g.command != want[i].command || (i < 2 && g.result != want[i].result) || g.took <= 0 {
			t.Errorf("command %d observed as %+v, want %s %q and a time", i, g, want[i].command, want[i].result)
		}
	}
	if got[2].result == "" {
		t.Errorf("a command refused before the room (%+v) was observed as done", got[2])
	}
}
