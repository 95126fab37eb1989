package blobgc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

// fixture is a blob store and an embedded event store in a temporary
// directory.
type fixture struct {
	t     testing.TB
	dir   string
	log   *embedded.Log
	store *blobs.Store
	heads map[string]rooms.Event // each room's last event
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	store, err := blobs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, log: log, store: store, heads: map[string]rooms.Event{}}
}

// appendRaw appends one event of type typ with data (JSON as given) to room.
func (f *fixture) appendRaw(room, typ, data string) {
	f.t.Helper()
	head := f.heads[room]
	e := rooms.Event{Room: room, Seq: head.Seq + 1, Time: time.Now(), Actor: rooms.SystemActor, Type: typ, Data: []byte(data)}
	e.Seal(head.Hash)
	if err := f.log.Append(context.Background(), room, head.Seq, "", []rooms.Event{e}); err != nil {
		f.t.Fatal(err)
	}
	f.heads[room] = e
}

// blob stores content as a blob stored age ago and returns its digest.
func (f *fixture) blob(content string, age time.Duration) string {
	f.t.Helper()
	id, err := f.store.CreateUpload(int64(len(content)), "test")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.Append(id, 0, strings.NewReader(content)); err != nil {
		f.t.Fatal(err)
	}
	d, _, err := f.store.Complete(id)
	if err != nil {
		f.t.Fatal(err)
	}
	f.age(f.blobPath(d), age)
	return d
}

func (f *fixture) blobPath(d string) string { return filepath.Join(f.dir, "blobs", "sm3", d[:2], d) }

func (f *fixture) uploadPath(id string) string { return filepath.Join(f.dir, "blobs", "uploads", id) }

func (f *fixture) age(path string, d time.Duration) {
	f.t.Helper()
	at := time.Now().Add(-d)
	if err := os.Chtimes(path, at, at); err != nil {
		f.t.Fatal(err)
	}
}

// upload starts an upload holding part, last written age ago.
func (f *fixture) upload(part string, age time.Duration) string {
	f.t.Helper()
	id, err := f.store.CreateUpload(1<<20, "s1/a")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.Append(id, 0, strings.NewReader(part)); err != nil {
		f.t.Fatal(err)
	}
	f.age(f.uploadPath(id), age)
	f.age(f.uploadPath(id)+".max", age)
	return id
}

