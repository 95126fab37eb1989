// Package blobgc collects the blob store's garbage: uploads nobody
// finished (a bidder closed the browser halfway), and blobs no room's log
// names (an upload completed whose command was then refused — a bid that
// failed its checks, a deadline passed — or a copy a pruned session left
// behind).
//
// Which blobs are wanted is read from the rooms' logs, every time: a blob
// is kept while any event of any room names it, and for a grace period
// after it was stored whatever the logs say, because a blob is completed
// a moment before the command that names it is appended (see Run).
package blobgc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// Defaults of Config's bounds.
const (
	// DefaultMaxCandidates bounds the old blobs one pass holds (about
	// 80 bytes each with the map's own: some 80 MiB at the bound); a store
	// with more is done in several passes, each reading every log again.
	DefaultMaxCandidates = 1 << 20
	// DefaultPageSize is how many events one log read fetches: what one
	// room's reading holds at a time.
	DefaultPageSize = 256
)

// ErrBusy: a collection is running already (the periodic one, or an
// admin's); this one did not start.
var ErrBusy = errors.New("a blob garbage collection is running already")

// Config is what a Collector removes, and when.
type Config struct {
	// UploadTTL: an upload not written to for this long is removed. It
	// must be longer than any pause a resumable upload may take.
	UploadTTL time.Duration
	// OrphanGrace: a blob no room's log names is removed once it was
	// stored this long ago. It must be longer than the time from an
	// upload's completion to the command that names it.
	OrphanGrace time.Duration
	// MaxCandidates bounds the memory of one pass (DefaultMaxCandidates
	// when 0); the bound is soft by at most one shard's old blobs.
	MaxCandidates int
	// PageSize is the events one log read asks for (DefaultPageSize when
	// 0).
	PageSize int
	// Now is the clock files' times are compared with (time.Now when
	// nil): the file system's clock, not a room's.
	Now func() time.Time
}

// Collector removes the garbage of one blob store, reading the rooms' log
// to know what is named. Its Run is safe to call from several goroutines:
// one runs at a time.
type Collector struct {
	blobs   *blobs.Store
	log     rooms.Log
	cfg     Config
	logger  *slog.Logger
	metrics *metrics

	running sync.Mutex // held by the one Run in progress

	ran func() // tests: called after each of Loop's runs
}

// New returns a Collector of store, reading names from log; its metrics
// are registered with reg when not nil.
func New(store *blobs.Store, log rooms.Log, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if cfg.UploadTTL <= 0 || cfg.OrphanGrace <= 0 {
		return nil, fmt.Errorf("blob gc: the upload TTL (%s) and the orphan grace (%s) must be positive", cfg.UploadTTL, cfg.OrphanGrace)
	}
	if cfg.MaxCandidates <= 0 {
		cfg.MaxCandidates = DefaultMaxCandidates
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{blobs: store, log: log, cfg: cfg, logger: logger, metrics: newMetrics(reg)}, nil
}

// Report is what one collection found and removed. In a dry run the
// removed figures are what would have been removed.
type Report struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	DryRun  bool      `json:"dry_run,omitempty"`

	UploadsRemoved int   `json:"uploads_removed"` // idle longer than the upload TTL
	UploadBytes    int64 `json:"upload_bytes"`
	UploadsBusy    int   `json:"uploads_busy"` // idle by their files' times, but being written: kept
	UploadsKept    int   `json:"uploads_kept"` // written to within the TTL

	Blobs        int   `json:"blobs"`         // blobs in the store
	BlobsYoung   int   `json:"blobs_young"`   // stored within the grace: not looked up
	Orphans      int   `json:"orphans"`       // older, and named by no room
	BlobsRemoved int   `json:"blobs_removed"` // of the orphans (one stored again meanwhile is kept)
	BlobBytes    int64 `json:"blob_bytes"`

	Rooms  int   `json:"rooms"`  // rooms in the store, whose logs a pass reads (each pass all again)
	Events int64 `json:"events"` // events read
	Passes int   `json:"passes"` // log readings: one per MaxCandidates old blobs; none when no blob is old
}

// Progress is how far a Run has got, told to its progress function.
type Progress struct {
	Phase      string `json:"phase"`      // uploads, blobs (listing the store), logs (reading the rooms' logs), remove
	Shards     int    `json:"shards"`     // blob shards listed, of blobs.Shards
	Pass       int    `json:"pass"`       // the log reading under way, from 1
	Candidates int    `json:"candidates"` // the pass's old blobs not yet found named
	Rooms      int    `json:"rooms"`      // rooms in the store
	RoomsRead  int    `json:"rooms_read"` // of them, read in this pass
	Events     int64  `json:"events"`     // events read so far
	Removed    int    `json:"removed"`    // uploads and blobs removed so far
	Bytes      int64  `json:"bytes"`      // their bytes
}

