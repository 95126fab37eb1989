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
type batchConn struct {
	*net.UDPConn
	bw batchWriter

	mu      sync.Mutex // guards pending and addrs
	pending []ipv4.Message
	bufs    [][]byte
	addrs   map[netip.AddrPort]*net.UDPAddr // reused destination addresses

	sendMu sync.Mutex // one batch in flight at a time; guards spare
	spare  []ipv4.Message

	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}

	sent, batches, dropped atomic.Uint64
}

// newBatchConn wraps conn and starts its flusher; Close stops it.
func newBatchConn(conn *net.UDPConn) *batchConn {
	c := &batchConn{
		UDPConn: conn,
		addrs:   make(map[netip.AddrPort]*net.UDPAddr),
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
	}
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
	c.pending = append(c.pending, ipv4.Message{Buffers: [][]byte{buf[:n]}, Addr: ua})
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
	c.mu.Unlock()
	if len(batch) == 0 {
		c.spare = batch
		return
	}
	for off := 0; off < len(batch); {
		n, err := c.bw.WriteBatch(batch[off:], 0)
		if err != nil {
			// The first message failed (e.g. an unreachable address); drop
			// it and carry on with the rest.
			c.dropped.Add(1)
			n = 1
		} else {
			c.sent.Add(uint64(n))
		}
		off += n
	}
	c.batches.Add(1)
	c.mu.Lock()
	for i := range batch {
		c.bufs = append(c.bufs, batch[i].Buffers[0])
		batch[i] = ipv4.Message{}
	}
	c.mu.Unlock()
	c.spare = batch[:0]
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
