package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// viewer is one WHEP subscriber. Its read loop puts packets back into
// frames and keeps the figures the run reports.
type viewer struct {
	pc        *webrtc.PeerConnection
	session   *sdpSession
	log       *frameLog
	hc        *http.Client
	recording *atomic.Bool // latencies are kept only while set

	postAt      time.Time    // when the WHEP POST began
	connectedAt atomic.Int64 // Unix ns the peer connection reached "connected", 0 before
	packets     atomic.Int64 // RTP packets read, retransmissions included
	plis        atomic.Int64 // keyframe requests sent before the first keyframe
	readDone    chan struct{}
	trackSeen   atomic.Bool
	firstKey    chan struct{} // closed at the first complete keyframe

	mu sync.Mutex // guards the fields below, written by the read loop
	st viewerStats
}

// viewerStats is what a viewer measured.
type viewerStats struct {
	firstKeyAt    time.Time // receipt of the first complete keyframe
	firstKeyIndex int64     // its publisher frame index, -1 if rewritten
	complete      int64     // complete frames since the first keyframe
	rewritten     int64     // of those, with a timestamp the publisher never sent
	delivered     bitset    // publisher frame indices received complete
	latencies     []uint32  // µs, frames completed while recording
}

// startViewer offers a receive-only video transceiver to endpoint (the
// room's WHEP URL) and starts reading.
func startViewer(ctx context.Context, api *peerAPI, hc *http.Client, endpoint, token string, log *frameLog, recording *atomic.Bool) (*viewer, error) {
	pc, err := api.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("viewer: new peer connection: %w", err)
	}
	v := &viewer{
		pc: pc, log: log, hc: hc, recording: recording,
		readDone: make(chan struct{}), firstKey: make(chan struct{}),
		st: viewerStats{firstKeyIndex: -1},
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("viewer: add transceiver: %w", err)
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			v.connectedAt.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if t.Kind() != webrtc.RTPCodecTypeVideo || !v.trackSeen.CompareAndSwap(false, true) {
			return
		}
		defer close(v.readDone)
		v.read(t)
	})
	v.postAt = time.Now()
	v.session, err = exchange(ctx, hc, pc, endpoint, token)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("viewer: %w", err)
	}
	return v, nil
}

// A viewer with packets but no keyframe waits keyWait (a frame's other
// packets, e.g. SEI before the IDR, may come first) before it asks, and
// then asks every pliEvery until one comes.
const (
	keyWait  = 100 * time.Millisecond
	pliEvery = 500 * time.Millisecond
)

// frameAcc gathers the packets of one RTP timestamp.
type frameAcc struct {
	firstAt int64 // Unix ns of its first packet
	packets int   // distinct packets
	key     bool
	done    bool
}

// read is the viewer's read loop; it ends when the peer connection closes.
func (v *viewer) read(t *webrtc.TrackRemote) {
	var (
		buf        = make([]byte, 1600)
		hdr        rtp.Header
		seen       seqWindow
		frames     = make(map[uint32]*frameAcc, 64)
		lastMarker = -1 // sequence number of the last marker packet, -1 before one
		firstSeq   = -1 // the first sequence number received
		sinceFirst int
		haveKey    bool  // a keyframe packet arrived
		firstAt    int64 // Unix ns of the first packet, while no keyframe came
		lastPLI    int64 // Unix ns of the last keyframe request
	)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		v.packets.Add(1)
		hl, err := hdr.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if !seen.add(hdr.SequenceNumber) {
			continue // a duplicate (a retransmission that was not needed)
		}
		if firstSeq < 0 {
			firstSeq = int(hdr.SequenceNumber)
		}
		if !haveKey {
			if hl < n && isKeyPayload(buf[hl:n]) {
				haveKey = true
			} else if firstAt == 0 {
				firstAt = now
			} else if now-firstAt >= int64(keyWait) && now-lastPLI >= int64(pliEvery) {
				// Packets but no keyframe (the start of the burst was missed
				// while this receiver came up): ask, as a browser's decoder does.
				lastPLI = now
				v.plis.Add(1)
				_ = v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: hdr.SSRC}})
			}
		}
		f := frames[hdr.Timestamp]
		if f == nil {
			f = &frameAcc{firstAt: now}
			frames[hdr.Timestamp] = f
		}
		if f.done {
			continue
		}
		f.packets++
		if !f.key && hl < n && isKeyPayload(buf[hl:n]) {
			f.key = true
		}
		sent, known := v.log.lookup(hdr.Timestamp)
		complete := false
		if known {
			complete = f.packets == sent.packets
		} else if hdr.Marker && lastMarker >= 0 {
			// Rewritten timestamp: complete if nothing is missing since
			// the previous frame's marker.
			complete = f.packets == int(hdr.SequenceNumber-uint16(lastMarker))
		} else if hdr.Marker && firstSeq >= 0 {
			// The first frame (a fast-start keyframe): complete if nothing
			// is missing since the first packet.
			complete = f.packets == int(hdr.SequenceNumber-uint16(firstSeq))+1
		}
		if hdr.Marker {
			lastMarker = int(hdr.SequenceNumber)
		}
		if complete {
			f.done = true
			v.frameComplete(f, sent, known, now)
		}
		if sinceFirst++; sinceFirst >= 256 {
			sinceFirst = 0
			for ts, f := range frames { // drop frames done or given up on
				if f.done || now-f.firstAt > int64(3*time.Second) {
					delete(frames, ts)
				}
			}
		}
	}
}

