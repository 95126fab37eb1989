package rooms

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// The outbox (信息公开推送) is a room kind of its own: its log is the
// durable state of what the server pushes out of itself — platform-signed
// JSON documents for the provincial platform (the opening record's
// summary, the candidates' publicity, the results) and the read-out's
// price alerts for supervisors (R12) — and of every delivery attempt. The
// server alone writes it (package push decides, sends and records); admins
// and supervisors read it. A restart resumes from the log: a target is
// done once delivered or abandoned, and pending until then.

// KindOutbox is the outbox room kind.
const KindOutbox = "outbox"

// OutboxRoom is the id of the outbox room the server uses.
const OutboxRoom = "outbox"

// Commands of the outbox; every one is the server's own.
const (
	CmdCreateOutbox  = "create_outbox"
	CmdQueueDocument = "queue_document"  // a signed document and where it goes
	CmdRecordAttempt = "record_delivery" // one delivery attempt's outcome
	CmdRecordScan    = "record_scan"     // how far the server has read other rooms
)

// Events of the outbox.
const (
	EvOutboxCreated     = "outbox_created"
	EvDocumentQueued    = "document_queued"
	EvDeliveryAttempted = "delivery_attempted"
	EvDelivered         = "delivered"
	EvDeliveryAbandoned = "delivery_abandoned"
	EvOutboxScanned     = "outbox_scanned"
)

// The kinds of document.
const (
	DocOpeningRecord = "opening_record" // the opening record's summary (R14)
	DocPublicity     = "publicity"      // the candidates' publicity (R23)
	DocResults       = "results"        // the award and result notices (R24)
	DocAlert         = "alert"          // a read-out price alert for supervisors (R12)
)

// PushVersion names the pushed document format; PushMessage the text the
// platform signs.
const PushVersion = "bidroom-push-v1"

// Bounds of the outbox.
const (
	MaxDocumentBytes      = 64 << 10 // a document's JSON; the event escapes it once more and stays under MaxEventBytes
	maxOutboxTargets      = 32
	maxTargetBytes        = 512
	maxAttemptErrorBytes  = 1000
	maxScanRooms          = 1000 // cursors per record_scan
	attemptsKeptPerTarget = 10   // the latest attempts a view shows; the log has all
	maxOutboxViewItems    = 200
)

// PushMessage is what the platform signs for a pushed document: a version
// line, then the document's exact JSON.
func PushMessage(docJSON string) []byte {
	return []byte("bidroom-push-platform-v1\n" + docJSON)
}

// OutboxDocumentID is the id of the document of kind made of the event
// seq of room (part tells apart several documents of one event, e.g. one
// alert per bidder): the same on every instance and after a restart, so
// queueing it twice is a duplicate.
func OutboxDocumentID(room string, seq uint64, kind, part string) string {
	sum := sm3.Sm3Sum([]byte(room + "\n" + strconv.FormatUint(seq, 10) + "\n" + kind + "\n" + part))
	return kind + "-" + hex.EncodeToString(sum[:16])
}

// OutboxDocument is the data of queue_document and document_queued: the
// document's exact JSON, its SM3 digest, the platform's SM2 signature over
// PushMessage of it, and the targets it goes to (endpoint URLs, or an
// alert channel and recipient such as "sms:13800000000").
type OutboxDocument struct {
	ID         string   `json:"id"`
	SourceRoom string   `json:"source_room"`
	SourceSeq  uint64   `json:"source_seq"`
	Kind       string   `json:"kind"`
	JSON       string   `json:"json"`
	Digest     string   `json:"digest"`    // SM3 of JSON, hex
	Signature  string   `json:"signature"` // SM2, base64 DER
	KeyID      string   `json:"key_id"`    // the platform key, hex
	Targets    []string `json:"targets"`
}

