package loadtool

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

// Frame is a server frame of the websocket protocol (docs/protocol.md),
// decoded as far as the load tools need.
type Frame struct {
	Type    string          `json:"type"`
	Pos     uint64          `json:"pos"`
	Seq     uint64          `json:"seq"`
	Kind    string          `json:"kind"`
	State   json.RawMessage `json:"state"`
	ID      string          `json:"id"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Events  int             `json:"events"`
	Dup     bool            `json:"duplicate"`
	Event   *FrameEvent     `json:"event"`
}

// FrameEvent is an event frame's entry. Staff receive the full log entry,
// with its sequence number and the id of the command that appended it;
// others only type, time, actor and data.
type FrameEvent struct {
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Seq  uint64          `json:"seq"`
	Cmd  string          `json:"cmd"`
	Data json.RawMessage `json:"data"`
}

// Snapshot is the snapshot frame a connection starts from.
type Snapshot struct {
	Pos   uint64          // this client's stream position
	Seq   uint64          // the room's sequence (staff only)
	Kind  string          // opening, pool, evaluation
	State json.RawMessage // the kind's view for this client
}

// Ack is a command's answer.
type Ack struct {
	Sent      time.Time // just before the frame was written
	At        time.Time // when the reader received the ack
	Events    int       // events the command appended
	Duplicate bool
}

// Latency is the time from Sent to At.
func (a Ack) Latency() time.Duration { return a.At.Sub(a.Sent) }

// Watcher is one participant's websocket: its reader checks the stream is
// gap-free, records each event's delivery latency (the event's server time
// → receipt here; same machine, same clock), counts events by type, marks
// the first receipt of each type and matches acks to commands. Its reader
// goroutine (Run) owns the connection's reads.
type Watcher struct {
	Sub, Role, Token string
	// OnEvent, when set before Run, is called by the reader for every new
	// event in stream order, with its receipt time. It must not block.
	OnEvent func(ev *FrameEvent, pos uint64, at time.Time)

	conn *websocket.Conn
	snap Snapshot // the join snapshot (set before Run)

	pos       atomic.Uint64 // last stream position
	gaps      atomic.Uint64 // events missing between two positions
	dupes     atomic.Uint64
	events    atomic.Uint64
	bytes     atomic.Uint64 // bytes of every frame read
	errFrames atomic.Uint64
	lost      atomic.Bool // the connection failed before Close
	closing   atomic.Bool
	readErr   error // reader: why the read loop ended; read after done

	writeMu sync.Mutex // one writer of commands at a time

	mu      sync.Mutex      // guards the fields below
	lat     []time.Duration // per-event delivery latency
	counts  map[string]int
	evFirst map[string]time.Time // server time of the first and last event of each type
	evLast  map[string]time.Time
	firstAt map[string]time.Time // receipt of the first event of each type
	first   map[string]chan struct{}
	acks    map[string]chan Frame // command id → its answer
	ackAt   map[string]time.Time
	changed chan struct{} // poked after each event (cap 1)
	done    chan struct{} // closed when the reader ends
}

// NewWatcher returns a participant not yet connected.
func NewWatcher(sub, role, token string) *Watcher {
	return &Watcher{Sub: sub, Role: role, Token: token,
		counts: map[string]int{}, evFirst: map[string]time.Time{}, evLast: map[string]time.Time{}, firstAt: map[string]time.Time{},
		first: map[string]chan struct{}{}, acks: map[string]chan Frame{}, ackAt: map[string]time.Time{},
		changed: make(chan struct{}, 1), done: make(chan struct{})}
}

// NewDialer is a websocket dialer with small buffers and bounded waits.
func NewDialer() *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		HandshakeTimeout: 15 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  1024,
	}
}

// WSURL is the websocket URL of room on the server at base.
func WSURL(base, room string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Scheme = "ws"
	u.Path = "/ws"
	u.RawQuery = "room=" + url.QueryEscape(room)
	return u.String(), nil
}

// Dial opens a websocket to room and reads up to its snapshot.
func Dial(ctx context.Context, d *websocket.Dialer, base, room, token string) (*websocket.Conn, Snapshot, error) {
	u, err := WSURL(base, room)
	if err != nil {
		return nil, Snapshot{}, err
	}
	conn, resp, err := d.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, Snapshot{}, fmt.Errorf("%w: HTTP %d %s", err, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, Snapshot{}, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, Snapshot{}, fmt.Errorf("before the snapshot: %w", err)
		}
		var f Frame
		if err := json.Unmarshal(msg, &f); err != nil {
			conn.Close()
			return nil, Snapshot{}, fmt.Errorf("undecodable frame before the snapshot: %w", err)
		}
		switch f.Type {
		case "snapshot":
			_ = conn.SetReadDeadline(time.Time{})
			return conn, Snapshot{Pos: f.Pos, Seq: f.Seq, Kind: f.Kind, State: f.State}, nil
		case "error":
			conn.Close()
			return nil, Snapshot{}, fmt.Errorf("server error frame before the snapshot: %s: %s", f.Code, f.Message)
		}
	}
}

// Connect dials w's connection; Run then reads it.
func (w *Watcher) Connect(ctx context.Context, d *websocket.Dialer, base, room string) error {
	conn, snap, err := Dial(ctx, d, base, room, w.Token)
	if err != nil {
		return fmt.Errorf("%s %s: %w", w.Role, w.Sub, err)
	}
	w.conn, w.snap = conn, snap
	w.pos.Store(snap.Pos)
	return nil
}

// Snapshot is the snapshot w joined with.
func (w *Watcher) Snapshot() Snapshot { return w.snap }

// Run reads frames until the connection ends.
func (w *Watcher) Run() {
	defer close(w.done)
	for {
		_, msg, err := w.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			if !w.closing.Load() {
				w.lost.Store(true)
				w.readErr = err
			}
			w.failAcks(Frame{Type: "error", Code: "closed", Message: "connection closed"})
			return
		}
		w.bytes.Add(uint64(len(msg)))
		w.handle(msg, now)
	}
}

func (w *Watcher) handle(msg []byte, now time.Time) {
	var f Frame
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
		if w.OnEvent != nil {
			w.OnEvent(f.Event, f.Pos, now)
		}
		t := f.Event.Type
		w.mu.Lock()
		w.lat = append(w.lat, now.Sub(f.Event.Time))
		w.counts[t]++
		if _, seen := w.evFirst[t]; !seen {
			w.evFirst[t] = f.Event.Time
		}
		w.evLast[t] = f.Event.Time
		if _, seen := w.firstAt[t]; !seen {
			w.firstAt[t] = now
			if ch := w.first[t]; ch != nil {
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
		if ch != nil {
			w.ackAt[f.ID] = now
		}
		w.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

func (w *Watcher) failAcks(f Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ch := range w.acks {
		ch <- f
		delete(w.acks, id)
	}
}

// FirstCh is closed when the first event of type t arrives.
func (w *Watcher) FirstCh(t string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.first[t]; ok {
		return ch
	}
	ch := make(chan struct{})
	if _, seen := w.firstAt[t]; seen {
		close(ch)
	}
	w.first[t] = ch
	return ch
}

// FirstTime is when the first event of type t arrived (zero if none).
func (w *Watcher) FirstTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstAt[t]
}

// EventTime is the server time of the first event of type t.
func (w *Watcher) EventTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evFirst[t]
}

// LastTime is the server time of the last event of type t.
func (w *Watcher) LastTime(t string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evLast[t]
}

// Count is the number of events of type t received.
func (w *Watcher) Count(t string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[t]
}

// Pos is the last stream position received.
func (w *Watcher) Pos() uint64 { return w.pos.Load() }

// Gaps is the number of positions skipped in the stream.
func (w *Watcher) Gaps() uint64 { return w.gaps.Load() }

// Events is the number of event frames received.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Bytes is the size of every frame read since the snapshot.
func (w *Watcher) Bytes() uint64 { return w.bytes.Load() }

// ErrorFrames counts undecodable frames and errors not about a command.
func (w *Watcher) ErrorFrames() uint64 { return w.errFrames.Load() }

// Lost reports whether the connection failed before Close, and why (read
// it once the reader has ended).
func (w *Watcher) Lost() (bool, error) {
	if !w.lost.Load() {
		return false, nil
	}
	select {
	case <-w.done:
		return true, w.readErr
	default:
		return true, errors.New("connection failing")
	}
}

// Latencies is a copy of every event's delivery latency so far.
func (w *Watcher) Latencies() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.lat...)
}

// WaitUntil waits until cond holds (checked after each event), for at
// most timeout.
func (w *Watcher) WaitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
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
				return fmt.Errorf("%s: the %s connection ended (%v)", what, w.Role, w.readErr)
			}
		case <-w.changed:
		}
	}
	return nil
}

// CommandError is a command the server refused (an error frame).
type CommandError struct {
	ID, Command, Code, Message string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("command %s (%s) refused: %s: %s", e.Command, e.ID, e.Code, e.Message)
}

// Command sends a room command with data (nil: {}) on w's connection and
// waits up to 30 s for its ack. A refusal is a *CommandError.
func (w *Watcher) Command(ctx context.Context, id, cmd string, data any) (Ack, error) {
	raw := json.RawMessage("{}")
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return Ack{}, fmt.Errorf("encode %s: %w", cmd, err)
		}
		raw = b
	}
	frame, err := json.Marshal(struct {
		V       int             `json:"v"`
		Type    string          `json:"type"`
		ID      string          `json:"id"`
		Command string          `json:"command"`
		Data    json.RawMessage `json:"data"`
	}{1, "command", id, cmd, raw})
	if err != nil {
		return Ack{}, err
	}
	ch := make(chan Frame, 1)
	w.mu.Lock()
	w.acks[id] = ch
	w.mu.Unlock()
	w.writeMu.Lock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	sent := time.Now()
	err = w.conn.WriteMessage(websocket.TextMessage, frame)
	w.writeMu.Unlock()
	if err != nil {
		w.mu.Lock()
		delete(w.acks, id)
		w.mu.Unlock()
		return Ack{Sent: sent}, fmt.Errorf("send %s: %w", cmd, err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case f := <-ch:
		w.mu.Lock()
		at := w.ackAt[id]
		delete(w.ackAt, id)
		w.mu.Unlock()
		a := Ack{Sent: sent, At: at, Events: f.Events, Duplicate: f.Dup}
		if f.Type != "ack" {
			return a, &CommandError{ID: id, Command: cmd, Code: f.Code, Message: f.Message}
		}
		return a, nil
	case <-ctx.Done():
		return Ack{Sent: sent}, ctx.Err()
	case <-t.C:
		return Ack{Sent: sent}, fmt.Errorf("no ack for %s (%s) after 30s", cmd, id)
	}
}

// Close ends the connection on purpose and waits for the reader.
func (w *Watcher) Close() {
	if w.conn == nil {
		return
	}
	w.closing.Store(true)
	_ = w.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "load run done"), time.Now().Add(100*time.Millisecond))
	_ = w.conn.Close()
	<-w.done
}

// Tail lists the events after pos in token's projection (at most 20, as
// "pos type"), for a failure message.
func Tail(ctx context.Context, base, room, token string, pos uint64) string {
	u, err := WSURL(base, room)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	conn, _, err := NewDialer().DialContext(ctx, u+"&pos="+strconv.FormatUint(pos, 10), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer conn.Close()
	var out bytes.Buffer
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for n := 0; n < 20; {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		var f Frame
		if json.Unmarshal(msg, &f) == nil && f.Event != nil {
			if n > 0 {
				out.WriteString(", ")
			}
			fmt.Fprintf(&out, "%d %s", f.Pos, f.Event.Type)
			n++
		}
	}
	return out.String()
}
