package media

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// packet is one RTP packet in a source's history. It is immutable once
// stored, so every viewer's worker reads it without a lock.
type packet struct {
	ext      uint64 // extended sequence number
	ts       uint32
	marker   bool
	keyframe bool   // carries (part of) a keyframe
	arrival  int64  // monotonic nanoseconds since the server started
	due      int64  // when it would have arrived on the fastest path seen (≤ arrival); see transitClock
	payload  []byte // the RTP payload, header extensions stripped
}

// source is one published track: its codec and the one copy of its recent
// packets that all of its viewers are served from (fast start and NACK
// repair read it; nothing is kept per viewer).
type source struct {
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecCapability
	ssrc      uint32
	clock     uint32
	h264      bool
	ring      []atomic.Pointer[packet]
	mask      uint64
	head      atomic.Uint64          // highest extended seq stored + 1
	lastKey   atomic.Uint64          // extended seq + 1 of the first packet of the newest keyframe; 0 = none
	keyParams atomic.Pointer[packet] // H.264 SPS+PPS to send before the keyframe at its ext, when that frame had none
	lastTs    atomic.Uint32          // timestamp of the newest packet
	lastAt    atomic.Int64           // its arrival (monotonic ns)
	ended     atomic.Bool
	requestK  func()     // asks the publisher for a keyframe (throttled by the caller)
	pliMu     sync.Mutex // guards lastPLI
	lastPLI   time.Time
	stats     trackStats
	rate      rate // ingress bitrate, for the host's stats
	started   time.Time

	// reader-only state: touched by the one goroutine that reads the track
	maxExt     uint64
	seen       bool
	frameTs    uint32
	frameStart uint64
	frameKeyed bool
	frameSPS   bool   // the current frame carried an SPS before its keyframe was seen
	sps, pps   []byte // the newest H.264 parameter sets seen (copies)
	transit    transitClock
}

// transitClock maps a source's RTP timestamps onto the server's clock, so
// a packet's age can be taken from when it was captured rather than from
// when this server got around to reading it. Under CPU starvation packets
// wait in the socket and in pion before they are stored; measured from
// arrival that wait is invisible and viewers would be sent stale video.
// The mapping is the smallest transit (arrival − media time) seen in the
// current and the previous window, so it follows clock drift and a
// publisher's path getting slower for good.
type transitClock struct {
	seen              bool
	lastTs            uint32
	extTs             int64 // RTP timestamp extended past 32-bit wraps
	cur, prev         int64 // smallest transit in the current and the previous window
	windowStart       int64
	haveCur, havePrev bool
}

// transitWindow is how long a smallest transit stays the reference.
const transitWindow = int64(10 * time.Second)

// due returns when a packet with RTP timestamp ts, stored at now, would
// have arrived on the fastest path seen: never later than now.
func (c *transitClock) due(ts uint32, clock uint32, now int64) int64 {
	if clock == 0 {
		return now
	}
	if !c.seen {
		c.seen, c.lastTs, c.windowStart = true, ts, now
	}
	c.extTs += int64(int32(ts - c.lastTs))
	c.lastTs = ts
	media := c.extTs * int64(time.Second) / int64(clock)
	transit := now - media
	if now-c.windowStart >= transitWindow {
		c.prev, c.havePrev = c.cur, c.haveCur
		c.haveCur, c.windowStart = false, now
	}
	if !c.haveCur || transit < c.cur {
		c.cur, c.haveCur = transit, true
	}
	base := c.cur
	if c.havePrev && c.prev < base {
		base = c.prev
	}
	return min(media+base, now)
}

// trackStats are a source's counters, read by stats and metrics.
type trackStats struct {
	packets, bytes, lost, plisSent atomic.Uint64
}

// ringSize returns the history length for a kind: a video history holds a
// couple of seconds of 2 Mbit/s GOP for fast start plus the NACK window.
func ringSize(kind webrtc.RTPCodecType) int {
	if kind == webrtc.RTPCodecTypeVideo {
		return 4096
	}
	return 512
}

func newSource(kind webrtc.RTPCodecType, codec webrtc.RTPCodecCapability, ssrc uint32) *source {
	n := ringSize(kind)
	return &source{
		kind: kind, codec: codec, ssrc: ssrc, clock: codec.ClockRate, h264: strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264),
		ring: make([]atomic.Pointer[packet], n), mask: uint64(n - 1), started: time.Now(),
	}
}