// DeliveryAttempt is the data of record_delivery and delivery_attempted:
// one try at one target. A failed try names when the next one is due, or
// is Final (the server gives up: delivery_abandoned follows).
type DeliveryAttempt struct {
	ID     string    `json:"id"`
	Target string    `json:"target"`
	At     time.Time `json:"at"`
	OK     bool      `json:"ok"`
	Status int       `json:"status,omitempty"` // the HTTP status, where there was one
	Error  string    `json:"error,omitempty"`
	NextAt time.Time `json:"next_at,omitzero"`
	Final  bool      `json:"final,omitempty"`
}

// DeliveryDone is the data of delivered and delivery_abandoned.
type DeliveryDone struct {
	ID       string    `json:"id"`
	Target   string    `json:"target"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"` // abandoned: the last error
}

// OutboxScan is the data of record_scan and outbox_scanned: the last seq
// of each room the server has looked through for documents.
type OutboxScan struct {
	Cursors map[string]uint64 `json:"cursors"`
}

// TargetState is where one document stands with one target.
type TargetState struct {
	Target      string            `json:"target"`
	Attempts    int               `json:"attempts"`
	NextAt      time.Time         `json:"next_at,omitzero"` // pending: when the next try is due
	DeliveredAt time.Time         `json:"delivered_at,omitzero"`
	Abandoned   bool              `json:"abandoned,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	Latest      []DeliveryAttempt `json:"latest,omitempty"` // the last attempts, oldest first
}

// Done reports whether the target needs no more tries.
func (t *TargetState) Done() bool { return !t.DeliveredAt.IsZero() || t.Abandoned }

// OutboxItem is one queued document with its deliveries. JSON is dropped
// from the state once every target is done (the log keeps it).
type OutboxItem struct {
	OutboxDocument
	QueuedAt time.Time      `json:"queued_at"`
	Size     int            `json:"size"`
	States   []*TargetState `json:"states"` // in the order of Targets
}

func (it *OutboxItem) target(t string) *TargetState {
	for _, s := range it.States {
		if s.Target == t {
			return s
		}
	}
	return nil
}

func (it *OutboxItem) done() bool {
	for _, s := range it.States {
		if !s.Done() {
			return false
		}
	}
	return true
}

// Outbox is the state of the outbox room.
type Outbox struct {
	Room      string
	Seq       uint64
	Hash      string
	CreatedAt time.Time
	Items     map[string]*OutboxItem
	Order     []string          // document ids in the order queued
	Cursors   map[string]uint64 // room → last seq scanned
	created   bool
}

// NewOutbox returns the empty state of an outbox room.
func NewOutbox(room string) *Outbox {
	return &Outbox{Room: room, Items: map[string]*OutboxItem{}, Cursors: map[string]uint64{}}
}

// outboxVis: the outbox is seen by admins and supervisors only.
func outboxVis() Visibility { return Visibility{Roles: []Role{RoleAdmin, RoleSupervisor}} }

// Kind is "outbox".
func (o *Outbox) Kind() string { return KindOutbox }

// Head is the seq and hash of the last event folded.
func (o *Outbox) Head() (uint64, string) { return o.Seq, o.Hash }

// Created reports whether the outbox was created.
func (o *Outbox) Created() bool { return o.created }

// NextTimer: the outbox has no timers; the server's dispatcher retries.
func (o *Outbox) NextTimer() (time.Time, string, bool) { return time.Time{}, "", false }

// Admits lets in admins and supervisors (and the server) only.
func (o *Outbox) Admits(viewer Actor) error {
	switch viewer.Role {
	case RoleAdmin, RoleSupervisor, RoleSystem:
		return nil
	}
	return refuse(CodeForbidden, "the outbox is open to admins and supervisors only, not to a %s", viewer.Role)
}

// OutboxCounts counts documents and deliveries (one per document and target).
type OutboxCounts struct {
	Documents int `json:"documents"`
	Pending   int `json:"pending"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"` // abandoned after the last attempt
}

// Counts counts the outbox's documents and deliveries.
func (o *Outbox) Counts() OutboxCounts {
	c := OutboxCounts{Documents: len(o.Order)}
	for _, id := range o.Order {
		for _, s := range o.Items[id].States {
			switch {
			case !s.DeliveredAt.IsZero():
				c.Delivered++
			case s.Abandoned:
				c.Failed++
			default:
				c.Pending++
			}
		}
	}
	return c
}

