package main

import (
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
)

// cpuMarks are named points of a run with the CPU counters of several
// processes (the servers and Redis), this process and the whole machine:
// loadtool.CPUMarks follows one server, a run here has up to three
// children. One goroutine marks.
type cpuMarks struct {
	pids  []int
	marks map[string]cpuMark
}

type cpuMark struct {
	at         time.Time
	procs      []time.Duration
	tool, busy time.Duration
}

func newCPUMarks(pids ...int) *cpuMarks { return &cpuMarks{pids: pids, marks: map[string]cpuMark{}} }

// mark records the counters now under name.
func (c *cpuMarks) mark(name string) {
	m := cpuMark{at: time.Now(), tool: loadtool.SelfCPU(), busy: loadtool.MachineBusy()}
	for _, pid := range c.pids {
		d, _ := loadtool.ProcCPU(pid)
		m.procs = append(m.procs, d)
	}
	c.marks[name] = m
}

// span is the CPU between two marks in % of one core: each process's (in
// the order given), this tool's and everything else on the machine.
type span struct {
	Secs  float64   `json:"s"`
	Procs []float64 `json:"procs"`
	Tool  float64   `json:"tool"`
	Other float64   `json:"other"`
}

func (c *cpuMarks) between(from, to string) (span, bool) {
	a, ok1 := c.marks[from]
	b, ok2 := c.marks[to]
	if !ok1 || !ok2 || !b.at.After(a.at) {
		return span{}, false
	}
	wall := b.at.Sub(a.at).Seconds()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	s := span{Secs: wall, Tool: pct(b.tool - a.tool)}
	other := b.busy - a.busy - (b.tool - a.tool)
	for i := range c.pids {
		d := b.procs[i] - a.procs[i]
		s.Procs = append(s.Procs, pct(d))
		other -= d
	}
	s.Other = max(0, pct(other))
	return s, true
}
