package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gorilla/websocket"
)

// Frames are parsed only as far as the benchmark needs: an event frame
// (almost every frame) by its fixed prefix and two substrings; the rare
// others into a small struct.
var (
	eventPrefix = []byte(`{"v":1,"type":"event","pos":`)
	annType     = []byte(`"type":"announcement"`)
	textKey     = []byte(`"text":"`)
)

// otherFrame is every server frame but event, decoded loosely.
type otherFrame struct {
	Type    string `json:"type"`
	Pos     uint64 `json:"pos"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
	State   struct {
		Announcements []struct {
			Text string `json:"text"`
		} `json:"announcements"`
	} `json:"state"`
}

// wireFrame is a whole server frame as an outside client decodes it
// (-decode full): every field any frame carries, the event's too, with its
// time parsed; a snapshot's state only as far as its announcements, as
// with -decode fast (a snapshot is on no latency path). An event's data depends on its type, so it is decoded in a
// second step as a client that knows the protocol would (handleFull): an
// announcement's into wireAnnouncement; the rare others stay raw.
type wireFrame struct {
	otherFrame            // type, pos, id, code, message, the snapshot's announcements
	V          int        `json:"v"`
	Seq        uint64     `json:"seq"`  // snapshot, staff only
	Kind       string     `json:"kind"` // snapshot
	Room       string     `json:"room"` // welcome
	You        wireActor  `json:"you"`  // welcome
	Name       string     `json:"name"` // welcome
	ServerTime time.Time  `json:"server_time"`
	Events     uint64     `json:"events"` // ack
	Duplicate  bool       `json:"duplicate"`
	First      uint64     `json:"first"`
	Last       uint64     `json:"last"`
	Event      *wireEvent `json:"event"`
}

// wireEvent is an event frame's event: the staff projection's fields and
// the public one's (type, time, actor, data).
type wireEvent struct {
	Room  string          `json:"room"`
	Seq   uint64          `json:"seq"`
	Time  time.Time       `json:"time"`
	Actor wireActor       `json:"actor"`
	Type  string          `json:"type"`
	Cmd   string          `json:"cmd"`
	Vis   wireVisibility  `json:"vis"`
	Data  json.RawMessage `json:"data"`
	Prev  string          `json:"prev"`
	Hash  string          `json:"hash"`
}

type wireActor struct {
	Sub  string `json:"sub"`
	Role string `json:"role"`
}

type wireVisibility struct {
	Roles []string `json:"roles"`
	Subs  []string `json:"subs"`
}

// wireAnnouncement is an announcement event's data.
type wireAnnouncement struct {
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// wsDialer dials the server over loopback with small buffers: the load
// generator shares the machine's two cores and memory with the server.
func newDialer() *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		HandshakeTimeout: 15 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  512,
		WriteBufferPool:  &sync.Pool{},
	}
}

// viewerConn is a viewer's open connection, whichever reader reads it:
// gorilla's, read by the viewer's goroutine (-reader conn), or a socket
// of the epoll pollers (-reader epoll).
type viewerConn interface {
	// wait returns why the connection ended, once it is closed; its
	// messages went to the viewer meanwhile.
	wait() error
	// goAway sends a close frame (1001) and closes the connection.
	goAway()
	// close closes the connection.
	close()
}

// viewer is one benchmark client. Its goroutine (run) owns the connection;
// its reader (that goroutine, or the connection's poller while the
// goroutine waits) the fields marked "reader"; the runner reads the
// atomics.
type viewer struct {
	r     *runner
	sub   string
	token string
	inst  int // the server it connects to, every time

	conn    atomic.Pointer[viewerConn] // current connection, nil between dials
	closing atomic.Bool                // the runner closed conn on purpose (storm)

	// Stream state (written by the reader, read by the runner).
	pos       atomic.Uint64 // last stream position
	lastAnn   atomic.Uint64 // highest announcement index seen
	annRecv   atomic.Uint64 // announcements received as events, in order
	posGaps   atomic.Uint64 // event pos not last+1 (a missed event)
	annGaps   atomic.Uint64 // announcements skipped in the event stream
	snapSkip  atomic.Uint64 // announcements covered by a snapshot, not delivered as events
	dupes     atomic.Uint64 // events at or below a position already seen
	snapshots atomic.Uint64
	resumes   atomic.Uint64
	drops     atomic.Uint64 // connections lost without the runner asking
	dialFails atomic.Uint64
	errFrames atomic.Uint64
	joinedAny atomic.Bool // got a snapshot once: it has a position to resume from

	// Storm bookkeeping: unix nanos of the resume (or snapshot) and of
	// catching up; 0 until then.
	stormJoined   atomic.Int64
	stormCaughtUp atomic.Int64
	stormSnapshot atomic.Bool

	// Reader only.
	buf         []byte // -reader conn
	stormWait   bool   // resumed in the storm, waiting to reach stormTarget
	stormTarget uint64 // announcement index acked by the host when it resumed
}

// run connects (resuming with pos after the first snapshot) until ctx ends.
func (v *viewer) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		var pos *uint64
		if v.joinedAny.Load() {
			p := v.pos.Load()
			pos = &p
		}
		stormDial := v.r.stormStart.Load() != 0
		conn, err := v.r.dialViewer(ctx, v, pos, stormDial)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			v.dialFails.Add(1)
			v.r.noteError(fmt.Errorf("dial %s: %w", v.sub, err))
			sleepJitter(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		v.conn.Store(&conn)
		if v.closing.Load() { // closed on purpose while we dialed
			conn.close()
		}
		err = conn.wait()
		v.conn.Store(nil)
		if ctx.Err() != nil {
			return
		}
		if !v.closing.Swap(false) {
			v.drops.Add(1)
			v.r.noteError(fmt.Errorf("%s lost its connection: %w", v.sub, err))
			sleepJitter(ctx, 100*time.Millisecond)
		}
	}
}

// closeNow closes the connection from the client side (a close frame, then
// the socket); run reconnects at once with its last pos.
func (v *viewer) closeNow() {
	v.closing.Store(true)
	if c := v.conn.Load(); c != nil {
		(*c).goAway()
	}
}

// dialViewer opens a connection for v with the run's reader (the epoll
// pollers when it has them), resuming from pos when given.
func (r *runner) dialViewer(ctx context.Context, v *viewer, pos *uint64, stormDial bool) (viewerConn, error) {
	if r.pollers != nil {
		return r.pollers.dial(ctx, v, pos, stormDial)
	}
	conn, err := r.dial(ctx, v.inst, v.token, pos)
	if err != nil {
		return nil, err
	}
	return &gorillaConn{conn: conn, v: v, stormDial: stormDial}, nil
}

// gorillaConn is a connection of -reader conn: gorilla's, read by its
// viewer's goroutine in wait.
type gorillaConn struct {
	conn      *websocket.Conn
	v         *viewer
	stormDial bool // dialed during the storm
}

func (c *gorillaConn) wait() error {
	err := c.v.read(c.conn, c.stormDial)
	_ = c.conn.Close()
	return err
}

func (c *gorillaConn) goAway() {
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "wsload storm"), time.Now().Add(100*time.Millisecond))
	_ = c.conn.Close()
}

func (c *gorillaConn) close() { _ = c.conn.Close() }

// read handles frames until the connection fails.
func (v *viewer) read(conn *websocket.Conn, stormDial bool) error {
	for {
		_, rd, err := conn.NextReader()
		if err != nil {
			return err
		}
		if v.buf, err = readInto(rd, v.buf[:0]); err != nil {
			return err
		}
		v.deliver(v.buf, time.Now(), stormDial)
		if cap(v.buf) > 64<<10 {
			v.buf = nil // a large snapshot; do not keep its buffer
		}
	}
}

// readInto appends all of rd to buf, reusing its capacity.
func readInto(rd io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 1024)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// deliver handles a message received at now, as -decode says.
func (v *viewer) deliver(msg []byte, now time.Time, stormDial bool) {
	if v.r.fullDecode {
		v.handleFull(msg, now, stormDial)
	} else {
		v.handle(msg, now, stormDial)
	}
}

// handle reads a frame the cheap way (-decode fast): an event by its
// prefix and substrings, any other frame into otherFrame.
func (v *viewer) handle(msg []byte, now time.Time, stormDial bool) {
	if bytes.HasPrefix(msg, eventPrefix) {
		v.event(msg[len(eventPrefix):], now)
		return
	}
	var f otherFrame
	if err := json.Unmarshal(msg, &f); err != nil {
		v.errFrames.Add(1)
		v.r.noteError(fmt.Errorf("%s: undecodable frame: %w", v.sub, err))
		return
	}
	v.control(&f, now, stormDial)
}

// handleFull decodes every frame whole (-decode full with encoding/json,
// -decode goccy with goccy/go-json),
// an announcement's data too, before handling it as handle does: the
// cost an outside client pays. now was taken at receipt, before decoding.
func (v *viewer) handleFull(msg []byte, now time.Time, stormDial bool) {
	var f wireFrame
	if err := v.r.unmarshal(msg, &f); err != nil {
		v.errFrames.Add(1)
		v.r.noteError(fmt.Errorf("%s: undecodable frame: %w", v.sub, err))
		return
	}
	if f.Type != "event" {
		v.control(&f.otherFrame, now, stormDial)
		return
	}
	if f.Event == nil {
		v.errFrames.Add(1)
		v.r.noteError(fmt.Errorf("%s: event frame at pos %d without an event", v.sub, f.Pos))
		return
	}
	if !v.advance(f.Pos) || f.Event.Type != "announcement" {
		return
	}
	var a wireAnnouncement
	if err := v.r.unmarshal(f.Event.Data, &a); err != nil {
		v.errFrames.Add(1)
		v.r.noteError(fmt.Errorf("%s: undecodable announcement at pos %d: %w", v.sub, f.Pos, err))
		return
	}
	if idx, sent, ok := parseAnnText([]byte(a.Text)); ok {
		v.announcement(idx, sent, now)
	}
}

// control handles every frame but event.
func (v *viewer) control(f *otherFrame, now time.Time, stormDial bool) {
	switch f.Type {
	case "welcome":
	case "snapshot":
		v.snapshots.Add(1)
		v.pos.Store(f.Pos)
		top := uint64(0)
		for _, a := range f.State.Announcements {
			if idx, _, ok := parseAnnText([]byte(a.Text)); ok {
				top = max(top, idx)
			}
		}
		if last := v.lastAnn.Load(); top > last {
			if v.joinedAny.Load() {
				v.snapSkip.Add(top - last)
			}
			v.lastAnn.Store(top)
		}
		v.joined(now, stormDial, true)
	case "resumed":
		v.resumes.Add(1)
		if f.Pos != v.pos.Load() {
			v.r.noteError(fmt.Errorf("%s: resumed at pos %d, asked for %d", v.sub, f.Pos, v.pos.Load()))
		}
		v.joined(now, stormDial, false)
	case "error":
		v.errFrames.Add(1)
		v.r.noteError(fmt.Errorf("%s: server error frame %s: %s", v.sub, f.Code, f.Message))
	}
}

// joined follows a snapshot or resumed frame.
func (v *viewer) joined(now time.Time, stormDial, snapshot bool) {
	if v.joinedAny.CompareAndSwap(false, true) {
		v.r.joined.Add(1)
	}
	if !stormDial || v.stormJoined.Load() != 0 {
		return
	}
	v.stormJoined.Store(now.UnixNano())
	if snapshot {
		v.stormSnapshot.Store(true)
	}
	// Caught up once it has every announcement the host had been told was
	// appended by now: all of them are in the log, so they must arrive.
	target := v.r.host.acked.Load()
	if v.lastAnn.Load() >= target {
		v.stormCaughtUp.Store(now.UnixNano())
		return
	}
	v.stormWait, v.stormTarget = true, target
}

// event handles {"v":1,"type":"event","pos":N,"event":{...}} given what
// follows the prefix.
func (v *viewer) event(rest []byte, now time.Time) {
	pos, n := parseUint(rest)
	if n == 0 {
		v.errFrames.Add(1)
		return
	}
	if !v.advance(pos) {
		return
	}
	rest = rest[n:]
	i := bytes.Index(rest, annType)
	if i < 0 {
		return
	}
	j := bytes.Index(rest[i:], textKey)
	if j < 0 {
		return
	}
	idx, sent, ok := parseAnnText(rest[i+j+len(textKey):])
	if !ok {
		return
	}
	v.announcement(idx, sent, now)
}

// advance moves the stream to an event's pos; false for a duplicate.
func (v *viewer) advance(pos uint64) bool {
	last := v.pos.Load()
	switch {
	case pos <= last:
		v.dupes.Add(1)
		return false
	case pos != last+1:
		v.posGaps.Add(1)
	}
	v.pos.Store(pos)
	return true
}

// announcement records the receipt at now of announcement idx, sent at
// unix nanos sent.
func (v *viewer) announcement(idx uint64, sent int64, now time.Time) {
	lastAnn := v.lastAnn.Load()
	if idx <= lastAnn {
		v.dupes.Add(1)
		return
	}
	if idx != lastAnn+1 {
		v.annGaps.Add(idx - lastAnn - 1)
	}
	v.lastAnn.Store(idx)
	v.annRecv.Add(1)
	v.r.record(idx, now.Sub(time.Unix(0, sent)))
	if v.stormWait && idx >= v.stormTarget {
		v.stormWait = false
		v.stormCaughtUp.Store(now.UnixNano())
	}
}

// annText is the text of announcement idx sent at t: "idx:unixnano".
func annText(idx uint64, t time.Time) string {
	return strconv.FormatUint(idx, 10) + ":" + strconv.FormatInt(t.UnixNano(), 10)
}

// parseAnnText reads "idx:unixnano" at the start of b.
func parseAnnText(b []byte) (idx uint64, sent int64, ok bool) {
	idx, n := parseUint(b)
	if n == 0 || n >= len(b) || b[n] != ':' {
		return 0, 0, false
	}
	ns, m := parseUint(b[n+1:])
	if m == 0 {
		return 0, 0, false
	}
	return idx, int64(ns), true
}

// parseUint reads the decimal digits at the start of b.
func parseUint(b []byte) (v uint64, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' && n < 19 {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n
}

func sleepJitter(ctx context.Context, d time.Duration) {
	d = d/2 + rand.N(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// host is the host that announces: over its websocket (conn, whose
// reader readLoop tracks the acks), or with -announce rest by POST
// /api/v1/sessions/{room}/commands on one keep-alive HTTP connection (no
// websocket: each answer is the ack). announce is called from one
// goroutine at a time.
type host struct {
	conn   *websocket.Conn           // ws: the host's websocket; nil with rest
	rest   *http.Client              // rest: the host's HTTP client; nil with ws
	url    string                    // rest: the commands endpoint
	token  string                    // rest: the host's token
	sent   atomic.Uint64             // last announcement index sent
	acked  atomic.Uint64             // highest announcement index acked
	errors atomic.Uint64             // command errors
	late   atomic.Uint64             // sends that took longer than the interval: the next one waited
	joined chan struct{}             // closed on the first snapshot
	sentAt [spreadSlots]atomic.Int64 // unix nanos each announcement was sent, by index
	ackLat histogram                 // send -> ack (rest: the HTTP round trip)
	once   sync.Once
}

func (h *host) readLoop(r *runner) {
	for {
		_, msg, err := h.conn.ReadMessage()
		if err != nil {
			if r.ctx.Err() == nil {
				r.noteError(fmt.Errorf("host connection lost: %w", err))
				r.hostLost.Store(true)
			}
			return
		}
		if bytes.HasPrefix(msg, eventPrefix) {
			continue
		}
		var f otherFrame
		if err := json.Unmarshal(msg, &f); err != nil {
			continue
		}
		switch f.Type {
		case "snapshot":
			h.once.Do(func() { close(h.joined) })
		case "ack":
			if s, ok := bytes.CutPrefix([]byte(f.ID), []byte("a-")); ok {
				if idx, n := parseUint(s); n > 0 {
					if idx < spreadSlots {
						if t := h.sentAt[idx].Load(); t != 0 {
							h.ackLat.record(time.Since(time.Unix(0, t)))
						}
					}
					h.ack(idx)
				}
			}
		case "error":
			h.errors.Add(1)
			r.noteError(fmt.Errorf("host command %s refused: %s: %s", f.ID, f.Code, f.Message))
		}
	}
}

// ack raises acked to idx.
func (h *host) ack(idx uint64) {
	for {
		a := h.acked.Load()
		if idx <= a || h.acked.CompareAndSwap(a, idx) {
			return
		}
	}
}

// announce sends announcement idx with the send time as its text.
func (h *host) announce(ctx context.Context, r *runner, idx uint64) error {
	if h.rest != nil {
		return h.post(ctx, r, idx)
	}
	now := time.Now()
	if idx < spreadSlots {
		h.sentAt[idx].Store(now.UnixNano())
	}
	frame := `{"v":1,"type":"command","id":"a-` + strconv.FormatUint(idx, 10) +
		`","command":"announce","data":{"text":"` + annText(idx, now) + `"}}`
	_ = h.conn.SetWriteDeadline(now.Add(5 * time.Second))
	if err := h.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return fmt.Errorf("host: send announcement %d: %w", idx, err)
	}
	h.sent.Store(idx)
	return nil
}