// Summary is the outbox's row in the admin's list.
func (o *Outbox) Summary() Summary {
	c := o.Counts()
	return Summary{Kind: KindOutbox, Title: "信息推送", Phase: fmt.Sprintf("%d pending, %d delivered, %d failed", c.Pending, c.Delivered, c.Failed)}
}

// OutboxView is the outbox as an admin or supervisor sees it: the counts
// and the latest documents (newest first) without their JSON.
type OutboxView struct {
	Room   string       `json:"room"`
	Counts OutboxCounts `json:"counts"`
	Items  []OutboxItem `json:"items"`
}

// View is the latest documents, newest first.
func (o *Outbox) View(Actor) any { return o.Latest(maxOutboxViewItems) }

// Latest returns the view with at most n documents, newest first.
func (o *Outbox) Latest(n int) OutboxView {
	v := OutboxView{Room: o.Room, Counts: o.Counts(), Items: []OutboxItem{}}
	for i := len(o.Order) - 1; i >= 0 && len(v.Items) < n; i-- {
		it := *o.Items[o.Order[i]]
		it.JSON = ""
		states := make([]*TargetState, len(it.States))
		for j, s := range it.States {
			c := *s
			c.Latest = slices.Clone(s.Latest)
			states[j] = &c
		}
		it.States = states
		v.Items = append(v.Items, it)
	}
	return v
}

// DueDelivery is one delivery the server should try now.
type DueDelivery struct {
	Doc      OutboxDocument
	Target   string
	Attempts int // tries so far
}

// Due lists up to limit deliveries due at now, oldest document first, and
// the earliest later time one falls due (zero when none waits).
func (o *Outbox) Due(now time.Time, limit int) ([]DueDelivery, time.Time) {
	var due []DueDelivery
	var next time.Time
	for _, id := range o.Order {
		it := o.Items[id]
		for _, s := range it.States {
			if s.Done() {
				continue
			}
			if s.NextAt.After(now) {
				if next.IsZero() || s.NextAt.Before(next) {
					next = s.NextAt
				}
				continue
			}
			if len(due) < limit {
				due = append(due, DueDelivery{Doc: it.OutboxDocument, Target: s.Target, Attempts: s.Attempts})
			} else if next.IsZero() || now.Before(next) {
				next = now
			}
		}
	}
	return due, next
}

// Apply folds one event.
func (o *Outbox) Apply(e Event) error {
	return applyNext(&o.Seq, &o.Hash, e, o.apply)
}

func (o *Outbox) apply(e Event) error {
	switch e.Type {
	case EvOutboxCreated:
		o.created, o.CreatedAt = true, e.Time
	case EvDocumentQueued:
		var d OutboxDocument
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		it := &OutboxItem{OutboxDocument: d, QueuedAt: e.Time, Size: len(d.JSON)}
		for _, t := range d.Targets {
			it.States = append(it.States, &TargetState{Target: t})
		}
		o.Items[d.ID] = it
		o.Order = append(o.Order, d.ID)
		if d.SourceSeq > o.Cursors[d.SourceRoom] {
			o.Cursors[d.SourceRoom] = d.SourceSeq
		}
	case EvDeliveryAttempted:
		var a DeliveryAttempt
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return err
		}
		if it := o.Items[a.ID]; it != nil {
			if s := it.target(a.Target); s != nil {
				s.Attempts++
				s.NextAt, s.LastError = a.NextAt, a.Error
				if s.Latest = append(s.Latest, a); len(s.Latest) > attemptsKeptPerTarget {
					s.Latest = slices.Delete(s.Latest, 0, len(s.Latest)-attemptsKeptPerTarget)
				}
			}
		}
	case EvDelivered, EvDeliveryAbandoned:
		var d DeliveryDone
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if it := o.Items[d.ID]; it != nil {
			if s := it.target(d.Target); s != nil {
				s.NextAt = time.Time{}
				if e.Type == EvDelivered {
					s.DeliveredAt, s.LastError = d.At, ""
				} else {
					s.Abandoned = true
				}
			}
			if it.done() {
				it.JSON = "" // kept in the log; the state needs it only to send
			}
		}
	case EvOutboxScanned:
		var s OutboxScan
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return err
		}
		for room, seq := range s.Cursors {
			if seq > o.Cursors[room] {
				o.Cursors[room] = seq
			}
		}
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