func (f *fixture) collector(cfg Config, reg prometheus.Registerer) *Collector {
	f.t.Helper()
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = 48 * time.Hour
	}
	if cfg.OrphanGrace == 0 {
		cfg.OrphanGrace = 24 * time.Hour
	}
	c, err := New(f.store, f.log, cfg, nil, reg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func there(path string) bool { _, err := os.Lstat(path); return err == nil }

// scene is a store with one of each case: blobs named by rooms' logs (old
// and young, in the events the server writes, in an evaluation's copy of
// its opening's digests, escaped), orphans old and young, uploads idle
// and fresh.
type scene struct {
	named                             []string // old, named: kept
	youngNamed, oldOrphan, youngOrphn string
	staleUpload, freshUpload          string
}

func newScene(f *fixture) scene {
	const month = 30 * 24 * time.Hour
	s := scene{}
	bid, backup, plain, record := f.blob("sealed bid", 3*month), f.blob("backup", 3*month), f.blob("plaintext", 3*month), f.blob("record", 3*month)
	evalOnly := f.blob("named only by an evaluation", 3*month)
	escaped := f.blob("named in an escaped form", 3*month)
	s.named = []string{bid, backup, plain, record, evalOnly, escaped}
	s.youngNamed = f.blob("named, young", time.Minute)
	s.oldOrphan = f.blob("a refused upload", 3*month)
	s.youngOrphn = f.blob("completed a moment ago", time.Minute)
	f.appendRaw("s1", rooms.EvSessionCreated, `{"title":"道路 <一标段> & 附属"}`)
	f.appendRaw("s1", rooms.EvBidSubmitted, `{"bidder":"a","digest":"`+bid+`","backup_digest":"`+backup+`"}`)
	f.appendRaw("s1", rooms.EvBidSubmitted, `{"bidder":"b","digest":"`+s.youngNamed+`"}`)
	f.appendRaw("s1", rooms.EvBidOpened, `{"bidder":"a","ok":true,"plaintext_digest":"`+plain+`"}`)
	f.appendRaw("s1", rooms.EvOpeningRecordSigned, `{"digest":"`+record+`"}`)
	f.appendRaw("e1", rooms.EvEvaluationCreated, `{"opening":"s1","bids":[{"bidder":"a","plaintext_digest":"`+evalOnly+`"}]}`)
	f.appendRaw("x1", "some_future_event", `{"file":"`+fmt.Sprintf(`\u%04x`, escaped[0])+escaped[1:]+`"}`)
	s.staleUpload = f.upload("half a bid", 72*time.Hour)
	s.freshUpload = f.upload("a bid on its way", time.Hour)
	return s
}

// TestRun: a collection removes the idle upload and the old orphan, and
// nothing else: not a blob any room names however old, not an orphan
// within its grace, not a fresh upload. A dry run reports the same and
// removes nothing; the metrics count what went.
func TestRun(t *testing.T) {
	f := newFixture(t)
	s := newScene(f)
	reg := prometheus.NewRegistry()
	c := f.collector(Config{}, reg)
	ctx := context.Background()

	var seen []Progress
	dry, err := c.Run(ctx, true, func(p Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if dry.UploadsRemoved != 1 || dry.BlobsRemoved != 1 || !there(f.blobPath(s.oldOrphan)) || !there(f.uploadPath(s.staleUpload)) {
		t.Fatalf("dry run: %+v; the orphan there: %v", dry, there(f.blobPath(s.oldOrphan)))
	}
	if len(seen) == 0 || seen[len(seen)-1].Phase != "remove" || seen[0].Phase != "uploads" {
		t.Errorf("progress: %+v", seen)
	}

	r, err := c.Run(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{UploadsRemoved: 1, UploadBytes: int64(len("half a bid")), UploadsKept: 1,
		Blobs: 9, BlobsYoung: 2, Orphans: 1, BlobsRemoved: 1, BlobBytes: int64(len("a refused upload")),
		Rooms: 3, Events: 7, Passes: 1}
	r.Started, r.Seconds = time.Time{}, 0
	if r != want {
		t.Fatalf("report\n got %+v\nwant %+v", r, want)
	}
	if there(f.blobPath(s.oldOrphan)) || there(f.uploadPath(s.staleUpload)) || there(f.uploadPath(s.staleUpload)+".max") {
		t.Error("the old orphan or the idle upload is still there")
	}
	for _, d := range append(s.named, s.youngNamed, s.youngOrphn) {
		if !there(f.blobPath(d)) {
			t.Errorf("blob %s was removed", d)
		}
	}
	if !there(f.uploadPath(s.freshUpload)) {
		t.Error("the fresh upload was removed")
	}

	again, err := c.Run(ctx, false, nil)
	if err != nil || again.UploadsRemoved != 0 || again.BlobsRemoved != 0 {
		t.Fatalf("a second run: %+v %v", again, err)
	}
	for name, want := range map[string]float64{
		`bidroom_blob_gc_removed_total{kind="blob"}`:         1,
		`bidroom_blob_gc_removed_total{kind="upload"}`:       1,
		`bidroom_blob_gc_removed_bytes_total{kind="blob"}`:   float64(len("a refused upload")),
		`bidroom_blob_gc_removed_bytes_total{kind="upload"}`: float64(len("half a bid")),
		`bidroom_blob_gc_runs_total{result="ok"}`:            2, // the dry run is not counted
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// metric reads one sample from reg, named as in the exposition.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			full := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
				}
				full += "{" + strings.Join(labels, ",") + "}"
			}
			if full != name {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRunInPasses: with room for one candidate at a time the store is done
// in several passes, each reading every log, with the same outcome.
func TestRunInPasses(t *testing.T) {
	f := newFixture(t)
	s := newScene(f)
	r, err := f.collector(Config{MaxCandidates: 1, PageSize: 2}, nil).Run(context.Background(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Passes < 2 || r.BlobsRemoved != 1 || r.Orphans != 1 || there(f.blobPath(s.oldOrphan)) {
		t.Fatalf("%+v", r)
	}
	for _, d := range s.named {
		if !there(f.blobPath(d)) {
			t.Errorf("blob %s was removed", d)
		}
	}
}

// failingLog fails to read one room ("*": every room).
type failingLog struct {
	rooms.Log
	room string
}

func (l failingLog) Read(ctx context.Context, room string, after uint64, limit int) ([]rooms.Event, error) {
	if room == l.room || l.room == "*" {
		return nil, errors.New("connection refused")
	}
	return l.Log.Read(ctx, room, after, limit)
}

// TestUnreadableLog: a log that cannot be read stops the run before any
// blob is removed (that room may name any of them); the idle upload,
// which needs no log, is gone.
func TestUnreadableLog(t *testing.T) {
	f := newFixture(t)
	s := newScene(f)
	c, err := New(f.store, failingLog{Log: f.log, room: "x1"}, Config{UploadTTL: 48 * time.Hour, OrphanGrace: 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Run(context.Background(), false, nil)
	if err == nil || !strings.Contains(err.Error(), "x1") {
		t.Fatalf("run over an unreadable log: %+v %v", r, err)
	}
	if r.BlobsRemoved != 0 || !there(f.blobPath(s.oldOrphan)) || r.UploadsRemoved != 1 {
		t.Fatalf("%+v", r)
	}
}

// TestOneRunAtATime: a run while another goes is refused at once.
func TestOneRunAtATime(t *testing.T) {
	f := newFixture(t)
	c := f.collector(Config{}, nil)
	c.running.Lock()
	if _, err := c.Run(context.Background(), false, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("second run: %v", err)
	}
	c.running.Unlock()
	if _, err := c.Run(context.Background(), false, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNoLogReadWithoutOldBlobs: a store whose blobs are all young needs no
// log read at all.
func TestNoLogReadWithoutOldBlobs(t *testing.T) {
	f := newFixture(t)
	f.blob("young", time.Minute)
	c, _ := New(f.store, failingLog{Log: f.log, room: "*"}, Config{UploadTTL: time.Hour, OrphanGrace: time.Hour}, nil, nil)
	f.appendRaw("s1", rooms.EvSessionCreated, `{}`)
	r, err := c.Run(context.Background(), false, nil)
	if err != nil || r.Passes != 0 || r.Events != 0 || r.Blobs != 1 {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestLoop: the loop runs a collection when first is due and stops when
// its context ends.
func TestLoop(t *testing.T) {
	f := newFixture(t)
	s := newScene(f)
	c := f.collector(Config{}, nil)
	ran := make(chan struct{}, 1)
	c.ran = func() {
		select {
		case ran <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Loop(ctx, 0, time.Hour)
	}()
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("no run")
	}
	cancel()
	<-done
	if there(f.blobPath(s.oldOrphan)) {
		t.Error("the loop's run left the orphan")
	}
}

func TestNewRefusesZero(t *testing.T) {
	f := newFixture(t)
	if _, err := New(f.store, f.log, Config{UploadTTL: time.Hour}, nil, nil); err == nil {
		t.Error("a zero grace was accepted")
	}
}
