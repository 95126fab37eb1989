package rooms

import (
	"context"
	"fmt"
	"time"
)

// State is one room kind's state machine: the fold of a room's events and
// the rules for its commands. The shared machinery (Service: the log, the
// conditional append, idempotent commands, positions, snapshots, timers)
// works on any State; each kind lives in its own files (opening*.go,
// evaluation*.go) and is registered in kinds.
type State interface {
	// Kind names the room kind ("opening", "evaluation", ...).
	Kind() string
	// Head is the seq and hash of the last event folded.
	Head() (seq uint64, hash string)
	// Created reports whether the room's creating event has been folded.
	Created() bool
	// Decide validates cmd from actor at time now and returns the events
	// it yields, or a *Refusal. It never changes the state.
	Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error)
	// Apply folds one event; events must come in sequence.
	Apply(e Event) error
	// Admits refuses (as a *Refusal) a viewer who may not enter the room
	// at all; every way into a room (REST, websocket, media) asks it.
	Admits(viewer Actor) error
	// View is viewer's projection of the state, the payload of snapshots.
	View(viewer Actor) any
	// Summary is the room's row in a list of rooms (staff).
	Summary() Summary
	// NextTimer is the next time-driven command the room is waiting for.
	NextTimer() (at time.Time, cmdType string, ok bool)
}

// Summary is one room as a list of rooms shows it to staff.
type Summary struct {
	Kind     string
	Title    string
	Category string
	Phase    string
	Deadline time.Time // the next date that matters, if any
	// Center is the trading center that owns the room (tenancy); "" is
	// the main center — every room made before centers existed, and the
	// shared expert pool.
	Center string
}

// SharedCenter is the center of a room every center uses (the expert
// pool): any center's admins and supervisors may enter it.
const SharedCenter = "*"

// CenterOf returns the center that owns room ("" the main center,
// SharedCenter for the pool); a room that does not exist is the main
// center's, so a token of another center learns nothing of it. A room's
// center is set when it is created and never changes, so a cached room
// answers without reading the log: every door asks this before Admit.
func (s *Service) CenterOf(ctx context.Context, room string) string {
	r := s.room(room)
	r.mu.Lock()
	created, sum := r.state.Created(), r.state.Summary()
	r.mu.Unlock()
	if created {
		return sum.Center
	}
	sum, err := s.Summary(ctx, room)
	if err != nil {
		return ""
	}
	return sum.Center
}

// checkCenter checks a room's center: empty (the main center) or an id.
// Whether the center is configured is the server's to check.
func checkCenter(c string) error {
	if c != "" && !ValidID(c) {
		return refuse(CodeInvalid, "center must be a center id (1-64 letters, digits, '.', '_' or '-'), got %.40q", c)
	}
	return nil
}

// Kind describes one room kind: how a room of it is created.
type Kind struct {
	Name          string                  // "opening"
	CreateCommand string                  // the command that creates a room of this kind
	CreateEvent   string                  // the first event of every room of this kind
	New           func(room string) State // the empty state
	// HiddenActors are event types whose actor only staff see: other
	// viewers receive them with the actor's subject left out (PublicActor).
	HiddenActors []string
}

// kinds are the room kinds, in the order they were added. A new kind is a
// new entry here and its own files; nothing of the others changes. A test
// checks that no two share a name, a creating command or a first event.
var kinds = []Kind{
	{Name: KindOpening, CreateCommand: CmdCreateSession, CreateEvent: EvSessionCreated, New: func(room string) State { return NewOpening(room) }},
	{Name: KindPool, CreateCommand: CmdCreatePool, CreateEvent: EvPoolCreated, New: func(room string) State { return NewPool(room) }},
	{Name: KindEvaluation, CreateCommand: CmdCreateEvaluation, CreateEvent: EvEvaluationCreated, New: func(room string) State { return NewEvaluation(room) }},
	{Name: KindAuction, CreateCommand: CmdCreateAuction, CreateEvent: EvAuctionCreated, New: func(room string) State { return NewAuction(room) },
		HiddenActors: []string{EvBidPlaced}}, // bids are anonymous: a bidder is known by number only
	{Name: KindOutbox, CreateCommand: CmdCreateOutbox, CreateEvent: EvOutboxCreated, New: func(room string) State { return NewOutbox(room) }},
}

// hiddenActors are the HiddenActors of every kind.
var hiddenActors = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range kinds {
		for _, t := range k.HiddenActors {
			m[t] = true
		}
	}
	return m
}()

// PublicActor is an event's actor as viewers other than staff receive it:
// for the event types a kind hides the actor of, the role without the
// subject; for every other event, the actor.
func PublicActor(e *Event) Actor {
	if hiddenActors[e.Type] {
		return Actor{Role: e.Actor.Role}
	}
	return e.Actor
}

// Kinds lists the names of the registered room kinds.
func Kinds() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

// kindByCommand returns the kind a creating command makes.
func kindByCommand(cmdType string) (Kind, bool) {
	for _, k := range kinds {
		if k.CreateCommand == cmdType {
			return k, true
		}
	}
	return Kind{}, false
}

// kindByEvent returns the kind whose rooms start with the event type.
func kindByEvent(evType string) (Kind, bool) {
	for _, k := range kinds {
		if k.CreateEvent == evType {
			return k, true
		}
	}
	return Kind{}, false
}

// unborn is the state of a room with no events yet: it takes the kind of
// the first command that creates one, and of the first event folded.
type unborn struct{ room string }

func (u unborn) Kind() string                         { return "" }
func (u unborn) Head() (uint64, string)               { return 0, "" }
func (u unborn) Summary() Summary                     { return Summary{} }
func (u unborn) Created() bool                        { return false }
func (u unborn) View(Actor) any                       { return nil }
func (u unborn) NextTimer() (time.Time, string, bool) { return time.Time{}, "", false }
func (u unborn) Admits(Actor) error                   { return u.missing() }
func (u unborn) Apply(e Event) error {
	return fmt.Errorf("apply %s#%d: %q does not start a room", e.Room, e.Seq, e.Type)
}

func (u unborn) missing() error { return refuse(CodeNotFound, "session %s does not exist", u.room) }

func (u unborn) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	k, ok := kindByCommand(cmd.Type)
	if !ok {
		return nil, u.missing()
	}
	return k.New(u.room).Decide(actor, cmd, now)
}

// NewState returns the state of room after folding events, whatever its
// kind (offline tools: record, verify).
func NewState(room string, events []Event) (State, error) {
	var s State = unborn{room: room}
	for _, e := range events {
		var err error
		if s, err = fold(s, e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// fold applies e to s, giving an unborn room the kind its first event names.
func fold(s State, e Event) (State, error) {
	if _, isUnborn := s.(unborn); isUnborn {
		k, ok := kindByEvent(e.Type)
		if !ok {
			return s, s.Apply(e)
		}
		s = k.New(e.Room)
	}
	return s, s.Apply(e)
}

// applyNext folds e with apply into a state at seq and hash (a kind's
// Apply): e must be the next event, and the state's head moves to it only
// once apply succeeded.
func applyNext(seq *uint64, hash *string, e Event, apply func(Event) error) error {
	if e.Seq != *seq+1 {
		return fmt.Errorf("apply %s#%d: state is at seq %d", e.Room, e.Seq, *seq)
	}
	if err := apply(e); err != nil {
		return fmt.Errorf("apply %s#%d %s: %w", e.Room, e.Seq, e.Type, err)
	}
	*seq, *hash = e.Seq, e.Hash
	return nil
}
