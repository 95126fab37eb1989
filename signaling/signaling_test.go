package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
	"github.com/bidroom/bidroom/store/embedded"
)

// smallBuffers gives accepted connections small kernel send buffers, so a
// client that stops reading fills the server's queue quickly.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	t      *testing.T
	svc    *rooms.Service
	issuer *auth.Issuer
	srv    *signaling.Server
	http   *httptest.Server
}

func newEnv(t *testing.T, cfg signaling.Config) *env {
	t.Helper()
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := rooms.NewService(log, nil)
	issuer, err := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := signaling.New(svc, issuer, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = smallBuffers{hs.Listener}
	hs.Start()
	e := &env{t: t, svc: svc, issuer: issuer, srv: srv, http: hs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
		hs.Close()
		log.Close()
	})
	e.exec("r1", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.CmdCreateSession, rooms.SessionSpec{
		Title: "工程", Category: "construction", Deadline: time.Now().Add(time.Hour), CheckInAt: time.Now()})
	for _, b := range []string{"a", "b"} {
		e.exec("r1", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: b, Name: "公司" + b})
	}
	e.exec("r1", rooms.SystemActor, rooms.CmdOpenCheckIn, nil)
	return e
}

var cmdN int

func (e *env) exec(room string, a rooms.Actor, typ string, data any) {
	e.t.Helper()
	cmdN++
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	if _, err := e.svc.Execute(context.Background(), room, a, rooms.Command{ID: fmt.Sprint("t", cmdN), Type: typ, Data: raw}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) token(room string, role rooms.Role, sub string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: room, Role: role, Sub: sub, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) url(query string) string {
	return "ws" + strings.TrimPrefix(e.http.URL, "http") + "/ws?" + query
}

type frame struct {
	V          int             `json:"v"`
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Pos        uint64          `json:"pos"`
	Seq        uint64          `json:"seq"`
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	Events     uint64          `json:"events"`
	Duplicate  bool            `json:"duplicate"`
	Kind       string          `json:"kind"`
	State      json.RawMessage `json:"state"`
	Event      json.RawMessage `json:"event"`
	ServerTime time.Time       `json:"server_time"`
}

type conn struct {
	t *testing.T
	*websocket.Conn
}

func (e *env) dial(query, token string, hdr http.Header) (*conn, *http.Response, error) {
	if hdr == nil {
		hdr = http.Header{}
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.DefaultDialer.Dial(e.url(query), hdr)
	if err != nil {
		return nil, resp, err
	}
	e.t.Cleanup(func() { c.Close() })
	return &conn{e.t, c}, resp, nil
}

func (e *env) mustDial(query, token string) *conn {
	e.t.Helper()
	c, resp, err := e.dial(query, token, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		e.t.Fatalf("dial %s: %v %s", query, err, body)
	}
	return c
}

func (c *conn) next() frame {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %s: %v", b, err)
	}
	if f.V != 1 {
		c.t.Fatalf("frame without v=1: %s", b)
	}
	return f
}

func (c *conn) expect(typ string) frame {
	c.t.Helper()
	f := c.next()
	if f.Type != typ {
		c.t.Fatalf("got %s frame (%s %s), want %s", f.Type, f.Code, f.Message, typ)
	}
	return f
}

func (c *conn) send(v any) {
	c.t.Helper()
	if err := c.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// ackAndEvent reads a command's ack and the event it caused, which may
// arrive in either order.
func ackAndEvent(c *conn) (ack, ev frame) {
	c.t.Helper()
	for range 2 {
		switch f := c.next(); f.Type {
		case "ack":
			ack = f
		case "event":
			ev = f
		default:
			c.t.Fatalf("unexpected %s frame: %s %s", f.Type, f.Code, f.Message)
		}
	}
	return ack, ev
}

func command(id, typ string, data any) map[string]any {
	return map[string]any{"v": 1, "type": "command", "id": id, "command": typ, "data": data}
}

func TestJoinSnapshotThenEvents(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	host := e.mustDial("room=r1", e.token("r1", rooms.RoleHost, "h1"))
	w := host.expect("welcome")
	if time.Since(w.ServerTime) > time.Minute {
		t.Errorf("welcome server_time %v", w.ServerTime)
	}
	snap := host.expect("snapshot")
	if snap.Seq != 4 || snap.Pos != 4 {
		t.Fatalf("host snapshot at seq %d pos %d, want 4/4", snap.Seq, snap.Pos)
	}
	host.send(command("c1", "announce", map[string]string{"text": "大家好"}))
	ack, ev := ackAndEvent(host)
	if ack.ID != "c1" || ack.Events != 1 {
		t.Fatalf("ack = %+v", ack)
	}
	if ev.Pos != 5 || !strings.Contains(string(ev.Event), "大家好") || !strings.Contains(string(ev.Event), `"hash"`) {
		t.Fatalf("event = %+v %s", ev, ev.Event)
	}
	// The same id again is acknowledged as a duplicate and appends nothing.
	host.send(command("c1", "announce", map[string]string{"text": "大家好"}))
	if f := host.expect("ack"); !f.Duplicate {
		t.Fatalf("retry ack = %+v, want duplicate", f)
	}
	if head := e.svc.Head("r1"); head != 5 {
		t.Fatalf("room at seq %d after a duplicate, want 5", head)
	}
}

func TestBidderStreamHidesOthers(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	a := e.mustDial("room=r1", e.token("r1", rooms.RoleBidder, "a"))
	a.expect("welcome")
	snap := a.expect("snapshot")
	if snap.Seq != 0 {
		t.Errorf("bidder snapshot carries room seq %d", snap.Seq)
	}
	if strings.Contains(string(snap.State), "公司b") {
		t.Fatalf("bidder a's snapshot names bidder b: %s", snap.State)
	}
	b := e.mustDial("room=r1", e.token("r1", rooms.RoleBidder, "b"))
	b.expect("welcome")
	b.expect("snapshot")
	b.send(command("s", "sign_in", nil))
	ackAndEvent(b)
	a.send(command("s", "sign_in", nil))
	ack, f := ackAndEvent(a)
	if ack.Events != 1 {
		t.Fatalf("a's sign-in ack = %+v", ack)
	}
	// a sees its own sign-in and nothing of b's: its next event is its own, at pos+1.
	if f.Pos != snap.Pos+1 || !strings.Contains(string(f.Event), `"sub":"a"`) {
		t.Fatalf("a's event = pos %d %s, want pos %d, its own sign-in", f.Pos, f.Event, snap.Pos+1)
	}
	if strings.Contains(string(f.Event), "hash") || strings.Contains(string(f.Event), `"seq"`) {
		t.Fatalf("bidder event carries the chain: %s", f.Event)
	}
}

func TestResume(t *testing.T) {
	e := newEnv(t, signaling.Config{MaxReplay: 5})
	tok := e.token("r1", rooms.RoleSupervisor, "s1")
	c := e.mustDial("room=r1", tok)
	c.expect("welcome")
	snap := c.expect("snapshot")
	c.Close()
	host := rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	for i := range 3 {
		e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: fmt.Sprint("消息", i)})
	}
	c = e.mustDial(fmt.Sprintf("room=r1&pos=%d", snap.Pos), tok)
	c.expect("welcome")
	if f := c.expect("resumed"); f.Pos != snap.Pos {
		t.Fatalf("resumed at %d, want %d", f.Pos, snap.Pos)
	}
	for i := range 3 {
		f := c.expect("event")
		if f.Pos != snap.Pos+uint64(i)+1 || !strings.Contains(string(f.Event), fmt.Sprint("消息", i)) {
			t.Fatalf("replayed event %d = pos %d %s", i, f.Pos, f.Event)
		}
	}
	last := snap.Pos + 3
	c.Close()

	// Too far behind: a snapshot instead of a replay.
	for i := range 6 {
		e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: fmt.Sprint("更多", i)})
	}
	c = e.mustDial(fmt.Sprintf("room=r1&pos=%d", last), tok)
	c.expect("welcome")
	if f := c.expect("snapshot"); f.Pos != last+6 {
		t.Fatalf("snapshot at pos %d, want %d", f.Pos, last+6)
	}
	c.Close()

	// From the future: a clear error, then a snapshot.
	c = e.mustDial("room=r1&pos=9999", tok)
	c.expect("welcome")
	if f := c.expect("error"); f.Code != "resume_ahead" {
		t.Fatalf("error = %+v, want resume_ahead", f)
	}
	c.expect("snapshot")
}