// frameComplete counts a frame all of whose packets arrived at now.
func (v *viewer) frameComplete(f *frameAcc, sent sentFrame, known bool, now int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.st.firstKeyAt.IsZero() {
		if !f.key {
			return // undecodable until the first keyframe
		}
		v.st.firstKeyAt = time.Unix(0, now)
		if known {
			v.st.firstKeyIndex = sent.index
		}
		close(v.firstKey)
	}
	v.st.complete++
	if !known {
		v.st.rewritten++
		return
	}
	v.st.delivered.set(sent.index)
	if v.recording.Load() {
		v.st.latencies = append(v.st.latencies, uint32(max(0, now-sent.sent)/1000))
	}
}

// stats returns a copy of what the viewer measured so far.
func (v *viewer) stats() viewerStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.st
	s.delivered = s.delivered.clone()
	s.latencies = append([]uint32(nil), s.latencies...)
	return s
}

// waitFirstKey waits until the viewer has its first complete keyframe.
func (v *viewer) waitFirstKey(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-v.firstKey:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("viewer: no keyframe after %v (peer %s, %d packets)", timeout, v.pc.ConnectionState(), v.packets.Load())
	}
}

// stop DELETEs the WHEP resource, closes the peer and waits for the read
// loop.
func (v *viewer) stop() error {
	err := v.session.end(v.hc)
	if cerr := v.pc.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("viewer: close: %w", cerr))
	}
	if v.trackSeen.Load() {
		<-v.readDone
	}
	return err
}

// seqWindow remembers which of the last 32768 RTP sequence numbers were seen.
type seqWindow struct {
	bits    [1024]uint64 // one bit per sequence number
	highest uint16
	started bool
}

// add marks seq seen; it reports false for a sequence number seen before
// or too old to tell.
func (w *seqWindow) add(seq uint16) bool {
	if !w.started {
		w.started = true
		w.highest = seq
		w.set(seq)
		return true
	}
	d := seq - w.highest
	switch {
	case d == 0:
		return false
	case d < 0x8000: // ahead: forget what the new range held before
		if d > 0x4000 {
			w.bits = [1024]uint64{}
		} else {
			for s := w.highest + 1; s != seq; s++ {
				w.bits[s>>6] &^= 1 << (s & 63)
			}
		}
		w.highest = seq
		w.set(seq)
		return true
	default: // behind
		if w.highest-seq > 0x4000 {
			return false
		}
		if w.bits[seq>>6]&(1<<(seq&63)) != 0 {
			return false
		}
		w.set(seq)
		return true
	}
}

func (w *seqWindow) set(seq uint16) { w.bits[seq>>6] |= 1 << (seq & 63) }

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i int64) {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (i & 63)
}

func (b bitset) has(i int64) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

// countRange counts members in [lo, hi).
func (b bitset) countRange(lo, hi int64) int64 {
	var n int64
	for i := lo; i < hi; i++ {
		if b.has(i) {
			n++
		}
	}
	return n
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }
