package rooms

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Result is the outcome of an accepted command: the seqs of the events it
// appended (none if it changed nothing), and whether it was a retry of a
// command applied before.
type Result struct {
	First     uint64 `json:"first,omitempty"`
	Last      uint64 `json:"last,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Snapshot is a viewer's projection of a room at a sequence number. Pos is
// the viewer's position in their own stream of visible events, which is
// what clients count and resume from: it reveals nothing about events they
// cannot see.
type Snapshot struct {
	Seq  uint64 `json:"seq"`
	Pos  uint64 `json:"pos"`
	Kind string `json:"kind"`
	View any    `json:"view"` // the kind's projection, e.g. OpeningView
}

// Opening returns the snapshot's view of an opening room, and false for a
// room of another kind.
func (s Snapshot) Opening() (OpeningView, bool) {
	v, ok := s.View.(OpeningView)
	return v, ok
}

// ErrResumeAhead: a client asked to resume from a position its stream never
// reached.
var ErrResumeAhead = errors.New("resume position is ahead of the room")

// maxConflictRetries bounds how often a command is re-decided when other
// writers keep appending first.
const maxConflictRetries = 32

// readPage is how many events one log read fetches while catching up.
const readPage = 1000

// Service runs commands against rooms and serves their state. Any number
// of Services (on any number of servers) may share one Log: appends are
// conditional, so they never fork a room.
type Service struct {
	log Log
	now func() time.Time

	mu       sync.Mutex       // guards the fields below
	rooms    map[string]*room // cached rooms by id, at most maxRooms
	lru      *list.List       // the cached rooms' ids, the most recently used first
	maxRooms int              // 0: no bound
	timers   map[string]timer // each room's next timer, as its last fold here left it
	heads    map[string]uint64
	changed  []func(room string)
}

// DefaultMaxCachedRooms bounds the rooms a Service keeps folded in memory;
// the least recently used go first and are folded again from the log when
// asked for.
const DefaultMaxCachedRooms = 5000

// timer is a room's next time-driven command.
type timer struct {
	at      time.Time
	cmdType string
}

// room caches one room's folded state and its events.
type room struct {
	cmdMu sync.Mutex // serializes this instance's commands on the room; held across the append on purpose

	mu      sync.Mutex    // guards state, events and cursors; never held across I/O
	elem    *list.Element // in Service.lru; guarded by Service.mu
	state   State
	events  []Event            // every event so far; elements are never modified
	cursors map[Actor]position // each viewer's last known position, so counting resumes from there
	cmds    map[string]Result  // the commands the cached events came from, by command key
}

// Prechecker is a State that can refuse some commands from its cached
// state alone, without waiting for the room's lane or reading the log:
// only refusals that later events cannot undo (an auction's prices only
// rise, and an ended auction stays ended). A command the state cannot
// judge so returns nil and goes the usual way.
type Prechecker interface {
	Precheck(actor Actor, cmd Command) error
}

// position is a viewer's stream position at a room sequence.
type position struct{ seq, pos uint64 }

// maxCursors bounds the per-room cache of viewer positions.
const maxCursors = 100_000

// positionAt returns how many events viewer can see up to seq, counting on
// from the viewer's cached position (not from the start) when it can.
func (r *room) positionAt(viewer Actor, seq uint64) uint64 {
	from := r.cursors[viewer]
	if from.seq > seq {
		from = position{}
	}
	n := from.pos
	for i := from.seq; i < seq; i++ {
		if r.events[i].Vis.VisibleTo(viewer) {
			n++
		}
	}
	r.remember(viewer, position{seq: seq, pos: n})
	return n
}

// seqAtPos is the inverse: the seq of the viewer's pos-th visible event.
func (r *room) seqAtPos(viewer Actor, pos uint64) (uint64, bool) {
	from := r.cursors[viewer]
	if from.pos > pos {
		from = position{}
	}
	if from.pos == pos {
		return from.seq, true
	}
	n := from.pos
	for i := from.seq; i < uint64(len(r.events)); i++ {
		if r.events[i].Vis.VisibleTo(viewer) {
			if n++; n == pos {
				r.remember(viewer, position{seq: i + 1, pos: n})
				return i + 1, true
			}
		}
	}
	return n, false
}

func (r *room) remember(viewer Actor, p position) {
	if r.cursors == nil || len(r.cursors) >= maxCursors {
		r.cursors = map[Actor]position{}
	}
	r.cursors[viewer] = p
}

// NewService returns a Service over log using now as the server clock
// (time.Now when nil).
func NewService(log Log, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{log: log, now: now, rooms: map[string]*room{}, lru: list.New(), maxRooms: DefaultMaxCachedRooms,
		timers: map[string]timer{}, heads: map[string]uint64{}}
}

// SetMaxCachedRooms bounds the rooms kept folded in memory (n ≤ 0: no
// bound); call it before the Service is used.
func (s *Service) SetMaxCachedRooms(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxRooms = n
	s.evictLocked()
}

// CachedRooms is how many rooms are folded in memory now.
func (s *Service) CachedRooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// OnChange registers fn to be called with a room's id after this Service
// folds new events of it (its own appends, or others' it read). It must
// not block; package push uses it to look only where something happened.
func (s *Service) OnChange(fn func(room string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed = append(s.changed, fn)
}

// Now returns the server's time, as commands see it.
func (s *Service) Now() time.Time { return s.now().UTC() }

func (s *Service) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[id]
	if r == nil {
		r = &room{state: unborn{room: id}}
		s.rooms[id] = r
		r.elem = s.lru.PushFront(id)
		s.evictLocked()
	} else {
		s.lru.MoveToFront(r.elem)
	}
	return r
}

// evictLocked drops the least recently used rooms beyond the bound. A
// goroutine still holding one finishes on it; the next use folds the room
// again from the log (the conditional append keeps two copies honest).
func (s *Service) evictLocked() {
	for s.maxRooms > 0 && s.lru.Len() > s.maxRooms {
		back := s.lru.Back()
		s.lru.Remove(back)
		delete(s.rooms, back.Value.(string))
	}
}

// apply folds events into room id's cached state and, once r.mu is
// released, records in the timer index what the fold left.
func (s *Service) apply(id string, r *room, events []Event) error {
	r.mu.Lock()
	err := r.applyLocked(events)
	seq, _ := r.state.Head()
	at, cmdType, ok := r.state.NextTimer()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	s.folded(id, seq, at, cmdType, ok)
	return nil
}

// folded records what a fold of room id left: its head and next timer,
// for the scheduler's index, and tells the OnChange callbacks. Called
// without r.mu held.
func (s *Service) folded(id string, seq uint64, at time.Time, cmdType string, ok bool) {
	s.mu.Lock()
	s.heads[id] = seq
	if ok {
		s.timers[id] = timer{at: at, cmdType: cmdType}
	} else {
		delete(s.timers, id)
	}
	fns := s.changed
	s.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

// DueTimers returns the rooms whose indexed timer is due at now, and the
// earliest timer still pending (zero if none). The index holds what this
// Service's folds left; RescanTimers adds what other writers did.
func (s *Service) DueTimers(now time.Time) (due []string, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.timers {
		if !now.Before(t.at) {
			due = append(due, id)
		} else if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	return due, next
}

// HasEventsAfter reports whether the log has events of the room beyond
// seq: one small read, no fold.
func (s *Service) HasEventsAfter(ctx context.Context, roomID string, seq uint64) (bool, error) {
	more, err := s.log.Read(ctx, roomID, seq, 1)
	if err != nil {
		return false, fmt.Errorf("read room %s: %w", roomID, err)
	}
	return len(more) > 0, nil
}

// RescanTimers brings the timer index up to date with the log: a room
// not indexed yet is folded, one indexed is folded again only if the log
// has events beyond the head it was indexed at (one small read). Rooms
// another server wrote are found this way.
func (s *Service) RescanTimers(ctx context.Context) error {
	ids, err := s.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		head, known := s.heads[id]
		s.mu.Unlock()
		if known {
			more, err := s.HasEventsAfter(ctx, id, head)
			if err != nil {
				return err
			}
			if !more {
				continue
			}
		}
		if _, _, _, err := s.NextTimer(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// current returns the room caught up with the log, with r.mu held; the
// caller unlocks it.
func (s *Service) current(ctx context.Context, roomID string) (*room, error) {
	r := s.room(roomID)
	if err := s.catchUp(ctx, roomID, r); err != nil {
		return nil, err
	}
	r.mu.Lock()
	return r, nil
}

// catchUp folds every event the log has beyond the cached state.
func (s *Service) catchUp(ctx context.Context, id string, r *room) error {
	for {
		r.mu.Lock()
		seq, hash := r.state.Head()
		r.mu.Unlock()
		events, err := s.log.Read(ctx, id, seq, readPage)
		if err != nil {
			return fmt.Errorf("read room %s: %w", id, err)
		}
		if len(events) == 0 {
			return nil
		}
		if err := VerifyChain(seq, hash, events); err != nil {
			return fmt.Errorf("room %s log: %w", id, err)
		}
		if err := s.apply(id, r, events); err != nil {
			return err
		}
		if len(events) < readPage {
			return nil
		}
	}
}

// head is the seq of the last event folded into the cached state.
func (r *room) head() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, _ := r.state.Head()
	return seq
}

// applyLocked folds events that continue the state; ones it already has
// (another goroutine caught up first) are skipped.
func (r *room) applyLocked(events []Event) error {
	for _, e := range events {
		if seq, _ := r.state.Head(); e.Seq <= seq {
			continue
		}
		next, err := fold(r.state, e)
		if err != nil {
			return err
		}
		r.state = next
		r.events = append(r.events, e)
		if e.CommandID != "" {
			if r.cmds == nil {
				r.cmds = map[string]Result{}
			}
			k := commandKey(e.Actor, e.CommandID)
			res, ok := r.cmds[k]
			if !ok {
				res = Result{First: e.Seq, Duplicate: true}
			}
			res.Last = e.Seq
			r.cmds[k] = res
		}
	}
	return nil
}

func commandKey(actor Actor, id string) string {
	return string(actor.Role) + ":" + actor.Sub + "/" + id
}

// Execute validates cmd against the room's current state and appends the
// events it yields. A command id seen before from the same actor returns
// the original result without applying it again. Refusals are *Refusal.
func (s *Service) Execute(ctx context.Context, roomID string, actor Actor, cmd Command) (Result, error) {
	if cmd.ID == "" || len(cmd.ID) > MaxCommandIDBytes {
		return Result{}, refuse(CodeInvalid, "command id must be 1-%d bytes", MaxCommandIDBytes)
	}
	if !ValidID(roomID) {
		return Result{}, refuse(CodeInvalid, "room id must be 1-64 letters, digits, '.', '_' or '-'")
	}
	key := commandKey(actor, cmd.ID)
	r := s.room(roomID)
	// The fast path, before the room's lane: a command the cached events
	// came from is answered as before; one the cached state is sure to
	// refuse is refused (under load, most of an auction's bids are late).
	r.mu.Lock()
	res, seen := r.cmds[key]
	var early error
	if p, ok := r.state.(Prechecker); ok && !seen {
		early = p.Precheck(actor, cmd)
	}
	r.mu.Unlock()
	if seen {
		return res, nil
	}
	if early != nil {
		return Result{}, early
	}
	r.cmdMu.Lock()
	defer r.cmdMu.Unlock()
	// The command is decided on the cached state first, without reading
	// the log (optimistically: the append is conditional on the cached
	// head, so a stale cache costs a conflict and a retry, never a wrong
	// event). A refusal, which appends nothing to check it, stands only
	// once decided on the log's latest state; a room never loaded here
	// is read first.
	caughtUp := false // the cache was brought to the log's head for this decision
	for attempt := range maxConflictRetries {
		if !caughtUp && (attempt > 0 || r.head() == 0) {
			if err := s.catchUp(ctx, roomID, r); err != nil {
				return Result{}, err
			}
			caughtUp = true
		}
		now := s.Now()
		r.mu.Lock()
		// A command the log knows appended events, which a catch-up has
		// folded: the cached map answers without another read.
		if res, ok := r.cmds[key]; ok {
			r.mu.Unlock()
			return res, nil
		}
		drafts, err := r.state.Decide(actor, cmd, now)
		expected, prev := r.state.Head()
		var last time.Time
		if n := len(r.events); n > 0 {
			last = r.events[n-1].Time
		}
		r.mu.Unlock()
		if err != nil || len(drafts) == 0 {
			if caughtUp {
				return Result{}, err
			}
			if err := s.catchUp(ctx, roomID, r); err != nil {
				return Result{}, err
			}
			caughtUp = true
			if r.head() != expected {
				continue // the log had moved on: decide again on it
			}
			return Result{}, err
		}
		events, err := seal(roomID, actor, cmd.ID, expected, prev, laterOf(now, last), drafts)
		if err != nil {
			return Result{}, err
		}
		err = s.log.Append(ctx, roomID, expected, key, events)
		switch {
		case errors.Is(err, ErrConflict):
			// Another instance appended first; back off a little, with
			// jitter, so contending instances do not keep colliding, then
			// catch up and decide again.
			caughtUp = false
			backoff := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(attempt+1)))
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(backoff):
			}
			continue
		case errors.Is(err, ErrDuplicateCommand):
			res, _, err := s.previous(ctx, roomID, key)
			return res, err
		case err != nil:
			return Result{}, fmt.Errorf("append to room %s: %w", roomID, err)
		}
		if err := s.apply(roomID, r, events); err != nil {
			return Result{}, err
		}
		return Result{First: events[0].Seq, Last: events[len(events)-1].Seq}, nil
	}
	return Result{}, refuse(CodeConflict, "room %s is changing too fast; try again", roomID)
}

func (s *Service) previous(ctx context.Context, roomID, key string) (Result, bool, error) {
	first, last, ok, err := s.log.Command(ctx, roomID, key)
	if err != nil {
		return Result{}, false, fmt.Errorf("look up command in room %s: %w", roomID, err)
	}
	return Result{First: first, Last: last, Duplicate: true}, ok, nil
}

// laterOf keeps event times non-decreasing within a room even if the
// server clock steps back.
func laterOf(now, last time.Time) time.Time {
	if now.Before(last) {
		return last
	}
	return now
}

func seal(roomID string, actor Actor, cmdID string, expected uint64, prev string, at time.Time, drafts []Draft) ([]Event, error) {
	at = at.UTC().Truncate(time.Microsecond)
	events := make([]Event, len(drafts))
	for i, d := range drafts {
		data, err := json.Marshal(d.Data)
		if err != nil {
			return nil, fmt.Errorf("encode %s event: %w", d.Type, err)
		}
		events[i] = Event{
			Room: roomID, Seq: expected + uint64(i) + 1, Time: at, Actor: actor,
			Type: d.Type, CommandID: cmdID, Vis: d.Vis, Data: data,
		}
		events[i].Seal(prev)
		prev = events[i].Hash
	}
	return events, nil
}

// Snapshot returns viewer's projection of the room at its latest sequence.
func (s *Service) Snapshot(ctx context.Context, roomID string, viewer Actor) (Snapshot, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return Snapshot{}, err
	}
	defer r.mu.Unlock()
	if err := r.admits(roomID, viewer); err != nil {
		return Snapshot{}, err
	}
	seq, _ := r.state.Head()
	return Snapshot{Seq: seq, Pos: r.positionAt(viewer, seq), Kind: r.state.Kind(), View: r.state.View(viewer)}, nil
}

// admits refuses a room that does not exist or a viewer it does not
// admit. Called with r.mu held.
func (r *room) admits(roomID string, viewer Actor) error {
	if !r.state.Created() {
		return refuse(CodeNotFound, "session %s does not exist", roomID)
	}
	return r.state.Admits(viewer)
}

// Summary is the room's row in the admin's list of rooms.
func (s *Service) Summary(ctx context.Context, roomID string) (Summary, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return Summary{}, err
	}
	defer r.mu.Unlock()
	if !r.state.Created() {
		return Summary{}, refuse(CodeNotFound, "session %s does not exist", roomID)
	}
	return r.state.Summary(), nil
}

// Admit checks that viewer may enter the room at all: it exists (a
// not_found refusal if not) and a bidder is registered in it (forbidden).
// Every way into a room (REST, websocket, media) asks it first.
func (s *Service) Admit(ctx context.Context, roomID string, viewer Actor) error {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return r.admits(roomID, viewer)
}

// AdmitMedia checks that viewer may publish to or watch the room's media:
// Admit, narrowed by a kind that keeps some of its admitted roles out of
// its call (the evaluation: the admin who runs the draw hears nothing).
func (s *Service) AdmitMedia(ctx context.Context, roomID string, viewer Actor) error {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if err := r.admits(roomID, viewer); err != nil {
		return err
	}
	if m, ok := r.state.(interface{ MediaAdmits(Actor) error }); ok {
		return m.MediaAdmits(viewer)
	}
	return nil
}

// SeesAll reports whether viewer may see every event of the room so far:
// who may read a room's whole log when its kind has no rule of its own.
func (s *Service) SeesAll(ctx context.Context, roomID string, viewer Actor) (bool, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return false, err
	}
	defer r.mu.Unlock()
	for i := range r.events {
		if !r.events[i].Vis.VisibleTo(viewer) {
			return false, nil
		}
	}
	return true, nil
}

// EventsAfter returns the room's events with seq > after, catching up
// with the log first. The slice must not be modified.
func (s *Service) EventsAfter(ctx context.Context, roomID string, after uint64) ([]Event, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	return r.eventsAfter(after), nil
}

// EventsThrough is EventsAfter for a caller that knows the log has
// reached at least seq known (a watch said so): when the cache already
// holds known, it answers from the cache without reading the log. The
// instance that appended an event has it cached, so its broadcast reads
// nothing.
func (s *Service) EventsThrough(ctx context.Context, roomID string, after, known uint64) ([]Event, error) {
	r := s.room(roomID)
	r.mu.Lock()
	if seq, _ := r.state.Head(); known > 0 && seq >= known {
		defer r.mu.Unlock()
		return r.eventsAfter(after), nil
	}
	r.mu.Unlock()
	return s.EventsAfter(ctx, roomID, after)
}

// SeqAtPos maps a viewer's stream position back to the room sequence of
// the pos-th event the viewer can see (0 for 0). It fails with
// ErrResumeAhead if the viewer's stream is shorter than pos.
func (s *Service) SeqAtPos(ctx context.Context, roomID string, viewer Actor, pos uint64) (uint64, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return 0, err
	}
	defer r.mu.Unlock()
	seq, ok := r.seqAtPos(viewer, pos) // pos 0 is seq 0
	if !ok {
		return 0, fmt.Errorf("%w: position %d, the stream has %d", ErrResumeAhead, pos, seq)
	}
	return seq, nil
}

// Exists reports whether a session was created in the room.
func (s *Service) Exists(ctx context.Context, roomID string) (bool, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return false, err
	}
	defer r.mu.Unlock()
	return r.state.Created(), nil
}

// Rooms lists every room in the log.
func (s *Service) Rooms(ctx context.Context) ([]string, error) {
	ids, err := s.log.Rooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	return ids, nil
}

// NextTimer returns the room's next time-driven command after catching up.
func (s *Service) NextTimer(ctx context.Context, roomID string) (at time.Time, cmdType string, ok bool, err error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return time.Time{}, "", false, err
	}
	defer r.mu.Unlock()
	at, cmdType, ok = r.state.NextTimer()
	return at, cmdType, ok, nil
}

// Watch passes through to the log: a channel of the room's last seq.
func (s *Service) Watch(ctx context.Context, roomID string) (<-chan uint64, error) {
	return s.log.Watch(ctx, roomID)
}

// CachedAfter returns the cached events with seq > after without reading
// the log; callers that saw seq N through this Service have every event up
// to N. The slice must not be modified.
func (s *Service) CachedAfter(roomID string, after uint64) []Event {
	r := s.room(roomID)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eventsAfter(after)
}

// eventsAfter returns the events with seq > after (the cache holds seqs
// 1..n at indexes 0..n-1), capped so appends never write into it. Called
// with r.mu held.
func (r *room) eventsAfter(after uint64) []Event {
	if after >= uint64(len(r.events)) {
		return nil
	}
	return r.events[after:len(r.events):len(r.events)]
}

// Head returns the last cached seq of a room.
func (s *Service) Head(roomID string) uint64 { return s.room(roomID).head() }
