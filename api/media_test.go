package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// token mints a token for room with the given role and grants.
func (e *env) token(room string, role rooms.Role, sub string, grants ...string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: room, Role: role, Sub: sub, Name: "name of " + sub, Grants: grants, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// sdpPost sends an SDP body and returns the response.
func (e *env) sdpPost(method, path, bearer, ctype, body string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// peerOffer makes a real pion offer sending (or receiving) video.
func peerOffer(t *testing.T, send bool) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, string) {
	t.Helper()
	return peerOfferWith(t, send, webrtc.MimeTypeVP8)
}

// peerOfferWith offers only the codec mime (pion's defaults for VP8).
func peerOfferWith(t *testing.T, send bool, mime string) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, string) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if mime == webrtc.MimeTypeVP8 {
		_ = me.RegisterDefaultCodecs()
	} else if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, PayloadType: 98}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	var track *webrtc.TrackLocalStaticRTP
	if send {
		track, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, "v", "s")
		if _, err := pc.AddTrack(track); err != nil {
			t.Fatal(err)
		}
	} else if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	done := webrtc.GatheringCompletePromise(pc)
	_ = pc.SetLocalDescription(offer)
	<-done
	return pc, track, pc.LocalDescription().SDP
}

func TestMediaGrants(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"s1", "s2"} {
		if st, body := e.do("POST", "/api/v1/sessions", adminKey, session(id)); st != 201 {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
	}
	_, _, pubOffer := peerOffer(t, true)
	_, _, viewOffer := peerOffer(t, false)
	_, _, vp9Offer := peerOfferWith(t, true, webrtc.MimeTypeVP9)
	host := e.token("s1", rooms.RoleHost, "h", auth.GrantPublish, auth.GrantView)
	hostNoGrant := e.token("s1", rooms.RoleHost, "h")
	bidder := e.token("s1", rooms.RoleBidder, "a", auth.GrantView)
	bidderPub := e.token("s1", rooms.RoleBidder, "a", auth.GrantPublish, auth.GrantView)
	expert := e.token("s1", rooms.RoleExpert, "x", auth.GrantPublish, auth.GrantView)
	otherRoom := e.token("s2", rooms.RoleHost, "h", auth.GrantPublish, auth.GrantView)
	ghost := e.token("nosuch", rooms.RoleHost, "h", auth.GrantPublish)
	sdp := "application/sdp"
	cases := []struct {
		name, method, path, tok, ctype, body string
		status                               int
		code                                 string
	}{
		{"no token", "POST", "/whip/s1", "", sdp, pubOffer, 401, "unauthorized"},
		{"forged token", "POST", "/whip/s1", host + "x", sdp, pubOffer, 401, "unauthorized"},
		{"token of another room", "POST", "/whip/s1", otherRoom, sdp, pubOffer, 403, "forbidden"},
		{"session does not exist", "POST", "/whip/nosuch", ghost, sdp, pubOffer, 404, "not_found"},
		{"host without the grant", "POST", "/whip/s1", hostNoGrant, sdp, pubOffer, 403, "forbidden"},
		{"bidder may not publish", "POST", "/whip/s1", bidderPub, sdp, pubOffer, 403, "forbidden"},
		{"bidder without the publish grant", "POST", "/whip/s1", bidder, sdp, pubOffer, 403, "forbidden"},
		{"bidder never sees the evaluation", "POST", "/whep/s1?hall=evaluation&feed=x", bidderPub, sdp, viewOffer, 403, "forbidden"},
		{"expert does not publish to the opening", "POST", "/whip/s1", expert, sdp, pubOffer, 403, "forbidden"},
		{"unknown hall", "POST", "/whip/s1?hall=lobby", host, sdp, pubOffer, 400, "invalid"},
		{"wrong content type", "POST", "/whip/s1", host, "application/json", pubOffer, 415, "unsupported_media_type"},
		{"malformed SDP", "POST", "/whip/s1", host, sdp, "v=0\r\nthis is not sdp", 400, "bad_offer"},
		{"oversized SDP", "POST", "/whip/s1", host, sdp, pubOffer + strings.Repeat("a=x\r\n", 5000), 413, "too_large"},
		{"offer sends nothing", "POST", "/whip/s1", host, sdp, viewOffer, 400, "bad_offer"},
		{"unsupported codec only", "POST", "/whip/s1", host, sdp, vp9Offer, 422, "unsupported_codec"},
		{"delete unknown session", "DELETE", "/whip/s1/0123456789abcdef", host, "", "", 404, "not_found"},
	}
	for _, c := range cases {
		resp, body := e.sdpPost(c.method, c.path, c.tok, c.ctype, c.body)
		if resp.StatusCode != c.status || !strings.Contains(body, `"`+c.code+`"`) {
			t.Errorf("%s: got %d %s; want %d %s", c.name, resp.StatusCode, body, c.status, c.code)
		}
	}
}

