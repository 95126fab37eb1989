package loadtool

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Latency summarizes a set of latencies, in milliseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P95Ms   float64 `json:"p95_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Summarize sorts d and reads its quantiles (nearest rank).
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	q := func(p float64) float64 { return Ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	return Latency{Samples: len(d), P50Ms: q(0.50), P95Ms: q(0.95), P99Ms: q(0.99), MaxMs: Ms(d[len(d)-1])}
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Phase is the CPU of one stretch of a run, in % of one core.
type Phase struct {
	Name      string  `json:"name"`
	Secs      float64 `json:"s"`
	ServerCPU float64 `json:"server_cpu"`
	ToolCPU   float64 `json:"tool_cpu"`
	OtherCPU  float64 `json:"other_cpu"`
}

type mark struct {
	name             string
	at               time.Time
	srv, tool, total time.Duration
}

// CPUMarks are named points of a run with the server's, this process's
// and the whole machine's CPU counters at each. One goroutine marks.
type CPUMarks struct {
	pid   int
	marks []mark
}

// NewCPUMarks returns marks for the server process pid.
func NewCPUMarks(pid int) *CPUMarks { return &CPUMarks{pid: pid} }

// Mark records the counters now under name.
func (c *CPUMarks) Mark(name string) {
	srv, _ := ProcCPU(c.pid)
	c.marks = append(c.marks, mark{name: name, at: time.Now(), srv: srv, tool: SelfCPU(), total: MachineBusy()})
}

// Phases is the CPU between consecutive marks, and between the first
// and the last (the whole), in % of one core.
func (c *CPUMarks) Phases() (phases []Phase, whole Phase) {
	for i := 1; i < len(c.marks); i++ {
		phases = append(phases, between(c.marks[i-1], c.marks[i], c.marks[i-1].name+" → "+c.marks[i].name))
	}
	if len(c.marks) > 1 {
		whole = between(c.marks[0], c.marks[len(c.marks)-1], "whole run")
	}
	return phases, whole
}

// Between is the CPU from mark from to mark to (by name; the first of
// each name), or false if either is missing.
func (c *CPUMarks) Between(from, to, name string) (Phase, bool) {
	a := slices.IndexFunc(c.marks, func(m mark) bool { return m.name == from })
	b := slices.IndexFunc(c.marks, func(m mark) bool { return m.name == to })
	if a < 0 || b < 0 {
		return Phase{}, false
	}
	return between(c.marks[a], c.marks[b], name), true
}

func between(a, b mark, name string) Phase {
	wall := b.at.Sub(a.at)
	pct := func(d time.Duration) float64 {
		if wall <= 0 {
			return 0
		}
		return 100 * d.Seconds() / wall.Seconds()
	}
	srv, tool := b.srv-a.srv, b.tool-a.tool
	return Phase{Name: name, Secs: wall.Seconds(), ServerCPU: pct(srv), ToolCPU: pct(tool), OtherCPU: max(0, pct(b.total-a.total-srv-tool))}
}

// ForEach runs f(0..n-1) with at most par at once and returns the first
// error (the rest still run to the end of their call, none start after).
func ForEach(ctx context.Context, n, par int, f func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// Errors collects a run's errors: every one counted, the first few kept.
type Errors struct {
	mu   sync.Mutex // guards the fields below
	kept []string
	n    int
}

// Note records err.
func (e *Errors) Note(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.kept) < 10 {
		e.kept = append(e.kept, err.Error())
	}
}

// List is the errors kept, and a line counting the others.
func (e *Errors) List() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]string(nil), e.kept...)
	if e.n > len(e.kept) {
		out = append(out, "… "+strconv.Itoa(e.n-len(e.kept))+" more errors")
	}
	return out
}

// Len is the number of errors noted.
func (e *Errors) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}
