//go:build linux

package main

// The epoll reader (-reader epoll). Viewers' sockets are made with raw
// syscalls, so Go's netpoller never sees them, and are read by a few
// pollers, one epoll instance each: a poller takes a new socket from the
// viewer that dialed it, drives its connect and upgrade, reads it, answers
// pings and closes, and in the end closes it. Only the poller closes a
// socket, so its number cannot be reused under anyone else's feet; a
// viewer asks for a close through the poller's queue, and learns that
// its connection ended from its channel.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const epollSupported = true

const (
	dialTimeout  = 15 * time.Second       // connect and upgrade, as newDialer's HandshakeTimeout
	blockTimeout = 10 * time.Millisecond  // -poll 0: longest block in epoll_wait, so requests and the run's end are seen
	expireEvery  = 100 * time.Millisecond // how often a poller looks for dials past their deadline
)

// errClosedByTool ends a connection that the runner closed (storm, end of
// the run).
var errClosedByTool = errors.New("closed by wsload")

// pollers are the epoll reader's: GOMAXPROCS of them, each with its own
// epoll instance; new connections go to them in turn.
type pollers struct {
	list    []*poller
	next    atomic.Uint32
	timeout time.Duration // a dial's; dialTimeout unless a test sets less
}

// startPollers starts the pollers in wg; they stop, closing every socket
// they hold, when ctx ends. interval is -poll: how long a poller that
// found nothing to read sleeps; pollBlock blocks in epoll_wait instead.
func startPollers(ctx context.Context, interval time.Duration, wg *sync.WaitGroup) (*pollers, error) {
	ps := &pollers{timeout: dialTimeout}
	for range runtime.GOMAXPROCS(0) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			for _, p := range ps.list {
				_ = unix.Close(p.epfd)
			}
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		ps.list = append(ps.list, &poller{epfd: epfd, interval: interval,
			events: make([]unix.EpollEvent, 512)})
	}
	for _, p := range ps.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx)
		}()
	}
	return ps, nil
}

// dial opens a connection for v to its server, resuming from pos when
// given: a non-blocking socket to 127.0.0.1, handed to a poller, which
// connects it, sends the upgrade request and reads the answer. dial
// waits for that, at most ps.timeout.
func (ps *pollers) dial(ctx context.Context, v *viewer, pos *uint64, stormDial bool) (viewerConn, error) {
	u, err := url.Parse(v.r.viewURL(v.inst, pos))
	if err != nil {
		return nil, err
	}
	addr, err := netip.ParseAddrPort(u.Host)
	if err != nil || !addr.Addr().Is4() {
		return nil, fmt.Errorf("the epoll reader dials an IPv4 address and port, not %q", u.Host)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("TCP_NODELAY: %w", err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
	if err != nil && err != unix.EINPROGRESS {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", u.Host, err)
	}
	c := &epollConn{fd: fd, v: v, stormDial: stormDial, deadline: time.Now().Add(ps.timeout),
		dialed: make(chan error, 1), done: make(chan error, 1), ws: wsStream{max: maxMessage}}
	c.req, c.accept = upgradeRequest(u.Host, u.RequestURI(), v.token)
	c.p = ps.list[int(ps.next.Add(1))%len(ps.list)]
	if err := c.p.submit(c, reqAdd); err != nil {
		_ = unix.Close(fd) // the poller never had it
		return nil, err
	}
	select {
	case err := <-c.dialed:
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.Host, err)
		}
		return c, nil
	case <-ctx.Done():
		_ = c.p.submit(c, reqClose)
		return nil, ctx.Err()
	}
}

// epollConn is one viewer connection of the epoll reader. Its poller owns
// the fields after p; the viewer only waits on its channels.
type epollConn struct {
	p         *poller
	fd        int
	v         *viewer
	stormDial bool // dialed during the storm
	dialed    chan error
	done      chan error // why it ended, once upgraded

	// Poller only.
	state    connState
	deadline time.Time // the dial's
	req      []byte    // the upgrade request, until sent
	accept   string    // the Sec-WebSocket-Accept it wants
	ws       wsStream
}

