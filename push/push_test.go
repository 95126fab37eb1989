package push_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/push"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	admin    = rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	host     = rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	platform *decrypt.PrivateKey
)

func init() {
	k, err := decrypt.GenerateKey()
	if err != nil {
		panic(err)
	}
	platform = k
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a server clock a test moves forward.
type clock struct {
	mu  sync.Mutex // guards off
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// server is a rooms.Service over an embedded store in dir; stop closes it.
type server struct {
	svc   *rooms.Service
	log   *embedded.Log
	clock *clock
}

func open(t *testing.T, dir string, c *clock) *server {
	t.Helper()
	l, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &server{svc: rooms.NewService(l, c.now), log: l, clock: c}
}

func (s *server) do(t *testing.T, room string, a rooms.Actor, id, typ string, data any) {
	t.Helper()
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	if _, err := s.svc.Execute(context.Background(), room, a, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
		t.Fatalf("%s in %s: %v", typ, room, err)
	}
}

// readOut drives a real opening room through the service from its
// creation to the read-out (唱标): control price 1,000,000, budget 900,000
// flagged at 20 %, bidders a, b, c with the given prices.
func (s *server) readOut(t *testing.T, room string, prices map[string]string) {
	t.Helper()
	now := s.clock.now()
	spec := rooms.SessionSpec{Title: "城东污水处理厂提标改造工程施工", Section: "CD-2026-001", Category: "construction",
		Deadline: now.Add(time.Hour).Truncate(time.Second), CheckInAt: now.Add(time.Minute).Truncate(time.Second), ControlPrice: "1000000.00",
		SealedTerms:   rooms.SealedTerms{Budget: "900000", BudgetDeviationPct: 20},
		ReadOutFields: []rooms.ReadOutField{{Key: "price", Label: "投标报价（元）"}}, DecryptWindowMinutes: 30, ConfirmWindowMinutes: 5}
	s.do(t, room, admin, "create", rooms.CmdCreateSession, spec)
	names := map[string]string{"a": "江苏恒达建设工程有限公司", "b": "南京市政路桥集团有限公司", "c": "苏州华建工程咨询有限公司"}
	for _, b := range []string{"a", "b", "c"} {
		s.do(t, room, admin, "reg-"+b, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: b, Name: names[b]})
	}
	s.clock.advance(2 * time.Minute)
	s.do(t, room, rooms.SystemActor, "checkin", rooms.CmdOpenCheckIn, nil)
	for i, b := range []string{"a", "b", "c"} {
		d := strings.Repeat(fmt.Sprintf("%x", i+1), 64)
		s.do(t, room, rooms.Actor{Sub: b, Role: rooms.RoleBidder}, "bid-"+b, rooms.CmdSubmitBid, rooms.Bid{Bidder: b, Digest: d, HeaderDigest: d, Size: 1000})
	}
	s.clock.advance(time.Hour)
	s.do(t, room, rooms.SystemActor, "deadline", rooms.CmdDeadline, nil)
	s.do(t, room, host, "decrypt", rooms.CmdStartDecryption, nil)
	for _, b := range []string{"a", "b", "c"} {
		s.do(t, room, rooms.Actor{Sub: b, Role: rooms.RoleBidder}, "unlock-"+b, rooms.CmdRecordUnlock,
			rooms.Unlock{Bidder: b, OK: true, Sheet: map[string]string{"price": prices[b]}, PlaintextSHA: strings.Repeat("b", 64)})
	}
	s.do(t, room, host, "close-decrypt", rooms.CmdCloseDecryption, nil)
	s.do(t, room, host, "read-out", rooms.CmdStartReadOut, nil)
}

// record carries an opening from its read-out to the signed record.
func (s *server) record(t *testing.T, room string) rooms.OpeningRecord {
	t.Helper()
	s.do(t, room, host, "confirm-start", rooms.CmdStartConfirmation, nil)
	snap, err := s.svc.Snapshot(context.Background(), room, host)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := snap.Opening()
	for _, b := range []string{"a", "b", "c"} {
		s.do(t, room, rooms.Actor{Sub: b, Role: rooms.RoleBidder}, "confirm-"+b, rooms.CmdConfirm, rooms.Confirmation{Digest: v.ReadOut.Digest})
	}
	s.do(t, room, host, "confirm-close", rooms.CmdCloseConfirmation, nil)
	body := []byte(`{"record":"` + room + `"}`)
	sig, err := platform.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	kid := platform.Public().ID()
	sum := sha(body)
	rec := rooms.OpeningRecord{Digest: sum, Size: int64(len(body)), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:])}
	s.do(t, room, rooms.SystemActor, "record", rooms.CmdRecordOpeningRec, rec)
	return rec
}

func sha(b []byte) string { return hex.EncodeToString(sm3.Sm3Sum(b)) }

