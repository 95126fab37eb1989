package signaling

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/bidroom/bidroom/rooms"
)

// hub fans a room's events out to the room's connections on this server.
// One goroutine (run) watches the log; broadcasts and joins are serialized
// by mu so every client receives every event after its snapshot, in order.
type hub struct {
	srv    *Server
	room   string
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // asks run to broadcast now (buffered 1)
	refs   int           // guarded by srv.mu

	mu      sync.Mutex           // guards clients, lastSeq, online and the clients' cursor/pos
	clients map[*client]struct{} // joined clients
	list    []*client            // the clients of one broadcast, reused
	lastSeq uint64               // last seq broadcast
	online  map[rooms.Actor]int  // connections per signed-in participant
	// uncounted: joined connections per participant not signed in when
	// they joined and not counted since (see countActorLocked).
	uncounted map[rooms.Actor]int
}

func newHub(s *Server, room string) *hub {
	ctx, cancel := context.WithCancel(s.ctx)
	return &hub{
		srv: s, room: room, ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1),
		clients: map[*client]struct{}{}, lastSeq: s.svc.Head(room), online: map[rooms.Actor]int{},
		uncounted: map[rooms.Actor]int{},
	}
}

// A watch the log refuses is tried again after watchRetryMin, then after
// twice as long each time, up to watchRetryMax; the hub polls the log at
// each try meanwhile, so watchRetryMax bounds how late events arrive.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 2 * time.Second
)

// run broadcasts new events until the hub's last client leaves. Should the
// watch fail (a brief Redis error as the hub starts) or end early, run
// watches again with a bounded backoff, polling the log meanwhile: the
// room's clients get every event, late rather than never.
func (h *hub) run() {
	for {
		watch, ok := h.watch()
		if !ok {
			return
		}
		h.broadcast(0) // anything appended before the watch began
		if !h.follow(watch) {
			return
		}
	}
}

// watch starts watching the room's log, trying until it succeeds, or
// reports false once the hub's context ends. A failure streak is logged
// when it starts and when it ends, however many tries it takes.
func (h *hub) watch() (<-chan uint64, bool) {
	backoff := watchRetryMin
	var failing time.Time // when the streak began
	tries := 0            // failed tries in the streak
	for {
		watch, err := h.srv.svc.Watch(h.ctx, h.room)
		if err == nil {
			if tries > 0 {
				h.srv.logger.Info("ws: watching room again", "room", h.room, "tries", tries+1,
					"after", time.Since(failing).Round(time.Millisecond))
			}
			return watch, true
		}
		if h.ctx.Err() != nil {
			return nil, false
		}
		if tries == 0 {
			failing = time.Now()
			h.srv.logger.Error("ws: watch room; polling it until a watch succeeds", "room", h.room, "err", err)
		}
		tries++
		if !h.pollFor(backoff) {
			return nil, false
		}
		backoff = min(2*backoff, watchRetryMax)
	}
}

// pollFor waits d, sending the clients what the log has at its end and
// whenever a join asks; it reports false if the hub's context ended. Read
// errors are not logged: the failure streak they belong to already was.
func (h *hub) pollFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return false
		case <-t.C:
			_, _ = h.send(0)
			return true
		case <-h.kick:
			_, _ = h.send(0)
		}
	}
}

// follow broadcasts after each append the watch reports and each kick; it
// returns false when the hub's context ends, true if the watch ended first.
//
// Broadcasts start at least broadcastGap apart: events that follow one
// another closer than that (an auction's last seconds) go out together,
// one write per connection for several events, which is what a fan-out
// costs. An event after a quiet spell goes out at once.
func (h *hub) follow(watch <-chan uint64) bool {
	var last time.Time // when the last broadcast started
	for {
		var known uint64 // the log's last seq, as the watch reported it
		select {
		case <-h.ctx.Done():
			return false
		case seq, ok := <-watch:
			if !ok {
				return h.ctx.Err() == nil
			}
			known = seq
		case <-h.kick:
		}
		if known != 0 && known <= h.lastSeqNow() {
			continue // sent already, with an earlier broadcast
		}
		if wait := broadcastGap - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-h.ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
			select { // what was appended meanwhile goes out with it
			case seq, ok := <-watch:
				if ok {
					known = max(known, seq)
				}
			default:
			}
		}
		started := time.Now()
		if h.broadcast(known) {
			last = started
		}
	}
}

