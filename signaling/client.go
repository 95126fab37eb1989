package signaling

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// client is one websocket connection. Its reader is a goroutine of its
// own; writes happen on a flusher goroutine that exists only while frames
// are queued, so an idle connection costs one goroutine and no buffers.
type client struct {
	srv    *Server
	conn   *websocket.Conn
	fd     int // conn's descriptor for writeNow, -1 when it has none (see rawFD)
	room   string
	claims *auth.Claims
	actor  rooms.Actor
	staff  bool

	mu        sync.Mutex // guards queue, flushing, closed, closeCode, closeText, ping
	queue     [][]byte   // frames waiting for the flusher; at most cfg.SendQueue
	flushing  bool       // a flusher goroutine is running (or has finished the connection)
	closed    bool       // no more frames accepted; the flusher sends the close frame
	closeCode int
	closeText string
	ping      *time.Timer   // next ping; nil once closed
	done      chan struct{} // closed when the flusher has closed the connection

	// cursor and pos are owned by the hub, guarded by its mu.
	cursor    uint64 // last room seq considered for this client
	pos       uint64 // count of events this client has been sent (its stream position)
	counted   bool   // counted in the hub's online map
	uncounted bool   // counted in the hub's uncounted map (joined before its participant signed in)
	hub       *hub   // set before the reader starts

	bucket        tokenBucket // command rate limit; reader goroutine only
	writeDeadline time.Time   // armed write deadline; flusher only (one runs at a time)
}

func newClient(s *Server, conn *websocket.Conn, room string, claims *auth.Claims) *client {
	return &client{
		srv: s, conn: conn, fd: rawFD(conn.NetConn()), room: room, claims: claims, actor: claims.Actor(),
		staff: claims.Actor().Role.IsStaff(),
		done:  make(chan struct{}),
		bucket: tokenBucket{rate: s.cfg.CommandRate, burst: 2 * s.cfg.CommandRate,
			tokens: 2 * s.cfg.CommandRate, last: time.Now()},
	}
}

// enqueue queues a JSON payload as a text frame.
func (c *client) enqueue(payload []byte) bool { return c.enqueueFrame(wire(opText, payload)) }

// enqueueFrame queues a wire frame and makes sure a flusher runs.
func (c *client) enqueueFrame(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.queueLocked(frame) {
		return false
	}
	c.srv.metrics.frames.Inc()
	c.startFlushLocked()
	return true
}

// queueFrame queues a broadcast frame without starting a flusher: the
// broadcast writes it (writeQueued) once the client has all of them, or
// when full reports that half the queue is taken (a long batch must not
// look like a slow client).
func (c *client) queueFrame(frame []byte) (ok, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok = c.queueLocked(frame)
	return ok, len(c.queue) >= c.srv.cfg.SendQueue/2
}

// queueLocked appends frame to the queue. A full queue means the client
// cannot keep up: it is disconnected (it will resume), never waited for.
func (c *client) queueLocked(frame []byte) bool {
	if c.closed {
		return false
	}
	if len(c.queue) >= c.srv.cfg.SendQueue {
		c.srv.metrics.slowDrops.Inc()
		c.closeLocked(websocket.ClosePolicyViolation, "too slow: reconnect and resume")
		// The flusher is likely blocked on a full socket: give it a second,
		// not the whole write timeout. net.Conn deadlines are goroutine-safe.
		_ = c.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		return false
	}
	c.queue = append(c.queue, frame)
	return true
}

// writeQueued writes what is queued on the caller's goroutine, as far as
// the socket takes it without blocking; a flusher goroutine is started
// only for what is left (a full socket) or for frames queued meanwhile.
// Unless a flusher already runs: then it writes them.
func (c *client) writeQueued() {
	c.mu.Lock()
	if c.flushing || c.closed || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	batch := c.queue
	c.queue = nil
	c.flushing = true // this goroutine is the writer until it says otherwise
	c.mu.Unlock()
	rest, _ := writeNow(c.fd, batch) // an error recurs in the flusher, which ends the connection
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(rest) == 0 && len(c.queue) == 0 && !c.closed {
		c.flushing = false
		// The next broadcast queues into the same array: no allocation
		// per client per event. Emptied, so it holds no frame alive.
		clear(batch)
		c.queue = batch[:0]
		return
	}
	c.queue = append(rest, c.queue...)
	c.spawnFlusherLocked()
}

// flushLater makes sure a flusher writes what is queued.
func (c *client) flushLater() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 {
		c.startFlushLocked()
	}
}

// startFlushLocked starts a flusher unless one runs.
func (c *client) startFlushLocked() {
	if c.flushing {
		return
	}
	c.flushing = true
	c.spawnFlusherLocked()
}

// spawnFlusherLocked starts the flusher goroutine for a client whose
// flushing flag its caller holds. The server's WaitGroup is positive here
// (the connection is tracked), so Add is safe.
func (c *client) spawnFlusherLocked() {
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.flush()
	}()
}