// run starts a dispatcher; the returned stop cancels it and waits.
func run(t *testing.T, s *server, cfg push.Config) (stop func()) {
	t.Helper()
	if cfg.Tick == 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 20 * time.Millisecond
	}
	d := push.New(s.svc, platform, cfg, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func outbox(t *testing.T, s *server) rooms.OutboxView {
	t.Helper()
	v, err := s.svc.OutboxLatest(context.Background(), rooms.OutboxRoom, admin, 200)
	if rooms.RefusalCode(err) == rooms.CodeNotFound {
		return rooms.OutboxView{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	status int
}

// receiver is an HTTP endpoint that answers fail with 500 for the first
// failFirst requests (and with 503 while down), then 200, and verifies
// every document's signature with the platform's public key.
type receiver struct {
	t         *testing.T
	failFirst int32
	down      atomic.Bool
	mu        sync.Mutex // guards got
	got       []received
	srv       *httptest.Server
}

func newReceiver(t *testing.T, failFirst int32) *receiver {
	r := &receiver{t: t, failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	status := http.StatusOK
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.down.Load():
		status = http.StatusServiceUnavailable
	case int32(len(r.got)) < r.failFirst:
		status = http.StatusInternalServerError
	}
	if err := verify(req.Header, body); err != nil {
		r.t.Errorf("receiver: %v", err)
		status = http.StatusBadRequest
	}
	r.got = append(r.got, received{header: req.Header.Clone(), body: body, status: status})
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d", status)
}

// accepted counts the requests answered 200 per Idempotency-Key.
func (r *receiver) accepted() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, g := range r.got {
		if g.status == http.StatusOK {
			m[g.header.Get("Idempotency-Key")]++
		}
	}
	return m
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify is what the provincial platform does: the headers, then the SM2
// signature over the versioned message with the platform's public key,
// then that the body is the document the headers name.
func verify(h http.Header, body []byte) error {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q", ct)
	}
	kid := platform.Public().ID()
	if got := h.Get(push.HeaderKeyID); got != hex.EncodeToString(kid[:]) {
		return fmt.Errorf("key id %q", got)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(push.HeaderSignature))
	if err != nil {
		return fmt.Errorf("signature header: %v", err)
	}
	pemKey, _ := platform.Public().MarshalPEM()
	pub, err := decrypt.ParsePublicKeyPEM(pemKey)
	if err != nil {
		return err
	}
	if err := pub.Verify(rooms.PushMessage(string(body)), sig); err != nil {
		return fmt.Errorf("signature does not verify: %v", err)
	}
	var doc struct {
		Version string `json:"version"`
		ID      string `json:"id"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Version != rooms.PushVersion || doc.ID != h.Get("Idempotency-Key") {
		return fmt.Errorf("document %s (err %v) under Idempotency-Key %q", body, err, h.Get("Idempotency-Key"))
	}
	return nil
}

// TestPushRetriedUntilDelivered: the opening record's summary goes to an
// endpoint that fails twice with 500; the dispatcher retries with back-off
// and records every attempt; the third is delivered; the document is
// signed and the receiver verifies it with the platform's public key.
func TestPushRetriedUntilDelivered(t *testing.T) {
	s := open(t, t.TempDir(), &clock{})
	defer s.log.Close()
	recv := newReceiver(t, 2)
	stop := run(t, s, push.Config{Endpoints: []string{recv.srv.URL + "/push"}, Token: "tok-123"})
	waitFor(t, "the outbox", func() bool { ok, _ := s.svc.Exists(context.Background(), rooms.OutboxRoom); return ok })

	start := time.Now()
	s.readOut(t, "op-1", map[string]string{"a": "950000", "b": "980000", "c": "990000"})
	rec := s.record(t, "op-1")
	waitFor(t, "the delivery", func() bool { return outbox(t, s).Counts.Delivered == 1 })
	t.Logf("delivered after %d tries in %v", len(recv.requests()), time.Since(start))
	stop()

	v := outbox(t, s)
	if v.Counts != (rooms.OutboxCounts{Documents: 1, Delivered: 1}) {
		t.Fatalf("counts %+v, want 1 document delivered", v.Counts)
	}
	it := v.Items[0]
	if it.Kind != rooms.DocOpeningRecord || it.SourceRoom != "op-1" || it.JSON != "" {
		t.Fatalf("item %+v", it)
	}
	st := it.States[0]
	if st.Attempts != 3 || st.DeliveredAt.IsZero() || len(st.Latest) != 3 {
		t.Fatalf("target state %+v, want 3 attempts, delivered", st)
	}
	for i, want := range []int{500, 500, 200} {
		if a := st.Latest[i]; a.Status != want || a.OK != (want == 200) || (!a.OK && (a.Error == "" || a.NextAt.IsZero())) {
			t.Errorf("attempt %d: %+v, want status %d", i+1, a, want)
		}
	}
	if gap := st.Latest[1].At.Sub(st.Latest[0].At); gap < 20*time.Millisecond {
		t.Errorf("second try %v after the first, want the back-off (>= 20ms)", gap)
	}
	reqs := recv.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("Idempotency-Key") != it.ID || r.header.Get("Authorization") != "Bearer tok-123" {
			t.Errorf("headers %v", r.header)
		}
	}
	var doc struct {
		Kind    string              `json:"kind"`
		Source  push.Source         `json:"source"`
		Payload push.OpeningSummary `json:"payload"`
	}
	if err := json.Unmarshal(reqs[2].body, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Payload
	if doc.Kind != rooms.DocOpeningRecord || doc.Source.Room != "op-1" || doc.Source.Kind != rooms.KindOpening || doc.Source.Hash == "" ||
		p.Record.Digest != rec.Digest || p.Record.Signature != rec.Signature || len(p.Rows) != 3 || p.Confirmed != 3 || p.Budget != "900000" {
		t.Fatalf("document %+v", doc)
	}
	if p.Rows[0].Sheet["price"] != "950000" {
		t.Errorf("row %+v", p.Rows[0])
	}
}

// TestPushRestartLosesNothing: documents queued while the endpoints are
// down survive a stop of the dispatcher and of the service (the store
// closed and opened again); the new dispatcher delivers each once per
// endpoint, and a third start sends nothing again.
func TestPushRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	r1, r2 := newReceiver(t, 0), newReceiver(t, 0)
	r1.down.Store(true)
	r2.down.Store(true)
	cfg := push.Config{Endpoints: []string{r1.srv.URL, r2.srv.URL + "/b"}, BackoffBase: 50 * time.Millisecond}

	s := open(t, dir, c)
	stop := run(t, s, cfg)
	waitFor(t, "the outbox", func() bool { ok, _ := s.svc.Exists(context.Background(), rooms.OutboxRoom); return ok })
	s.readOut(t, "op-r", map[string]string{"a": "950000", "b": "980000", "c": "990000"})
	s.record(t, "op-r")
	waitFor(t, "failed attempts at both endpoints", func() bool {
		v := outbox(t, s)
		return len(v.Items) == 1 && v.Items[0].States[0].Attempts > 0 && v.Items[0].States[1].Attempts > 0
	})
	stop()
	if v := outbox(t, s); v.Counts.Pending != 2 || v.Counts.Delivered != 0 {
		t.Fatalf("before the restart: %+v, want 2 pending", v.Counts)
	}
	s.log.Close()

	r1.down.Store(false)
	r2.down.Store(false)
	s = open(t, dir, c)
	stop = run(t, s, cfg)
	waitFor(t, "both deliveries after the restart", func() bool { return outbox(t, s).Counts.Delivered == 2 })
	stop()
	v := outbox(t, s)
	if v.Counts != (rooms.OutboxCounts{Documents: 1, Delivered: 2}) {
		t.Fatalf("after the restart: %+v", v.Counts)
	}
	id := v.Items[0].ID
	s.log.Close()

	s = open(t, dir, c)
	defer s.log.Close()
	stop = run(t, s, cfg)
	time.Sleep(100 * time.Millisecond) // a few rounds
	stop()
	for i, r := range []*receiver{r1, r2} {
		if got := r.accepted(); len(got) != 1 || got[id] != 1 {
			t.Errorf("endpoint %d accepted %v, want %s once", i+1, got, id)
		}
	}
	if v := outbox(t, s); v.Counts.Documents != 1 {
		t.Errorf("documents after a third start: %d, want 1 (queued once)", v.Counts.Documents)
	}
}

// TestPushAbandonsAfterMaxAttempts: an endpoint that never answers is
// tried max_attempts times, then abandoned — recorded, not retried.
func TestPushAbandonsAfterMaxAttempts(t *testing.T) {
	s := open(t, t.TempDir(), &clock{})
	defer s.log.Close()
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.URL
	ln.Close() // nothing listens there any more: connection refused
	stop := run(t, s, push.Config{Endpoints: []string{dead}, MaxAttempts: 3, BackoffBase: 5 * time.Millisecond})
	waitFor(t, "the outbox", func() bool { ok, _ := s.svc.Exists(context.Background(), rooms.OutboxRoom); return ok })
	s.readOut(t, "op-x", map[string]string{"a": "950000", "b": "980000", "c": "990000"})
	s.record(t, "op-x")
	waitFor(t, "the abandonment", func() bool { return outbox(t, s).Counts.Failed == 1 })
	time.Sleep(50 * time.Millisecond)
	stop()
	st := outbox(t, s).Items[0].States[0]
	if st.Attempts != 3 || !st.Abandoned || !strings.Contains(st.LastError, "refused") || !st.Latest[2].Final {
		t.Fatalf("state %+v, want 3 attempts, abandoned on connection refused", st)
	}
}
