package main

import (
	"sync"
	"time"
)

// sentFrame is what the publisher wrote for one RTP timestamp.
type sentFrame struct {
	index   int64 // 0 for the first frame sent
	sent    int64 // wall clock when its last packet was written, Unix ns
	packets int   // RTP packets it was split into
	key     bool
}

// frameLog maps the publisher's RTP timestamps to when each frame was
// sent. Publisher and viewers share it: they are in the same process, so
// a viewer's receipt time minus the sent time is the delivery latency.
// It keeps the last logKeep frames.
type frameLog struct {
	mu    sync.RWMutex // guards byTS, order and count
	byTS  map[uint32]sentFrame
	order []uint32 // ring of the timestamps in byTS, oldest overwritten
	count int64    // frames logged so far
}

// logKeep is how many frames the log remembers: a minute at 30 fps, far
// more than any frame may take to arrive.
const logKeep = 1800

func newFrameLog() *frameLog {
	return &frameLog{byTS: make(map[uint32]sentFrame, logKeep), order: make([]uint32, logKeep)}
}

// add records a frame just sent and returns its index.
func (l *frameLog) add(ts uint32, packets int, key bool, sent time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.count
	slot := int(i % logKeep)
	if i >= logKeep {
		delete(l.byTS, l.order[slot])
	}
	l.order[slot] = ts
	l.byTS[ts] = sentFrame{index: i, sent: sent.UnixNano(), packets: packets, key: key}
	l.count++
	return i
}

// lookup returns the frame sent with timestamp ts, if the log has it.
func (l *frameLog) lookup(ts uint32) (sentFrame, bool) {
	l.mu.RLock()
	f, ok := l.byTS[ts]
	l.mu.RUnlock()
	return f, ok
}

// sent is the number of frames logged so far.
func (l *frameLog) sent() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.count
}
