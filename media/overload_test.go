package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// sentPacket is what a viewer was sent, with the source packet's arrival
// and the time it went out.
type sentPacket struct {
	seq      uint16
	keyframe bool
	age      time.Duration // send time − arrival at the server
	arrival  int64
}

// recordingWriter stands in for pion's SRTP writer: it keeps what a viewer
// would have been sent and when. The forwarding logic under test is the
// real one; only the socket is replaced.
type recordingWriter struct {
	now  *int64
	src  *source
	sent []sentPacket
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := w.lookup(payload)
	w.sent = append(w.sent, sentPacket{seq: h.SequenceNumber, keyframe: p.keyframe, age: time.Duration(*w.now - p.arrival), arrival: p.arrival})
	return len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

// lookup finds the source packet by its payload, which carries its own
// extended sequence number in bytes 4..7.
func (w *recordingWriter) lookup(payload []byte) *packet {
	ext := uint64(payload[4])<<24 | uint64(payload[5])<<16 | uint64(payload[6])<<8 | uint64(payload[7])
	return w.src.get(ext)
}

// TestOverloadSkipsAheadInsteadOfQueueing models a worker starved of CPU
// for 1.5 s while the publisher goes on (30 fps, 3 packets a frame, a
// keyframe every second). The starved viewer must not be served the stale
// backlog: it skips to the next keyframe, every packet it is sent is at most
// max_lag old, and its sequence numbers stay contiguous. A viewer on a
// worker that keeps up is sent everything, at once.
func TestOverloadSkipsAheadInsteadOfQueueing(t *testing.T) {
	const (
		fps       = 30
		perFrame  = 3
		gopFrames = 30
		maxLag    = 300 * time.Millisecond
	)
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	src := newSource(webrtc.RTPCodecTypeVideo, codec, 1234)
	sl := &slot{kind: webrtc.RTPCodecTypeVideo}
	sl.src.Store(src)

	var now int64
	newViewer := func() (*downTrack, *recordingWriter) {
		w := &recordingWriter{now: &now, src: src}
		d := &downTrack{slot: sl, maxLag: int64(maxLag), pliEvery: time.Second}
		d.bound.Store(&binding{ws: w, ssrc: 99, codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: codec, PayloadType: 96}}})
		return d, w
	}
	steady, steadyOut := newViewer()
	starved, starvedOut := newViewer()

	// 4 s of video; the starved viewer's worker gets no CPU from 1.2 s to 2.7 s.
	stallFrom, stallTo := int64(1200*time.Millisecond), int64(2700*time.Millisecond)
	seq := uint16(60000) // wraps during the run
	for f := range 4 * fps {
		now = int64(f) * int64(time.Second) / fps
		for i := range perFrame {
			payload := make([]byte, 64)
			payload[0] = 0x10 // VP8 descriptor: start of partition
			if f%gopFrames != 0 || i != 0 {
				payload[1] = 0x01 // VP8 header: inter frame
			}
			h := rtp.Header{SequenceNumber: seq, Timestamp: uint32(f * 3000), Marker: i == perFrame-1}
			ext := unwrap(src.maxExt, seq)
			if !src.seen {
				ext = uint64(seq) + 1<<16
			}
			payload[4], payload[5], payload[6], payload[7] = byte(ext>>24), byte(ext>>16), byte(ext>>8), byte(ext)
			if !src.store(&h, payload, now) {
				t.Fatalf("frame %d packet %d not stored", f, i)
			}
			seq++
		}
		steady.pump(now)
		if now < stallFrom || now >= stallTo {
			starved.pump(now)
		}
	}

	if got, want := len(steadyOut.sent), 4*fps*perFrame; got != want {
		t.Fatalf("steady viewer was sent %d packets, want all %d", got, want)
	}
	for _, p := range steadyOut.sent {
		if p.age != 0 {
			t.Fatalf("steady viewer was sent a packet %v old", p.age)
		}
	}
	if n := steady.stats.skips.Load(); n != 0 {
		t.Fatalf("steady viewer skipped %d times", n)
	}

	if n := starved.stats.skips.Load(); n != 1 {
		t.Fatalf("starved viewer skipped %d times, want 1", n)
	}
	var resumedAt int
	for i, p := range starvedOut.sent {
		if p.age > maxLag {
			t.Fatalf("starved viewer was sent a packet %v old (max_lag %v): queued delay instead of skipping", p.age, maxLag)
		}
		if i > 0 && p.seq != starvedOut.sent[i-1].seq+1 {
			t.Fatalf("starved viewer's sequence jumps from %d to %d", starvedOut.sent[i-1].seq, p.seq)
		}
		if p.arrival >= stallFrom && resumedAt == 0 {
			resumedAt = i
		}
	}
	first := starvedOut.sent[resumedAt]
	if !first.keyframe || first.arrival < stallTo {
		t.Fatalf("after the stall the starved viewer resumed with a %s packet that arrived at %v, want the first keyframe after %v",
			map[bool]string{true: "keyframe", false: "delta"}[first.keyframe], time.Duration(first.arrival), time.Duration(stallTo))
	}
	// It lost the stall and the wait for the keyframe, nothing more.
	lost := len(steadyOut.sent) - len(starvedOut.sent)
	if lost <= 0 || lost > 2*fps*perFrame {
		t.Fatalf("starved viewer missed %d packets, want between 1 and %d", lost, 2*fps*perFrame)
	}
	t.Logf("starved viewer: 1 skip, resumed at a keyframe %v after the stall, missed %d of %d packets, oldest sent %v",
		time.Duration(first.arrival-stallTo), lost, len(steadyOut.sent), oldest(starvedOut.sent))
}

func oldest(sent []sentPacket) time.Duration {
	var m time.Duration
	for _, p := range sent {
		m = max(m, p.age)
	}
	return m
}
