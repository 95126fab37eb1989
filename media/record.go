package media

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
}

// Recorders writes every published track under dir, on a goroutine per
// track so the disk never slows forwarding, and reports each finished file
// to done. Wait blocks until every recording in progress is finalized.
type Recorders struct {
	dir  string
	log  *slog.Logger
	done func(Recorded)
	wg   sync.WaitGroup
	seq  atomic.Uint64
}

// NewRecorders prepares recording into dir (created if missing).
func NewRecorders(dir string, logger *slog.Logger, done func(Recorded)) (*Recorders, error) {
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
	w, err := recorder.Create(recorder.Track{Dir: rs.dir, Name: name, MimeType: t.Codec.MimeType, ClockRate: t.Codec.ClockRate, Channels: t.Codec.Channels})
	if err != nil {
		rs.log.Error("media: cannot record track", "space", t.Space.String(), "feed", t.Feed, "kind", t.Kind, "err", err)
		return nil
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
					if rs.done != nil {
						rs.done(Recorded{Track: t, Result: res, Dropped: dropped.Load(), Ended: time.Now()})
					}
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
