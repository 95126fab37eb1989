package media

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var opening = Space{Room: "r1", Hall: HallOpening}

func TestPublishReachesEveryViewer(t *testing.T) {
	s := newTestServer(t, nil)
	pub := startPublisher(t, s, opening, "main", 30)
	var viewers []*testViewer
	for range 5 {
		viewers = append(viewers, startViewer(t, s, opening, "main"))
	}
	for i, v := range viewers {
		waitFor(t, 10*time.Second, "frames at a viewer", func() bool { _, f, _, _ := v.snapshot(); return f >= 45 })
		v.mu.Lock()
		if !v.firstIsKF {
			// The burst went out before the viewer's SRTP was up (see downTrack.send).
			t.Errorf("viewer %d: first packet is not a keyframe: %s", i, describeHead(v.head))
		}
		if v.maxGap > 0 {
			t.Errorf("viewer %d: sequence gap of %d on a lossless loopback", i, v.maxGap)
		}
		v.mu.Unlock()
	}
	st := s.Stats(opening)
	if st.Publishers != 1 || st.Viewers != 5 {
		t.Errorf("stats: %d publishers, %d viewers; want 1 and 5", st.Publishers, st.Viewers)
	}
	if pub.frames.Load() == 0 {
		t.Fatal("publisher sent nothing")
	}
}

// A viewer joining mid-GOP from a publisher that ignores keyframe requests
// gets the current GOP at once, starting with its keyframe.
func TestLateJoinerStartsFromCachedKeyframe(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisher(t, s, opening, "main", 60) // 2 s GOP
	time.Sleep(1300 * time.Millisecond)       // well inside a GOP
	for i := range 3 {
		v := startViewer(t, s, opening, "main")
		waitFor(t, 5*time.Second, "a keyframe", func() bool { _, _, k, _ := v.snapshot(); return !k.IsZero() })
		_, _, firstKey, firstIsKF := v.snapshot()
		conn := time.Unix(0, v.connected.Load())
		if !firstIsKF {
			t.Errorf("joiner %d: first packet is not a keyframe", i)
		}
		if d := firstKey.Sub(conn); d > 300*time.Millisecond {
			t.Errorf("joiner %d: keyframe %v after connecting; want < 300ms", i, d)
		}
		// Timestamps never go backwards across the catch-up burst.
		v.mu.Lock()
		for j := 1; j < len(v.timestamps); j++ {
			if int32(v.timestamps[j]-v.timestamps[j-1]) < 0 {
				t.Errorf("joiner %d: timestamp went back at %d: %d after %d", i, j, v.timestamps[j], v.timestamps[j-1])
				break
			}
		}
		v.mu.Unlock()
		time.Sleep(400 * time.Millisecond)
	}
}

