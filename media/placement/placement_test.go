package placement

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/media"
)

const testSecret = "a-secret-every-instance-shares-0123456789"

// fakeMedia stands for the SFU: peers per room, set by the test.
type fakeMedia struct {
	mu     sync.Mutex
	peers  map[string]int
	closed map[string]int
}

func (f *fakeMedia) RoomPeers(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peers[room]
}

func (f *fakeMedia) CloseRoom(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.peers[room]
	f.peers[room] = 0
	f.closed[room]++
	return n
}

func (f *fakeMedia) set(room string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers[room] = n
}

func (f *fakeMedia) closes(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed[room]
}

// seen is a request as the instance's own handler got it.
type seen struct {
	method, uri, body string
	header            http.Header
}

// node is one instance: a Placement in front of a stand-in media handler
// that records what it serves, and the API's roster route.
type node struct {
	id    string
	p     *Placement
	media *fakeMedia
	srv   *httptest.Server
	reg   *Redis

	mu     sync.Mutex
	served []seen
}

func (n *node) log() []seen {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]seen(nil), n.served...)
}

func testAuth(r *http.Request, room string) (media.Caller, error) {
	if r.Header.Get("Authorization") != "Bearer good" {
		return media.Caller{}, media.ErrUnauthorized
	}
	return media.Caller{Subject: "h"}, nil
}

func startNode(t *testing.T, c goredis.UniversalClient, prefix, id string, lease time.Duration) *node {
	t.Helper()
	n := &node{id: id, media: &fakeMedia{peers: map[string]int{}, closed: map[string]int{}}}
	n.srv = httptest.NewUnstartedServer(nil)
	self := Instance{ID: id, URL: "http://" + n.srv.Listener.Addr().String()}
	n.reg = newRegistry(t, c, prefix, self, lease)
	var err error
	n.p, err = New(Config{Self: self, Lease: lease, Secret: []byte(testSecret), MaxBodyBytes: 1024, Timeout: 5 * time.Second},
		n.reg, n.media, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n.mu.Lock()
		n.served = append(n.served, seen{r.Method, r.URL.RequestURI(), string(body), r.Header.Clone()})
		n.mu.Unlock()
		w.Header().Set("Location", r.URL.Path+"/res-"+id)
		w.Header().Set("Set-Cookie", "internal=1")
		w.Header().Set("X-Internal", "not for clients")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "answer from "+id)
	})
	mux := http.NewServeMux()
	mux.Handle("/whip/", n.p.Handler(own, testAuth))
	mux.Handle("/whep/", n.p.Handler(own, testAuth))
	mux.HandleFunc("GET /api/v1/sessions/{id}/media", func(w http.ResponseWriter, r *http.Request) {
		if n.p.Elsewhere(w, r, r.PathValue("id")) {
			return
		}
		own.ServeHTTP(w, r)
	})
	n.srv.Config.Handler = mux
	n.srv.Start()
	t.Cleanup(func() {
		n.srv.Close()
		n.p.Close()
	})
	return n
}

