package media

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// newTestServer starts an SFU on a loopback muxed port.
func newTestServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{UDPListen: "127.0.0.1:0", IncludeLoopback: true}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Hooks{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientAPI is a pion API for test peers: loopback only, default
// interceptors (NACK, reports, TWCC) plus any given ones first, so they sit
// between the network and the NACK generator.
func clientAPI(t *testing.T, first ...interceptor.Factory) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	for _, f := range first {
		reg.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if len(first) > 0 {
		// Loss is simulated after decryption; SRTP's replay check would
		// otherwise refuse the repair of a packet it already saw.
		se.DisableSRTPReplayProtection(true)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// offerOf creates a complete (non-trickle) offer.
func offerOf(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}

// testPublisher sends synthetic H.264: a keyframe (SPS+PPS in a STAP-A, then
// an IDR in FU-A fragments) every gop frames, P frames between, 30 fps. Like
// OBS it ignores keyframe requests. With paramsOnce only the first keyframe
// carries the SPS and PPS (OBS with its encoder's global headers).
type testPublisher struct {
	paramsOnce bool
	pc         *webrtc.PeerConnection
	track      *webrtc.TrackLocalStaticRTP
	id         string
	stop       chan struct{}
	done       chan struct{}
	frames     atomic.Uint64
	sent       sync.Map // timestamp -> time sent
}

func startPublisher(t *testing.T, s *Server, space Space, feed string, gop int) *testPublisher {
	t.Helper()
	return startPublisherWith(t, s, space, feed, gop, false)
}

func startPublisherWith(t *testing.T, s *Server, space Space, feed string, gop int, paramsOnce bool) *testPublisher {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // read and ignore RTCP, as OBS does with PLIs
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	ans, err := s.Publish(context.Background(), Request{Space: space, Feed: feed, Subject: "host", Offer: offerOf(t, pc)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	p := &testPublisher{pc: pc, track: track, id: ans.ID, stop: make(chan struct{}), done: make(chan struct{}), paramsOnce: paramsOnce}
	go p.run(gop)
	t.Cleanup(p.close)
	return p
}

func (p *testPublisher) run(gop int) {
	defer close(p.done)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	seq := uint16(40000) // wraps during long tests
	ts := uint32(1 << 31)
	for frame := 0; ; frame++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		var payloads [][]byte
		if frame%gop == 0 {
			if frame == 0 || !p.paramsOnce {
				payloads = append(payloads, []byte{24, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 2, 0x68, 0xce})
			}
			for i := 0; i < 6; i++ {
				fu := make([]byte, 1000)
				fu[0], fu[1] = 28|0x60, 5
				if i == 0 {
					fu[1] |= 0x80
				}
				if i == 5 {
					fu[1] |= 0x40
				}
				payloads = append(payloads, fu)
			}
		} else {
			pf := make([]byte, 800)
			pf[0] = 0x41
			payloads = append(payloads, pf)
		}
		p.sent.Store(ts, time.Now())
		for i, pl := range payloads {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: i == len(payloads)-1}, Payload: pl}
			seq++
			if err := p.track.WriteRTP(pkt); err != nil {
				return
			}
		}
		p.frames.Add(1)
		ts += 3000
	}
}

func (p *testPublisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	_ = p.pc.Close()
}

// testViewer receives one video track and records what arrived.
type testViewer struct {
	pc        *webrtc.PeerConnection
	id        string
	started   time.Time
	connected atomic.Int64 // unix nanos when connected

	mu          sync.Mutex // guards the fields below
	seqs        map[uint16]int
	packets     int
	firstKey    time.Time // first keyframe packet
	firstPkt    bool
	firstIsKF   bool
	lastSeq     uint16
	maxGap      int
	frames      int
	timestamps  []uint32
	head        []*rtp.Packet // the first packets received, in arrival order
	firstKeyIdx int           // index in head of the first keyframe packet, -1 before one
	firstKeySeq uint16
	done        chan struct{}
}

func startViewer(t *testing.T, s *Server, space Space, feed string, first ...interceptor.Factory) *testViewer {
	t.Helper()
	pc, err := clientAPI(t, first...).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	v := &testViewer{pc: pc, seqs: make(map[uint16]int), started: time.Now(), done: make(chan struct{}), firstKeyIdx: -1}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			v.connected.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		defer close(v.done)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.record(pkt)
		}
	})
	ans, err := s.View(context.Background(), Request{Space: space, Feed: feed, Subject: "viewer", Offer: offerOf(t, pc)})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	v.id = ans.ID
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return v
}

// record files a packet. Like a browser's decoder, a viewer whose first
// packet is not a keyframe asks for one with a PLI.
func (v *testViewer) record(p *rtp.Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	kf := h264Keyframe(p.Payload)
	if kf && v.firstKeyIdx < 0 {
		v.firstKeyIdx = len(v.head)
		v.firstKeySeq = p.SequenceNumber
	}
	if !v.firstPkt {
		v.firstPkt, v.firstIsKF = true, kf
		if !kf {
			go func() { _ = v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: p.SSRC}}) }()
		}
	} else if d := int(p.SequenceNumber - v.lastSeq); d > 1 && d < 30000 && d > v.maxGap {
		v.maxGap = d
	}
	if kf && v.firstKey.IsZero() {
		v.firstKey = time.Now()
	}
	if v.seqs[p.SequenceNumber] == 0 {
		v.packets++
		if p.Marker {
			v.frames++
		}
	}
	v.seqs[p.SequenceNumber]++
	v.lastSeq = p.SequenceNumber
	v.timestamps = append(v.timestamps, p.Timestamp)
	if len(v.head) < 64 {
		v.head = append(v.head, p.Clone())
	}
}

func (v *testViewer) snapshot() (packets, frames int, firstKey time.Time, firstIsKF bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.packets, v.frames, v.firstKey, v.firstIsKF
}

// fromFirstKey waits for the viewer's first keyframe packet and n-1 after
// it and returns them; packets before it are an error (fast start failed).
func (v *testViewer) fromFirstKey(t *testing.T, n int) []*rtp.Packet {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("a keyframe and %d packets after it", n-1), func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.firstKeyIdx >= 0 && len(v.head) >= v.firstKeyIdx+n
	})
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.firstKeyIdx != 0 {
		t.Errorf("%d packets before the first keyframe: %s", v.firstKeyIdx, describeHead(v.head[:v.firstKeyIdx]))
	}
	return slices.Clone(v.head[v.firstKeyIdx:])
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
