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