// get returns the packet with extended sequence ext, or nil when it never
// arrived or has been overwritten.
func (s *source) get(ext uint64) *packet {
	p := s.ring[ext&s.mask].Load()
	if p == nil || p.ext != ext {
		return nil
	}
	return p
}

// size is the history length in packets.
func (s *source) size() uint64 { return uint64(len(s.ring)) }

// unwrap extends a 16-bit sequence number relative to the newest one seen.
func unwrap(last uint64, seq uint16) uint64 {
	base := last &^ 0xffff
	ext := base | uint64(seq)
	switch d := int64(ext) - int64(last); {
	case d > 0x8000 && ext >= 0x10000:
		ext -= 0x10000
	case d < -0x8000:
		ext += 0x10000
	}
	return ext
}

// store files a packet read from the publisher. It reports false for a
// packet that is too old to keep or a duplicate.
func (s *source) store(h *rtp.Header, payload []byte, now int64) bool {
	var ext uint64
	if !s.seen {
		ext = uint64(h.SequenceNumber) + 1<<16 // room below for reordering
		s.seen, s.maxExt = true, ext
		s.frameTs, s.frameStart = h.Timestamp^1, ext
	} else {
		ext = unwrap(s.maxExt, h.SequenceNumber)
		if ext+s.size() <= s.maxExt || s.get(ext) != nil {
			return false
		}
	}
	p := &packet{ext: ext, ts: h.Timestamp, marker: h.Marker, arrival: now, due: s.transit.due(h.Timestamp, s.clock, now), payload: append([]byte(nil), payload...)}
	p.keyframe = isKeyframe(s.codec.MimeType, payload)
	inOrder := ext > s.maxExt || s.head.Load() == 0
	if ext > s.maxExt+1 {
		s.stats.lost.Add(ext - s.maxExt - 1)
	}
	s.ring[ext&s.mask].Store(p)
	s.stats.packets.Add(1)
	s.stats.bytes.Add(uint64(len(payload)))
	if inOrder {
		if h.Timestamp != s.frameTs {
			s.frameTs, s.frameStart, s.frameKeyed, s.frameSPS = h.Timestamp, ext, false, false
		}
		if s.h264 {
			s.noteParamSets(p.payload)
		}
		if p.keyframe && !s.frameKeyed {
			s.frameKeyed = true
			s.keyParams.Store(s.paramsFor(p))
			s.lastKey.Store(s.frameStart + 1)
		}
		s.maxExt = ext
		s.lastTs.Store(h.Timestamp)
		s.lastAt.Store(now)
		s.head.Store(ext + 1)
	}
	return true
}

// noteParamSets keeps the newest SPS and PPS. OBS, with its encoder's
// global headers, sends them with the first keyframe only; a viewer who
// starts at a later one cannot decode it without them.
func (s *source) noteParamSets(payload []byte) {
	sps, pps := h264ParamSets(payload)
	if sps != nil {
		s.sps, s.frameSPS = append(s.sps[:0:0], sps...), true
	}
	if pps != nil {
		s.pps = append(s.pps[:0:0], pps...)
	}
}

// paramsFor returns the parameter-set packet to send before the keyframe
// that starts at the current frame, or nil when the frame carries its own
// (or none were ever seen).
func (s *source) paramsFor(key *packet) *packet {
	if !s.h264 || s.frameSPS || s.sps == nil || s.pps == nil {
		return nil
	}
	return &packet{ext: s.frameStart, ts: key.ts, keyframe: true, arrival: key.arrival, due: key.due, payload: h264ParamsPacket(s.sps, s.pps)}
}

// keyframeRequest asks the publisher for a keyframe at most once per
// interval: OBS ignores them, browsers answer each one with a costly frame.
func (s *source) keyframeRequest(interval time.Duration) {
	if s.requestK == nil || s.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	s.pliMu.Lock()
	now := time.Now()
	if now.Sub(s.lastPLI) < interval {
		s.pliMu.Unlock()
		return
	}
	s.lastPLI = now
	s.pliMu.Unlock()
	s.stats.plisSent.Add(1)
	s.requestK()
}
