package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSize is how many datagrams one sendmmsg call carries at most.
const batchSize = 64

// maxDatagram bounds one datagram queued for sending.
const maxDatagram = 1500

// Bounds on one segmented (GSO) send: the kernel takes at most 64 segments
// and a 64 KiB datagram before it cuts it up.
const (
	maxSegments = 32
	maxGSOBytes = 60000
	// gsoGiveUp is how many refused segmented sends turn segmentation off.
	gsoGiveUp = 16
)

// batchWriter sends a batch of datagrams in one system call.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batchConn is the server's single muxed UDP socket. Writes are copied into
// a batch and sent with sendmmsg, either when the batch is full, when a
// forwarding round ends (Flush), or shortly after by the flusher goroutine
// for writes that come from elsewhere (STUN, DTLS, RTCP). On loopback and on
// a busy server most of a packet's cost is the system call, so one call per
// batch instead of one per packet is what lets a core feed more viewers.
//
// With segmentation offload (GSO, Linux) the datagrams queued for one
// destination in a row — a frame's packets to one viewer — travel as one
// message the kernel cuts into datagrams at the end, so the network stack
// runs once per frame and viewer rather than once per packet.
type batchConn struct {
	*net.UDPConn
	bw batchWriter

	mu      sync.Mutex // guards pending, last, bufs, iovs and addrs
	pending []ipv4.Message
	last    map[netip.AddrPort]int          // newest pending message per destination
	bufs    [][]byte                        // free datagram buffers
	iovs    [][][]byte                      // free Buffers slices (capacity maxSegments)
	addrs   map[netip.AddrPort]*net.UDPAddr // reused destination addresses
	gso     atomic.Bool                     // segmented sends are on
	gsoFail atomic.Int32                    // segmented sends the kernel refused

	sendMu sync.Mutex // one batch in flight at a time; guards spare and oob
	spare  []ipv4.Message
	oob    [][]byte // control-message room per message of a batch

	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}

	sent, batches, dropped, segmented atomic.Uint64
}

// newBatchConn wraps conn and starts its flusher; Close stops it. gso turns
// segmented sends on where the system has them.
func newBatchConn(conn *net.UDPConn, gso bool) *batchConn {
	c := &batchConn{
		UDPConn: conn,
		addrs:   make(map[netip.AddrPort]*net.UDPAddr),
		last:    make(map[netip.AddrPort]int),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && !a.IP.IsUnspecified() {
		c.bw = ipv6Batch{ipv6.NewPacketConn(conn)}
	} else {
		c.bw = ipv4.NewPacketConn(conn)
	}
	c.pending = make([]ipv4.Message, 0, batchSize)
	c.spare = make([]ipv4.Message, 0, batchSize)
	for range 2 * batchSize {
		c.bufs = append(c.bufs, make([]byte, maxDatagram))
		c.iovs = append(c.iovs, make([][]byte, 0, maxSegments))
	}
	for range batchSize {
		c.oob = append(c.oob, make([]byte, gsoOOBSize))
	}
	c.gso.Store(gsoSupported && gso)
	go c.flusher()
	return c
}

// ipv6Batch adapts ipv6.PacketConn to batchWriter (the message types are
// the same underneath).
type ipv6Batch struct{ *ipv6.PacketConn }

func (b ipv6Batch) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	return b.PacketConn.WriteBatch(ms, flags)
}

