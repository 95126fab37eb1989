package push

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// Config configures a Dispatcher.
type Config struct {
	Room        string        // the outbox room; default rooms.OutboxRoom
	Endpoints   []string      // where every document goes (the provincial platform)
	Token       string        // bearer token for the endpoints; "" for none
	MaxAttempts int           // tries per document and target; default 20
	Timeout     time.Duration // per request or mail; default 10s
	Alerts      AlertRules
	Notifiers   []Notifier    // the alert channels
	Recipients  []string      // the supervisors' numbers and addresses; each notifier picks its own
	Tick        time.Duration // longest sleep between rounds; default 1s
	BackoffBase time.Duration // wait after the first failed try, doubling; default 10s
	BackoffMax  time.Duration // longest wait between tries; default 1h
	ScanPersist time.Duration // least time between records of the scan cursors; default 1m
	FullScan    time.Duration // how often every room is looked through, not only those changed here; default 5m
}

// FromConfig is the Dispatcher's Config for the server's push settings,
// with the notifiers the alerts section configures.
func FromConfig(p configs.Push) Config {
	c := Config{Endpoints: p.Endpoints, Token: p.Token, MaxAttempts: p.MaxAttempts, Timeout: p.Timeout, Recipients: p.Alerts.Recipients,
		Alerts: AlertRules{OverControlPrice: p.Alerts.OverControlPrice, DeviationMin: p.Alerts.BudgetDeviationPctMin, DeviationMax: p.Alerts.BudgetDeviationPctMax}}
	a := p.Alerts
	if a.SMSURL != "" {
		c.Notifiers = append(c.Notifiers, &SMS{URL: a.SMSURL, Token: a.SMSToken, Template: a.SMSTemplate})
	}
	if a.WebhookURL != "" {
		c.Notifiers = append(c.Notifiers, &Webhook{URL: a.WebhookURL})
	}
	if a.SMTPAddr != "" {
		c.Notifiers = append(c.Notifiers, &Mail{Addr: a.SMTPAddr, From: a.SMTPFrom, User: a.SMTPUser, Password: a.SMTPPassword})
	}
	return c
}

// Dispatcher queues the documents and alerts the rooms' events call for
// in the outbox room and delivers them. Run it on any number of instances:
// a document's id comes from its source event, so a second instance's
// queueing is a duplicate; a delivery two instances make at once reaches
// the receiver twice with one Idempotency-Key.
type Dispatcher struct {
	svc      *rooms.Service
	platform *decrypt.PrivateKey
	logger   *slog.Logger
	cfg      Config
	client   *http.Client

	// changed are the rooms this instance folded new events of since the
	// last Scan (rooms.Service.OnChange); every FullScan the whole log is
	// looked through too, for what other servers wrote.
	mu       sync.Mutex
	changed  map[string]bool
	lastFull time.Time

	// Used by Run's goroutine only.
	cursors   map[string]uint64 // room → last seq looked through
	persisted map[string]uint64 // the cursors the outbox's log holds
	lastSave  time.Time
	since     time.Time // the outbox's creation: earlier events are not pushed
}