func TestConnectRefusals(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	other, _, _ := e.issuer.Mint(auth.Request{Room: "r2", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	forger, _ := auth.NewIssuer([]byte(strings.Repeat("z", 32)), nil)
	forged, _, _ := forger.Mint(auth.Request{Room: "r1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	past, _ := auth.NewIssuer([]byte(strings.Repeat("k", 32)), func() time.Time { return time.Now().Add(-2 * time.Hour) })
	expired, _, _ := past.Mint(auth.Request{Room: "r1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	good := e.token("r1", rooms.RoleHost, "h")
	nosuch, _, _ := e.issuer.Mint(auth.Request{Room: "nosuch", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	tests := []struct {
		name   string
		query  string
		token  string
		origin string
		status int
	}{
		{"no token", "room=r1", "", "", 401},
		{"garbage token", "room=r1", "abc.def.ghi", "", 401},
		{"forged", "room=r1", forged, "", 401},
		{"expired", "room=r1", expired, "", 401},
		{"other room", "room=r1", other, "", 403},
		{"bad pos", "room=r1&pos=-1", good, "", 400},
		{"no such session", "room=nosuch", nosuch, "", 404},
		{"foreign origin", "room=r1", good, "https://evil.example", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			_, resp, err := e.dial(tt.query, tt.token, hdr)
			if err == nil {
				t.Fatal("connected")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("status = %v, want %d", resp, tt.status)
			}
		})
	}
	// The server's own origin is fine.
	hdr := http.Header{"Origin": {e.http.URL}}
	if _, _, err := e.dial("room=r1", good, hdr); err != nil {
		t.Fatalf("same-origin connect: %v", err)
	}
}

func TestBadFrames(t *testing.T) {
	e := newEnv(t, signaling.Config{MaxMessageBytes: 2048})
	c := e.mustDial("room=r1", e.token("r1", rooms.RoleBidder, "a"))
	c.expect("welcome")
	c.expect("snapshot")
	for _, bad := range []string{
		`not json`, `{"v":2,"type":"time"}`, `{"v":1,"type":"dance"}`, `{"v":1,"type":"command","command":"sign_in"}`,
		`{"v":1,"type":"time","extra":1}`, `{"v":1,"type":"time"} {"v":1}`,
	} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if f := c.expect("error"); f.Code != "bad_frame" {
			t.Fatalf("%s: code %s", bad, f.Code)
		}
	}
	// Commands the role may not issue are refused with a reason.
	c.send(command("x", "announce", map[string]string{"text": "hi"}))
	if f := c.expect("error"); f.Code != "forbidden" || f.ID != "x" {
		t.Fatalf("bidder announce: %+v", f)
	}
	c.send(map[string]any{"v": 1, "type": "time", "id": "t"})
	if f := c.expect("time"); f.ID != "t" {
		t.Fatalf("time = %+v", f)
	}
	// An oversize frame closes the connection with 1009.
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"time","id":"`+strings.Repeat("x", 4096)+`"}`))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversize frame: %v, want close 1009", err)
	}
}

func TestSlowClientIsDropped(t *testing.T) {
	e := newEnv(t, signaling.Config{SendQueue: 64})
	slow := e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, "slow"))
	_ = slow // never reads
	fast := e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, "fast"))
	fast.expect("welcome")
	fast.expect("snapshot")
	// slow never reads. Flood the room; the hub must not stall.
	host := rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	got := make(chan int, 1)
	var read atomic.Int64
	go func() {
		n := 0
		defer func() { got <- n }()
		for n < 300 {
			_ = fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := fast.ReadMessage(); err != nil {
				t.Logf("the reading client's read after %d events: %v", n, err)
				return
			}
			n++
			read.Store(int64(n))
		}
	}()
	// 300 x 6 KB outgrows the socket buffers as well as the queue. The
	// flood is paced on the reading client (at most 32 events ahead of it:
	// half its queue, as broadcasts bring several at once), so that only
	// the client that never reads falls behind, however fast this machine
	// appends.
	for i := range 300 {
		e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: fmt.Sprint("m", i, strings.Repeat("填", 1990))})
		for wait := time.Now().Add(10 * time.Second); int64(i)-read.Load() > 32 && time.Now().Before(wait); {
			time.Sleep(time.Millisecond)
		}
	}
	if n := <-got; n != 300 {
		t.Fatalf("the reading client got %d events of 300", n)
	}
	// The slow client was disconnected; the reading one is still there.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Connections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d, want 1 (the slow client dropped)", e.srv.Connections())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fast.send(map[string]any{"v": 1, "type": "time", "id": "still-here"})
	if f := fast.expect("time"); f.ID != "still-here" {
		t.Fatalf("fast client: %+v", f)
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"command","id":"1","command":"sign_in","data":{}}`))
	f.Add([]byte(`{"v":1,"type":"time"}`))
	f.Add([]byte(`{"v":1,"type":"command","id":"1","command":"announce","data":{"text":"好"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := signaling.DecodeClientFrame(b)
		if err != nil {
			return
		}
		if fr.V != 1 || (fr.Type == "command" && (fr.ID == "" || fr.Command == "")) {
			t.Fatalf("accepted an invalid frame: %+v", fr)
		}
	})
}

// TestDeadConnectionClosed: a client that stops answering pings is closed
// after the pong timeout; one that answers stays.
func TestDeadConnectionClosed(t *testing.T) {
	e := newEnv(t, signaling.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	alive := e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, "alive"))
	go func() { // reading makes gorilla answer pings
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	dead := e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, "dead"))
	_ = dead // never reads, so never answers a ping
	waitUntil(t, "the silent connection to be closed", func() bool { return e.srv.Connections() == 1 })
	time.Sleep(400 * time.Millisecond) // longer than the pong timeout
	if n := e.srv.Connections(); n != 1 {
		t.Fatalf("connections = %d, want the answering one still open", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignInOutsideTheSocketCountsPresence: a bidder signed in by another
// path than their websocket (the key sign-in endpoint, POST /commands) goes
// offline when that websocket closes.
func TestSignInOutsideTheSocketCountsPresence(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	host := e.mustDial("room=r1", e.token("r1", rooms.RoleHost, "h1"))
	host.expect("welcome")
	host.expect("snapshot")
	a := e.mustDial("room=r1", e.token("r1", rooms.RoleBidder, "a"))
	a.expect("welcome")
	a.expect("snapshot")
	e.exec("r1", rooms.Actor{Sub: "a", Role: rooms.RoleBidder}, rooms.CmdSignIn, nil) // not over a's socket
	if f := host.expect("event"); !strings.Contains(string(f.Event), `"signed_in"`) {
		t.Fatalf("host got %s, want signed_in", f.Event)
	}
	a.expect("event") // a's own sign-in
	a.Close()
	f := host.expect("event")
	if !strings.Contains(string(f.Event), `"presence_changed"`) || !strings.Contains(string(f.Event), `"online":false`) {
		t.Fatalf("host got %s after a's socket closed, want a going offline", f.Event)
	}
}

// TestParallelFanOut: with every broadcast split across goroutines, each
// connection still gets every event it may see, once, in order, and
// nothing it may not.
func TestParallelFanOut(t *testing.T) {
	// Restored after the server stops (cleanups run last first): its hubs read them.
	t.Cleanup(signaling.SetFanOutChunk(1))
	procs := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	e := newEnv(t, signaling.Config{})
	type watcher struct {
		c     *conn
		pos   uint64
		staff bool
		sub   string
	}
	var ws []*watcher
	for i := range 6 {
		sub := fmt.Sprint("s", i)
		ws = append(ws, &watcher{c: e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, sub)), staff: true, sub: sub})
	}
	for i := range 4 {
		sub := []string{"a", "b"}[i%2]
		ws = append(ws, &watcher{c: e.mustDial("room=r1", e.token("r1", rooms.RoleBidder, sub)), sub: sub})
	}
	for _, w := range ws {
		w.c.expect("welcome")
		w.pos = w.c.expect("snapshot").Pos
	}
	host := rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	const n = 30
	for i := range n {
		e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: fmt.Sprint("公告", i)})
	}
	e.exec("r1", rooms.Actor{Sub: "a", Role: rooms.RoleBidder}, rooms.CmdSignIn, nil)
	for _, w := range ws {
		want := n
		if w.staff || w.sub == "a" {
			want++ // the sign-in: staff see it, and a sees its own; b never does
		}
		for i := range want {
			f := w.c.expect("event")
			if f.Pos != w.pos+1 {
				t.Fatalf("%s: event %d at pos %d after %d", w.sub, i, f.Pos, w.pos)
			}
			w.pos = f.Pos
			if i < n && !strings.Contains(string(f.Event), fmt.Sprint("公告", i)) {
				t.Fatalf("%s: event %d is %s", w.sub, i, f.Event)
			}
		}
		// Nothing more: the next frame is the answer to a time request.
		w.c.send(map[string]any{"v": 1, "type": "time", "id": "end"})
		if f := w.c.expect("time"); f.ID != "end" {
			t.Fatalf("%s: %+v", w.sub, f)
		}
	}
}

// TestCloseEventsGoOutTogether: events appended closer together than the
// broadcast gap reach the clients in fewer broadcasts than events, every
// one of them, in order; an event after a quiet spell goes out at once.
func TestCloseEventsGoOutTogether(t *testing.T) {
	// Restored after the server stops (cleanups run last first): its hubs read it.
	t.Cleanup(signaling.SetBroadcastGap(300 * time.Millisecond))
	e := newEnv(t, signaling.Config{})
	c := e.mustDial("room=r1", e.token("r1", rooms.RoleSupervisor, "s1"))
	c.expect("welcome")
	pos := c.expect("snapshot").Pos
	host := rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	time.Sleep(400 * time.Millisecond) // a quiet spell: the first goes out at once
	before := e.srv.Broadcasts()
	start := time.Now()
	e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: "先"})
	if f := c.expect("event"); f.Pos != pos+1 {
		t.Fatalf("first event at pos %d, want %d", f.Pos, pos+1)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("an event after a quiet spell took %v: it waited for the gap", d)
	}
	const n = 10
	for i := range n {
		e.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: fmt.Sprint("紧接", i)})
	}
	for i := range n {
		f := c.expect("event")
		if f.Pos != pos+2+uint64(i) || !strings.Contains(string(f.Event), fmt.Sprint("紧接", i)) {
			t.Fatalf("event %d at pos %d: %s", i, f.Pos, f.Event)
		}
	}
	if got := e.srv.Broadcasts() - before; got > 3 {
		t.Fatalf("%v broadcasts for %d events appended close together, want them coalesced (≤ 3)", got, n+1)
	}
}

// TestSecondConnectionBeforeTheSignInBroadcast: a bidder's connection
// opened before their sign-in is counted once a later connection joins
// after the sign-in but before its broadcast; the later one closing does
// not mark the bidder offline while the first is still open.
func TestSecondConnectionBeforeTheSignInBroadcast(t *testing.T) {
	t.Cleanup(signaling.SetBroadcastGap(400 * time.Millisecond)) // keeps the sign-in's broadcast pending
	e := newEnv(t, signaling.Config{})
	host := e.mustDial("room=r1", e.token("r1", rooms.RoleHost, "h1"))
	host.expect("welcome")
	host.expect("snapshot")
	tok := e.token("r1", rooms.RoleBidder, "a")
	first := e.mustDial("room=r1", tok)
	first.expect("welcome")
	first.expect("snapshot")
	// Past the gap after the joins' broadcasts: this one goes at once.
	time.Sleep(500 * time.Millisecond)
	e.exec("r1", rooms.Actor{Sub: "h1", Role: rooms.RoleHost}, rooms.CmdAnnounce, rooms.Announcement{Text: "先"})
	host.expect("event")
	// The sign-in's broadcast waits for the gap; the second connection
	// joins signed in before it.
	e.exec("r1", rooms.Actor{Sub: "a", Role: rooms.RoleBidder}, rooms.CmdSignIn, nil)
	second := e.mustDial("room=r1", tok)
	second.expect("welcome")
	second.expect("snapshot")
	second.Close()
	time.Sleep(300 * time.Millisecond)
	e.exec("r1", rooms.Actor{Sub: "h1", Role: rooms.RoleHost}, rooms.CmdAnnounce, rooms.Announcement{Text: "结束"})
	for {
		f := host.expect("event")
		if strings.Contains(string(f.Event), `"online":false`) {
			t.Fatalf("bidder a marked offline while its first connection is open: %s", f.Event)
		}
		if strings.Contains(string(f.Event), "结束") {
			return
		}
	}
}

// TestClosingServerRefusesBeforeUpgrading: once Close has begun, a new
// websocket gets 503 with Retry-After, not an upgrade that is then cut.
func TestClosingServerRefusesBeforeUpgrading(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, resp, err := e.dial("room=r1", e.token("r1", rooms.RoleHost, "h1"), nil)
	if err == nil {
		t.Fatal("a closing server upgraded a websocket")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("dial a closing server: %v %+v, want 503 with Retry-After", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"draining"`) {
		t.Fatalf("body %s, want the code draining", body)
	}
}