// restAnswer is the answer to POST .../commands, or its error.
type restAnswer struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
	Error     struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// post sends announcement idx as a REST command and waits for the answer:
// the round trip is its ack latency; a refusal is a command error.
func (h *host) post(ctx context.Context, r *runner, idx uint64) error {
	now := time.Now()
	if idx < spreadSlots {
		h.sentAt[idx].Store(now.UnixNano())
	}
	id := "a-" + strconv.FormatUint(idx, 10)
	body := `{"id":"` + id + `","type":"announce","data":{"text":"` + annText(idx, now) + `"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("host: announcement %d: %w", idx, err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.rest.Do(req)
	if err != nil {
		return fmt.Errorf("host: POST announcement %d: %w", idx, err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("host: read the answer to announcement %d: %w", idx, err)
	}
	rtt := time.Since(now)
	var ans restAnswer
	jerr := json.Unmarshal(b, &ans)
	switch {
	case resp.StatusCode != http.StatusOK:
		h.errors.Add(1)
		if jerr != nil || ans.Error.Code == "" {
			r.noteError(fmt.Errorf("host command %s refused: HTTP %d: %s", id, resp.StatusCode, bytes.TrimSpace(b)))
		} else {
			r.noteError(fmt.Errorf("host command %s refused: HTTP %d %s: %s", id, resp.StatusCode, ans.Error.Code, ans.Error.Message))
		}
	case jerr != nil || ans.ID != id || ans.Duplicate:
		// Accepted, but not as this new command: the server's answer is wrong.
		h.errors.Add(1)
		r.noteError(fmt.Errorf("host command %s: unexpected answer %s", id, bytes.TrimSpace(b)))
	default:
		h.ackLat.record(rtt)
		h.ack(idx)
	}
	h.sent.Store(idx)
	return nil
}

// warm reads the room (url) as the host, on the client the announcements
// will use: the token works and the keep-alive connection is open.
func (h *host) warm(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("host: read the room: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.rest.Do(req)
	if err != nil {
		return fmt.Errorf("host: read the room: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("host: read the room: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("host: read the room: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b[:min(len(b), 512)]))
	}
	return nil
}

// close ends the host's connection, whichever it is.
func (h *host) close() {
	if h.conn != nil {
		_ = h.conn.Close()
	}
	if h.rest != nil {
		h.rest.CloseIdleConnections()
	}
}

// newRESTClient is the host's HTTP client with -announce rest: one
// keep-alive connection, reused by every command.
func newRESTClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     5 * time.Minute,
		},
		Timeout: 10 * time.Second,
	}
}

// dial opens one websocket to the room on server inst, resuming from pos
// when given.
func (r *runner) dial(ctx context.Context, inst int, token string, pos *uint64) (*websocket.Conn, error) {
	conn, resp, err := r.dialer.DialContext(ctx, r.viewURL(inst, pos), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("%w: HTTP %d %s", err, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, err
	}
	return conn, nil
}

// viewURL is the room's websocket URL on server inst, resuming from pos
// when given.
func (r *runner) viewURL(inst int, pos *uint64) string {
	if pos == nil {
		return r.wsURLs[inst]
	}
	return r.wsURLs[inst] + "&pos=" + strconv.FormatUint(*pos, 10)
}

var errTimeout = errors.New("timed out")

// decoder is the JSON decoder -decode names for whole frames.
func decoder(decode string) func([]byte, any) error {
	if decode == "goccy" {
		return gojson.Unmarshal
	}
	return json.Unmarshal
}