// New returns a Dispatcher over svc signing with the platform key.
func New(svc *rooms.Service, platform *decrypt.PrivateKey, cfg Config, logger *slog.Logger) *Dispatcher {
	if cfg.Room == "" {
		cfg.Room = rooms.OutboxRoom
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Hour
	}
	if cfg.ScanPersist <= 0 {
		cfg.ScanPersist = time.Minute
	}
	if cfg.FullScan <= 0 {
		cfg.FullScan = 5 * time.Minute
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &Dispatcher{svc: svc, platform: platform, logger: logger, cfg: cfg,
		client: &http.Client{Timeout: cfg.Timeout, Transport: tr}, changed: map[string]bool{}}
	svc.OnChange(d.noteChange)
	return d
}

// noteChange remembers a room this instance folded new events of.
func (d *Dispatcher) noteChange(room string) {
	d.mu.Lock()
	d.changed[room] = true
	d.mu.Unlock()
}

// Run scans and delivers until ctx ends; it returns after recording how
// far it scanned.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.client.CloseIdleConnections()
	for {
		err := d.start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		d.logger.Warn("push: open the outbox", "room", d.cfg.Room, "err", err)
		if !sleep(ctx, d.cfg.Tick) {
			return
		}
	}
	defer func() {
		// The last cursors, so a restart does not look through them again
		// (it would only find duplicates).
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		d.saveCursors(saveCtx, true)
	}()
	for {
		d.Scan(ctx)
		next := d.Deliver(ctx)
		wait := d.cfg.Tick
		if dt := next.Sub(d.svc.Now()); !next.IsZero() && dt < wait {
			wait = max(dt, time.Millisecond)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// start creates the outbox room if needed and loads its cursors.
func (d *Dispatcher) start(ctx context.Context) error {
	if ok, err := d.svc.Exists(ctx, d.cfg.Room); err != nil {
		return err
	} else if !ok {
		if _, err := d.svc.Execute(ctx, d.cfg.Room, rooms.SystemActor, rooms.Command{ID: "create", Type: rooms.CmdCreateOutbox}); err != nil {
			return err
		}
	}
	c, since, err := d.svc.OutboxCursors(ctx, d.cfg.Room)
	if err != nil {
		return err
	}
	d.cursors, d.since, d.lastSave = c, since, time.Now()
	d.persisted = make(map[string]uint64, len(c))
	for k, v := range c {
		d.persisted[k] = v
	}
	return nil
}

func (d *Dispatcher) wantPush() bool   { return len(d.cfg.Endpoints) > 0 }
func (d *Dispatcher) wantAlerts() bool { return len(d.cfg.Notifiers) > 0 }

// Scan looks through the events since their cursor of the rooms that
// changed on this instance — of every room the first time and each
// FullScan, for what other servers wrote — and queues the documents they
// call for. A room whose document cannot be queued keeps its cursor there
// (and stays changed), so the next round tries again.
func (d *Dispatcher) Scan(ctx context.Context) {
	d.mu.Lock()
	changed := d.changed
	d.changed = map[string]bool{}
	d.mu.Unlock()
	var ids []string
	if d.lastFull.IsZero() || time.Since(d.lastFull) >= d.cfg.FullScan {
		all, err := d.svc.Rooms(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.logger.Warn("push: list rooms", "err", err)
			}
			for room := range changed {
				d.noteChange(room)
			}
			return
		}
		ids, d.lastFull = all, time.Now()
	} else {
		for room := range changed {
			ids = append(ids, room)
		}
	}
	for _, room := range ids {
		if room == d.cfg.Room || ctx.Err() != nil {
			continue
		}
		if err := d.scanRoom(ctx, room); err != nil {
			d.noteChange(room) // again next round
			if ctx.Err() == nil {
				d.logger.Warn("push: scan room", "room", room, "err", err)
			}
		}
	}
	d.saveCursors(ctx, false)
}

func (d *Dispatcher) scanRoom(ctx context.Context, room string) error {
	from := d.cursors[room]
	if from > 0 {
		// Nothing new is the usual answer of a full scan: one small read
		// instead of folding a room that may have left the cache.
		if more, err := d.svc.HasEventsAfter(ctx, room, from); err != nil || !more {
			return err
		}
	}
	events, err := d.svc.EventsAfter(ctx, room, from)
	if err != nil || len(events) == 0 {
		return err
	}
	var all []rooms.Event // the room's log from the start, read once when a document needs the state
	for i, e := range events {
		if !e.Time.Before(d.since) && interesting(e.Type) {
			if all == nil {
				if all, err = d.svc.EventsAfter(ctx, room, 0); err != nil {
					return err
				}
			}
			drafts, err := documentsOf(room, all[:e.Seq], e, d.cfg.Alerts, d.wantPush(), d.wantAlerts())
			if err == nil {
				err = d.queueAll(ctx, room, e, drafts)
			}
			if err != nil {
				if i > 0 {
					d.cursors[room] = events[i-1].Seq
				}
				return err
			}
		}
	}
	d.cursors[room] = events[len(events)-1].Seq
	return nil
}

func interesting(t string) bool {
	switch t {
	case rooms.EvOpeningRecordSigned, rooms.EvCandidatesPublished, rooms.EvNoticesIssued, rooms.EvReadOut:
		return true
	}
	return false
}

// queueAll signs and queues the drafts of event e.
func (d *Dispatcher) queueAll(ctx context.Context, room string, e rooms.Event, drafts []draft) error {
	for _, dr := range drafts {
		targets := slices.Clone(d.cfg.Endpoints)
		if dr.alert {
			targets = d.alertTargets()
		}
		if len(targets) == 0 {
			continue
		}
		doc := Document{Version: rooms.PushVersion, ID: dr.id, Kind: dr.kind, IssuedAt: e.Time, Payload: dr.payload,
			Source: Source{Room: room, Seq: e.Seq, Hash: e.Hash}}
		if sum, err := d.svc.Summary(ctx, room); err == nil {
			doc.Source.Kind, doc.Source.Center = sum.Kind, sum.Center
		}
		raw, err := json.Marshal(doc)
		for err == nil && len(raw) > rooms.MaxDocumentBytes && dr.trim != nil && dr.trim() {
			raw, err = json.Marshal(doc)
		}
		if err != nil {
			return fmt.Errorf("encode %s document: %w", dr.kind, err)
		}
		if len(raw) > rooms.MaxDocumentBytes {
			// Cannot be helped by a retry: said loudly, and skipped.
			d.logger.Error("push: document too large to queue", "room", room, "seq", e.Seq, "kind", dr.kind, "bytes", len(raw), "max", rooms.MaxDocumentBytes)
			continue
		}
		sig, err := d.platform.Sign(rooms.PushMessage(string(raw)))
		if err != nil {
			return fmt.Errorf("sign %s document: %w", dr.kind, err)
		}
		kid := d.platform.Public().ID()
		data, _ := json.Marshal(rooms.OutboxDocument{ID: dr.id, SourceRoom: room, SourceSeq: e.Seq, Kind: dr.kind, JSON: string(raw),
			Digest: hex.EncodeToString(sm3.Sm3Sum(raw)), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:]),
			Targets: targets})
		res, err := d.svc.Execute(ctx, d.cfg.Room, rooms.SystemActor, rooms.Command{ID: "queue:" + dr.id, Type: rooms.CmdQueueDocument, Data: data})
		if rooms.RefusalCode(err) == rooms.CodeWrongState {
			continue // queued already, under another command (another actor)
		}
		if err != nil {
			return fmt.Errorf("queue %s document %s: %w", dr.kind, dr.id, err)
		}
		if !res.Duplicate {
			d.logger.Info("push: queued", "id", dr.id, "kind", dr.kind, "room", room, "seq", e.Seq, "targets", len(targets))
		}
	}
	return nil
}

