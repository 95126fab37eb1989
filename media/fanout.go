package media

import (
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// slot is what a viewer's track is attached to: the audio or the video of
// one feed. The source behind it changes when the publisher leaves and
// returns (or OBS takes over from a browser); viewers stay attached and are
// switched over without renegotiation.
type slot struct {
	kind webrtc.RTPCodecType
	src  atomic.Pointer[source]

	mu      sync.Mutex // guards workers
	workers []*worker  // copy on write: workers with at least one viewer here
	viewers atomic.Int64
}

// kick tells every worker with viewers on this slot that there is work.
func (s *slot) kick() {
	s.mu.Lock()
	ws := s.workers
	s.mu.Unlock()
	for _, w := range ws {
		w.markDirty(s)
	}
}

// worker forwards packets to a share of the viewers on its own goroutine:
// for each dirty slot it pumps every viewer track it owns there, then
// flushes the batched socket once. One goroutine per core, not per viewer.
type worker struct {
	conn *batchConn
	kick chan struct{}

	mu    sync.Mutex // guards dirty, subs and load
	dirty map[*slot]struct{}
	subs  map[*slot][]*downTrack
	load  int

	scratch []*slot
	tracks  []*downTrack
}

func newWorker(conn *batchConn) *worker {
	return &worker{
		conn: conn, kick: make(chan struct{}, 1),
		dirty: make(map[*slot]struct{}), subs: make(map[*slot][]*downTrack),
	}
}

func (w *worker) markDirty(s *slot) {
	w.mu.Lock()
	w.dirty[s] = struct{}{}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// add puts a viewer track on this worker.
func (w *worker) add(d *downTrack) {
	s := d.slot
	w.mu.Lock()
	list := w.subs[s]
	first := len(list) == 0
	w.subs[s] = append(list[:len(list):len(list)], d)
	w.load++
	w.mu.Unlock()
	if first {
		s.mu.Lock()
		s.workers = append(s.workers[:len(s.workers):len(s.workers)], w)
		s.mu.Unlock()
	}
	w.markDirty(s)
}

// remove takes a viewer track off this worker.
func (w *worker) remove(d *downTrack) {
	s := d.slot
	w.mu.Lock()
	list := w.subs[s]
	out := make([]*downTrack, 0, len(list))
	for _, x := range list {
		if x != d {
			out = append(out, x)
		}
	}
	if len(out) < len(list) {
		w.load--
	}
	empty := len(out) == 0
	if empty {
		delete(w.subs, s)
		delete(w.dirty, s)
	} else {
		w.subs[s] = out
	}
	w.mu.Unlock()
	if empty {
		s.mu.Lock()
		ws := make([]*worker, 0, len(s.workers))
		for _, x := range s.workers {
			if x != w {
				ws = append(ws, x)
			}
		}
		s.workers = ws
		s.mu.Unlock()
	}
}

// run is the worker's loop; it returns when done is closed.
func (w *worker) run(done <-chan struct{}, clock func() int64) {
	for {
		select {
		case <-done:
			return
		case <-w.kick:
		}
		w.round(clock)
	}
}

// round pumps every viewer of every dirty slot once. The clock is read per
// viewer: under CPU starvation a round can take longer than max_lag, and a
// time taken at its start would let the last viewers be sent stale video.
func (w *worker) round(clock func() int64) {
	w.mu.Lock()
	w.scratch = w.scratch[:0]
	for s := range w.dirty {
		w.scratch = append(w.scratch, s)
	}
	clear(w.dirty)
	w.mu.Unlock()
	again := false
	for _, s := range w.scratch {
		w.mu.Lock()
		w.tracks = append(w.tracks[:0], w.subs[s]...)
		w.mu.Unlock()
		for _, d := range w.tracks {
			if d.pump(clock()) {
				again = true
			}
		}
		if again {
			w.mu.Lock()
			w.dirty[s] = struct{}{}
			w.mu.Unlock()
			again = false
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	}
	clear(w.tracks)
	w.conn.Flush()
}
