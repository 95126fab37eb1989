package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
)

// The test binary doubles as the server: with BIDROOM_TEST_SERVE set it runs
// `bidroom serve` instead of the tests, so a test can kill -9 a real server
// process and start it again.
func TestMain(m *testing.M) {
	if os.Getenv("BIDROOM_TEST_SERVE") == "1" {
		ctx := context.Background()
		if os.Getenv("BIDROOM_TEST_GRACEFUL") == "1" { // SIGTERM drains, as in main (TestRollingRestartDrain)
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
		}
		if err := run(ctx, []string{"serve"}, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	testAdminKey = "admin-key-for-tests-0123456789"
	testSecret   = "token-secret-for-tests-0123456789abcdef"
)

type server struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	env  []string
	out  *bytes.Buffer
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs the server as a child process with env (BIDROOM_*
// variables) and waits until it is ready.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	s := &server{t: t, addr: freePort(t), out: &bytes.Buffer{}}
	s.env = append([]string{
		"BIDROOM_TEST_SERVE=1", "BIDROOM_SERVER_LISTEN=" + s.addr,
		"BIDROOM_AUTH_ADMIN_KEY=" + testAdminKey, "BIDROOM_AUTH_TOKEN_SECRET=" + testSecret,
		"BIDROOM_DEMO_ENABLED=false", "BIDROOM_LOG_LEVEL=warn", "BIDROOM_SIGNALING_COMMAND_RATE=5000",
		"BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:0",
	}, env...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(os.Args[0])
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server did not become ready: %v\n%s", err, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) kill9() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.kill9()
			s.t.Errorf("server ignored SIGTERM for 10 s\n%s", s.out)
		}
	}
}

func (s *server) post(path string, body any, bearer string) map[string]any {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+s.addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode >= 300 {
		s.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return out
}

func (s *server) get(path, bearer string) map[string]any {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode >= 300 {
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	return out
}

func (s *server) createSession(room string) {
	s.t.Helper()
	s.post("/api/v1/sessions", map[string]any{
		"id": room, "title": "测试工程", "category": "construction",
		"deadline": time.Now().Add(time.Hour), "check_in_at": time.Now(),
	}, testAdminKey)
}

func (s *server) token(room string, role rooms.Role, sub string) string {
	s.t.Helper()
	return s.post("/api/v1/tokens", map[string]any{"room": room, "role": role, "sub": sub}, testAdminKey)["token"].(string)
}

// wsClient is a minimal protocol client that records what it receives.
type wsClient struct {
	conn    *websocket.Conn
	mu      sync.Mutex
	pos     uint64
	evs     []rooms.Event // full events (staff)
	acks    map[string]bool
	errs    []string
	joined  chan struct{} // closed at the snapshot or resumed frame
	done    chan struct{}
	readErr error // why the connection ended
}

// dialWS connects and returns once the server has joined the client (its
// snapshot or resumed frame arrived), as a real client starts counting
// from there: the server takes the snapshot after the upgrade, so events
// appended before that are in the snapshot, not in the stream.
func dialWS(t *testing.T, addr, room, token string, pos *uint64) (*wsClient, error) {
	t.Helper()
	u := fmt.Sprintf("ws://%s/ws?room=%s", addr, room)
	if pos != nil {
		u += fmt.Sprintf("&pos=%d", *pos)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, acks: map[string]bool{}, joined: make(chan struct{}), done: make(chan struct{})}
	if pos != nil {
		c.pos = *pos
	}
	go c.read()
	select {
	case <-c.joined:
		return c, nil
	case <-c.done:
		conn.Close()
		_, _, _, errs := c.snapshot()
		return nil, fmt.Errorf("connection ended before the snapshot: %v %v", c.readErr, errs)
	case <-time.After(30 * time.Second):
		conn.Close()
		return nil, fmt.Errorf("no snapshot within 30 s")
	}
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		var f struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Pos   uint64          `json:"pos"`
			Code  string          `json:"code"`
			Event json.RawMessage `json:"event"`
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		c.mu.Lock()
		switch f.Type {
		case "snapshot", "resumed":
			c.pos = f.Pos
			select {
			case <-c.joined:
			default:
				close(c.joined)
			}
		case "event":
			if f.Pos != c.pos+1 {
				c.errs = append(c.errs, fmt.Sprintf("gap: pos %d after %d", f.Pos, c.pos))
			}
			c.pos = f.Pos
			var e rooms.Event
			if err := json.Unmarshal(f.Event, &e); err != nil {
				c.errs = append(c.errs, err.Error())
			}
			c.evs = append(c.evs, e)
		case "ack":
			c.acks[f.ID] = true
		case "error":
			c.errs = append(c.errs, f.Code+" "+string(b))
		}
		c.mu.Unlock()
	}
}

func (c *wsClient) announce(id string) error {
	return c.conn.WriteJSON(map[string]any{"v": 1, "type": "command", "id": id, "command": "announce",
		"data": map[string]string{"text": "公告 " + id}})
}

// ackCount returns how many distinct commands were acknowledged.
func (c *wsClient) ackCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acks)
}