type connState int

const (
	connecting connState = iota // waiting for the connect to complete
	upgrading                   // request sent, reading the answer
	open                        // reading frames
	closed
)

// wait returns why the connection ended, once the poller closed it.
func (c *epollConn) wait() error { return <-c.done }

// goAway asks the poller to send a close frame (1001) and close.
func (c *epollConn) goAway() { _ = c.p.submit(c, reqGoAway) }

// close asks the poller to close the connection.
func (c *epollConn) close() { _ = c.p.submit(c, reqClose) }

// write sends a whole frame or request at once: the client writes only
// the upgrade request and control frames, a few hundred bytes each, into
// an otherwise unused send buffer, so a short write is an error, not
// something to wait for.
func (c *epollConn) write(b []byte) error {
	n, err := unix.Write(c.fd, b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// poller reads the connections in its epoll instance.
type poller struct {
	epfd     int
	interval time.Duration
	conns    []*epollConn // by fd (a slice: looked up for every read); the poller's goroutine only, as are dialing and events
	dialing  int          // conns not yet upgraded
	events   []unix.EpollEvent

	mu      sync.Mutex // guards reqs and stopped
	reqs    []request
	stopped error // why the poller stopped; nil while it runs
}

// request is a viewer's word to the poller about a connection.
type request struct {
	c  *epollConn
	op requestOp
}

type requestOp int

const (
	reqAdd    requestOp = iota // a new socket, connecting: take it and upgrade it
	reqClose                   // close it
	reqGoAway                  // send a close frame (1001, "wsload storm"), then close it
)

// submit queues a request for the poller's next round; an error once the
// poller stopped.
func (p *poller) submit(c *epollConn, op requestOp) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped != nil {
		return p.stopped
	}
	p.reqs = append(p.reqs, request{c, op})
	return nil
}

// run is the poller's loop until ctx ends: the requests, then one
// epoll_wait that does not block, one read for each ready socket; when
// nothing was ready it sleeps for interval, so the server's sends do not
// wake the tool for each frame.
func (p *poller) run(ctx context.Context) {
	var reqs []request
	lastExpiry := time.Now()
	timeout := 0
	if p.interval < 0 {
		timeout = int(blockTimeout / time.Millisecond)
	}
	for ctx.Err() == nil {
		p.mu.Lock()
		reqs, p.reqs = p.reqs, reqs[:0]
		p.mu.Unlock()
		for _, q := range reqs {
			p.serve(q)
		}
		clear(reqs)
		n, err := unix.EpollWait(p.epfd, p.events, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.stop(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		for _, ev := range p.events[:n] {
			if int(ev.Fd) < len(p.conns) && p.conns[ev.Fd] != nil {
				p.ready(p.conns[ev.Fd])
			}
		}
		if p.dialing > 0 && time.Since(lastExpiry) >= expireEvery {
			lastExpiry = time.Now()
			p.expire(lastExpiry)
		}
		if n == 0 && p.interval > 0 {
			time.Sleep(p.interval)
		}
	}
	p.stop(ctx.Err())
}

// serve carries out one request.
func (p *poller) serve(q request) {
	c := q.c
	switch {
	case q.op == reqAdd:
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(c.fd)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			_ = unix.Close(c.fd)
			c.state = closed
			c.dialed <- fmt.Errorf("epoll_ctl: %w", err)
			return
		}
		if c.fd >= len(p.conns) {
			p.conns = append(p.conns, make([]*epollConn, c.fd+1-len(p.conns))...)
		}
		p.conns[c.fd] = c
		p.dialing++
	case c.state == closed: // it ended before the request came
	case q.op == reqGoAway && c.state == open:
		_ = c.write(clientFrame(opClose, closePayload(closeGoingAway, "wsload storm"), maskKey()))
		p.end(c, errClosedByTool)
	default:
		p.end(c, errClosedByTool)
	}
}

// ready handles a socket that epoll reported: a connect that completed or
// failed, or bytes (or the end) to read. Reads are edge-triggered, so it
// reads until a read comes back short: the socket's queue was then
// empty, and the next byte to arrive raises a new edge.
func (p *poller) ready(c *epollConn) {
	if c.state == connecting {
		p.connected(c)
		return
	}
	for c.state == upgrading || c.state == open {
		space := c.ws.space()
		n, err := unix.Read(c.fd, space)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			p.end(c, fmt.Errorf("read: %w", err))
			return
		}
		if !p.received(c, n) || n < len(space) {
			return
		}
	}
}

// received handles the n bytes just read into c's buffer (0: the end of
// the stream); false once the connection ended or waits for more of the
// upgrade answer.
func (p *poller) received(c *epollConn, n int) bool {
	now := time.Now() // the receipt time of every message this read completes
	c.ws.filled(n)
	if c.state == upgrading {
		h, err := checkUpgrade(c.ws.pending(), c.accept, n == 0)
		if err != nil {
			p.end(c, err)
			return false
		}
		if h == 0 {
			return n > 0
		}
		c.ws.discard(h)
		c.state = open
		p.dialing--
		c.dialed <- nil
	}
	p.frames(c, now)
	if n == 0 && c.state == open {
		p.end(c, io.ErrUnexpectedEOF) // the server went without a close frame
	}
	return c.state == open
}

// connected sends the upgrade request once the connect completed.
func (p *poller) connected(c *epollConn) {
	errno, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = unix.Errno(errno)
	}
	if err != nil {
		p.end(c, fmt.Errorf("connect: %w", err))
		return
	}
	if err := c.write(c.req); err != nil {
		p.end(c, fmt.Errorf("send the upgrade request: %w", err))
		return
	}
	// Edge-triggered: epoll_wait does not poll every ready socket again
	// after it was read; ready reads until a short read instead.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
		p.end(c, fmt.Errorf("epoll_ctl: %w", err))
		return
	}
	c.req, c.state = nil, upgrading
}