// alertTargets are "channel:recipient" for each notifier and each
// recipient it reaches ("channel" alone for one with no recipients).
func (d *Dispatcher) alertTargets() []string {
	var out []string
	for _, n := range d.cfg.Notifiers {
		for _, r := range n.Recipients(d.cfg.Recipients) {
			t := n.Channel()
			if r != "" {
				t += ":" + r
			}
			if !slices.Contains(out, t) && len(out) < 32 {
				out = append(out, t)
			}
		}
	}
	return out
}

// saveCursors records the cursors that moved, at most once per
// ScanPersist unless forced.
func (d *Dispatcher) saveCursors(ctx context.Context, force bool) {
	if d.cursors == nil || (!force && time.Since(d.lastSave) < d.cfg.ScanPersist) {
		return
	}
	moved := map[string]uint64{}
	for room, seq := range d.cursors {
		if seq > d.persisted[room] {
			moved[room] = seq
		}
	}
	if len(moved) == 0 {
		return
	}
	names := make([]string, 0, len(moved))
	for r := range moved {
		names = append(names, r)
	}
	slices.Sort(names)
	for chunk := range slices.Chunk(names, 1000) {
		scan := rooms.OutboxScan{Cursors: map[string]uint64{}}
		h := sm3.New()
		for _, r := range chunk {
			scan.Cursors[r] = moved[r]
			fmt.Fprintf(h, "%s=%d\n", r, moved[r])
		}
		data, _ := json.Marshal(scan)
		id := "scan:" + hex.EncodeToString(h.Sum(nil)[:16])
		if _, err := d.svc.Execute(ctx, d.cfg.Room, rooms.SystemActor, rooms.Command{ID: id, Type: rooms.CmdRecordScan, Data: data}); err != nil {
			if ctx.Err() == nil {
				d.logger.Warn("push: record the scan", "err", err)
			}
			return
		}
		for r, seq := range scan.Cursors {
			d.persisted[r] = seq
		}
	}
	d.lastSave = time.Now()
}