func (c *wsClient) snapshot() (pos uint64, evs []rooms.Event, acks map[string]bool, errs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acks = map[string]bool{}
	for k, v := range c.acks {
		acks[k] = v
	}
	return c.pos, append([]rooms.Event(nil), c.evs...), acks, append([]string(nil), c.errs...)
}

func announcements(evs []rooms.Event) int {
	n := 0
	for _, e := range evs {
		if e.Type == rooms.EvAnnouncement {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKill9LosesNothing kills the server with SIGKILL while a host streams
// commands, restarts it on the same data, and checks that every
// acknowledged command is in the log, the chain verifies, a watching client
// resumes with no gap, and retried commands are applied once.
func TestKill9LosesNothing(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir)
	srv.createSession("k9")
	hostTok := srv.token("k9", rooms.RoleHost, "h1")
	watchTok := srv.token("k9", rooms.RoleSupervisor, "s1")

	watcher, err := dialWS(t, srv.addr, "k9", watchTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	host, err := dialWS(t, srv.addr, "k9", hostTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A goroutine streams commands without waiting for their acks, at most
	// window of them unacknowledged; the server is killed once minAcked
	// are acknowledged, with the stream still going. The kill point is
	// what was acknowledged, not how long sending took: on a loaded
	// machine every command could be sent before a tenth were acked.
	const total, window, minAcked = 1000, 50, 100
	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	defer halt()
	sentc := make(chan int, 1)
	go func() {
		n := 0 // commands written, or tried: a failed write may still have reached the server
		defer func() { sentc <- n }()
		for n < total {
			if n-host.ackCount() >= window {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				continue
			}
			select {
			case <-stop:
				return
			default:
			}
			n++
			if host.announce(fmt.Sprint("c", n-1)) != nil {
				return
			}
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); host.ackCount() < minAcked; {
		select {
		case <-host.done:
			t.Fatalf("the host's connection ended after %d acks: %v", host.ackCount(), host.readErr)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acks in 60 s, want %d", host.ackCount(), minAcked)
		}
	}
	srv.kill9()
	halt()
	sent := <-sentc
	<-host.done
	<-watcher.done
	_, _, acked, _ := host.snapshot()
	wpos, wevs, _, werrs := watcher.snapshot()
	if len(acked) < minAcked || len(acked) > sent {
		t.Fatalf("%d commands acknowledged of %d sent, want at least %d", len(acked), sent, minAcked)
	}
	t.Logf("sent %d, acknowledged %d, watcher at pos %d when killed", sent, len(acked), wpos)

	srv.start()
	// The watcher resumes from its last position: exactly the missing events, no gap.
	watcher2, err := dialWS(t, srv.addr, "k9", watchTok, &wpos)
	if err != nil {
		t.Fatal(err)
	}
	host2, err := dialWS(t, srv.addr, "k9", hostTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Retry every command sent (acked or not) with the same id: applied once.
	for i := range sent {
		if err := host2.announce(fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := sent
	waitFor(t, "acks of the retries", 20*time.Second, func() bool { _, _, a, _ := host2.snapshot(); return len(a) >= want })
	waitFor(t, "the watcher to catch up", 20*time.Second, func() bool {
		_, evs, _, _ := watcher2.snapshot()
		return announcements(wevs)+announcements(evs) >= want
	})
	_, evs2, _, errs2 := watcher2.snapshot()
	all := append(wevs, evs2...)
	for _, e := range append(werrs, errs2...) {
		t.Errorf("watcher: %s", e)
	}
	// The watcher joined at seq 2 (session created, check-in opened).
	if err := rooms.VerifyChain(all[0].Seq-1, all[0].Prev, all); err != nil {
		t.Fatalf("chain across the crash: %v", err)
	}
	seen := map[string]int{}
	for _, e := range all {
		if e.Type == rooms.EvAnnouncement {
			seen[e.CommandID]++
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			t.Errorf("acknowledged command %s lost", id)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("command %s applied %d times", id, n)
		}
	}
	if len(seen) != want {
		t.Errorf("%d distinct commands in the log, want %d", len(seen), want)
	}
}

// TestTwoServersOneRedis runs two server processes on one Redis: hosts on
// both send commands concurrently; watchers on both see the identical,
// gap-free event sequence.
func TestTwoServersOneRedis(t *testing.T) {
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	env := []string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL=" + url, "BIDROOM_STORE_REDIS_PREFIX=" + prefix}
	a := startServer(t, append(env, "BIDROOM_DATA_DIR="+t.TempDir())...)
	b := startServer(t, append(env, "BIDROOM_DATA_DIR="+t.TempDir())...)
	a.createSession("two")

	var watchers, hosts []*wsClient
	for i, s := range []*server{a, b} {
		w, err := dialWS(t, s.addr, "two", s.token("two", rooms.RoleSupervisor, fmt.Sprint("s", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dialWS(t, s.addr, "two", s.token("two", rooms.RoleHost, fmt.Sprint("h", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		watchers, hosts = append(watchers, w), append(hosts, h)
	}
	const each = 100
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := h.announce(fmt.Sprintf("h%d-%d", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, h := range hosts {
		waitFor(t, "acks", 30*time.Second, func() bool { _, _, a, _ := h.snapshot(); return len(a) == each })
	}
	// The check-in timer (check_in_at is now) appends an event of its own,
	// possibly after every announcement; once it has, the room's head is
	// final, and both watchers must get exactly to it.
	var head uint64
	waitFor(t, "the check-in timer", 30*time.Second, func() bool {
		st := a.get("/api/v1/sessions/two", testAdminKey)
		head = uint64(st["seq"].(float64))
		return st["state"].(map[string]any)["phase"] == string(rooms.PhaseCheckIn)
	})
	for i, w := range watchers {
		waitFor(t, "watchers to see every event", 30*time.Second, func() bool { pos, _, _, _ := w.snapshot(); return pos >= head })
		if pos, evs, _, errs := w.snapshot(); pos != head || announcements(evs) != 2*each {
			t.Fatalf("watcher %d at pos %d of %d with %d announcements, want %d; errors %v", i, pos, head, announcements(evs), 2*each, errs)
		}
	}
	_, ea, _, errsA := watchers[0].snapshot()
	_, eb, _, errsB := watchers[1].snapshot()
	for _, e := range append(errsA, errsB...) {
		t.Errorf("watcher: %s", e)
	}
	// A watcher may have joined before or after the check-in timer fired;
	// from the later start on, both streams must be identical.
	for len(ea) > 0 && len(eb) > 0 && ea[0].Seq < eb[0].Seq {
		ea = ea[1:]
	}
	for len(ea) > 0 && len(eb) > 0 && eb[0].Seq < ea[0].Seq {
		eb = eb[1:]
	}
	if len(ea) != len(eb) || len(ea) < 2*each {
		t.Fatalf("watchers saw %d and %d events from seq %d", len(ea), len(eb), ea[0].Seq)
	}
	for i := range ea {
		if ea[i].Seq != eb[i].Seq || ea[i].Hash != eb[i].Hash {
			t.Fatalf("event %d differs: %d/%s vs %d/%s", i, ea[i].Seq, ea[i].Hash, eb[i].Seq, eb[i].Hash)
		}
	}
	if err := rooms.VerifyChain(ea[0].Seq-1, ea[0].Prev, ea); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range ea {
		if e.Type != rooms.EvAnnouncement {
			continue
		}
		if ids[e.CommandID] {
			t.Errorf("command %s appended twice", e.CommandID)
		}
		ids[e.CommandID] = true
	}
}

// TestTokenCommand checks the CLI prints a token the server accepts.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir)
	srv.createSession("tk")
	t.Setenv("BIDROOM_AUTH_TOKEN_SECRET", testSecret)
	t.Setenv("BIDROOM_DATA_DIR", dir)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"token", "--room", "tk", "--role", "host", "--sub", "h9", "--ttl", "10m"}, &out, &errOut); err != nil {
		t.Fatalf("token: %v %s", err, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	c, err := dialWS(t, srv.addr, "tk", tok, nil)
	if err != nil {
		t.Fatalf("server refused the CLI's token: %v", err)
	}
	c.conn.Close()
	for _, bad := range [][]string{
		{"token", "--room", "tk", "--role", "king", "--sub", "x"},
		{"token", "--room", "tk", "--role", "host"},
		{"token", "--room", "tk", "--role", "host", "--sub", "x", "--ttl", "9999h"},
		{"token", "--room", "*", "--role", "host", "--sub", "x"},
	} {
		if err := run(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestKill9DuringUpload kills the server while a sealed bid streams in;
// after the restart the upload continues from the server's offset and
// completes with a receipt.
func TestKill9DuringUpload(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir)
	key, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.Public().MarshalPEM()
	srv.post("/api/v1/sessions", map[string]any{
		"id": "up", "title": "上传测试", "category": "construction",
		"deadline": time.Now().Add(time.Hour), "check_in_at": time.Now(),
		"bidders": []map[string]string{{"id": "a", "name": "甲公司", "public_key": string(pub)}},
	}, testAdminKey)
	tok := srv.token("up", rooms.RoleBidder, "a")

	const size = 8 << 20
	var sealed bytes.Buffer
	if _, err := decrypt.Seal(&sealed, io.LimitReader(zeroReader{}, size), decrypt.SealOptions{
		SessionID: "up", BidderID: "a", Size: size, Signer: key, Sheet: decrypt.Sheet{Price: "100.00"}}); err != nil {
		t.Fatal(err)
	}
	file := sealed.Bytes()
	id := srv.post("/api/v1/sessions/up/bids/uploads", map[string]any{"size": len(file)}, tok)["upload_id"].(string)

	// Stream the first half, then kill the server with the request still open.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", "http://"+srv.addr+"/api/v1/sessions/up/bids/uploads/"+id, pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Offset", "0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(file[:len(file)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server write what it got
	srv.kill9()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done

	srv.start()
	var status struct {
		Offset int `json:"offset"`
	}
	get, _ := http.NewRequest("GET", "http://"+srv.addr+"/api/v1/sessions/up/bids/uploads/"+id, nil)
	get.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if status.Offset <= 0 || status.Offset > len(file)/2 {
		t.Fatalf("offset after the kill = %d, want within the first half (%d)", status.Offset, len(file)/2)
	}
	put, _ := http.NewRequest("PATCH", "http://"+srv.addr+"/api/v1/sessions/up/bids/uploads/"+id, bytes.NewReader(file[status.Offset:]))
	put.Header.Set("Authorization", "Bearer "+tok)
	put.Header.Set("Upload-Offset", fmt.Sprint(status.Offset))
	resp, err = http.DefaultClient.Do(put)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resume: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	receipt := srv.post("/api/v1/sessions/up/bids/uploads/"+id+"/complete", nil, tok)
	if r, ok := receipt["receipt"].(map[string]any); !ok || r["size"] != float64(len(file)) {
		t.Fatalf("receipt after resume = %v", receipt)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestKill9DuringDecryption kills the server while it decrypts a bid;
// after the restart the bidder unlocks again and the bid is opened exactly
// once, in a log whose chain verifies.
func TestKill9DuringDecryption(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir)
	key, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.Public().MarshalPEM()
	const size = 8 << 20 // under -race decryption takes over a second: the kill lands mid-way

	// The bid must be in before the deadline, which is set when the
	// session is created and can never be brought forward, and uploading 8
	// MiB can take longer than any margin short enough to wait out. So the
	// bid is sealed before its session exists, the margin is at least as
	// long as sealing took (as slow as the machine is now), and should the
	// deadline pass before the bid is in, a new session gets twice the margin.
	var room, tok string
	for attempt, margin := 1, 3*time.Second; ; attempt, margin = attempt+1, 2*margin {
		room = fmt.Sprint("dec", attempt)
		var in bool
		if tok, margin, in = submitInTime(t, srv, room, key, pub, size, margin); in {
			t.Logf("the bid was in before the deadline, %v after %s was created", margin, room)
			break
		}
		if attempt == 3 {
			t.Fatalf("the bid missed the deadline %d times, the last %v after the session was created", attempt, margin)
		}
		t.Logf("the bid missed the deadline %v after %s was created; again with at least %v", margin, room, 2*margin)
	}

	// The scheduler opens the room at the deadline; the host starts the window.
	waitFor(t, "the opening", 2*time.Minute, func() bool {
		return srv.get("/api/v1/sessions/"+room, testAdminKey)["state"].(map[string]any)["phase"] == string(rooms.PhaseOpened)
	})
	host := srv.token(room, rooms.RoleHost, "h")
	srv.post("/api/v1/sessions/"+room+"/commands", map[string]any{"id": "w", "type": "start_decryption"}, host)

	encryptedKey := func() string {
		req, _ := http.NewRequest("GET", "http://"+srv.addr+"/api/v1/sessions/"+room+"/bids/mine/unlock", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ch struct{ WrappedKey, PlatformKey string }
		var raw map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		ch.WrappedKey, _ = raw["wrapped_key"].(string)
		ch.PlatformKey, _ = raw["platform_key"].(string)
		wrapped, _ := base64.StdEncoding.DecodeString(ch.WrappedKey)
		dk, err := key.Decrypt(wrapped)
		if err != nil {
			t.Fatalf("unwrap: %v (%v)", err, raw)
		}
		platform, _ := decrypt.ParsePublicKeyPEM([]byte(ch.PlatformKey))
		ct, _ := platform.Encrypt(dk)
		return base64.StdEncoding.EncodeToString(ct)
	}
	body, _ := json.Marshal(map[string]string{"encrypted_key": encryptedKey()})
	unlocked := make(chan struct{})
	go func() {
		defer close(unlocked)
		req, _ := http.NewRequest("POST", "http://"+srv.addr+"/api/v1/sessions/"+room+"/bids/mine/unlock", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	// Kill the server as soon as it writes the first plaintext: mid-decryption.
	var written int64
	waitFor(t, "the decryption to begin", 2*time.Minute, func() bool {
		select {
		case <-unlocked:
			t.Fatalf("the unlock ended before its plaintext was seen being written")
		default:
		}
		written = uploadedSoFar(dir, "plaintext/"+room+"/a")
		return written > 0
	})
	srv.kill9()
	<-unlocked
	t.Logf("killed with %d of %d plaintext bytes written", written, size)
	srv.start()

	res := srv.post("/api/v1/sessions/"+room+"/bids/mine/unlock", map[string]string{"encrypted_key": encryptedKey()}, tok)
	if res["opened"] != true || res["sheet"].(map[string]any)["price"] != "123.45" {
		t.Fatalf("unlock after restart: %v", res)
	}
	if res["duplicate"] == true {
		t.Fatalf("the unlock before the kill was recorded: the kill did not land mid-decryption")
	}
	// Exactly one bid_opened in the log, whatever the kill interrupted.
	head := uint64(srv.get("/api/v1/sessions/"+room, testAdminKey)["seq"].(float64))
	w, err := dialWS(t, srv.addr, room, srv.token(room, rooms.RoleSupervisor, "s"), new(uint64))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the log", 30*time.Second, func() bool {
		_, evs, _, _ := w.snapshot()
		return len(evs) > 0 && evs[len(evs)-1].Seq >= head
	})
	_, evs, _, errs := w.snapshot()
	for _, e := range errs {
		t.Errorf("supervisor: %s", e)
	}
	n := 0
	for _, e := range evs {
		if e.Type == rooms.EvBidOpened {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("bid opened %d times, want 1", n)
	}
	if err := rooms.VerifyChain(0, "", evs); err != nil {
		t.Fatal(err)
	}
}

// submitInTime seals a bid of size zero bytes for bidder a of room, then
// creates the session with its deadline margin from now, or as long from
// now as sealing took if that is longer, and uploads the bid. It returns
// the bidder's token, the margin, and whether the bid was in before the
// deadline.
func submitInTime(t *testing.T, srv *server, room string, key *decrypt.PrivateKey, pub []byte, size int64, margin time.Duration) (string, time.Duration, bool) {
	t.Helper()
	var sealed bytes.Buffer
	start := time.Now()
	if _, err := decrypt.Seal(&sealed, io.LimitReader(zeroReader{}, size), decrypt.SealOptions{
		SessionID: room, BidderID: "a", Size: size, Signer: key, Sheet: decrypt.Sheet{Price: "123.45"}}); err != nil {
		t.Fatal(err)
	}
	margin = max(margin, time.Since(start).Round(time.Second))
	srv.post("/api/v1/sessions", map[string]any{
		"id": room, "title": "解密测试", "category": "construction", "deadline": time.Now().Add(margin), "check_in_at": time.Now(), "proceed_below_min": true,
		"bidders": []map[string]string{{"id": "a", "name": "甲公司", "public_key": string(pub)}},
	}, testAdminKey)
	tok := srv.token(room, rooms.RoleBidder, "a")
	// send makes one request of the upload; late reports that it was
	// refused because the deadline passed. Any other refusal fails t.
	send := func(what, method, path string, body []byte, header ...string) (raw []byte, late bool) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+srv.addr+"/api/v1/sessions/"+room+"/bids/uploads"+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		raw, _ = io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == http.StatusConflict && strings.Contains(string(raw), `"wrong_state"`):
			return raw, true
		case resp.StatusCode >= 300:
			t.Fatalf("%s: %d %s", what, resp.StatusCode, raw)
		}
		return raw, false
	}
	raw, late := send("create the upload", "POST", "", fmt.Appendf(nil, `{"size": %d}`, sealed.Len()), "Content-Type", "application/json")
	if late {
		return tok, margin, false
	}
	var created struct {
		UploadID string `json:"upload_id"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.UploadID == "" {
		t.Fatalf("create the upload: %s", raw)
	}
	if _, late := send("upload", "PATCH", "/"+created.UploadID, sealed.Bytes(), "Upload-Offset", "0"); late {
		return tok, margin, false
	}
	if _, late := send("complete the upload", "POST", "/"+created.UploadID+"/complete", nil); late {
		return tok, margin, false
	}
	return tok, margin, true
}

// uploadedSoFar returns how many bytes the server's blob store in dataDir
// holds of the upload in progress made for owner, or 0 if there is none.
// It reads the store's layout: uploads/<id> beside uploads/<id>.max,
// whose second line is the owner.
func uploadedSoFar(dataDir, owner string) int64 {
	metas, _ := filepath.Glob(filepath.Join(dataDir, "blobs", "uploads", "*.max"))
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if _, o, _ := strings.Cut(string(b), "\n"); err != nil || o != owner {
			continue
		}
		if st, err := os.Stat(strings.TrimSuffix(m, ".max")); err == nil {
			return st.Size()
		}
	}
	return 0
}

// TestMetricsListeners checks where /metrics is served: never to anyone on
// server.listen, there only with server.metrics_token, and on
// server.metrics_listen to whoever reaches that private address.
func TestMetricsListeners(t *testing.T) {
	get := func(url, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const token = "metrics-token-0123456789"
	private := freePort(t)
	srv := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_SERVER_METRICS_LISTEN="+private, "BIDROOM_SERVER_METRICS_TOKEN="+token)
	if code, body := get("http://"+srv.addr+"/metrics", ""); code != http.StatusUnauthorized || strings.Contains(body, "bidroom_") {
		t.Errorf("public /metrics without the token: %d %.200s", code, body)
	}
	if code, body := get("http://"+srv.addr+"/metrics", "wrong-token-0123456789"); code != http.StatusUnauthorized || strings.Contains(body, "bidroom_") {
		t.Errorf("public /metrics with a wrong token: %d %.200s", code, body)
	}
	if code, body := get("http://"+srv.addr+"/metrics", token); code != http.StatusOK || !strings.Contains(body, "bidroom_ws_connections") {
		t.Errorf("public /metrics with the token: %d %.200s", code, body)
	}
	if code, body := get("http://"+private+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "bidroom_ws_connections") {
		t.Errorf("private listener /metrics: %d %.200s", code, body)
	}
	if code, _ := get("http://"+private+"/api/v1/time", ""); code != http.StatusNotFound {
		t.Errorf("private listener serves the API: %d", code)
	}

	plain := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir())
	if code, body := get("http://"+plain.addr+"/metrics", ""); code != http.StatusNotFound || !strings.Contains(body, "server.metrics_listen") {
		t.Errorf("/metrics with neither setting: %d %.200s", code, body)
	}
}
