package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// refusingWriter is a batchWriter that refuses segmented messages, as an
// old kernel or a path that cannot take them does, and records what went.
type refusingWriter struct {
	sent [][]byte // datagrams, in order
}

func (w *refusingWriter) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	for i, m := range ms {
		if len(m.Buffers) > 1 || len(m.OOB) > 0 {
			if i == 0 {
				return 0, errors.New("sendmmsg: input/output error")
			}
			return i, nil
		}
		w.sent = append(w.sent, bytes.Clone(m.Buffers[0]))
	}
	return len(ms), nil
}

func TestBatchConnSegmentsRunsPerDestination(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchConn(uc, true)
	t.Cleanup(func() { _ = c.Close() })
	w := &refusingWriter{}
	c.bw = w
	if !c.gso.Load() {
		t.Skip("no segmentation offload on this system") // only non-Linux builds
	}
	a := netip.MustParseAddrPort("127.0.0.1:40001")
	b := netip.MustParseAddrPort("127.0.0.1:40002")
	dgram := func(tag byte, n int) []byte { return bytes.Repeat([]byte{tag}, n) }
	// Stop the flusher from sending half a batch while we queue it.
	c.sendMu.Lock()
	for _, d := range []struct {
		to  netip.AddrPort
		pkt []byte
	}{
		{a, dgram(1, 1200)}, {a, dgram(2, 1200)}, {b, dgram(3, 1200)}, {a, dgram(4, 700)}, // a: 1200,1200,700 closes
		{a, dgram(5, 1200)}, // a new message for a: the last one is closed
		{b, dgram(6, 1300)}, // larger than b's segment size: a new message
	} {
		if _, err := c.WriteToAddrPort(d.pkt, d.to); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	var shape []int
	for _, m := range c.pending {
		shape = append(shape, len(m.Buffers))
	}
	c.mu.Unlock()
	c.sendMu.Unlock()
	if want := []int{3, 1, 1, 1}; !equalInts(shape, want) {
		t.Fatalf("messages hold %v datagrams; want %v", shape, want)
	}
	// The writer refuses the segmented message: its datagrams go one by one,
	// in order, and nothing is lost.
	c.Flush()
	var tags []byte
	for _, d := range w.sent {
		tags = append(tags, d[0])
	}
	if want := []byte{1, 2, 4, 3, 5, 6}; !bytes.Equal(tags, want) {
		t.Fatalf("sent %v; want %v", tags, want)
	}
	if got := c.sent.Load(); got != 6 {
		t.Errorf("sent counter %d; want 6", got)
	}
	// Refused often enough, segmentation is turned off for good.
	for range gsoGiveUp {
		c.sendMu.Lock()
		_, _ = c.WriteToAddrPort(dgram(7, 1000), a)
		_, _ = c.WriteToAddrPort(dgram(8, 1000), a)
		c.sendMu.Unlock()
		c.Flush()
	}
	if c.gso.Load() {
		t.Errorf("still segmenting after %d refusals", gsoGiveUp)
	}
	if got := c.dropped.Load(); got != 0 {
		t.Errorf("%d datagrams dropped; want none", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// With the real kernel: a viewer gets every packet of a stream whose frames
// leave as segmented sends, and the counters show they did; with GSO off
// the same stream goes a datagram at a time.
func TestSegmentedSendsReachViewers(t *testing.T) {
	for _, noGSO := range []bool{false, true} {
		s := newTestServer(t, func(c *Config) { c.NoGSO = noGSO })
		startPublisher(t, s, opening, "main", 10)
		v := startViewer(t, s, opening, "main")
		waitFor(t, 40*time.Second, "frames", func() bool { _, f, _, _ := v.snapshot(); return f >= 40 }) // a bound for a loaded CI box, not a rate
		v.mu.Lock()
		gap := v.maxGap
		v.mu.Unlock()
		if gap > 0 {
			t.Errorf("noGSO=%v: a gap of %d sequence numbers", noGSO, gap)
		}
		seg := s.conn.segmented.Load()
		switch {
		case noGSO && seg != 0:
			t.Errorf("GSO off, yet %d datagrams went segmented", seg)
		case !noGSO && gsoSupported && seg == 0:
			t.Errorf("GSO on, yet no datagram went segmented (keyframes are 7 packets to one viewer)")
		}
		if d := s.conn.dropped.Load(); d != 0 {
			t.Errorf("noGSO=%v: %d send errors", noGSO, d)
		}
	}
}
