package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// ProtocolVersion is the "v" of every frame; a client sending another
// version is refused.
const ProtocolVersion = 1

// Client frame types.
const (
	FrameCommand = "command"
	FrameTime    = "time"
)

// ClientFrame is a message from a client.
type ClientFrame struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Command string          `json:"command,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// ErrBadFrame is a client frame that cannot be understood.
var ErrBadFrame = errors.New("bad frame")

// DecodeClientFrame parses a client frame strictly. It never panics on
// untrusted bytes; the transport bounds their size before this is called.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	var f ClientFrame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if dec.More() {
		return f, fmt.Errorf("%w: trailing data after the frame", ErrBadFrame)
	}
	if f.V != ProtocolVersion {
		return f, fmt.Errorf("%w: unsupported protocol version %d (want %d)", ErrBadFrame, f.V, ProtocolVersion)
	}
	if len(f.ID) > rooms.MaxCommandIDBytes {
		return f, fmt.Errorf("%w: id longer than %d bytes", ErrBadFrame, rooms.MaxCommandIDBytes)
	}
	switch f.Type {
	case FrameCommand:
		if f.ID == "" || f.Command == "" {
			return f, fmt.Errorf("%w: a command needs an id and a command type", ErrBadFrame)
		}
	case FrameTime:
	default:
		return f, fmt.Errorf("%w: unknown frame type %q", ErrBadFrame, f.Type)
	}
	return f, nil
}

// Server frames. Each is encoded once and queued as bytes.

type welcomeFrame struct {
	V          int         `json:"v"`
	Type       string      `json:"type"` // "welcome"
	Room       string      `json:"room"`
	You        rooms.Actor `json:"you"`
	Name       string      `json:"name,omitempty"`
	ServerTime time.Time   `json:"server_time"`
}

type snapshotFrame struct {
	V     int    `json:"v"`
	Type  string `json:"type"` // "snapshot"
	Pos   uint64 `json:"pos"`
	Seq   uint64 `json:"seq,omitempty"` // staff only
	Kind  string `json:"kind"`          // the room kind: which fold the client runs
	State any    `json:"state"`         // the kind's view (rooms.OpeningView for an opening)
}

type resumedFrame struct {
	V    int    `json:"v"`
	Type string `json:"type"` // "resumed"
	Pos  uint64 `json:"pos"`
}

type ackFrame struct {
	V         int    `json:"v"`
	Type      string `json:"type"` // "ack"
	ID        string `json:"id"`
	Events    uint64 `json:"events"`
	Duplicate bool   `json:"duplicate,omitempty"`
	First     uint64 `json:"first,omitempty"` // staff only
	Last      uint64 `json:"last,omitempty"`  // staff only
}

type errorFrame struct {
	V       int    `json:"v"`
	Type    string `json:"type"` // "error"
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type timeFrame struct {
	V          int       `json:"v"`
	Type       string    `json:"type"` // "time"
	ID         string    `json:"id,omitempty"`
	ServerTime time.Time `json:"server_time"`
}

// publicEvent is an event as non-staff see it: no sequence numbers or
// hashes, which would reveal how many events they cannot see, and the
// actor as rooms.PublicActor gives it (an auction's bids name nobody).
type publicEvent struct {
	Type  string          `json:"type"`
	Time  time.Time       `json:"time"`
	Actor rooms.Actor     `json:"actor"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// encodedEvent is one event encoded for both audiences, with its frames
// cached by stream position: staff all stand at pos == seq, and most other
// viewers share a position too, so a broadcast builds a handful of frames,
// not one per client.
type encodedEvent struct {
	seq    uint64
	vis    rooms.Visibility
	full   []byte // staff: the whole event
	public []byte
	staff  []byte            // the staff frame at pos == seq, built on first use
	byPos  map[uint64][]byte // public frames by pos
}

// shareable returns a copy of ee with its own, empty frame cache, for a
// goroutine of a parallel broadcast: the encodings are shared, read-only.
func (ee *encodedEvent) shareable() encodedEvent {
	return encodedEvent{seq: ee.seq, vis: ee.vis, full: ee.full, public: ee.public}
}

// frame returns the event frame for a viewer at pos.
func (ee *encodedEvent) frame(staff bool, pos uint64) []byte {
	if staff {
		if pos != ee.seq {
			return eventFrame(pos, ee.full) // cannot happen for staff; stay correct anyway
		}
		if ee.staff == nil {
			ee.staff = eventFrame(pos, ee.full)
		}
		return ee.staff
	}
	f, ok := ee.byPos[pos]
	if !ok {
		if ee.byPos == nil {
			ee.byPos = map[uint64][]byte{}
		}
		f = eventFrame(pos, ee.public)
		ee.byPos[pos] = f
	}
	return f
}

func encodeEvent(e *rooms.Event) (encodedEvent, error) {
	full, err := json.Marshal(e)
	if err != nil {
		return encodedEvent{}, err
	}
	pub, err := json.Marshal(publicEvent{Type: e.Type, Time: e.Time, Actor: rooms.PublicActor(e), Data: rooms.PublicData(e)})
	if err != nil {
		return encodedEvent{}, err
	}
	return encodedEvent{seq: e.Seq, vis: e.Vis, full: full, public: pub}, nil
}

// eventFrame builds the wire frame of {"v":1,"type":"event","pos":N,
// "event":...} without re-encoding the event for each recipient.
func eventFrame(pos uint64, event []byte) []byte {
	b := make([]byte, 0, len(event)+48)
	b = append(b, `{"v":1,"type":"event","pos":`...)
	b = strconv.AppendUint(b, pos, 10)
	b = append(b, `,"event":`...)
	b = append(b, event...)
	return wire(opText, append(b, '}'))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("signaling: encode %T: %v", v, err)) // our own frame types always encode
	}
	return b
}
