package media

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// connectTimeout bounds how long a session may take to connect before it is
// dropped (a client that posted an offer and vanished).
const connectTimeout = 30 * time.Second

// Request is a WHIP or WHEP offer.
type Request struct {
	Space   Space
	Feed    string // which feed to publish to or view
	Subject string // who, from the token
	Name    string // their display name, from the token
	Offer   string // SDP
}

// Answer is the server's side of a new session.
type Answer struct {
	ID  string // the resource id in the Location URL
	SDP string
}

// session is one WHIP (publish) or WHEP (view) resource: a peer connection.
type session struct {
	id      string
	publish bool
	space   Space
	feed    *feed
	subject string
	name    string // display name of the subject
	pc      *webrtc.PeerConnection
	srv     *Server
	tracks  []*downTrack
	created time.Time
	ufrag   string
	once    sync.Once
}

// offerShape is what a parsed offer asks for.
type offerShape struct {
	audio, video int
	ufrag        string
}

// parseOffer checks an offer's size and shape before pion sees it.
func (s *Server) parseOffer(offer string, publish bool) (offerShape, error) {
	var shape offerShape
	if len(offer) > s.cfg.MaxSDPBytes {
		return shape, fmt.Errorf("%w: offer is %d bytes, the limit is %d", ErrTooMany, len(offer), s.cfg.MaxSDPBytes)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return shape, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if v, ok := d.Attribute("ice-ufrag"); ok {
		shape.ufrag = v
	}
	for _, m := range d.MediaDescriptions {
		kind := m.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		if v, ok := m.Attribute("ice-ufrag"); ok && shape.ufrag == "" {
			shape.ufrag = v
		}
		dir := "sendrecv"
		for _, a := range []string{"sendonly", "recvonly", "sendrecv", "inactive"} {
			if _, ok := m.Attribute(a); ok {
				dir = a
			}
		}
		if dir == "inactive" || publish && dir == "recvonly" || !publish && dir == "sendonly" {
			continue
		}
		if kind == "audio" {
			shape.audio++
		} else {
			shape.video++
		}
	}
	if shape.audio > 1 || shape.video > 1 {
		return shape, fmt.Errorf("%w: the offer has %d audio and %d video tracks; send at most one of each per session", ErrTooMany, shape.audio, shape.video)
	}
	if shape.audio+shape.video == 0 {
		what := "send"
		if !publish {
			what = "receive"
		}
		return shape, fmt.Errorf("%w: the offer does not %s any audio or video", ErrBadOffer, what)
	}
	return shape, nil
}

func (s *Server) newPeer(api *webrtc.API) (*webrtc.PeerConnection, error) {
	// The server's own side needs no STUN/TURN: it has the addresses it is
	// configured with; relays are for the clients.
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("media: new peer connection: %w", err)
	}
	return pc, nil
}

// negotiate applies the offer and returns the complete answer (all
// candidates: OBS does not trickle).
func (s *Server) negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("media: set local description: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.GatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", errGatherTimeout
	}
	return pc.LocalDescription().SDP, nil
}

// acceptedMedia counts the answer's m-lines that carry a codec.
func acceptedMedia(answer string) int {
	var d sdp.SessionDescription
	if d.UnmarshalString(answer) != nil {
		return 0
	}
	n := 0
	for _, m := range d.MediaDescriptions {
		if (m.MediaName.Media == "audio" || m.MediaName.Media == "video") && m.MediaName.Port.Value != 0 && len(m.MediaName.Formats) > 0 {
			n++
		}
	}
	return n
}

// register adds a session, refusing when the server is closing.
func (s *Server) register(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.sessions[ss.id] = ss
	return nil
}

// watch closes the session when its connection fails or never comes up.
func (ss *session) watch() {
	connected := make(chan struct{})
	var once sync.Once
	ss.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go ss.close()
		}
	})
	ss.srv.wg.Add(1)
	go func() {
		defer ss.srv.wg.Done()
		t := time.NewTimer(connectTimeout)
		defer t.Stop()
		select {
		case <-connected:
		case <-t.C:
			ss.srv.log.Info("media: session never connected; dropped", "id", ss.id, "space", ss.space.String())
			ss.close()
		case <-ss.srv.done:
		}
	}()
}