// maxDuePerRound bounds the deliveries one round tries.
const maxDuePerRound = 200

// Deliver tries every delivery due now, records each attempt, and returns
// when the next one falls due (zero when none waits).
func (d *Dispatcher) Deliver(ctx context.Context) time.Time {
	due, next, err := d.svc.OutboxDue(ctx, d.cfg.Room, d.svc.Now(), maxDuePerRound)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.Warn("push: read the outbox", "err", err)
		}
		return time.Time{}
	}
	for _, dd := range due {
		if ctx.Err() != nil {
			break
		}
		send := d.sender(dd.Doc, dd.Target)
		if send == nil {
			continue // a target no longer configured waits, visible in the outbox, until it is again
		}
		status, err := send(ctx)
		if ctx.Err() != nil {
			break // shutting down: this try does not count
		}
		if at := d.record(ctx, dd, status, err); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// record records one attempt and returns when the next is due.
func (d *Dispatcher) record(ctx context.Context, dd rooms.DueDelivery, status int, sendErr error) time.Time {
	n := dd.Attempts + 1
	a := rooms.DeliveryAttempt{ID: dd.Doc.ID, Target: dd.Target, At: d.svc.Now(), OK: sendErr == nil, Status: status}
	if sendErr != nil {
		a.Error = truncate(sendErr.Error(), 500)
		if n >= d.cfg.MaxAttempts {
			a.Final = true
		} else {
			a.NextAt = a.At.Add(d.backoff(n))
		}
	}
	data, _ := json.Marshal(a)
	th := sm3.Sm3Sum([]byte(dd.Target))
	id := "attempt:" + dd.Doc.ID + ":" + hex.EncodeToString(th[:6]) + ":" + strconv.Itoa(n)
	if _, err := d.svc.Execute(ctx, d.cfg.Room, rooms.SystemActor, rooms.Command{ID: id, Type: rooms.CmdRecordAttempt, Data: data}); err != nil {
		if ctx.Err() == nil {
			d.logger.Warn("push: record the attempt", "id", dd.Doc.ID, "err", err)
		}
		return time.Time{}
	}
	switch {
	case a.OK:
		d.logger.Info("push: delivered", "id", dd.Doc.ID, "kind", dd.Doc.Kind, "target", safeTarget(dd.Target), "attempts", n)
	case a.Final:
		d.logger.Error("push: abandoned", "id", dd.Doc.ID, "kind", dd.Doc.Kind, "target", safeTarget(dd.Target), "attempts", n, "err", a.Error)
	default:
		d.logger.Warn("push: delivery failed", "id", dd.Doc.ID, "kind", dd.Doc.Kind, "target", safeTarget(dd.Target), "attempt", n, "next_at", a.NextAt, "err", a.Error)
	}
	return a.NextAt
}

// backoff is the wait after the n-th failed try: BackoffBase doubling,
// capped at BackoffMax.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.cfg.BackoffBase
	for i := 1; i < n && w < d.cfg.BackoffMax; i++ {
		w *= 2
	}
	return min(w, d.cfg.BackoffMax)
}

// sender returns the delivery of doc to target, or nil when the target is
// not configured (any more).
func (d *Dispatcher) sender(doc rooms.OutboxDocument, target string) func(context.Context) (int, error) {
	if doc.Kind != rooms.DocAlert {
		if !slices.Contains(d.cfg.Endpoints, target) {
			return nil
		}
		return func(ctx context.Context) (int, error) { return postDocument(ctx, d.client, target, d.cfg.Token, doc) }
	}
	channel, to, _ := strings.Cut(target, ":")
	for _, n := range d.cfg.Notifiers {
		if n.Channel() != channel {
			continue
		}
		return func(ctx context.Context) (int, error) {
			var env struct {
				Payload Alert `json:"payload"`
			}
			if err := json.Unmarshal([]byte(doc.JSON), &env); err != nil {
				return 0, fmt.Errorf("read the alert: %w", err)
			}
			ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			defer cancel()
			err := n.Notify(ctx, d.client, Message{To: to, Alert: env.Payload, Doc: doc})
			var se *StatusError
			if errors.As(err, &se) {
				return se.Status, err
			}
			return 0, err
		}
	}
	return nil
}

// safeTarget is a target as logs show it: a URL without its query.
func safeTarget(t string) string {
	t, _, _ = strings.Cut(t, "?")
	return t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
