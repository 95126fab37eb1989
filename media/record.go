package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/bidroom/bidroom/media/recorder"
)

// Recording limits.
const (
	recordQueue   = 4096 // packets waiting for the disk before the recorder drops
	reorderWindow = 128  // packets held for a late (repaired) one before giving up on it
)

// Recorded is a finished recording of one published track.
type Recorded struct {
	Track   TrackInfo
	Result  recorder.Result
	Dropped uint64 // packets lost because the disk could not keep up
	Ended   time.Time
	// Recovered: completed by Recover at a later start, after the process
	// recording it died (Result then has no packet count or arrival
	// times), or filed then because the log did not take it before.
	Recovered bool
}

// sidecarSuffix names the file beside each recording that says what it is
// (its TrackInfo, as JSON). It is written before the first packet and
// removed once the recording is filed, so Recover finds, at the next
// start, a recording a crash cut short or one the log did not take.
const sidecarSuffix = ".track.json"

// maxSidecarBytes bounds a sidecar Recover reads.
const maxSidecarBytes = 64 << 10

// ErrRefused wraps a Recorders' done error for a recording the log will
// never take (its session is gone, say): the file stays on disk, but it
// is not offered again at every start.
var ErrRefused = errors.New("recording refused")

// Recorders writes every published track under dir, on a goroutine per
// track so the disk never slows forwarding, and hands each finished file
// to done, which files it (in the room's log). Wait blocks until every
// recording in progress is finalized.
type Recorders struct {
	dir  string
	log  *slog.Logger
	done func(Recorded) error
	wg   sync.WaitGroup
	seq  atomic.Uint64
}

// NewRecorders prepares recording into dir (created if missing). done
// files a finished recording; one it fails to file is offered again by
// Recover at the next start.
func NewRecorders(dir string, logger *slog.Logger, done func(Recorded) error) (*Recorders, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("media: recordings directory: %w", err)
	}
	return &Recorders{dir: dir, log: logger, done: done}, nil
}

// Wait blocks until every recording is finalized (after the SFU closed).
func (rs *Recorders) Wait() { rs.wg.Wait() }

// Hook is the SFU hook that starts a recording per track.
func (rs *Recorders) Hook(t TrackInfo) func(*Packet) {
	name := fmt.Sprintf("%s-%s-%s-%s-%s-%d", t.Space.Room, t.Space.Hall, t.Feed, t.Kind, t.Started.UTC().Format("20060102T150405Z"), rs.seq.Add(1))
	w, err := recorder.Create(recordTrack(rs.dir, name, t))
	if err != nil {
		rs.log.Error("media: cannot record track", "space", t.Space.String(), "feed", t.Feed, "kind", t.Kind, "err", err)
		return nil
	}
	if err := writeSidecar(filepath.Join(rs.dir, name+sidecarSuffix), t); err != nil {
		// The recording goes on; only a crash's recovery needs the sidecar.
		rs.log.Warn("media: a crash would leave this recording unfiled", "file", name, "err", err)
	}
	queue := make(chan *rtp.Packet, recordQueue)
	var dropped atomic.Uint64
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		ro := reorder{emit: func(p *rtp.Packet) {
			if err := w.WriteRTP(p); err != nil && !errors.Is(err, recorder.ErrBadPacket) {
				rs.log.Error("media: recording write failed", "file", name, "err", err)
			}
		}}
		syncEvery := time.NewTicker(time.Second)
		defer syncEvery.Stop()
		for {
			select {
			case p, ok := <-queue:
				if !ok {
					ro.flush()
					res, err := w.Close()
					if err != nil {
						rs.log.Error("media: recording not finalized", "file", name, "err", err)
						return
					}
					rs.log.Info("media: recording finalized", "file", filepath.Base(res.Path), "bytes", res.Bytes, "sm3", res.SM3)
					rs.file(name, Recorded{Track: t, Result: res, Dropped: dropped.Load(), Ended: time.Now()})
					return
				}
				ro.push(p)
			case <-syncEvery.C:
				_ = w.Sync() // a quiet track's last packets reach the disk too
			}
		}
	}()
	closed := false
	return func(p *Packet) {
		if closed {
			return
		}
		if p == nil {
			closed = true
			close(queue)
			return
		}
		pkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker},
			Payload: append([]byte(nil), p.Payload...),
		}
		select {
		case queue <- pkt:
		default:
			dropped.Add(1)
		}
	}
}

// recordTrack is what the recorder needs of t, to write name in dir.
func recordTrack(dir, name string, t TrackInfo) recorder.Track {
	return recorder.Track{Dir: dir, Name: name, MimeType: t.Codec.MimeType, ClockRate: t.Codec.ClockRate, Channels: t.Codec.Channels}
}

