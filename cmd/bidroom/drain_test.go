package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
)

// TestRollingRestartDrain sends SIGTERM to one of two instances on one
// Redis while a host publishes through it, a supervisor watches through it
// (pion), a websocket client follows the room there and a bidder's upload
// is halfway. During server.drain_delay the instance still serves but
// GET /readyz answers 503 (GET /healthz 200); then its media sessions end
// and its lease is released, so the publisher's and the viewer's
// reconnects through the other instance are served there at once (the
// lease, 10 s, was given up, not left to lapse) and media flows again; the
// websocket is closed with 1001 and resumes on the other instance; the
// upload in flight completes before the instance exits, with status 0,
// within server.shutdown_timeout.
func TestRollingRestartDrain(t *testing.T) {
	const (
		drainDelay      = time.Second
		shutdownTimeout = 5 * time.Second
	)
	testStart := time.Now()
	redisURL := redistest.Start(t)
	prefix := redistest.Prefix(t)
	type inst struct {
		*server
		udp int
	}
	var insts []*inst
	for _, id := range []string{"a", "b"} {
		addr, udp := freePort(t), freeUDPPort(t)
		s := startInstance(t, addr,
			"BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL="+redisURL,
			"BIDROOM_STORE_REDIS_PREFIX="+prefix, "BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:"+strconv.Itoa(udp),
			"BIDROOM_MEDIA_RECORD=false", "BIDROOM_LOG_LEVEL=info", "BIDROOM_TEST_GRACEFUL=1",
			"BIDROOM_CLUSTER_INSTANCE_ID="+id, "BIDROOM_CLUSTER_ADVERTISE_URL=http://"+addr,
			"BIDROOM_CLUSTER_MEDIA_LEASE=10s",
			"BIDROOM_SERVER_DRAIN_DELAY="+drainDelay.String(), "BIDROOM_SERVER_SHUTDOWN_TIMEOUT="+shutdownTimeout.String())
		insts = append(insts, &inst{s, udp})
	}
	a, b := insts[0], insts[1]

	const room = "drained"
	key, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.Public().MarshalPEM()
	a.post("/api/v1/sessions", map[string]any{
		"id": room, "title": "滚动重启", "category": "construction",
		"deadline": time.Now().Add(time.Hour), "check_in_at": time.Now(),
		"bidders": []map[string]string{{"id": "bid-a", "name": "甲公司", "public_key": string(pub)}},
	}, testAdminKey)
	mint := roomMinter(t, room)
	hostTok := mint(rooms.RoleHost, "host-1", auth.GrantPublish, auth.GrantView)
	supTok := mint(rooms.RoleSupervisor, "sup-1", auth.GrantView)
	bidTok := mint(rooms.RoleBidder, "bid-a")
	leaseHolder := leaseHolderOf(t, redisURL, prefix, room)

	// Before: everything through A.
	pubA := publishVia(t, a.server, room, hostTok, a.udp)
	viewA := viewVia(t, a.server, room, supTok, a.udp)
	viewA.waitPackets(t, 30, 10*time.Second, "viewer through A")
	if h := leaseHolder(); h != "a" {
		t.Fatalf("lease holder %q; want a", h)
	}
	ws, err := dialWS(t, a.addr, room, supTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	upload := a.post("/api/v1/sessions/"+room+"/bids/uploads", map[string]any{"size": size}, bidTok)["upload_id"].(string)
	pr, pw := net.Pipe() // a body the test writes as it pleases
	req, _ := http.NewRequest("PATCH", "http://"+a.addr+"/api/v1/sessions/"+room+"/bids/uploads/"+upload, pr)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+bidTok)
	req.Header.Set("Upload-Offset", "0")
	type result struct {
		status int
		body   string
		err    error
	}
	patched := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			patched <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		patched <- result{status: resp.StatusCode, body: buf.String()}
	}()
	chunk := make([]byte, size/2)
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}

	// SIGTERM to A.
	var exitErr error
	exited := make(chan struct{}) // closed when A has exited; then exitErr and a.out may be read
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termAt := time.Now()
	go func() {
		exitErr = a.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { // before startInstance's: A is gone, or killed now
		_ = a.cmd.Process.Kill()
		<-exited
	})

	// Not ready at once, alive, and still serving media meanwhile.
	status := func(path string) int {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + a.addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "A's readyz to answer 503", drainDelay/2, func() bool { return status("/readyz") == http.StatusServiceUnavailable })
	if s := status("/healthz"); s != 200 {
		t.Errorf("A's healthz while draining: %d; want 200", s)
	}
	before := viewA.packets.Load()
	time.Sleep(drainDelay / 4)
	if viewA.packets.Load() <= before {
		t.Error("no media through A during its drain delay")
	}

	// Then A's media sessions end; their clients notice, as a browser would.
	pubA.waitGone(t, drainDelay+3*time.Second)
	viewA.waitGone(t, 3*time.Second)
	pubA.close()
	viewA.close()
	goneAfter := time.Since(termAt)
	if goneAfter < drainDelay {
		t.Errorf("A ended its media sessions %v after SIGTERM, before its drain delay (%v)", goneAfter, drainDelay)
	}

	// The websocket is closed with 1001 (going away).
	select {
	case <-ws.done:
	case <-time.After(5 * time.Second):
		t.Fatal("A's websocket was not closed")
	}
	var ce *websocket.CloseError
	if !errors.As(ws.readErr, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("A's websocket ended with %v; want close 1001", ws.readErr)
	}

	// The clients' reconnects land on B, which takes the room at once,
	// while A still finishes its upload: handed over, not left behind.
	rePub, st, retry := tryPublish(t, b.server, room, hostTok, b.udp)
	if rePub == nil {
		t.Fatalf("publish through B after A's drain: %d (Retry-After %q); want served at once", st, retry)
	}
	reView := viewVia(t, b.server, room, supTok, b.udp)
	reView.waitPackets(t, 30, 10*time.Second, "viewer through B after A's drain")
	if h := leaseHolder(); h != "b" {
		t.Errorf("lease holder after the drain %q; want b", h)
	}
	pos, _, _, _ := ws.snapshot()
	ws2, err := dialWS(t, b.addr, room, supTok, &pos)
	if err != nil {
		t.Fatalf("websocket resume on B: %v", err)
	}
	ws2.conn.Close()
	reView.close()
	rePub.close()
	select {
	case <-exited:
		t.Fatal("A exited before the upload in flight ended")
	default:
	}

	// A stops taking connections, but not before the upload in flight ends.
	waitFor(t, "A's listener to close", shutdownTimeout, func() bool {
		c, err := net.DialTimeout("tcp", a.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-exited:
		t.Fatalf("A exited (%v) with an upload in flight\n%s", exitErr, a.out)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var up result
	select {
	case up = <-patched:
	case <-time.After(5 * time.Second):
		t.Fatal("the upload's PATCH got no answer")
	}
	var off struct {
		Offset int `json:"offset"`
	}
	_ = json.Unmarshal([]byte(up.body), &off)
	if up.err != nil || up.status != 200 || off.Offset != size {
		t.Errorf("the upload in flight during the drain: %d %q %v; want 200 at offset %d", up.status, up.body, up.err, size)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("A exited with %v; want status 0\n%s", exitErr, a.out)
		}
	case <-time.After(shutdownTimeout):
		t.Fatalf("A did not exit within %v of the upload's end", shutdownTimeout)
	}
	if d := time.Since(termAt); d > shutdownTimeout {
		t.Errorf("A took %v to exit; want within server.shutdown_timeout (%v)", d, shutdownTimeout)
	}
	t.Logf("A: media gone %v after SIGTERM, exited after %v", goneAfter.Round(time.Millisecond), time.Since(termAt).Round(time.Millisecond))

	// Every step of the drain is logged, in order, with its time (shown with -v).
	logs := a.out.String()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "shutdown") || strings.Contains(l, "stopped") {
			t.Log(l)
		}
	}
	at := 0
	for _, step := range []string{"shutdown: not ready", "shutdown: media handed over", "shutdown: websockets closed",
		"shutdown: HTTP requests finished", "shutdown: media stopped", "shutdown: timers", "shutdown: store closed", "msg=stopped"} {
		i := strings.Index(logs[at:], step)
		if i < 0 {
			t.Fatalf("A's log lacks %q after byte %d:\n%s", step, at, logs)
		}
		at += i
	}
	if !strings.Contains(logs, `msg="shutdown: media handed over" rooms=1 sessions=2`) {
		t.Errorf("A's log does not say it handed 1 room of 2 sessions over:\n%s", logs)
	}

	if d := time.Since(testStart); d > 60*time.Second {
		t.Errorf("the test took %v; keep it under a minute", d)
	}
}