// Publish starts a WHIP session: the offer's tracks become the feed's
// source, replacing an earlier publisher of the same feed.
func (s *Server) Publish(ctx context.Context, req Request) (Answer, error) {
	if _, err := s.parseOffer(req.Offer, true); err != nil {
		return Answer{}, err
	}
	pc, err := s.newPeer(s.pubAPI)
	if err != nil {
		return Answer{}, err
	}
	ss := &session{id: newID(), publish: true, space: req.Space, subject: req.Subject, name: req.Name, pc: pc, srv: s, created: time.Now()}
	s.mu.Lock()
	ss.feed = s.spaceLocked(req.Space).feed(req.Feed)
	s.mu.Unlock()
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { s.readTrack(ss, t, r) })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		_ = pc.Close()
		return Answer{}, fmt.Errorf("media: add transceiver: %w", err)
	}
	answer, err := s.negotiate(ctx, pc, req.Offer)
	if err != nil {
		_ = pc.Close()
		return Answer{}, err
	}
	if acceptedMedia(answer) == 0 {
		_ = pc.Close()
		return Answer{}, fmt.Errorf("%w: offer H.264, VP8 or Opus", ErrUnsupported)
	}
	if err := s.register(ss); err != nil {
		_ = pc.Close()
		return Answer{}, err
	}
	s.mu.Lock()
	old := ss.feed.publisher
	ss.feed.publisher = ss
	s.mu.Unlock()
	if old != nil {
		s.log.Info("media: publisher replaced", "space", req.Space.String(), "feed", req.Feed, "old", old.subject, "new", req.Subject)
		go old.close()
	}
	ss.watch()
	s.log.Info("media: publishing", "space", req.Space.String(), "feed", req.Feed, "subject", req.Subject, "id", ss.id)
	return Answer{ID: ss.id, SDP: answer}, nil
}

// readTrack is a published track's reader: it files every packet in the
// source's history and wakes the workers of its viewers. It ends with the
// track.
func (s *Server) readTrack(ss *session, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	kind := t.Kind()
	src := newSource(kind, t.Codec().RTPCodecCapability, uint32(t.SSRC()))
	ssrc := uint32(t.SSRC())
	src.requestK = func() {
		_ = ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
	sl := ss.feed.slot(kind)
	var hook func(*Packet)
	if s.hooks.TrackStarted != nil {
		hook = s.hooks.TrackStarted(TrackInfo{
			Space: ss.space, Feed: ss.feed.name, Publisher: ss.subject, Kind: kind.String(),
			Codec: src.codec, Started: time.Now(),
		})
	}
	old := sl.src.Swap(src)
	if old != nil {
		old.ended.Store(true)
	}
	sl.kick()
	// Reading RTCP keeps the receiver's interceptors (reports) fed.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1600)
	var h rtp.Header
	var hp Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			break
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		end := n
		if h.Padding && n > hl {
			pad := int(buf[n-1])
			if pad == 0 || hl+pad > n {
				continue
			}
			end = n - pad
		}
		if src.store(&h, buf[hl:end], s.clock()) {
			sl.kick()
			if hook != nil {
				hp = Packet{SequenceNumber: h.SequenceNumber, Timestamp: h.Timestamp, Marker: h.Marker, Payload: buf[hl:end]}
				hook(&hp)
			}
		}
	}
	src.ended.Store(true)
	sl.src.CompareAndSwap(src, nil)
	s.trackEnded(ss.space, src)
	if hook != nil {
		hook(nil)
	}
}

// View starts a WHEP session on a feed. The viewer stays attached to the
// feed when its publisher changes.
func (s *Server) View(ctx context.Context, req Request) (Answer, error) {
	shape, err := s.parseOffer(req.Offer, false)
	if err != nil {
		return Answer{}, err
	}
	s.mu.Lock()
	sp := s.spaceLocked(req.Space)
	if sp.viewers >= s.cfg.MaxViewers {
		s.mu.Unlock()
		return Answer{}, fmt.Errorf("%w: %d viewers is the limit for %s", ErrRoomFull, s.cfg.MaxViewers, req.Space)
	}
	sp.viewers++
	f := sp.feed(req.Feed)
	// Counted now, under the lock, so the feed is not forgotten meanwhile.
	if shape.video > 0 {
		f.video.viewers.Add(1)
	}
	if shape.audio > 0 {
		f.audio.viewers.Add(1)
	}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		sp.viewers--
		if shape.video > 0 {
			f.video.viewers.Add(-1)
		}
		if shape.audio > 0 {
			f.audio.viewers.Add(-1)
		}
		s.gcSpaceLocked(sp)
		s.mu.Unlock()
	}
	pc, err := s.newPeer(s.viewAPI)
	if err != nil {
		release()
		return Answer{}, err
	}
	ss := &session{id: newID(), space: req.Space, feed: f, subject: req.Subject, pc: pc, srv: s, created: time.Now(), ufrag: shape.ufrag}
	fail := func(err error) (Answer, error) {
		_ = pc.Close()
		release()
		return Answer{}, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if kind == webrtc.RTPCodecTypeVideo && shape.video == 0 || kind == webrtc.RTPCodecTypeAudio && shape.audio == 0 {
			continue
		}
		d := &downTrack{
			id: kind.String(), stream: "bidroom-" + f.name, slot: f.slot(kind), w: s.leastLoaded(),
			maxLag: int64(s.cfg.MaxLag), pliEvery: s.cfg.PLIInterval, writeRTCP: pc.WriteRTCP,
		}
		sender, err := pc.AddTrack(d)
		if err != nil {
			return fail(fmt.Errorf("media: add track: %w", err))
		}
		ss.tracks = append(ss.tracks, d)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				d.onRTCP(pkts)
			}
		}()
	}
	answer, err := s.negotiate(ctx, pc, req.Offer)
	if err != nil {
		return fail(err)
	}
	if acceptedMedia(answer) == 0 {
		return fail(fmt.Errorf("%w: accept H.264, VP8 or Opus", ErrUnsupported))
	}
	if err := s.register(ss); err != nil {
		return fail(err)
	}
	ss.watch()
	return Answer{ID: ss.id, SDP: answer}, nil
}