// frames handles every whole frame read so far: messages go to the
// viewer, received at now; pings are answered; a close is answered and
// ends the connection, as does a protocol violation.
func (p *poller) frames(c *epollConn, now time.Time) {
	for c.state == open {
		op, payload, ok, err := c.ws.next()
		switch {
		case err != nil:
			p.end(c, err)
		case !ok:
			return
		case op == opText || op == opBinary:
			c.v.deliver(payload, now, c.stormDial)
		case op == opPing:
			if err := c.write(clientFrame(opPong, payload, maskKey())); err != nil {
				p.end(c, fmt.Errorf("answer a ping: %w", err))
			}
		case op == opClose:
			reply, why := closeReply(payload)
			_ = c.write(clientFrame(opClose, reply, maskKey()))
			p.end(c, why)
		}
	}
}

// expire ends the dials past their deadline.
func (p *poller) expire(now time.Time) {
	for _, c := range p.conns {
		if c != nil && c.state != open && now.After(c.deadline) {
			p.end(c, fmt.Errorf("connect and upgrade: %w", errTimeout))
		}
	}
}

// end closes c, and tells its viewer why: the dial if it was not yet
// upgraded, else wait. The socket leaves the epoll set first: a child
// forked meanwhile would keep it open, and reported, after the close.
func (p *poller) end(c *epollConn, why error) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	_ = unix.Close(c.fd)
	p.conns[c.fd] = nil
	if c.state == open {
		c.done <- why
	} else {
		p.dialing--
		c.dialed <- why
	}
	c.state = closed
}

// stop ends every connection and dial, refuses requests from now on and
// closes the epoll instance.
func (p *poller) stop(why error) {
	p.mu.Lock()
	p.stopped = fmt.Errorf("epoll reader stopped: %w", why)
	reqs := p.reqs
	p.reqs = nil
	p.mu.Unlock()
	for _, q := range reqs {
		if q.op == reqAdd {
			_ = unix.Close(q.c.fd)
			q.c.state = closed
			q.c.dialed <- p.stopped
		}
	}
	for _, c := range p.conns {
		if c != nil {
			p.end(c, why)
		}
	}
	_ = unix.Close(p.epfd)
}