// broadcastGap is the least time between two broadcasts of a room.
var broadcastGap = 15 * time.Millisecond

// broadcast sends every event after lastSeq to the clients that may see
// it, knowing the log reached at least seq known (0: unknown); should the
// log fail, it logs and tries again in a second.
// It reports whether there was anything to send.
func (h *hub) broadcast(known uint64) bool {
	sent, err := h.send(known)
	if err != nil && h.ctx.Err() == nil {
		h.srv.logger.Error("ws: read room events", "room", h.room, "err", err)
		time.AfterFunc(time.Second, h.poke) // the log may be back soon
	}
	return sent
}

// send sends every event after lastSeq to the clients that may see it,
// from the cache alone if it holds seq known, and reports whether there
// were any. It fails only if the log cannot be read.
func (h *hub) send(known uint64) (bool, error) {
	events, err := h.srv.svc.EventsThrough(h.ctx, h.room, h.lastSeqNow(), known)
	if err != nil {
		return false, err
	}
	if len(events) == 0 {
		return false, nil
	}
	encoded := make([]encodedEvent, 0, len(events))
	signedIn := make([]*rooms.Actor, len(events)) // who each signed_in event signs in
	for i := range events {
		ee, err := encodeEvent(&events[i])
		if err != nil {
			h.srv.logger.Error("ws: encode event", "room", h.room, "seq", events[i].Seq, "err", err)
			return false, nil
		}
		encoded = append(encoded, ee)
		if events[i].Type == rooms.EvSignedIn {
			var si rooms.SignIn
			if json.Unmarshal(events[i].Data, &si) == nil {
				signedIn[i] = &rooms.Actor{Sub: si.Sub, Role: si.Role}
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	first := 0
	for first < len(encoded) && encoded[first].seq <= h.lastSeq {
		first++
	}
	if first == len(encoded) {
		return false, nil
	}
	h.list = h.list[:0]
	for c := range h.clients {
		h.list = append(h.list, c)
	}
	h.srv.metrics.frames.Add(float64(fanOut(h.list, encoded[first:])))
	h.srv.metrics.broadcasts.Inc()
	// A sign-in counts the participant's open connections towards their
	// presence, however it came: a command on a connection, POST
	// /commands, or the key sign-in endpoint.
	for i := first; i < len(encoded); i++ {
		if a := signedIn[i]; a != nil {
			for _, c := range h.list {
				if c.actor == *a {
					h.countOnlineLocked(c)
				}
			}
		}
	}
	h.lastSeq = encoded[len(encoded)-1].seq
	clear(h.list) // hold no client after it leaves
	return true, nil
}

// fanOutChunk is the fewest clients worth a goroutine of their own in a
// broadcast: below it, starting one costs more than it saves.
var fanOutChunk = 512

// fanOut delivers events to clients and writes them, in parallel chunks
// on up to GOMAXPROCS goroutines (the caller's among them) that it waits
// for. Each client is in one chunk, and each chunk builds its own frames,
// so nothing is shared but the immutable encodings. It returns the number
// of frames queued. The caller holds the hub's mu, which stands for the
// chunks' goroutines too: they touch the clients' cursors only.
func fanOut(clients []*client, events []encodedEvent) int {
	workers := min(runtime.GOMAXPROCS(0), len(clients)/fanOutChunk)
	if workers <= 1 {
		return deliverAll(clients, events)
	}
	per := (len(clients) + workers - 1) / workers
	var wg sync.WaitGroup
	var frames atomic.Int64
	for start := per; start < len(clients); start += per {
		part := clients[start:min(start+per, len(clients))]
		own := make([]encodedEvent, len(events))
		for i := range events {
			own[i] = events[i].shareable()
		}
		wg.Go(func() { frames.Add(int64(deliverAll(part, own))) })
	}
	n := deliverAll(clients[:per], events)
	wg.Wait()
	return n + int(frames.Load())
}

// deliverAll gives each client every event it may see, then writes them
// to it in one system call.
func deliverAll(clients []*client, events []encodedEvent) int {
	n := 0
	for _, c := range clients {
		for i := range events {
			if c.deliver(&events[i]) {
				n++
			}
		}
		c.writeQueued()
	}
	return n
}

func (h *hub) lastSeqNow() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastSeq
}

func (h *hub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// deliver queues one event if it is newer than the client's cursor and
// visible to it, and reports whether it did; the caller then writes the
// queue (writeQueued, flushLater). A long batch is written as it goes.
// Called with the hub's mu held.
func (c *client) deliver(ee *encodedEvent) bool {
	if ee.seq <= c.cursor {
		return false
	}
	c.cursor = ee.seq
	if !ee.vis.VisibleTo(c.actor) {
		return false
	}
	c.pos++
	ok, full := c.queueFrame(ee.frame(c.staff, c.pos))
	if full {
		c.writeQueued()
	}
	return ok
}

// join registers c as having seen the room up to seq (stream position
// pos) and sends it whatever the hub has broadcast since.
func (h *hub) join(c *client, seq, pos uint64) {
	h.mu.Lock()
	c.cursor, c.pos = seq, pos
	if seq < h.lastSeq {
		for _, e := range h.srv.svc.CachedAfter(h.room, seq) {
			if e.Seq > h.lastSeq {
				break
			}
			ee, err := encodeEvent(&e)
			if err != nil {
				continue
			}
			if c.deliver(&ee) {
				h.srv.metrics.frames.Inc()
			}
		}
		c.flushLater()
	}
	h.clients[c] = struct{}{}
	first := false
	if h.srv.svc.SignedIn(h.room, c.actor) {
		first = h.countActorLocked(c)
	} else {
		c.uncounted = true
		h.uncounted[c.actor]++
	}
	h.mu.Unlock()
	h.poke() // events newer than lastSeq may already be in the log
	if first {
		h.presence(c.actor, true)
	}
}

// signedIn counts c towards its participant's presence after it signed in
// on this connection (the sign-in itself marked them online).
func (h *hub) signedIn(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, joined := h.clients[c]; joined {
		h.countActorLocked(c)
	}
}

// countActorLocked counts c, which has signed in, and every other
// connection of its participant not counted yet: those joined before the
// sign-in, whose broadcast (which would count them) may still be on its
// way. Otherwise c could leave first and mark its participant offline
// while they are still connected. It reports whether c's participant had
// no counted connection here before.
func (h *hub) countActorLocked(c *client) bool {
	first := h.countOnlineLocked(c)
	if h.uncounted[c.actor] > 0 {
		for o := range h.clients {
			if o.actor == c.actor && h.countOnlineLocked(o) {
				first = true
			}
		}
	}
	return first
}

// countOnlineLocked counts c once; it reports whether c is its
// participant's first connection here.
func (h *hub) countOnlineLocked(c *client) bool {
	if c.counted {
		return false
	}
	c.counted = true
	h.forgetUncountedLocked(c)
	h.online[c.actor]++
	return h.online[c.actor] == 1
}

// forgetUncountedLocked takes c off the count of connections that joined
// before their participant signed in.
func (h *hub) forgetUncountedLocked(c *client) {
	if !c.uncounted {
		return
	}
	c.uncounted = false
	if h.uncounted[c.actor]--; h.uncounted[c.actor] <= 0 {
		delete(h.uncounted, c.actor)
	}
}

// leave unregisters c; the last connection of a signed-in participant
// marks them offline.
func (h *hub) leave(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.forgetUncountedLocked(c)
	last := false
	if n, ok := h.online[c.actor]; ok && c.counted {
		if n <= 1 {
			delete(h.online, c.actor)
			last = true
		} else {
			h.online[c.actor] = n - 1
		}
	}
	h.mu.Unlock()
	if last {
		h.presence(c.actor, false)
	}
}

// presence records a participant going on- or offline, off the caller's
// goroutine; the domain drops it if nothing changes.
func (h *hub) presence(a rooms.Actor, online bool) {
	room := h.room
	svc := h.srv.svc
	h.srv.goBackground(func(ctx context.Context) {
		data := mustJSON(rooms.Presence{Sub: a.Sub, Role: a.Role, Online: online})
		cmd := rooms.Command{ID: "presence-" + uuid.NewString(), Type: rooms.CmdPresence, Data: data}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := svc.Execute(ctx, room, rooms.SystemActor, cmd); err != nil && ctx.Err() == nil {
			h.srv.logger.Warn("ws: presence update", "room", room, "sub", a.Sub, "err", err)
		}
	})
}
