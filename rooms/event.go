package rooms

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// MaxEventBytes bounds one encoded event; decoders refuse anything larger.
const MaxEventBytes = 256 << 10

// Event is one entry of a room's append-only log.
//
// Seq is gap-free per room starting at 1; Time is the server's clock; Prev is
// the hex SM3 hash of the previous event ("" for the first) and Hash the hex
// SM3 of this event's canonical encoding, Prev included, so a changed or
// deleted entry breaks the chain.
type Event struct {
	Room      string          `json:"room"`
	Seq       uint64          `json:"seq"`
	Time      time.Time       `json:"time"`
	Actor     Actor           `json:"actor"`
	Type      string          `json:"type"`
	CommandID string          `json:"cmd,omitempty"`
	Vis       Visibility      `json:"vis"`
	Data      json.RawMessage `json:"data,omitempty"`
	Prev      string          `json:"prev"`
	Hash      string          `json:"hash"`
}

// ErrBadEvent reports an encoded event that cannot be trusted: malformed,
// oversized, or with a hash that does not match its content.
var ErrBadEvent = errors.New("bad event")

// ComputeHash returns the hex SM3 digest of the event's canonical encoding
// (every field but Hash, in a fixed length-prefixed layout independent of
// JSON formatting).
func (e *Event) ComputeHash() string {
	var b bytes.Buffer
	b.WriteString("bidroom-event-v1")
	putString := func(s string) {
		var n [binary.MaxVarintLen64]byte
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		b.WriteString(s)
	}
	var u [8]byte
	binary.BigEndian.PutUint64(u[:], e.Seq)
	b.Write(u[:])
	binary.BigEndian.PutUint64(u[:], uint64(e.Time.UnixNano()))
	b.Write(u[:])
	putString(e.Room)
	putString(e.Actor.Sub)
	putString(string(e.Actor.Role))
	putString(e.Type)
	putString(e.CommandID)
	binary.BigEndian.PutUint64(u[:], uint64(len(e.Vis.Roles)))
	b.Write(u[:])
	for _, r := range e.Vis.Roles {
		putString(string(r))
	}
	binary.BigEndian.PutUint64(u[:], uint64(len(e.Vis.Subjects)))
	b.Write(u[:])
	for _, s := range e.Vis.Subjects {
		putString(s)
	}
	putString(string(e.Data))
	putString(e.Prev)
	sum := sm3.Sm3Sum(b.Bytes())
	return hex.EncodeToString(sum)
}

// Seal sets the event's Prev and Hash, linking it after prev. Data is first
// put in the form Encode stores (compact, escaped), so what is hashed is
// exactly what is read back.
func (e *Event) Seal(prev string) {
	if len(e.Data) > 0 {
		if canon, err := json.Marshal(e.Data); err == nil {
			e.Data = canon
		}
	}
	e.Prev = prev
	e.Hash = e.ComputeHash()
}

// Encode returns the event's storage encoding (JSON).
func (e *Event) Encode() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s#%d: %w", e.Room, e.Seq, err)
	}
	return b, nil
}

// DecodeEvent parses a stored event and checks its own hash. It never
// panics on untrusted bytes and refuses input over MaxEventBytes.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	if len(b) > MaxEventBytes {
		return e, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrBadEvent, len(b), MaxEventBytes)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if e.Seq == 0 || e.Room == "" || e.Type == "" {
		return e, fmt.Errorf("%w: missing room, seq or type", ErrBadEvent)
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return e, fmt.Errorf("%w: data is not JSON", ErrBadEvent)
	}
	if got := e.ComputeHash(); got != e.Hash {
		return e, fmt.Errorf("%w: %s#%d hash mismatch", ErrBadEvent, e.Room, e.Seq)
	}
	return e, nil
}

// VerifyChain checks that events form an unbroken, correctly hashed chain
// continuing after (prevSeq, prevHash); pass 0 and "" for a room's start.
func VerifyChain(prevSeq uint64, prevHash string, events []Event) error {
	for i := range events {
		e := &events[i]
		if e.Seq != prevSeq+1 {
			return fmt.Errorf("%w: sequence gap: %d follows %d", ErrBadEvent, e.Seq, prevSeq)
		}
		if e.Prev != prevHash {
			return fmt.Errorf("%w: %s#%d does not link to the previous event", ErrBadEvent, e.Room, e.Seq)
		}
		if e.ComputeHash() != e.Hash {
			return fmt.Errorf("%w: %s#%d hash mismatch", ErrBadEvent, e.Room, e.Seq)
		}
		prevSeq, prevHash = e.Seq, e.Hash
	}
	return nil
}

// ParseLog reads a log exported as JSON lines (GET /api/v1/sessions/{id}/log,
// an archive's logs/*.jsonl), checking each event's own hash; the chain is
// the caller's to check with VerifyChain.
func ParseLog(raw []byte) ([]Event, error) {
	var events []Event
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, MaxEventBytes+1)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		e, err := DecodeEvent(line)
		if err != nil {
			return nil, fmt.Errorf("log line %d: %w", n, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	return events, nil
}