// Run collects once: it removes the uploads idle for longer than the
// upload TTL, then the blobs stored longer than the grace ago that no
// room's log names. With dryRun it removes nothing and reports what it
// would. progress, if not nil, is called as the run goes (often: the
// caller throttles). A Run already in progress makes it return ErrBusy at
// once.
//
// The blobs are taken a pass at a time: the pass lists the old blobs of
// some shards (the candidates), reads every room's log from the start,
// crossing off each candidate an event names, and removes what is left.
// It holds the candidates, never the events: one page of one room at a
// time.
//
// A log read while the run goes may miss a command appended after that
// room was read. A blob it names is still safe: it is a candidate only if
// it was stored more than the grace before the run started, and the
// command naming it came after the run started; a blob is named within
// moments of its completion (the handler that completes an upload
// appends the command that names it next), or before it is stored at all
// (a bid's backup copy). A blob completed again while the run goes (the
// same bytes uploaded anew) is new again, and RemoveStoredBefore looks
// at its age once more at the moment of removal. A log that cannot be
// read stops the run before anything of that pass is removed: an orphan
// is only ever decided on every log.
func (c *Collector) Run(ctx context.Context, dryRun bool, progress func(Progress)) (Report, error) {
	if !c.running.TryLock() {
		return Report{}, ErrBusy
	}
	defer c.running.Unlock()
	r := Report{Started: c.cfg.Now(), DryRun: dryRun}
	err := c.run(ctx, &r, progress)
	r.Seconds = c.cfg.Now().Sub(r.Started).Seconds()
	c.metrics.observe(r, err)
	attrs := []any{"dry_run", dryRun, "seconds", r.Seconds,
		"uploads_removed", r.UploadsRemoved, "upload_bytes", r.UploadBytes, "uploads_busy", r.UploadsBusy,
		"blobs", r.Blobs, "orphans", r.Orphans, "blobs_removed", r.BlobsRemoved, "blob_bytes", r.BlobBytes,
		"rooms", r.Rooms, "events", r.Events, "passes", r.Passes}
	switch {
	case err != nil && ctx.Err() != nil:
		c.logger.Info("blob gc stopped", append(attrs, "err", err)...) // shutdown, or the admin hung up
		return r, err
	case err != nil:
		c.logger.Error("blob gc failed", append(attrs, "err", err)...)
		return r, err
	}
	c.logger.Info("blob gc", attrs...)
	return r, nil
}

func (c *Collector) run(ctx context.Context, r *Report, progress func(Progress)) error {
	p := Progress{Phase: "uploads"}
	tell := func() {
		if progress != nil {
			progress(p)
		}
	}
	tell()
	sw, err := c.blobs.RemoveIdleUploads(ctx, r.Started.Add(-c.cfg.UploadTTL), r.DryRun, func(u blobs.IdleUpload) {
		c.logger.Info(removal(r.DryRun, "idle upload"), "upload", u.ID, "owner", u.Owner, "bytes", u.Bytes, "last_write", u.LastWrite)
	})
	r.UploadsRemoved, r.UploadBytes, r.UploadsBusy, r.UploadsKept = sw.Removed, sw.Bytes, sw.Busy, sw.Kept
	p.Removed, p.Bytes = sw.Removed, sw.Bytes
	if err != nil {
		return err
	}

	cutoff := r.Started.Add(-c.cfg.OrphanGrace)
	for shard := 0; shard < blobs.Shards; {
		// The candidates of this pass: the old blobs of as many shards as
		// fit the bound (at least one).
		p.Phase = "blobs"
		cands := map[digest]int64{}
		for first := shard; shard < blobs.Shards && (shard == first || len(cands) < c.cfg.MaxCandidates); shard++ {
			err := c.blobs.WalkShard(ctx, shard, func(b blobs.StoredBlob) error {
				r.Blobs++
				if !b.Stored.Before(cutoff) {
					r.BlobsYoung++
					return nil
				}
				var d digest
				if _, err := hex.Decode(d[:], []byte(b.Digest)); err != nil {
					return fmt.Errorf("blob %s: %w", b.Digest, err)
				}
				cands[d] = b.Bytes
				return nil
			})
			if err != nil {
				return err
			}
			p.Shards = shard + 1
			p.Candidates = len(cands)
			tell()
		}
		if len(cands) == 0 {
			continue // nothing old here: no need to read a log
		}
		r.Passes++
		p.Phase, p.Pass = "logs", r.Passes
		if err := c.crossOffNamed(ctx, cands, r, &p, tell); err != nil {
			return err
		}
		p.Phase = "remove"
		r.Orphans += len(cands)
		tell()
		for d, size := range cands {
			if err := ctx.Err(); err != nil {
				return err
			}
			name, removed := hex.EncodeToString(d[:]), true
			if !r.DryRun {
				var err error
				if size, removed, err = c.blobs.RemoveStoredBefore(name, cutoff); err != nil {
					return err
				}
			}
			c.removedBlob(r, &p, name, size, removed)
		}
		tell()
	}
	return nil
}

