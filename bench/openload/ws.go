package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// frame is a server frame, decoded as far as the benchmark needs.
type frame struct {
	Type    string `json:"type"`
	Pos     uint64 `json:"pos"`
	Seq     uint64 `json:"seq"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Event   *struct {
		Type string          `json:"type"`
		Time time.Time       `json:"time"`
		Seq  uint64          `json:"seq"`
		Data json.RawMessage `json:"data"`
	} `json:"event"`
}

// watched are the event types whose first receipt a watcher marks: what
// bidders react to, the host waits for, and the report times.
var watched = []string{"opened", "decryption_started", "decryption_closed", "read_out",
	"confirmation_started", "confirmation_closed", "opening_record_signed"}

// watcher is one participant's websocket: it reads every frame, checks the
// stream is gap-free, records each event's delivery latency (the event's
// server time → receipt here; same machine, same clock) and marks the
// first receipt of the watched types. Its reader goroutine owns the
// connection's reads and the fields marked "reader".
type watcher struct {
	sub, role, token string
	conn             *websocket.Conn

	pos       atomic.Uint64 // last stream position
	snapPos   uint64        // position of the join snapshot (reader, set before run)
	gaps      atomic.Uint64 // events missing between two positions
	dupes     atomic.Uint64
	events    atomic.Uint64
	errFrames atomic.Uint64
	lost      atomic.Bool // the connection failed before the runner closed it
	closing   atomic.Bool
	readErr   error // reader: why the read loop ended; read after done

	mu      sync.Mutex      // guards the fields below
	lat     []time.Duration // per-event delivery latency
	counts  map[string]int
	evFirst map[string]time.Time // server time of the first and last event of each type
	evLast  map[string]time.Time
	firstAt map[string]time.Time
	acks    map[string]chan error // command id → its outcome
	first   map[string]chan struct{}
	changed chan struct{} // poked after each event (cap 1)
	done    chan struct{} // closed when the reader ends
}

func newWatcher(sub, role, token string) *watcher {
	w := &watcher{sub: sub, role: role, token: token,
		counts: map[string]int{}, evFirst: map[string]time.Time{}, evLast: map[string]time.Time{}, firstAt: map[string]time.Time{}, acks: map[string]chan error{},
		first: map[string]chan struct{}{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
	for _, t := range watched {
		w.first[t] = make(chan struct{})
	}
	return w
}

func newDialer() *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		HandshakeTimeout: 15 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  1024,
	}
}

// dial opens a websocket to room and reads up to its snapshot; it returns
// the connection and the snapshot's position.
func dial(ctx context.Context, d *websocket.Dialer, base, room, token string) (*websocket.Conn, uint64, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, 0, err
	}
	u.Scheme = "ws"
	u.Path = "/ws"
	u.RawQuery = "room=" + url.QueryEscape(room)
	conn, resp, err := d.DialContext(ctx, u.String(), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%w: HTTP %d %s", err, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, 0, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("before the snapshot: %w", err)
		}
		var f frame
		if err := json.Unmarshal(msg, &f); err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("undecodable frame before the snapshot: %w", err)
		}
		switch f.Type {
		case "snapshot":
			_ = conn.SetReadDeadline(time.Time{})
			return conn, f.Pos, nil
		case "error":
			conn.Close()
			return nil, 0, fmt.Errorf("server error frame before the snapshot: %s: %s", f.Code, f.Message)
		}
	}
}

// connect dials w's connection; run then reads it.
func (w *watcher) connect(ctx context.Context, d *websocket.Dialer, base, room string) error {
	conn, pos, err := dial(ctx, d, base, room, w.token)
	if err != nil {
		return fmt.Errorf("%s %s: %w", w.role, w.sub, err)
	}
	w.conn, w.snapPos = conn, pos
	w.pos.Store(pos)
	return nil
}

// run reads frames until the connection ends.
func (w *watcher) run() {
	defer close(w.done)
	for {
		_, msg, err := w.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			if !w.closing.Load() {
				w.lost.Store(true)
				w.readErr = err
			}
			w.failAcks(errors.New("connection closed"))
			return
		}
		w.handle(msg, now)
	}
}

func (w *watcher) handle(msg []byte, now time.Time) {
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		w.errFrames.Add(1)
		return
	}
	switch f.Type {
	case "event":
		if f.Event == nil {
			w.errFrames.Add(1)
			return
		}
		last := w.pos.Load()
		switch {
		case f.Pos <= last:
			w.dupes.Add(1)
			return
		case f.Pos != last+1:
			w.gaps.Add(f.Pos - last - 1)
		}
		w.pos.Store(f.Pos)
		w.events.Add(1)
		w.mu.Lock()
		w.lat = append(w.lat, now.Sub(f.Event.Time))
		w.counts[f.Event.Type]++
		if _, seen := w.evFirst[f.Event.Type]; !seen {
			w.evFirst[f.Event.Type] = f.Event.Time
		}
		w.evLast[f.Event.Type] = f.Event.Time
		if ch, ok := w.first[f.Event.Type]; ok {
			if _, seen := w.firstAt[f.Event.Type]; !seen {
				w.firstAt[f.Event.Type] = now
				close(ch)
			}
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	case "ack", "error":
		if f.Type == "error" && f.ID == "" {
			w.errFrames.Add(1)
			return
		}
		w.mu.Lock()
		ch := w.acks[f.ID]
		delete(w.acks, f.ID)
		w.mu.Unlock()
		if ch == nil {
			return
		}
		if f.Type == "error" {
			ch <- fmt.Errorf("command %s refused: %s: %s", f.ID, f.Code, f.Message)
		} else {
			ch <- nil
		}
	}
}

func (w *watcher) failAcks(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ch := range w.acks {
		ch <- err
		delete(w.acks, id)
	}
}

// firstCh is closed when the first event of type t arrives (t must be in watched).
func (w *watcher) firstCh(t string) <-chan struct{} { return w.first[t] }

// firstTime is when the first event of type t arrived (zero if none).
func (w *watcher) firstTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstAt[t]
}

// eventTime is the server time of the first event of type t.
func (w *watcher) eventTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evFirst[t]
}

// lastTime is the server time of the last event of type t.
func (w *watcher) lastTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evLast[t]
}

func (w *watcher) count(t string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[t]
}

// waitUntil waits until cond holds (checked after each event), for at
// most timeout.
func (w *watcher) waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("%s: not after %v", what, timeout)
		case <-w.done:
			if !cond() {
				return fmt.Errorf("%s: the %s connection ended (%v)", what, w.role, w.readErr)
			}
		case <-w.changed:
		}
	}
	return nil
}

// command sends a room command on w's connection and waits for its ack.
// One goroutine sends at a time (the host's script).
func (w *watcher) command(ctx context.Context, id, cmd string) error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.acks[id] = ch
	w.mu.Unlock()
	frame := `{"v":1,"type":"command","id":"` + id + `","command":"` + cmd + `","data":{}}`
	_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := w.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return fmt.Errorf("send %s: %w", cmd, err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no ack for %s (%s) after 30s", cmd, id)
	}
}

// close ends the connection on purpose and waits for the reader.
func (w *watcher) close() {
	if w.conn == nil {
		return
	}
	w.closing.Store(true)
	_ = w.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "openload done"), time.Now().Add(100*time.Millisecond))
	_ = w.conn.Close()
	<-w.done
}

// cmdID makes a command id unique to this run.
func cmdID(run, what string) string {
	return run + "-" + what + "-" + strconv.Itoa(int(time.Now().UnixNano()%1e6))
}
