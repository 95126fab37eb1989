package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// h264Codec is the one video codec both ends offer: constrained baseline
// 3.1, packetization-mode 1, what the clip is encoded as.
var h264Codec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeH264,
	ClockRate:   90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
	},
}

// h264PayloadType is the payload type offered for h264Codec.
const h264PayloadType = 102

// peerAPI builds pion APIs restricted to loopback: UDP over IPv4 on
// 127.0.0.1 only, no mDNS, and the default interceptors (NACK generator
// and responder, sender and receiver reports, TWCC, stats).
type peerAPI struct {
	api *webrtc.API
	mux *ice.UDPMuxDefault // nil unless all peers share one socket
}

// newPeerAPI returns an API for many peer connections. With shared, every
// peer made from it uses one 127.0.0.1 UDP socket (an ICE UDP mux) rather
// than one socket each.
func newPeerAPI(shared bool) (*peerAPI, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec, PayloadType: h264PayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register H.264: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	nw, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	se.SetNet(bigBufferNet{nw})
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	p := &peerAPI{}
	if shared {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, fmt.Errorf("open the shared ICE socket: %w", err)
		}
		_ = conn.SetReadBuffer(8 << 20)
		_ = conn.SetWriteBuffer(8 << 20)
		p.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: lf.NewLogger("udpmux")})
		se.SetICEUDPMux(p.mux)
	}
	p.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return p, nil
}

// viewerReadBuffer is each viewer socket's receive buffer. A browser asks
// for a large one too; with Linux's 208 KiB default a keyframe burst to a
// viewer whose goroutine is waiting for a core overflows it, and the run
// would measure the tool's kernel drops instead of the server.
const viewerReadBuffer = 4 << 20

// bigBufferNet is the standard network with large UDP receive buffers (the
// kernel caps them at net.core.rmem_max).
type bigBufferNet struct{ *stdnet.Net }

// ListenUDP opens the socket and enlarges its buffer.
func (n bigBufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		_ = c.SetReadBuffer(viewerReadBuffer)
	}
	return c, err
}

// close closes the shared socket, if any; call it after every peer made
// from p is closed.
func (p *peerAPI) close() error {
	if p.mux != nil {
		return p.mux.Close()
	}
	return nil
}

// sdpSession is one WHIP or WHEP resource on the server.
type sdpSession struct {
	location string // absolute URL to DELETE
	token    string
}

// errNoMedia is the server answering 501 Not Implemented, or 503 with
// "media is off" although the tool enables it: its binary has no SFU
// wired to /whip and /whep yet.
var errNoMedia = errors.New("the server has no WHIP/WHEP media yet")

// exchange completes pc's offer (waiting for every ICE candidate), POSTs
// it to endpoint as WHIP/WHEP does and applies the answer.
func exchange(ctx context.Context, hc *http.Client, pc *webrtc.PeerConnection, endpoint, token string) (*sdpSession, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: read answer: %w", endpoint, err)
	}
	if resp.StatusCode == http.StatusNotImplemented ||
		(resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(body, []byte("media is off"))) {
		return nil, fmt.Errorf("%w: HTTP %d: %s", errNoMedia, resp.StatusCode, bytes.TrimSpace(body))
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST %s: HTTP %d, want 201: %s", endpoint, resp.StatusCode, bytes.TrimSpace(body))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("POST %s: 201 without a Location", endpoint)
	}
	locURL, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("POST %s: bad Location %q: %w", endpoint, loc, err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return nil, fmt.Errorf("POST %s: apply the answer: %w", endpoint, err)
	}
	return &sdpSession{location: locURL.String(), token: token}, nil
}

// end DELETEs the resource, within a few seconds.
func (s *sdpSession) end(hc *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.location, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", s.location, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("DELETE %s: HTTP %d", s.location, resp.StatusCode)
	}
	return nil
}

// endpointURL joins the server base, "whip" or "whep" and the room.
func endpointURL(base, kind, room string) string {
	return strings.TrimRight(base, "/") + "/" + kind + "/" + url.PathEscape(room)
}