// The publisher leaves and comes back (or OBS replaces the browser): the
// viewer keeps its session and continues with contiguous sequence numbers.
func TestPublisherLeavesAndReturns(t *testing.T) {
	s := newTestServer(t, nil)
	pub := startPublisher(t, s, opening, "main", 30)
	v := startViewer(t, s, opening, "main")
	waitFor(t, 10*time.Second, "first frames", func() bool { _, f, _, _ := v.snapshot(); return f >= 20 })
	if err := s.Delete(opening.Room, pub.id, true); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(opening.Room, pub.id, true); err != ErrNotFound {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
	pub.close()
	time.Sleep(300 * time.Millisecond)
	_, before, _, _ := v.snapshot()
	startPublisher(t, s, opening, "main", 30)
	waitFor(t, 10*time.Second, "frames from the new publisher", func() bool { _, f, _, _ := v.snapshot(); return f >= before+30 })
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.maxGap > 0 {
		t.Errorf("sequence gap of %d across the publisher switch", v.maxGap)
	}
	for j := 1; j < len(v.timestamps); j++ {
		if int32(v.timestamps[j]-v.timestamps[j-1]) < 0 {
			t.Fatalf("timestamp went back at %d: %d after %d", j, v.timestamps[j], v.timestamps[j-1])
		}
	}
}

// Two readers a moment apart (host and supervisor polling) get the same
// rate, not one over microseconds.
func TestRateIsOverAtLeastASecond(t *testing.T) {
	var r rate
	t0 := time.Unix(1000, 0)
	if got := r.sample(0, t0); got != 0 {
		t.Fatalf("first reading: %v kbps, want 0", got)
	}
	if got := r.sample(250_000, t0.Add(2*time.Second)); got != 1000 {
		t.Fatalf("250 kB over 2 s: %v kbps, want 1000", got)
	}
	if got := r.sample(250_100, t0.Add(2*time.Second+time.Millisecond)); got != 1000 {
		t.Errorf("a reading 1 ms later: %v kbps, want the last rate 1000", got)
	}
	if got := r.sample(500_000, t0.Add(4*time.Second)); got != 1000 {
		t.Errorf("next second reading: %v kbps, want 1000", got)
	}
}

// OBS with global headers sends the SPS and PPS with its first keyframe
// only. A viewer who starts from a later, cached keyframe is sent them
// first, in the keyframe's timestamp and the next sequence number, so the
// IDR that follows decodes.
func TestLateJoinerGetsParameterSetsTheKeyframeLacks(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisherWith(t, s, opening, "main", 15, true) // a keyframe every 0.5 s, SPS/PPS with the first only
	time.Sleep(1200 * time.Millisecond)                 // past the second keyframe
	v := startViewer(t, s, opening, "main")
	head := v.fromFirstKey(t, 3)
	sps, pps := h264ParamSets(head[0].Payload)
	if head[0].Payload[0]&0x1f != 24 || sps == nil || pps == nil {
		t.Fatalf("first keyframe packet: NAL %d, payload % x…; want a STAP-A with SPS and PPS", head[0].Payload[0]&0x1f, head[0].Payload[:min(16, len(head[0].Payload))])
	}
	if sps[0]&0x1f != 7 || len(sps) != 4 || pps[0]&0x1f != 8 || len(pps) != 2 {
		t.Errorf("parameter sets: sps % x pps % x; want the publisher's", sps, pps)
	}
	idr := head[1]
	if idr.Payload[0]&0x1f != 28 || idr.Payload[1]&0x9f != 0x85 {
		t.Errorf("second packet: % x; want the IDR's first FU-A fragment", idr.Payload[:2])
	}
	if idr.SequenceNumber != head[0].SequenceNumber+1 || idr.Timestamp != head[0].Timestamp {
		t.Errorf("IDR seq/ts %d/%d after parameter sets %d/%d; want the next seq and the same timestamp",
			idr.SequenceNumber, idr.Timestamp, head[0].SequenceNumber, head[0].Timestamp)
	}
	// Sequence numbers stay contiguous after the inserted packet.
	for i := 2; i < len(head); i++ {
		if head[i].SequenceNumber != head[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: seq %d after %d", i, head[i].SequenceNumber, head[i-1].SequenceNumber)
		}
	}
}

// A publisher that repeats its parameter sets gets nothing inserted.
func TestNoParameterSetsInsertedWhenTheKeyframeHasThem(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisher(t, s, opening, "main", 15)
	time.Sleep(1200 * time.Millisecond)
	v := startViewer(t, s, opening, "main")
	head := v.fromFirstKey(t, 2)
	if got := head[0].Payload; len(got) != 11 || got[0] != 24 {
		t.Errorf("first keyframe packet % x; want the publisher's own STAP-A", got)
	}
	if head[1].Payload[0]&0x1f != 28 {
		t.Errorf("the packet after it: NAL %d; want the IDR's FU-A", head[1].Payload[0]&0x1f)
	}
}

// describeHead tells what a viewer's first packets were, for failures.
func describeHead(head []*rtp.Packet) string {
	var b strings.Builder
	for _, p := range head {
		nal := byte(0)
		if len(p.Payload) > 0 {
			nal = p.Payload[0] & 0x1f
		}
		fmt.Fprintf(&b, "[seq %d ts %d nal %d len %d] ", p.SequenceNumber, p.Timestamp, nal, len(p.Payload))
	}
	return b.String()
}

// Viewers who leave are taken off their workers: nothing is pumped for
// them and the next viewers are balanced on the live ones.
func TestViewersWhoLeaveLeaveTheirWorkers(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisher(t, s, opening, "main", 30)
	load := func() (n int) {
		for _, w := range s.workers {
			w.mu.Lock()
			n += w.load
			for _, list := range w.subs {
				n += len(list) * 1000 // tracks still listed weigh in too
			}
			w.mu.Unlock()
		}
		return n
	}
	var vs []*testViewer
	for range 3 {
		v := startViewer(t, s, opening, "main")
		vs = append(vs, v)
		waitFor(t, 10*time.Second, "frames", func() bool { _, f, _, _ := v.snapshot(); return f >= 5 })
	}
	if got := load(); got != 3*1001 {
		t.Fatalf("with 3 viewers: load %d, want %d", got, 3*1001)
	}
	for _, v := range vs {
		if err := s.Delete(opening.Room, v.id, false); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "the workers to drop the viewers", func() bool { return load() == 0 })
}
