package main

import (
	"sync/atomic"
	"time"
)

// histogram counts latencies in fixed 100 µs buckets up to 10 s (beyond
// goes in the last bucket; the exact maximum is kept apart). Every method
// is safe for concurrent use: thousands of readers record into one.
type histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Int64 // nanoseconds
	max     atomic.Int64 // nanoseconds
}

const (
	histWidth   = 100 * time.Microsecond
	histBuckets = int(10*time.Second/histWidth) + 1
)

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0 // clock steps; same machine, so rare
	}
	i := int(d / histWidth)
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the upper edge of the bucket holding the q-quantile
// (so a reported p99 is never below the true one by more than 100 µs).
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	if rank >= n {
		rank = n - 1
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen > rank {
			edge := time.Duration(i+1) * histWidth
			if m := time.Duration(h.max.Load()); edge > m {
				edge = m
			}
			return edge
		}
	}
	return time.Duration(h.max.Load())
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	Samples uint64  `json:"samples"`
	MeanMs  float64 `json:"mean_ms"`
	P50Ms   float64 `json:"p50_ms"`
	P95Ms   float64 `json:"p95_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

func (h *histogram) summary() Latency {
	n := h.count.Load()
	l := Latency{Samples: n, P50Ms: ms(h.quantile(0.50)), P95Ms: ms(h.quantile(0.95)),
		P99Ms: ms(h.quantile(0.99)), MaxMs: ms(time.Duration(h.max.Load()))}
	if n > 0 {
		l.MeanMs = ms(time.Duration(h.sum.Load() / int64(n)))
	}
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// spreadSlots bounds the announcements eventSpread tracks (an hour at 10/s).
const spreadSlots = 1 << 16

// eventSpread keeps, per announcement index, the fastest and the slowest
// delivery to any client: the first shows the append path (host -> server
// -> durable -> hub), the last adds the fan-out to every client.
type eventSpread struct {
	first, last [spreadSlots]atomic.Int64 // nanoseconds; first is stored +1 so 0 means none
}

func (s *eventSpread) record(idx uint64, d time.Duration) {
	if idx >= spreadSlots {
		return
	}
	v := int64(d) + 1
	for {
		m := s.first[idx].Load()
		if (m != 0 && v >= m) || s.first[idx].CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := s.last[idx].Load()
		if v <= m || s.last[idx].CompareAndSwap(m, v) {
			break
		}
	}
}

// summary returns the distributions of first and last delivery over
// announcements lo..hi.
func (s *eventSpread) summary(lo, hi uint64) (first, last Latency) {
	var hf, hl histogram
	for i := lo; i <= hi && i < spreadSlots; i++ {
		if f := s.first[i].Load(); f != 0 {
			hf.record(time.Duration(f - 1))
			hl.record(time.Duration(s.last[i].Load() - 1))
		}
	}
	return hf.summary(), hl.summary()
}