// file hands a finished recording to done and, once it is filed, removes
// its sidecar; a recording done fails to file keeps it for Recover, unless
// done refused it for good (ErrRefused).
func (rs *Recorders) file(name string, r Recorded) bool {
	if rs.done != nil {
		err := rs.done(r)
		switch {
		case errors.Is(err, ErrRefused):
			rs.log.Error("media: recording refused by its session's log; the file stays, unfiled", "file", filepath.Base(r.Result.Path), "err", err)
		case err != nil:
			rs.log.Error("media: recording not filed; the next start files it", "file", filepath.Base(r.Result.Path), "err", err)
			return false
		}
	}
	if err := os.Remove(filepath.Join(rs.dir, name+sidecarSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		rs.log.Warn("media: sidecar of a filed recording not removed", "file", name, "err", err)
	}
	return true
}

// Recover files the recordings that the last run of this directory left
// unfiled: each whose process died while writing it, completed by
// recorder.Recover (one still being written, by another process sharing
// the directory, is locked and left alone), and each the log did not take.
// It returns how many it filed; ctx stops it between recordings. A
// recording it cannot complete or file stays for the next start, and is
// counted in the error.
func (rs *Recorders) Recover(ctx context.Context) (int, error) {
	sidecars, err := filepath.Glob(filepath.Join(rs.dir, "*"+sidecarSuffix))
	if err != nil {
		return 0, fmt.Errorf("media: find unfiled recordings: %w", err)
	}
	filed, failed := 0, 0
	for _, sc := range sidecars {
		if ctx.Err() != nil {
			break
		}
		name := strings.TrimSuffix(filepath.Base(sc), sidecarSuffix)
		r, err := rs.recoverOne(sc, name)
		switch {
		case errors.Is(err, recorder.ErrInUse):
			continue // another process is recording it
		case err != nil:
			failed++
			rs.log.Error("media: unfiled recording not recovered", "file", name, "err", err)
			continue
		}
		rs.log.Info("media: recording recovered", "file", filepath.Base(r.Result.Path), "bytes", r.Result.Bytes,
			"frames", r.Result.Frames, "sm3", r.Result.SM3)
		if !rs.file(name, r) {
			failed++
			continue
		}
		filed++
	}
	if failed > 0 {
		return filed, fmt.Errorf("media: %d unfiled recordings not recovered (see the log); they are tried again at the next start", failed)
	}
	return filed, ctx.Err()
}

// recoverOne completes the recording name whose sidecar is sc, or, if it
// was completed but not filed, reads its size and digest again.
func (rs *Recorders) recoverOne(sc, name string) (Recorded, error) {
	t, err := readSidecar(sc)
	if err != nil {
		return Recorded{}, err
	}
	track := recordTrack(rs.dir, name, t)
	final, part, err := recorder.Paths(track)
	if err != nil {
		return Recorded{}, err
	}
	r := Recorded{Track: t, Recovered: true}
	if fi, err := os.Stat(part); err == nil {
		r.Ended = fi.ModTime() // its last sync
		r.Result, err = recorder.Recover(track)
		return r, err
	}
	fi, err := os.Stat(final)
	if err != nil {
		return Recorded{}, fmt.Errorf("neither the recording nor its .part is there: %w", err)
	}
	r.Ended = fi.ModTime()
	r.Result, err = recorder.Digest(final)
	return r, err
}

// writeSidecar writes t as JSON to path and fsyncs it.
func writeSidecar(path string, t TrackInfo) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Sync(), f.Close())
}

// readSidecar reads the TrackInfo writeSidecar wrote.
func readSidecar(path string) (TrackInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return TrackInfo{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecarBytes+1))
	if err != nil {
		return TrackInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	var t TrackInfo
	if len(b) > maxSidecarBytes {
		return TrackInfo{}, fmt.Errorf("%s is over %d bytes", path, maxSidecarBytes)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return TrackInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	if t.Space.Room == "" || t.Codec.MimeType == "" {
		return TrackInfo{}, fmt.Errorf("%s names no room or codec", path)
	}
	return t, nil
}

// reorder puts packets back in sequence order, waiting a little for
// retransmitted ones.
type reorder struct {
	emit    func(*rtp.Packet)
	started bool
	next    uint16
	held    map[uint16]*rtp.Packet
}

func (r *reorder) push(p *rtp.Packet) {
	if !r.started {
		r.started, r.next, r.held = true, p.SequenceNumber, make(map[uint16]*rtp.Packet)
	}
	if d := int16(p.SequenceNumber - r.next); d < 0 {
		return // too late: already given up on
	}
	r.held[p.SequenceNumber] = p
	for {
		for q := r.held[r.next]; q != nil; q = r.held[r.next] {
			delete(r.held, r.next)
			r.emit(q)
			r.next++
		}
		if len(r.held) < reorderWindow {
			return
		}
		// Give up on the gap: skip to the oldest held packet.
		oldest, best := r.next, int16(0x7fff)
		for seq := range r.held {
			if d := int16(seq - r.next); d < best {
				oldest, best = seq, d
			}
		}
		r.next = oldest
	}
}

func (r *reorder) flush() {
	for len(r.held) > 0 {
		if q := r.held[r.next]; q != nil {
			delete(r.held, r.next)
			r.emit(q)
		}
		r.next++
	}
}