func send(t *testing.T, method, url, token, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/sdp")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func holder(t *testing.T, r *Redis, room string) string {
	t.Helper()
	l, held, err := r.Lookup(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	if !held {
		return ""
	}
	return l.Holder.ID
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// TestForwardsToHolder: the first offer places the room where it arrives;
// offers, PATCH/DELETE, OPTIONS and roster reads reaching another instance
// are served by the holder, with only the headers WHIP needs passed each
// way; refused tokens are refused before anything is placed or forwarded.
func TestForwardsToHolder(t *testing.T) {
	c, prefix := redisClient(t)
	const lease = 600 * time.Millisecond
	a := startNode(t, c, prefix, "a", lease)
	b := startNode(t, c, prefix, "b", lease)

	resp, body := send(t, "POST", a.srv.URL+"/whip/r1", "good", "offer-1")
	if resp.StatusCode != 201 || body != "answer from a" || holder(t, a.reg, "r1") != "a" {
		t.Fatalf("offer at a: %d %q, holder %q", resp.StatusCode, body, holder(t, a.reg, "r1"))
	}
	a.media.set("r1", 1) // the session the offer made

	resp, body = send(t, "POST", b.srv.URL+"/whep/r1?hall=opening", "good", "offer-2",
		"Cookie", "session=browser", "X-Forwarded-For", "203.0.113.9", HeaderForwarded, "a 1 forged")
	if resp.StatusCode != 201 || body != "answer from a" {
		t.Fatalf("offer at b: %d %q; want a's answer", resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != "/whep/r1/res-a" {
		t.Errorf("Location %q; want the holder's, relative", loc)
	}
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Internal") != "" {
		t.Errorf("internal response headers reached the client: %v", resp.Header)
	}
	if n := len(b.log()); n != 0 {
		t.Fatalf("b served %d requests itself; want all forwarded", n)
	}
	got := a.log()
	if len(got) != 2 {
		t.Fatalf("a served %d requests; want 2", len(got))
	}
	fw := got[1]
	if fw.method != "POST" || fw.uri != "/whep/r1?hall=opening" || fw.body != "offer-2" ||
		fw.header.Get("Authorization") != "Bearer good" || fw.header.Get("Content-Type") != "application/sdp" {
		t.Errorf("forwarded request: %+v", fw)
	}
	if fw.header.Get("Cookie") != "" || fw.header.Get("X-Forwarded-For") != "" {
		t.Errorf("client headers leaked to the holder: %v", fw.header)
	}
	if m := fw.header.Get(HeaderForwarded); !strings.HasPrefix(m, "b ") {
		t.Errorf("forwarded mark %q; want b's", m)
	}

	for _, r := range []struct{ method, path, token string }{
		{"PATCH", "/whep/r1/res-a", "good"}, {"DELETE", "/whep/r1/res-a", "good"}, {"OPTIONS", "/whip/r1", ""},
	} {
		if resp, body := send(t, r.method, b.srv.URL+r.path, r.token, "frag"); resp.StatusCode != 201 || body != "answer from a" {
			t.Errorf("%s %s at b: %d %q; want a's answer", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, body := send(t, "GET", b.srv.URL+"/api/v1/sessions/r1/media", "good", ""); body != "answer from a" {
		t.Errorf("roster at b: %d %q; want a's", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", b.srv.URL+"/api/v1/sessions/r2/media", "good", ""); body != "answer from b" {
		t.Errorf("roster of an unplaced room at b: %d %q; want b's own", resp.StatusCode, body)
	}
	if n := value(t, b.p.forwarded.WithLabelValues("POST", "answered")); n != 1 {
		t.Errorf("b forwarded %v POSTs; want 1", n)
	}

	// Refused early: no forward, no lease for a room nobody placed.
	before := len(a.log())
	for _, u := range []string{b.srv.URL + "/whip/r1", b.srv.URL + "/whip/r9", b.srv.URL + "/whip/r1/res-a"} {
		method := "POST"
		if strings.HasSuffix(u, "res-a") {
			method = "DELETE"
		}
		if resp, _ := send(t, method, u, "bad", "x"); resp.StatusCode != 401 {
			t.Errorf("%s %s with a bad token: %d; want 401", method, u, resp.StatusCode)
		}
	}
	if len(a.log()) != before || holder(t, a.reg, "r9") != "" {
		t.Errorf("refused requests were forwarded (%d) or placed a room (%q)", len(a.log())-before, holder(t, a.reg, "r9"))
	}
	if resp, _ := send(t, "POST", b.srv.URL+"/whip/r1", "good", strings.Repeat("x", 1025)); resp.StatusCode != 413 {
		t.Errorf("oversized offer at b: %d; want 413", resp.StatusCode)
	}

	// a keeps the lease while the room has peers there, and releases it
	// when the last one leaves.
	time.Sleep(2 * lease)
	if h := holder(t, a.reg, "r1"); h != "a" {
		t.Fatalf("after %v with a peer at a the holder is %q", 2*lease, h)
	}
	a.media.set("r1", 0)
	waitUntil(t, lease, "a to release r1", func() bool { return holder(t, a.reg, "r1") == "" })
	if v := value(t, a.p.leases); v != 0 {
		t.Errorf("bidroom_media_leases at a = %v after the release", v)
	}
}

// TestMarkedRequestIsNotForwardedAgain: a request another instance
// forwarded is served where it arrives or refused, never forwarded on; a
// mark copied onto another request is worthless.
func TestMarkedRequestIsNotForwardedAgain(t *testing.T) {
	c, prefix := redisClient(t)
	a := startNode(t, c, prefix, "a", time.Minute)
	b := startNode(t, c, prefix, "b", time.Minute)
	if resp, _ := send(t, "POST", b.srv.URL+"/whip/r1", "good", "offer"); resp.StatusCode != 201 {
		t.Fatal(resp.Status)
	}
	// c forwarded an offer to a, believing a held r1; b does.
	cMark := (&Placement{cfg: Config{Self: Instance{ID: "c"}}, key: a.p.key}).mark("POST", "/whip/r1", time.Now())
	resp, body := send(t, "POST", a.srv.URL+"/whip/r1", "good", "offer", HeaderForwarded, cMark)
	if resp.StatusCode != 503 || !strings.Contains(body, "media_moved") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("marked offer at a non-holder: %d %q; want 503 media_moved", resp.StatusCode, body)
	}
	if len(a.log()) != 0 || len(b.log()) != 1 {
		t.Errorf("served: a %d, b %d; want 0 and 1 (not forwarded again)", len(a.log()), len(b.log()))
	}
	// The same mark on another path does not verify: that one is forwarded.
	resp, body = send(t, "POST", a.srv.URL+"/whep/r1", "good", "offer", HeaderForwarded, cMark)
	if resp.StatusCode != 201 || body != "answer from b" {
		t.Errorf("mark of another request: %d %q; want forwarded to b", resp.StatusCode, body)
	}
	// A stale mark does not verify either.
	old := (&Placement{cfg: Config{Self: Instance{ID: "c"}}, key: a.p.key}).mark("POST", "/whip/r1", time.Now().Add(-time.Minute))
	if resp, body := send(t, "POST", a.srv.URL+"/whip/r1", "good", "offer", HeaderForwarded, old); body != "answer from b" {
		t.Errorf("stale mark: %d %q; want forwarded to b", resp.StatusCode, body)
	}
}

// TestDeadHolder: while a dead instance's lease runs, requests for its
// room are answered 503 with Retry-After (nothing is served here); once it
// lapses, the next offer takes the room where it arrives.
func TestDeadHolder(t *testing.T) {
	c, prefix := redisClient(t)
	b := startNode(t, c, prefix, "b", time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there: the holder died
	dead := newRegistry(t, c, prefix, Instance{ID: "dead", URL: deadURL}, 1500*time.Millisecond)
	if _, err := dead.Acquire(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, "POST", b.srv.URL+"/whip/r1", "good", "offer")
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 503 || !strings.Contains(body, "media_unavailable") || ra < 1 || ra > 2 {
		t.Errorf("offer for a dead holder's room: %d %q Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, body := send(t, "DELETE", b.srv.URL+"/whip/r1/x", "good", ""); resp.StatusCode != 503 {
		t.Errorf("DELETE for a dead holder's room: %d %q", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", b.srv.URL+"/api/v1/sessions/r1/media", "good", ""); body != "answer from b" {
		t.Errorf("roster with a dead holder: %d %q; want b's own", resp.StatusCode, body)
	}
	if n := value(t, b.p.forwarded.WithLabelValues("POST", "unreachable")); n != 1 {
		t.Errorf("unreachable POSTs counted: %v", n)
	}
	if n := len(b.log()); n != 1 { // the roster only
		t.Fatalf("b served %d requests while the dead holder's lease ran; want 1 (the roster)", n)
	}
	waitUntil(t, 3*time.Second, "the dead holder's lease to lapse", func() bool { return holder(t, b.reg, "r1") == "" })
	if resp, body := send(t, "POST", b.srv.URL+"/whip/r1", "good", "offer"); resp.StatusCode != 201 || body != "answer from b" {
		t.Fatalf("offer after the lapse: %d %q", resp.StatusCode, body)
	}
	if h := holder(t, b.reg, "r1"); h != "b" {
		t.Fatalf("holder after the lapse: %q", h)
	}
}

// TestLostLease: an instance whose lease another took closes its sessions
// of the room (clients reconnect to the holder), and stops renewing; on
// shutdown an instance releases what it holds.
func TestLostLease(t *testing.T) {
	c, prefix := redisClient(t)
	const lease = 450 * time.Millisecond
	a := startNode(t, c, prefix, "a", lease)
	for _, room := range []string{"r1", "r2"} {
		if resp, _ := send(t, "POST", a.srv.URL+"/whip/"+room, "good", "offer"); resp.StatusCode != 201 {
			t.Fatal(resp.Status)
		}
		a.media.set(room, 1)
	}
	// Another instance took r1 (a stalled past its lease, say).
	if err := c.Set(context.Background(), a.reg.Key("r1"), instB.encode(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*lease, "a to notice", func() bool { return a.media.closes("r1") == 1 })
	if h := holder(t, a.reg, "r1"); h != "b" {
		t.Errorf("r1's holder %q; want b's lease untouched", h)
	}
	if n := value(t, a.p.lost); n != 1 {
		t.Errorf("lost leases: %v", n)
	}
	if v := value(t, a.p.leases); v != 1 {
		t.Errorf("leases held: %v; want 1 (r2)", v)
	}
	a.p.Close()
	if h := holder(t, a.reg, "r2"); h != "" {
		t.Errorf("after a's shutdown r2 is held by %q", h)
	}
	if h := holder(t, a.reg, "r1"); h != "b" {
		t.Errorf("a's shutdown touched b's lease: %q", h)
	}
}
