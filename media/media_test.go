package media

import (
	"testing"
	"time"

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
			t.Errorf("viewer %d: first packet is not a keyframe", i)
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