// flush writes queued frames until the queue is empty, then exits; after
// a close it sends the close frame and closes the connection.
func (c *client) flush() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		closed, code, text := c.closed, c.closeCode, c.closeText
		if len(batch) == 0 && !closed {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if len(batch) > 0 {
			// One deadline per batch, not per frame; after a close the
			// leftovers get a second.
			c.setWriteDeadline(closed)
			bufs := net.Buffers(batch)
			if _, err := bufs.WriteTo(c.conn.NetConn()); err != nil {
				c.finish(websocket.CloseAbnormalClosure, "")
				return
			}
			continue // more may have been queued meanwhile
		}
		c.finish(code, text)
		return
	}
}

// setWriteDeadline arms the write timeout for a batch. Re-arming a
// deadline costs a runtime timer update, so it is skipped while the armed
// one is still more than half the timeout away; after a close the
// leftovers get a second. Flusher goroutine only.
func (c *client) setWriteDeadline(closed bool) {
	now := time.Now()
	timeout := c.srv.cfg.WriteTimeout
	if closed {
		timeout = time.Second
	} else if c.writeDeadline.Sub(now) > timeout/2 {
		return
	}
	c.writeDeadline = now.Add(timeout)
	_ = c.conn.NetConn().SetWriteDeadline(c.writeDeadline)
}

// finish ends the connection from the flusher: a close frame if the
// socket still works, then close, which also unblocks the reader.
func (c *client) finish(code int, text string) {
	c.mu.Lock()
	c.closeLocked(code, text)
	c.queue = nil
	c.mu.Unlock()
	if code != websocket.CloseAbnormalClosure {
		nc := c.conn.NetConn()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(wire(opClose, closePayload(code, text)))
	}
	_ = c.conn.Close()
	close(c.done)
}

// shutdown closes the connection after what is queued (bounded in time).
func (c *client) shutdown(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, text)
}

func (c *client) closeLocked(code int, text string) {
	if c.closed {
		return
	}
	c.closed, c.closeCode, c.closeText = true, code, text
	if c.ping != nil {
		c.ping.Stop()
		c.ping = nil
	}
	c.startFlushLocked()
}

// pingFrame is a ping with no payload.
var pingFrame = wire(opPing, nil)

// schedulePing arms the next ping; it goes through the queue like any
// frame, so only the flusher ever writes to the socket.
func (c *client) schedulePing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.ping = time.AfterFunc(c.srv.cfg.PingInterval, func() {
		if c.enqueueFrame(pingFrame) {
			c.schedulePing()
		}
	})
}

// run serves the connection until it ends: it joins the room (snapshot or
// resume) and reads frames.
func (c *client) run(resume *uint64) {
	cfg := c.srv.cfg
	c.conn.SetReadLimit(cfg.MaxMessageBytes)
	_ = c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout))
	})
	// gorilla's default handlers answer pings and closes with WriteControl;
	// route the answers through the queue so the flusher stays the only
	// writer. (gorilla still writes a close itself on a protocol error,
	// when the connection is being torn down anyway.)
	c.conn.SetPingHandler(func(data string) error {
		c.enqueueFrame(wire(opPong, []byte(data)))
		return nil
	})
	c.conn.SetCloseHandler(func(code int, text string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.shutdown(code, "")
		return nil
	})
	c.schedulePing()
	defer func() {
		c.shutdown(websocket.CloseNormalClosure, "")
		<-c.done
	}()

	h := c.srv.acquire(c.room)
	defer c.srv.release(h)
	c.hub = h
	if err := c.join(h, resume); err != nil {
		c.srv.logger.Warn("ws: join failed", "room", c.room, "sub", c.actor.Sub, "err", err)
		c.enqueue(mustJSON(errorFrame{V: ProtocolVersion, Type: "error", Code: "unavailable",
			Message: "the room cannot be loaded right now; reconnect"}))
		return
	}
	defer h.leave(c)
	c.readLoop()
}

