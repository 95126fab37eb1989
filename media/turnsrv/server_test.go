package turnsrv

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// newTestServer starts a server on loopback, closed when the test ends.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{
		Listen:    "127.0.0.1:0",
		Realm:     testRealm,
		RelayIP:   "127.0.0.1",
		RelayBind: "127.0.0.1",
		Secret:    testSecret,
		TTL:       time.Minute,
	}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// testLogger writes debug logs through t.Log, so they show for failing tests only. Lines logged
// by pion goroutines that outlive the test are dropped rather than panicking t.Log.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t *testing.T

	mu   sync.Mutex // guards done and serialises writes with the test's end
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// newTURNClient returns a listening pion TURN client for s with the given credentials.
func newTURNClient(t *testing.T, s *Server, username, password string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: s.Addr().String(),
		STUNServerAddr: s.Addr().String(),
		Username:       username,
		Password:       password,
		Realm:          testRealm,
		Conn:           conn,
		RTO:            50 * time.Millisecond,
		LoggerFactory:  pionLoggerFactory{log: testLogger(t)},
	})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		c.Close()
		_ = conn.Close()
		t.Fatalf("client Listen: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return c
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Listen: "127.0.0.1:0", Realm: "bidroom", RelayIP: "127.0.0.1", Secret: testSecret}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantKey string
	}{
		{"no relay IP", func(c *Config) { c.RelayIP = "" }, "RelayIP"},
		{"relay IP a name", func(c *Config) { c.RelayIP = "turn.example" }, "RelayIP"},
		{"relay IP unspecified", func(c *Config) { c.RelayIP = "0.0.0.0" }, "RelayIP"},
		{"no realm", func(c *Config) { c.Realm = "" }, "Realm"},
		{"short secret", func(c *Config) { c.Secret = testSecret[:31] }, "Secret"},
		{"negative TTL", func(c *Config) { c.TTL = -time.Second }, "TTL"},
		{"half a port range", func(c *Config) { c.PortMin = 40000 }, "PortMax"},
		{"inverted port range", func(c *Config) { c.PortMin, c.PortMax = 40010, 40000 }, "PortMin"},
		{"bind a name", func(c *Config) { c.RelayBind = "localhost" }, "RelayBind"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "Listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			s, err := New(cfg, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("New: got nil error, want one")
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("New: got %q, want it to name %s", err, tt.wantKey)
			}
		})
	}
}

func TestDefaultURLs(t *testing.T) {
	s := newTestServer(t)
	got := s.Credentials("bidder-7", testNow)
	want := "turn:" + s.Addr().String() + "?transport=udp"
	if len(got.URLs) != 1 || got.URLs[0] != want {
		t.Errorf("URLs: got %q, want [%q]", got.URLs, want)
	}
	wantUser, wantPass := Credential(testSecret, "bidder-7", testNow.Add(time.Minute))
	if got.Username != wantUser || got.Credential != wantPass {
		t.Errorf("credentials: got %q/%q, want %q/%q", got.Username, got.Credential, wantUser, wantPass)
	}
}