// session returns a live session of the space by id.
func (s *Server) session(room string, id string, publish bool) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.space.Room != room || ss.publish != publish {
		return nil, ErrNotFound
	}
	return ss, nil
}

// Delete ends a session. Deleting one that is gone is ErrNotFound.
func (s *Server) Delete(room, id string, publish bool) error {
	ss, err := s.session(room, id, publish)
	if err != nil {
		return err
	}
	ss.close()
	return nil
}

// Owner returns the subject that created a session (only they may end it).
func (s *Server) Owner(room, id string, publish bool) (string, error) {
	ss, err := s.session(room, id, publish)
	if err != nil {
		return "", err
	}
	return ss.subject, nil
}

// Trickle adds candidates from a PATCH (application/trickle-ice-sdpfrag).
// An ICE restart (new credentials) is not supported.
func (s *Server) Trickle(room, id string, publish bool, frag string) error {
	ss, err := s.session(room, id, publish)
	if err != nil {
		return err
	}
	if len(frag) > s.cfg.MaxSDPBytes {
		return fmt.Errorf("%w: fragment is %d bytes, the limit is %d", ErrTooMany, len(frag), s.cfg.MaxSDPBytes)
	}
	var cands []string
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			if u := strings.TrimPrefix(line, "a=ice-ufrag:"); ss.ufrag != "" && u != ss.ufrag {
				return ErrRestart
			}
		case strings.HasPrefix(line, "a=candidate:"):
			c := strings.TrimPrefix(line, "a=")
			cand, err := ice.UnmarshalCandidate(c)
			if err != nil {
				return fmt.Errorf("%w: candidate %q: %v", ErrBadOffer, c, err)
			}
			if ip := net.ParseIP(cand.Address()); ip != nil && (ip.IsUnspecified() || ip.IsMulticast()) {
				return fmt.Errorf("%w: candidate address %s cannot be used", ErrBadOffer, cand.Address())
			}
			cands = append(cands, c)
		}
		if len(cands) > 64 {
			return fmt.Errorf("%w: more than 64 candidates in one PATCH", ErrTooMany)
		}
	}
	for _, c := range cands {
		if err := ss.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
			return fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
		}
	}
	return nil
}

// close ends the session once: the peer connection, its tracks, and its
// place in the space.
func (ss *session) close() {
	ss.once.Do(func() {
		s := ss.srv
		_ = ss.pc.Close()
		for _, d := range ss.tracks {
			d.unregister()
		}
		s.mu.Lock()
		for _, d := range ss.tracks {
			d.slot.viewers.Add(-1)
			if sp := s.spaces[ss.space]; sp != nil {
				sp.gone.addViewer(d)
			}
		}
		delete(s.sessions, ss.id)
		if sp := s.spaces[ss.space]; sp != nil {
			if ss.publish {
				if ss.feed.publisher == ss {
					ss.feed.publisher = nil
				}
			} else {
				sp.viewers--
			}
			s.gcSpaceLocked(sp)
		}
		s.mu.Unlock()
		if ss.publish {
			s.log.Info("media: publisher left", "space", ss.space.String(), "feed", ss.feed.name, "id", ss.id)
		}
	})
}

// gcSpaceLocked forgets feeds nobody publishes or watches, and empty spaces.
func (s *Server) gcSpaceLocked(sp *space) {
	for name, f := range sp.feeds {
		if f.publisher == nil && f.video.viewers.Load() == 0 && f.audio.viewers.Load() == 0 &&
			f.video.src.Load() == nil && f.audio.src.Load() == nil {
			delete(sp.feeds, name)
		}
	}
	if len(sp.feeds) == 0 && sp.viewers == 0 {
		delete(s.spaces, sp.key)
	}
}

// RoomPeers counts the live sessions (publishers and viewers, both halls)
// of a room on this server: while there are any, the room's media is
// hosted here and its placement lease must be kept.
func (s *Server) RoomPeers(room string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if ss.space.Room == room {
			n++
		}
	}
	return n
}

// CloseRoom ends every session of a room (both halls) and returns how many
// there were. The placement layer calls it when another instance took the
// room's media over: clients reconnect and land there, instead of the
// room being split between two servers.
func (s *Server) CloseRoom(room string) int {
	s.mu.Lock()
	var doomed []*session
	for _, ss := range s.sessions {
		if ss.space.Room == room {
			doomed = append(doomed, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range doomed {
		ss.close()
	}
	return len(doomed)
}
