package media

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
)

// lossyFactory makes interceptors that drop every nth RTP packet the first
// time its sequence number is seen, below the NACK generator: the kernel
// here has no netem, so loss is simulated in the receiving peer.
type lossyFactory struct {
	every   int
	mu      sync.Mutex // guards seen and dropped
	seen    map[uint16]bool
	count   int
	dropped int
}

func (f *lossyFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossy{f: f}, nil
}

type lossy struct {
	interceptor.NoOp
	f *lossyFactory
}

func (l *lossy) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || n < 4 {
				return n, attr, err
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			l.f.mu.Lock()
			drop := false
			if !l.f.seen[seq] {
				l.f.seen[seq] = true
				l.f.count++
				drop = l.f.count%l.f.every == 0
				if drop {
					l.f.dropped++
				}
			}
			l.f.mu.Unlock()
			if !drop {
				return n, attr, err
			}
		}
	})
}

// A viewer losing 1 packet in 20 gets them back from the shared history.
func TestNackRepairsViewerLoss(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisher(t, s, opening, "main", 30)
	lf := &lossyFactory{every: 20, seen: make(map[uint16]bool)}
	v := startViewer(t, s, opening, "main", lf)
	waitFor(t, 45*time.Second, "90 frames", func() bool { _, f, _, _ := v.snapshot(); return f >= 90 })
	time.Sleep(300 * time.Millisecond) // the last repairs in flight
	v.mu.Lock()
	first, last := v.timestamps[0], v.lastSeq
	_ = first
	received := v.packets
	v.mu.Unlock()
	lf.mu.Lock()
	dropped, total := lf.dropped, lf.count
	lf.mu.Unlock()
	if dropped < 5 {
		t.Fatalf("only %d packets dropped of %d; the test did not exercise loss", dropped, total)
	}
	// Every distinct sequence number the network delivered a first time is
	// at the application, dropped ones included, except losses in the last
	// moments whose repair may still be in flight.
	missing := total - received
	if missing > 2 {
		t.Errorf("%d of %d packets never repaired (dropped %d, last seq %d)", missing, total, dropped, last)
	}
	st := s.Stats(opening)
	if st.Retransmits == 0 || st.NACKs == 0 {
		t.Errorf("stats show %d NACKs and %d retransmits; want both > 0", st.NACKs, st.Retransmits)
	}
}