func TestAllocate(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	good := s.Credentials("bidder-7", now)
	expiredUser, expiredPass := Credential(testSecret, "bidder-7", now.Add(-time.Second))
	wrongUser, wrongPass := Credential(otherSecret, "bidder-7", now.Add(time.Minute))
	otherUser, _ := Credential(testSecret, "bidder-8", now.Add(time.Minute))

	tests := []struct {
		name, username, password string
		wantOK                   bool
	}{
		{"valid", good.Username, good.Credential, true},
		{"expired", expiredUser, expiredPass, false},
		{"wrong secret", wrongUser, wrongPass, false},
		{"tampered user", otherUser, good.Credential, false},
		{"malformed", "bidder-7", good.Credential, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTURNClient(t, s, tt.username, tt.password)
			relay, err := c.Allocate()
			if !tt.wantOK {
				if err == nil {
					_ = relay.Close()
					t.Fatal("Allocate: got a relay, want refusal")
				}
				if !strings.Contains(err.Error(), "401") {
					t.Errorf("Allocate: got %v, want error code 401", err)
				}
				if n := s.allocs.count(); n != 0 {
					t.Errorf("live allocations: got %d, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("relay IP: got %s, want 127.0.0.1", ip)
			}
			if err := relay.Close(); err != nil { // sends a zero-lifetime Refresh
				t.Errorf("close relay: %v", err)
			}
		})
	}
}

func TestAllocateTCPRefused(t *testing.T) {
	s := newTestServer(t)
	ice := s.Credentials("bidder-7", time.Now())
	c := newTURNClient(t, s, ice.Username, ice.Credential)
	if a, err := c.AllocateTCP(); err == nil {
		_ = a.Close()
		t.Fatal("AllocateTCP: got an allocation, want refusal")
	}
}

func TestQuota(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	for i := range MaxAllocationsPerUser + 1 {
		// Fresh credentials each time: the quota is per user, not per credential.
		ice := s.Credentials("bidder-7", now.Add(time.Duration(i)*time.Second))
		c := newTURNClient(t, s, ice.Username, ice.Credential)
		relay, err := c.Allocate()
		if i < MaxAllocationsPerUser {
			if err != nil {
				t.Fatalf("allocation %d: %v", i+1, err)
			}
			t.Cleanup(func() { _ = relay.Close() })
			continue
		}
		if err == nil {
			_ = relay.Close()
			t.Fatalf("allocation %d: got a relay, want quota refusal", i+1)
		}
		if !strings.Contains(err.Error(), "486") {
			t.Errorf("allocation %d: got %v, want error code 486", i+1, err)
		}
	}
	// Another user is unaffected.
	ice := s.Credentials("bidder-8", now)
	relay, err := newTURNClient(t, s, ice.Username, ice.Credential).Allocate()
	if err != nil {
		t.Fatalf("other user: %v", err)
	}
	_ = relay.Close()
}

func TestPermitPeer(t *testing.T) {
	s := &Server{relayIP: net.ParseIP("203.0.113.5"), log: slog.New(slog.DiscardHandler)}
	tests := []struct {
		peer string
		want bool
	}{
		{"203.0.113.5", true},
		{"198.51.100.7", true},
		{"10.1.2.3", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"169.254.169.254", false},
		{"224.0.0.251", false},
		{"255.255.255.255", false},
		{"fe80::1", false},
	}
	for _, tt := range tests {
		if got := s.permitPeer(nil, net.ParseIP(tt.peer)); got != tt.want {
			t.Errorf("permitPeer(%s): got %v, want %v", tt.peer, got, tt.want)
		}
	}
}

// TestCloseReleasesEverything closes the server under a live allocation whose client has gone
// away: the relay port and listen port must be free, and no goroutine left, when Close returns.
func TestCloseReleasesEverything(t *testing.T) {
	defer goleak.VerifyNone(t)

	s, err := New(Config{
		Listen: "127.0.0.1:0", Realm: testRealm, RelayIP: "127.0.0.1", RelayBind: "127.0.0.1",
		PortMin: 41000, PortMax: 41999, Secret: testSecret,
	}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	listen := s.Addr().String()

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	ice := s.Credentials("bidder-7", time.Now())
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: listen, STUNServerAddr: listen, Conn: conn,
		Username: ice.Username, Password: ice.Credential, Realm: testRealm,
	})
	if err != nil {
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("client Listen: %v", err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	relayAddr := relay.LocalAddr().String()
	if p := relay.LocalAddr().(*net.UDPAddr).Port; p < 41000 || p > 41999 {
		t.Errorf("relay port: got %d, want within 41000-41999", p)
	}
	// The client vanishes without deallocating: its socket goes first, so closing the relay
	// (which stops the client's refresh timers) cannot send the zero-lifetime Refresh.
	_ = conn.Close()
	_ = relay.Close()
	c.Close()
	if n := s.allocs.count(); n != 1 {
		t.Fatalf("live allocations before Close: got %d, want 1", n)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if n := s.allocs.count(); n != 0 {
		t.Errorf("live allocations after Close: got %d, want 0", n)
	}
	for _, addr := range []string{relayAddr, listen} {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			t.Errorf("rebind %s after Close: %v", addr, err)
			continue
		}
		_ = pc.Close()
	}
}

// TestRelayEndToEnd connects two pion peers that may use only relay candidates through the
// server, exchanges a data channel message and checks the selected pair is relay to relay.
func TestRelayEndToEnd(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()

	offerer := newRelayPeer(t, s.Credentials("bidder-7", now))
	answerer := newRelayPeer(t, s.Credentials("clerk-1", now))

	got := make(chan string, 1)
	answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case got <- string(m.Data):
			default:
			}
		})
	})
	dc, err := offerer.CreateDataChannel("bids", nil)
	if err != nil {
		t.Fatalf("CreateDataChannel: %v", err)
	}
	dc.OnOpen(func() {
		if err := dc.SendText("sealed bid 42"); err != nil {
			t.Errorf("SendText: %v", err)
		}
	})

	signal(t, offerer, answerer)

	select {
	case msg := <-got:
		if msg != "sealed bid 42" {
			t.Errorf("message: got %q, want %q", msg, "sealed bid 42")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no data channel message through the relay within 20s")
	}

	for name, pc := range map[string]*webrtc.PeerConnection{"offerer": offerer, "answerer": answerer} {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s selected pair: got %v, %v", name, pair, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s selected pair: got %s -> %s, want relay -> relay", name, pair.Local.Typ, pair.Remote.Typ)
		}
	}
	if n := s.allocs.count(); n < 2 {
		t.Errorf("live allocations: got %d, want at least 2", n)
	}
}

func newRelayPeer(t *testing.T, server ICEServer) *webrtc.PeerConnection {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.LoggerFactory = pionLoggerFactory{log: testLogger(t)}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{{URLs: server.URLs, Username: server.Username, Credential: server.Credential}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatalf("NewPeerConnection: %v", err)
	}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Errorf("close peer: %v", err)
		}
	})
	return pc
}

// signal runs a non-trickle offer/answer between a and b.
func signal(t *testing.T, a, b *webrtc.PeerConnection) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	describe := func(pc *webrtc.PeerConnection, create func(*webrtc.PeerConnection) (webrtc.SessionDescription, error)) webrtc.SessionDescription {
		t.Helper()
		sd, err := create(pc)
		if err != nil {
			t.Fatalf("create description: %v", err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(sd); err != nil {
			t.Fatalf("SetLocalDescription: %v", err)
		}
		select {
		case <-gathered:
		case <-ctx.Done():
			t.Fatal("ICE gathering did not complete within 10s")
		}
		local := pc.LocalDescription()
		if !strings.Contains(local.SDP, "typ relay") {
			t.Fatalf("local description has no relay candidate:\n%s", local.SDP)
		}
		return *local
	}
	offer := describe(a, func(pc *webrtc.PeerConnection) (webrtc.SessionDescription, error) { return pc.CreateOffer(nil) })
	if err := b.SetRemoteDescription(offer); err != nil {
		t.Fatalf("answerer SetRemoteDescription: %v", err)
	}
	answer := describe(b, func(pc *webrtc.PeerConnection) (webrtc.SessionDescription, error) { return pc.CreateAnswer(nil) })
	if err := a.SetRemoteDescription(answer); err != nil {
		t.Fatalf("offerer SetRemoteDescription: %v", err)
	}
}