// Decide validates an outbox command; only the server sends them.
func (o *Outbox) Decide(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "write to the outbox", RoleSystem); err != nil {
		return nil, err
	}
	if cmd.Type == CmdCreateOutbox {
		if o.created {
			return nil, refuse(CodeWrongState, "outbox %s already exists", o.Room)
		}
		if err := decodeData(cmd.Data, &struct{}{}); err != nil {
			return nil, err
		}
		return []Draft{{Type: EvOutboxCreated, Vis: outboxVis(), Data: struct{}{}}}, nil
	}
	if !o.created {
		return nil, refuse(CodeNotFound, "outbox %s does not exist", o.Room)
	}
	switch cmd.Type {
	case CmdQueueDocument:
		return o.queue(cmd)
	case CmdRecordAttempt:
		return o.recordAttempt(cmd)
	case CmdRecordScan:
		var s OutboxScan
		if err := decodeData(cmd.Data, &s); err != nil {
			return nil, err
		}
		if len(s.Cursors) == 0 || len(s.Cursors) > maxScanRooms {
			return nil, refuse(CodeInvalid, "record 1-%d rooms' cursors per command, got %d", maxScanRooms, len(s.Cursors))
		}
		for room := range s.Cursors {
			if !ValidID(room) {
				return nil, refuse(CodeInvalid, "cursor of %.40q: not a room id", room)
			}
		}
		return []Draft{{Type: EvOutboxScanned, Vis: outboxVis(), Data: s}}, nil
	}
	return nil, refuse(CodeUnknownCommand, "unknown command %q for the outbox", cmd.Type)
}

func (o *Outbox) queue(cmd Command) ([]Draft, error) {
	var d OutboxDocument
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	switch d.Kind {
	case DocOpeningRecord, DocPublicity, DocResults, DocAlert:
	default:
		return nil, refuse(CodeInvalid, "kind must be opening_record, publicity, results or alert, got %.40q", d.Kind)
	}
	if !ValidID(d.ID) || !ValidID(d.SourceRoom) || d.SourceSeq == 0 {
		return nil, refuse(CodeInvalid, "a document needs its id, source room and source seq")
	}
	if it := o.Items[d.ID]; it != nil {
		return nil, refuse(CodeWrongState, "document %s was queued at %s", d.ID, it.QueuedAt.Format(time.RFC3339))
	}
	if len(d.JSON) == 0 || len(d.JSON) > MaxDocumentBytes || !json.Valid([]byte(d.JSON)) {
		return nil, refuse(CodeInvalid, "a document is 1-%d bytes of JSON, got %d bytes", MaxDocumentBytes, len(d.JSON))
	}
	if sum := sm3.Sm3Sum([]byte(d.JSON)); d.Digest != hex.EncodeToString(sum) {
		return nil, refuse(CodeInvalid, "digest is not the SM3 of the document's JSON")
	}
	if sig, err := base64.StdEncoding.DecodeString(d.Signature); err != nil || len(sig) == 0 || len(sig) > 128 || !hexDigest.MatchString(d.KeyID) {
		return nil, refuse(CodeInvalid, "a document needs the platform's signature (base64 DER) and key id")
	}
	if len(d.Targets) == 0 || len(d.Targets) > maxOutboxTargets {
		return nil, refuse(CodeInvalid, "a document goes to 1-%d targets, got %d", maxOutboxTargets, len(d.Targets))
	}
	seen := map[string]bool{}
	for _, t := range d.Targets {
		if t == "" || len(t) > maxTargetBytes || seen[t] {
			return nil, refuse(CodeInvalid, "targets must be distinct and 1-%d bytes", maxTargetBytes)
		}
		seen[t] = true
	}
	return []Draft{{Type: EvDocumentQueued, Vis: outboxVis(), Data: d}}, nil
}