// removedBlob counts and logs an orphan removed.
func (c *Collector) removedBlob(r *Report, p *Progress, name string, size int64, removed bool) {
	if !removed {
		return
	}
	r.BlobsRemoved++
	r.BlobBytes += size
	p.Removed++
	p.Bytes += size
	c.logger.Info(removal(r.DryRun, "orphan blob"), "digest", name, "bytes", size)
}

// removal is the log message of a removal of what.
func removal(dryRun bool, what string) string {
	if dryRun {
		return "blob gc (dry run): would remove " + what
	}
	return "blob gc: removed " + what
}

// crossOffNamed reads every room's log, a page at a time, and deletes from
// cands each digest an event names. It stops early once cands is empty.
func (c *Collector) crossOffNamed(ctx context.Context, cands map[digest]int64, r *Report, p *Progress, tell func()) error {
	ids, err := c.log.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("list the rooms: %w", err)
	}
	p.Rooms, p.RoomsRead = len(ids), 0
	r.Rooms = len(ids)
	tell()
	named := func(d digest) { delete(cands, d) }
	for _, id := range ids {
		if len(cands) == 0 {
			return nil // every candidate is named: no log can change that
		}
		for after := uint64(0); ; {
			page, err := c.log.Read(ctx, id, after, c.cfg.PageSize)
			if err != nil {
				return fmt.Errorf("read room %s after #%d: %w", id, after, err)
			}
			for i := range page {
				scanDigests(page[i].Data, named)
			}
			r.Events += int64(len(page))
			p.Events = r.Events
			if len(page) < c.cfg.PageSize {
				break
			}
			after = page[len(page)-1].Seq
		}
		p.RoomsRead++
		p.Candidates = len(cands)
		tell()
	}
	return nil
}

// Loop runs a collection after first, then every interval, until ctx
// ends. A run that fails is logged (by Run) and tried again at the next
// interval; one skipped because an admin's is running is skipped.
func (c *Collector) Loop(ctx context.Context, first, interval time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.Run(ctx, false, nil); errors.Is(err, ErrBusy) {
			c.logger.Info("blob gc skipped: a run is in progress already")
		}
		if c.ran != nil {
			c.ran()
		}
		t.Reset(interval)
	}
}

// metrics are the collector's figures at /metrics.
type metrics struct {
	runs    *prometheus.CounterVec // by result
	removed *prometheus.CounterVec // by kind
	bytes   *prometheus.CounterVec // by kind
	last    prometheus.Gauge
	seconds prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_blob_gc_runs_total", Help: "Blob garbage collections, by result (ok, error; dry runs not counted)."}, []string{"result"}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_blob_gc_removed_total", Help: "Idle uploads (kind upload) and orphan blobs (kind blob) removed."}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_blob_gc_removed_bytes_total", Help: "Bytes of idle uploads and orphan blobs removed, by kind."}, []string{"kind"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bidroom_blob_gc_last_success_timestamp_seconds", Help: "When the last blob garbage collection that ended without error started."}),
		seconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bidroom_blob_gc_last_duration_seconds", Help: "How long the last blob garbage collection took."}),
	}
	for _, kind := range []string{"upload", "blob"} { // present at 0 before the first removal
		m.removed.WithLabelValues(kind)
		m.bytes.WithLabelValues(kind)
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.removed, m.bytes, m.last, m.seconds)
	}
	return m
}

// observe counts a run; a dry run removed nothing and is not counted.
func (m *metrics) observe(r Report, err error) {
	if r.DryRun {
		return
	}
	// What was removed before an error is removed all the same.
	m.removed.WithLabelValues("upload").Add(float64(r.UploadsRemoved))
	m.bytes.WithLabelValues("upload").Add(float64(r.UploadBytes))
	m.removed.WithLabelValues("blob").Add(float64(r.BlobsRemoved))
	m.bytes.WithLabelValues("blob").Add(float64(r.BlobBytes))
	m.seconds.Set(r.Seconds)
	if err != nil {
		m.runs.WithLabelValues("error").Inc()
		return
	}
	m.runs.WithLabelValues("ok").Inc()
	m.last.Set(float64(r.Started.Unix()))
}
