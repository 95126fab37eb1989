package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
)

// TestMediaPlacementAcrossInstances runs three server processes on one
// Redis. A host publishes to a session through A, which takes the room's
// media; viewers through B and C are forwarded to A and receive its RTP
// straight from A's UDP port. A is killed with SIGKILL: its lease lapses,
// the host's reconnect through B places the room on B, viewers reconnect
// through C and B and receive the new stream from B. No answer after the
// kill names A's port (nothing was served by the dead instance), and the
// session's Location and roster work through another instance.
func TestMediaPlacementAcrossInstances(t *testing.T) {
	const lease = 2 * time.Second
	testStart := time.Now()
	redisURL := redistest.Start(t)
	prefix := redistest.Prefix(t)
	const metricsToken = "metrics-token-0123456789"
	type inst struct {
		*server
		udp int
	}
	var insts []*inst
	for _, id := range []string{"a", "b", "c"} {
		addr, udp := freePort(t), freeUDPPort(t)
		s := startInstance(t, addr,
			"BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL="+redisURL,
			"BIDROOM_STORE_REDIS_PREFIX="+prefix, "BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:"+strconv.Itoa(udp),
			"BIDROOM_MEDIA_RECORD=false", "BIDROOM_SERVER_METRICS_TOKEN="+metricsToken,
			"BIDROOM_CLUSTER_INSTANCE_ID="+id, "BIDROOM_CLUSTER_ADVERTISE_URL=http://"+addr,
			"BIDROOM_CLUSTER_MEDIA_LEASE="+lease.String())
		insts = append(insts, &inst{s, udp})
	}
	a, b, c := insts[0], insts[1], insts[2]
	t.Logf("three instances up in %v", time.Since(testStart).Round(time.Millisecond))

	const room = "placed"
	a.createSession(room)
	mint := roomMinter(t, room)
	hostTok := mint(rooms.RoleHost, "host-1", auth.GrantPublish, auth.GrantView)
	viewTok := []string{mint(rooms.RoleSupervisor, "sup-1", auth.GrantView), mint(rooms.RoleSupervisor, "sup-2", auth.GrantView)}

	leaseHolder := leaseHolderOf(t, redisURL, prefix, room)

	// Before: the host on A, viewers through B and C, all served by A.
	pub := publishVia(t, a.server, room, hostTok, a.udp)
	viewers := []*mediaViewer{viewVia(t, b.server, room, viewTok[0], a.udp), viewVia(t, c.server, room, viewTok[1], a.udp)}
	for i, v := range viewers {
		v.waitPackets(t, 30, 10*time.Second, fmt.Sprint("viewer ", i, " before the kill"))
	}
	if h := leaseHolder(); h != "a" {
		t.Fatalf("lease holder %q; want a", h)
	}
	if n := forwardedPOSTs(t, c.server, metricsToken); n != 1 {
		t.Errorf("c forwarded %v offers; want 1", n)
	}

	// A dies. Its clients notice (ICE), as a browser would, and reconnect.
	a.kill9()
	killed := time.Now()
	pub.waitGone(t, 10*time.Second)
	for _, v := range viewers {
		v.waitGone(t, 10*time.Second)
		v.close()
	}
	pub.close()

	// Until the lease lapses B cannot reach the holder and says when to
	// retry; then the host's offer places the room on B.
	var statuses []int
	var pub2 *mediaPublisher
	for deadline := time.Now().Add(lease + 10*time.Second); pub2 == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("no publish through B %v after the kill: statuses %v", time.Since(killed), statuses)
		}
		var status int
		var retry string
		pub2, status, retry = tryPublish(t, b.server, room, hostTok, b.udp)
		statuses = append(statuses, status)
		if pub2 == nil {
			if status != http.StatusServiceUnavailable || retry == "" {
				t.Fatalf("publish through B while A's lease runs: %d (Retry-After %q); want 503 with Retry-After", status, retry)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("republished on B %v after the kill (lease %v), statuses %v", time.Since(killed).Round(time.Millisecond), lease, statuses)
	if h := leaseHolder(); h != "b" {
		t.Fatalf("lease holder after the failover %q; want b", h)
	}
	viewers = []*mediaViewer{viewVia(t, c.server, room, viewTok[0], b.udp), viewVia(t, b.server, room, viewTok[1], b.udp)}
	for i, v := range viewers {
		v.waitPackets(t, 30, 10*time.Second, fmt.Sprint("viewer ", i, " after the failover"))
	}
	if n := forwardedPOSTs(t, c.server, metricsToken); n != 2 {
		t.Errorf("c forwarded %v offers; want 2", n)
	}

	// The roster read through C is B's; the host's Location works through C.
	feeds := func() int {
		var out struct {
			Feeds []struct{ Publisher string } `json:"feeds"`
		}
		raw, _ := json.Marshal(c.get("/api/v1/sessions/"+room+"/media", hostTok))
		_ = json.Unmarshal(raw, &out)
		return len(out.Feeds)
	}
	if n := feeds(); n != 1 {
		t.Errorf("roster through C: %d feeds; want the host's on B", n)
	}
	if st := sdpRequest(t, "DELETE", "http://"+c.addr+pub2.location, hostTok, "").StatusCode; st != http.StatusOK {
		t.Errorf("DELETE of the host's session through C: %d", st)
	}
	if n := feeds(); n != 0 {
		t.Errorf("roster after the DELETE through C: %d feeds; want none", n)
	}
	for _, v := range viewers {
		v.close()
	}
	pub2.close()
	if d := time.Since(testStart); d > 60*time.Second {
		t.Errorf("the test took %v; keep it under a minute", d)
	}
}

// startInstance runs a server process listening on addr (known before it
// starts, for its advertised URL) with env, and waits until it is ready.
func startInstance(t *testing.T, addr string, env ...string) *server {
	t.Helper()
	s := &server{t: t, addr: addr, out: &bytes.Buffer{}}
	s.env = append([]string{
		"BIDROOM_TEST_SERVE=1", "BIDROOM_SERVER_LISTEN=" + s.addr,
		"BIDROOM_AUTH_ADMIN_KEY=" + testAdminKey, "BIDROOM_AUTH_TOKEN_SECRET=" + testSecret,
		"BIDROOM_DEMO_ENABLED=false", "BIDROOM_LOG_LEVEL=warn",
	}, env...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// roomMinter mints tokens for room with the test servers' secret.
func roomMinter(t *testing.T, room string) func(role rooms.Role, sub string, grants ...string) string {
	t.Helper()
	iss, err := auth.NewIssuer([]byte(testSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	return func(role rooms.Role, sub string, grants ...string) string {
		tok, _, err := iss.Mint(auth.Request{Room: room, Role: role, Sub: sub, Name: sub, Grants: grants, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// leaseHolderOf reads which instance holds room's media lease ("" none).
func leaseHolderOf(t *testing.T, redisURL, prefix, room string) func() string {
	rc := redisClientFor(t, redisURL)
	return func() string {
		v, err := rc.Get(context.Background(), prefix+":media:{"+room+"}").Result()
		if errors.Is(err, goredis.Nil) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := strings.Cut(v, " ")
		return id
	}
}

func redisClientFor(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var forwardedPOST = regexp.MustCompile(`(?m)^bidroom_media_forwarded_total\{method="POST",result="answered"\} (\S+)$`)

// forwardedPOSTs reads from an instance's /metrics how many offers it
// forwarded to a room's holder.
func forwardedPOSTs(t *testing.T, s *server, token string) float64 {
	t.Helper()
	resp := sdpRequest(t, "GET", "http://"+s.addr+"/metrics", token, "")
	m := forwardedPOST.FindStringSubmatch(resp.body)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n
}

type sdpResponse struct {
	*http.Response
	body string
}

func sdpRequest(t *testing.T, method, url, bearer, body string) sdpResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/sdp")
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return sdpResponse{resp, string(raw)}
}

var candidatePort = regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ`)

// checkServedBy fails t unless every candidate of the answer is on the
// given UDP port: the instance that owns that port made the answer.
func checkServedBy(t *testing.T, answer string, udp int, what string) {
	t.Helper()
	ms := candidatePort.FindAllStringSubmatch(answer, -1)
	if len(ms) == 0 {
		t.Fatalf("%s: the answer has no candidates:\n%s", what, answer)
	}
	for _, m := range ms {
		if m[1] != strconv.Itoa(udp) {
			t.Fatalf("%s: answer candidate on port %s; want the holder's %d:\n%s", what, m[1], udp, answer)
		}
	}
}

// peerAPI is a pion API for the test's clients: loopback only, and ICE
// that gives up on a silent server within a couple of seconds (a browser
// takes longer; the test need not).
func peerAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICETimeouts(time.Second, 2*time.Second, 200*time.Millisecond)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// completeOffer returns pc's offer with every candidate (WHIP does not trickle here).
func completeOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ICE gathering took over 5 s")
	}
	return pc.LocalDescription().SDP
}

// peerState follows a peer connection until it fails.
type peerState struct {
	pc   *webrtc.PeerConnection
	gone chan struct{} // closed when the connection is disconnected, failed or closed
}

func newPeerState(pc *webrtc.PeerConnection) *peerState {
	p := &peerState{pc: pc, gone: make(chan struct{})}
	var fired atomic.Bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateDisconnected || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			if fired.CompareAndSwap(false, true) {
				close(p.gone)
			}
		}
	})
	return p
}

func (p *peerState) waitGone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.gone:
	case <-time.After(d):
		t.Fatalf("the client did not notice its server died within %v", d)
	}
}

// mediaPublisher sends VP8 keyframes at 30 fps over WHIP.
type mediaPublisher struct {
	*peerState
	location string
	stop     chan struct{}
	done     chan struct{}
}

func publishVia(t *testing.T, s *server, room, token string, udp int) *mediaPublisher {
	t.Helper()
	p, status, _ := tryPublish(t, s, room, token, udp)
	if p == nil {
		t.Fatalf("publish through %s: %d", s.addr, status)
	}
	return p
}

// tryPublish offers to publish through s; nil and the status (and
// Retry-After) when it is refused. An answer must come from the owner of
// udp.
func tryPublish(t *testing.T, s *server, room, token string, udp int) (*mediaPublisher, int, string) {
	t.Helper()
	pc, err := peerAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "host")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	resp := sdpRequest(t, "POST", "http://"+s.addr+"/whip/"+room, token, completeOffer(t, pc))
	if resp.StatusCode != http.StatusCreated {
		_ = pc.Close()
		return nil, resp.StatusCode, resp.Header.Get("Retry-After")
	}
	checkServedBy(t, resp.body, udp, "WHIP answer through "+s.addr)
	p := &mediaPublisher{peerState: newPeerState(pc), location: resp.Header.Get("Location"), stop: make(chan struct{}), done: make(chan struct{})}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: resp.body}); err != nil {
		_ = pc.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := uint16(0); ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			// A VP8 keyframe each frame: the payload descriptor (S=1),
			// then a frame tag with P=0, the start code and a 320x240 size,
			// which is all a recorder looks at.
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: i, Timestamp: uint32(i) * 3000},
				Payload: []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00, 0x00}})
		}
	}()
	t.Cleanup(p.close)
	return p, resp.StatusCode, ""
}

func (p *mediaPublisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	_ = p.pc.Close()
}

// mediaViewer receives one video track over WHEP and counts its packets.
type mediaViewer struct {
	*peerState
	packets atomic.Int64
	started atomic.Bool   // a track reader runs
	read    chan struct{} // closed when the track reader ends
}

func viewVia(t *testing.T, s *server, room, token string, udp int) *mediaViewer {
	t.Helper()
	pc, err := peerAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	v := &mediaViewer{peerState: newPeerState(pc), read: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !v.started.CompareAndSwap(false, true) {
			return
		}
		defer close(v.read)
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			v.packets.Add(1)
		}
	})
	resp := sdpRequest(t, "POST", "http://"+s.addr+"/whep/"+room, token, completeOffer(t, pc))
	if resp.StatusCode != http.StatusCreated {
		_ = pc.Close()
		t.Fatalf("WHEP through %s: %d %s", s.addr, resp.StatusCode, resp.body)
	}
	checkServedBy(t, resp.body, udp, "WHEP answer through "+s.addr)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: resp.body}); err != nil {
		_ = pc.Close()
		t.Fatal(err)
	}
	t.Cleanup(v.close)
	return v
}

func (v *mediaViewer) waitPackets(t *testing.T, n int64, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for v.packets.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d RTP packets in %v; want %d", what, v.packets.Load(), d, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close ends the connection and waits for its track reader, if any.
func (v *mediaViewer) close() {
	_ = v.pc.Close()
	if v.started.Load() {
		<-v.read // ReadRTP fails once the connection is closed
	}
}