func (o *Outbox) recordAttempt(cmd Command) ([]Draft, error) {
	var a DeliveryAttempt
	if err := decodeData(cmd.Data, &a); err != nil {
		return nil, err
	}
	it := o.Items[a.ID]
	if it == nil {
		return nil, refuse(CodeNotFound, "no document %.80q in the outbox", a.ID)
	}
	s := it.target(a.Target)
	if s == nil {
		return nil, refuse(CodeNotFound, "document %s does not go to that target", a.ID)
	}
	if s.Done() {
		return nil, refuse(CodeWrongState, "document %s is done with that target", a.ID)
	}
	if a.At.IsZero() || len(a.Error) > maxAttemptErrorBytes || a.Status < 0 || a.Status > 999 {
		return nil, refuse(CodeInvalid, "an attempt needs its time, a status 0-999 and an error of at most %d bytes", maxAttemptErrorBytes)
	}
	if a.OK {
		a.Error, a.NextAt, a.Final = "", time.Time{}, false
	} else if a.Error == "" || (!a.Final && a.NextAt.IsZero()) {
		return nil, refuse(CodeInvalid, "a failed attempt needs its error and, unless final, the next try's time")
	}
	if a.Final {
		a.NextAt = time.Time{}
	}
	a.At = a.At.UTC()
	drafts := []Draft{{Type: EvDeliveryAttempted, Vis: outboxVis(), Data: a}}
	done := DeliveryDone{ID: a.ID, Target: a.Target, At: a.At, Attempts: s.Attempts + 1}
	switch {
	case a.OK:
		drafts = append(drafts, Draft{Type: EvDelivered, Vis: outboxVis(), Data: done})
	case a.Final:
		done.Error = a.Error
		drafts = append(drafts, Draft{Type: EvDeliveryAbandoned, Vis: outboxVis(), Data: done})
	}
	return drafts, nil
}

// outbox returns the room caught up with the log and its state as an
// outbox, r.mu held (the caller unlocks it); a room of another kind is a
// not_found refusal, and so is a missing outbox.
func (s *Service) outbox(ctx context.Context, room string) (*room, *Outbox, error) {
	r, err := s.current(ctx, room)
	if err != nil {
		return nil, nil, err
	}
	o, ok := r.state.(*Outbox)
	if !ok {
		r.mu.Unlock()
		return nil, nil, refuse(CodeNotFound, "room %s is not an outbox", room)
	}
	return r, o, nil
}

// OutboxDue lists up to limit deliveries of the outbox room due at now,
// and when the next later one falls due.
func (s *Service) OutboxDue(ctx context.Context, room string, now time.Time, limit int) ([]DueDelivery, time.Time, error) {
	r, o, err := s.outbox(ctx, room)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer r.mu.Unlock()
	due, next := o.Due(now, limit)
	return due, next, nil
}

// OutboxCursors returns how far the outbox room's server has scanned each
// room, and when the outbox was created (what happened before is not pushed).
func (s *Service) OutboxCursors(ctx context.Context, room string) (map[string]uint64, time.Time, error) {
	r, o, err := s.outbox(ctx, room)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer r.mu.Unlock()
	c := make(map[string]uint64, len(o.Cursors))
	for k, v := range o.Cursors {
		c[k] = v
	}
	return c, o.CreatedAt, nil
}

// OutboxLatest returns the outbox room's counts and its latest n documents
// (newest first) with their deliveries, for viewer.
func (s *Service) OutboxLatest(ctx context.Context, room string, viewer Actor, n int) (OutboxView, error) {
	r, o, err := s.outbox(ctx, room)
	if err != nil {
		return OutboxView{}, err
	}
	defer r.mu.Unlock()
	if err := r.admits(room, viewer); err != nil {
		return OutboxView{}, err
	}
	return o.Latest(n), nil
}