// join sends the welcome and either a snapshot or the missing events, then
// registers the client with the hub for everything after.
func (c *client) join(h *hub, resume *uint64) error {
	ctx := c.srv.ctx
	c.enqueue(mustJSON(welcomeFrame{V: ProtocolVersion, Type: "welcome", Room: c.room, You: c.actor,
		Name: c.claims.Name, ServerTime: c.srv.svc.Now()}))
	if resume != nil {
		seq, err := c.srv.svc.SeqAtPos(ctx, c.room, c.actor, *resume)
		switch {
		case errors.Is(err, rooms.ErrResumeAhead):
			c.enqueue(mustJSON(errorFrame{V: ProtocolVersion, Type: "error", Code: "resume_ahead",
				Message: "cannot resume from a position this room never reached; sending a fresh snapshot"}))
		case err != nil:
			return err
		default:
			missing := visibleAfter(c.srv.svc.CachedAfter(c.room, seq), c.actor, c.srv.cfg.MaxReplay+1)
			if missing <= c.srv.cfg.MaxReplay {
				c.enqueue(mustJSON(resumedFrame{V: ProtocolVersion, Type: "resumed", Pos: *resume}))
				h.join(c, seq, *resume)
				return nil
			}
		}
	}
	snap, err := c.srv.svc.Snapshot(ctx, c.room, c.actor)
	if err != nil {
		return err
	}
	f := snapshotFrame{V: ProtocolVersion, Type: "snapshot", Pos: snap.Pos, Kind: snap.Kind, State: snap.View}
	if c.staff {
		f.Seq = snap.Seq
	}
	c.enqueue(mustJSON(f))
	h.join(c, snap.Seq, snap.Pos)
	return nil
}

// visibleAfter counts the events the viewer can see, stopping at limit.
func visibleAfter(events []rooms.Event, viewer rooms.Actor, limit int) int {
	n := 0
	for i := range events {
		if events[i].Vis.VisibleTo(viewer) {
			if n++; n >= limit {
				break
			}
		}
	}
	return n
}

func (c *client) readLoop() {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.shutdown(websocket.CloseMessageTooBig, "frame too large")
			} else {
				c.shutdown(websocket.CloseAbnormalClosure, "") // the peer is gone: no close frame
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(c.srv.cfg.PongTimeout))
		f, err := DecodeClientFrame(data)
		if err != nil {
			c.enqueue(mustJSON(errorFrame{V: ProtocolVersion, Type: "error", Code: "bad_frame", Message: err.Error()}))
			continue
		}
		switch f.Type {
		case FrameTime:
			c.enqueue(mustJSON(timeFrame{V: ProtocolVersion, Type: "time", ID: f.ID, ServerTime: c.srv.svc.Now()}))
		case FrameCommand:
			c.command(f)
		}
	}
}

func (c *client) command(f ClientFrame) {
	if !c.bucket.take(time.Now()) {
		c.enqueue(mustJSON(errorFrame{V: ProtocolVersion, Type: "error", ID: f.ID, Code: "rate_limited",
			Message: "too many commands; slow down"}))
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(c.srv.ctx, 15*time.Second)
	err := rooms.CheckClientCommand(f.Command)
	if err == nil && c.claims.ReadOnly() {
		err = &rooms.Refusal{Code: rooms.CodeForbidden, Msg: "the oversight reads only: it sends no commands"}
	}
	var res rooms.Result
	if err == nil {
		res, err = c.srv.svc.Execute(ctx, c.room, c.actor, rooms.Command{ID: f.ID, Type: f.Command, Data: f.Data})
	}
	cancel()
	c.srv.ObserveCommand(f.Command, err, time.Since(start))
	if err != nil {
		code, msg := failureCode(err), err.Error()
		if code == codeServerError {
			c.srv.logger.Error("ws: command failed", "room", c.room, "command", f.Command, "err", err)
			msg = "the server could not complete the command; retry with the same id"
		}
		c.enqueue(mustJSON(errorFrame{V: ProtocolVersion, Type: "error", ID: f.ID, Code: code, Message: msg}))
		return
	}
	if f.Command == rooms.CmdSignIn {
		c.hub.signedIn(c)
	}
	ack := ackFrame{V: ProtocolVersion, Type: "ack", ID: f.ID, Duplicate: res.Duplicate}
	if res.Last > 0 {
		ack.Events = res.Last - res.First + 1
	}
	if c.staff {
		ack.First, ack.Last = res.First, res.Last
	}
	c.enqueue(mustJSON(ack))
}

// ObserveCommand counts a room command, websocket's or another way's
// (REST), by type and result, and records its time to decide and append.
func (s *Server) ObserveCommand(command string, err error, took time.Duration) {
	s.metrics.commandTime.Observe(took.Seconds())
	result := "ok"
	if err != nil {
		result = failureCode(err)
	}
	s.metrics.commands.WithLabelValues(metricCommand(command), result).Inc()
}

// failureCode is a failed command's code: a refusal's own, or
// server_error for anything else.
func failureCode(err error) string {
	if code := rooms.RefusalCode(err); code != "" {
		return code
	}
	return codeServerError
}

// codeServerError answers a command that failed for the server's reasons.
const codeServerError = "server_error"

// metricCommand keeps label cardinality bounded: unknown command names
// from clients collapse to one label.
func metricCommand(name string) string {
	switch name {
	case rooms.CmdCreateSession, rooms.CmdRegisterBidder, rooms.CmdOpenCheckIn, rooms.CmdSignIn,
		rooms.CmdPresence, rooms.CmdDeadline, rooms.CmdAnnounce:
		return name
	}
	return "other"
}

// tokenBucket limits a connection's command rate.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