func TestWHIPToWHEPOverHTTP(t *testing.T) {
	e := newEnv(t)
	if st, body := e.do("POST", "/api/v1/sessions", adminKey, session("s1")); st != 201 {
		t.Fatalf("create: %d %v", st, body)
	}
	host := e.token("s1", rooms.RoleHost, "h", auth.GrantPublish, auth.GrantView)
	bidder := e.token("s1", rooms.RoleBidder, "a", auth.GrantView)

	pub, track, offer := peerOffer(t, true)
	resp, answer := e.sdpPost("POST", "/whip/s1", host, "application/sdp", offer)
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), "/whip/s1/") {
		t.Fatalf("WHIP: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), answer)
	}
	pubLoc := resp.Header.Get("Location")
	if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	view, _, voffer := peerOffer(t, false)
	got := make(chan *rtp.Packet, 100)
	view.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- p:
			default:
			}
		}
	})
	resp, vanswer := e.sdpPost("POST", "/whep/s1", bidder, "application/sdp", voffer)
	if resp.StatusCode != 201 {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, vanswer)
	}
	if err := view.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: vanswer}); err != nil {
		t.Fatal(err)
	}
	// VP8 keyframes (payload descriptor S=1, then P=0), 30 per second.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := uint16(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: i, Timestamp: uint32(i) * 3000}, Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0x01, 0x02}})
		}
	}()
	select {
	case p := <-got:
		if len(p.Payload) != 7 || p.Payload[0] != 0x10 {
			t.Fatalf("viewer got payload %x; want the publisher's", p.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer received no RTP within 10s")
	}
	// Staff see the stats; the publisher ends with DELETE, a second DELETE is 404.
	st, body := e.do("GET", "/api/v1/sessions/s1/media", host, nil)
	if st != 200 || body["stats"] == nil {
		t.Errorf("media info for the host: %d %v", st, body)
	}
	// The roster names the publisher as their token does, for the call's tiles;
	// with TURN off the ICE server list is empty, not null.
	feeds, _ := body["feeds"].([]any)
	if len(feeds) != 1 || feeds[0].(map[string]any)["publisher"] != "h" || feeds[0].(map[string]any)["publisher_name"] != "name of h" {
		t.Errorf("roster: %v; want one feed published by h, named \"name of h\"", body["feeds"])
	}
	if ice, ok := body["ice_servers"].([]any); !ok || len(ice) != 0 {
		t.Errorf("ice_servers = %#v; want []", body["ice_servers"])
	}
	if st, body := e.do("GET", "/api/v1/sessions/s1/media?hall=evaluation", bidder, nil); st != 403 {
		t.Errorf("evaluation roster for a bidder: %d %v; want 403", st, body)
	}
	if resp, body := e.sdpPost("DELETE", pubLoc, bidder, "", ""); resp.StatusCode != 403 {
		t.Errorf("DELETE by someone else: %d %s; want 403", resp.StatusCode, body)
	}
	if resp, body := e.sdpPost("DELETE", pubLoc, host, "", ""); resp.StatusCode != 200 {
		t.Errorf("DELETE: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.sdpPost("DELETE", pubLoc, host, "", ""); resp.StatusCode != 404 {
		t.Errorf("second DELETE: %d; want 404", resp.StatusCode)
	}
}