// WriteTo queues b for addr.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, errors.New("media: not a UDP address")
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort queues b for addr; it never blocks on the network unless
// the batch is full.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if len(b) > maxDatagram {
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	c.mu.Lock()
	for len(c.pending) >= batchSize {
		// Full and another goroutine is already sending it: help drain.
		c.mu.Unlock()
		c.Flush()
		c.mu.Lock()
	}
	ua := c.addrs[addr]
	if ua == nil {
		if len(c.addrs) > 65536 {
			clear(c.addrs)
		}
		ua = net.UDPAddrFromAddrPort(addr)
		c.addrs[addr] = ua
	}
	var buf []byte
	if k := len(c.bufs); k > 0 {
		buf, c.bufs = c.bufs[k-1], c.bufs[:k-1]
	} else {
		buf = make([]byte, maxDatagram)
	}
	n := copy(buf[:cap(buf)], b)
	if i, ok := c.last[addr]; ok && c.gso.Load() && fits(c.pending[i].Buffers, n) {
		// The same destination as its newest queued message: one more segment of it.
		c.pending[i].Buffers = append(c.pending[i].Buffers, buf[:n])
		c.mu.Unlock()
		return len(b), nil
	}
	var iov [][]byte
	if k := len(c.iovs); k > 0 {
		iov, c.iovs = c.iovs[k-1], c.iovs[:k-1]
	} else {
		iov = make([][]byte, 0, maxSegments)
	}
	c.pending = append(c.pending, ipv4.Message{Buffers: append(iov, buf[:n]), Addr: ua})
	c.last[addr] = len(c.pending) - 1
	first, full := len(c.pending) == 1, len(c.pending) == batchSize
	c.mu.Unlock()
	if full {
		c.Flush()
	} else if first {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

// fits reports whether a datagram of n bytes may join a segmented message
// of datagrams segs: all of them are as long as the first (the segment
// size) but perhaps a shorter last one, after which nothing may be added.
func fits(segs [][]byte, n int) bool {
	seg := len(segs[0])
	return len(segs[len(segs)-1]) == seg && len(segs) < maxSegments && len(segs)*seg+n <= maxGSOBytes && n <= seg
}

// ReadFromAddrPort reads one datagram (the ice mux's allocation-free path).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// Flush sends everything queued.
func (c *batchConn) Flush() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = c.spare[:0]
	clear(c.last)
	c.mu.Unlock()
	if len(batch) == 0 {
		c.spare = batch
		return
	}
	for i := range batch {
		if len(batch[i].Buffers) > 1 {
			batch[i].OOB = putGSO(c.oob[i], len(batch[i].Buffers[0]))
		}
	}
	for off := 0; off < len(batch); {
		n, err := c.bw.WriteBatch(batch[off:], 0)
		if err != nil {
			// The first message failed: an unreachable address (dropped),
			// or a segmented send the kernel or the path refused (sent
			// again a datagram at a time).
			c.sendFailed(&batch[off])
			n = 1
		} else {
			for _, m := range batch[off : off+n] {
				c.sent.Add(uint64(len(m.Buffers)))
				if len(m.Buffers) > 1 {
					c.segmented.Add(uint64(len(m.Buffers)))
				}
			}
		}
		off += n
	}
	c.batches.Add(1)
	c.mu.Lock()
	for i := range batch {
		c.bufs = append(c.bufs, batch[i].Buffers...)
		clear(batch[i].Buffers)
		c.iovs = append(c.iovs, batch[i].Buffers[:0])
		batch[i] = ipv4.Message{}
	}
	c.mu.Unlock()
	c.spare = batch[:0]
}

// sendFailed handles a message sendmmsg refused.
func (c *batchConn) sendFailed(m *ipv4.Message) {
	if len(m.Buffers) == 1 {
		c.dropped.Add(1)
		return
	}
	if c.gsoFail.Add(1) >= gsoGiveUp {
		c.gso.Store(false)
	}
	one := []ipv4.Message{{Addr: m.Addr, Buffers: make([][]byte, 1)}}
	for _, d := range m.Buffers {
		one[0].Buffers[0] = d
		if _, err := c.bw.WriteBatch(one, 0); err != nil {
			c.dropped.Add(1)
		} else {
			c.sent.Add(1)
		}
	}
}

// flusher sends writes that no forwarding round flushed.
func (c *batchConn) flusher() {
	defer close(c.stopped)
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
			c.Flush()
		}
	}
}

// Close stops the flusher and closes the socket.
func (c *batchConn) Close() error {
	select {
	case <-c.done:
	default:
		close(c.done)
		<-c.stopped
	}
	c.Flush()
	return c.UDPConn.Close()
}
