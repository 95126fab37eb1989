package loadtool

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Machine describes where a load run's figures were taken.
type Machine struct {
	CPUs     int    `json:"cpus"`
	Model    string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	ToolGo   string `json:"tool_go"`
	ServerGo string `json:"server_go,omitempty"`
	FDLimit  uint64 `json:"fd_limit,omitempty"`
}

// DescribeMachine reads this machine's facts, and the Go version the
// server binary was built with.
func DescribeMachine(serverBin string, fdLimit uint64) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Model: CPUModel(), Kernel: Kernel(), ToolGo: runtime.Version(), FDLimit: fdLimit}
	if bi, err := buildinfo.ReadFile(serverBin); err == nil {
		m.ServerGo = bi.GoVersion
	}
	return m
}

// Line is the machine in one line of a report, tool naming the load tool.
func (m Machine) Line(tool string) string {
	s := fmt.Sprintf("machine: %d CPUs (nproc), %s, Linux %s, %s %s, server %s", m.CPUs, m.Model, m.Kernel, tool, m.ToolGo, m.ServerGo)
	if m.FDLimit > 0 {
		s += fmt.Sprintf(", fd limit %d", m.FDLimit)
	}
	return s
}

// BuildServer builds github.com/bidroom/bidroom/cmd/bidroom into a
// temporary directory when *bin is empty, setting *bin; cleanup removes
// that directory (a no-op when a binary was given).
func BuildServer(ctx context.Context, bin *string, tool string, stderr io.Writer) (cleanup func(), err error) {
	if *bin != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", tool+"-build-")
	if err != nil {
		return nil, fmt.Errorf("create build dir: %w", err)
	}
	*bin = filepath.Join(dir, "bidroom")
	fmt.Fprintln(stderr, tool+": building the server: go build -o", *bin, "github.com/bidroom/bidroom/cmd/bidroom")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/bidroom/bidroom/cmd/bidroom")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build the server (run from inside the module, or pass -server): %w", err)
	}
	return func() { os.RemoveAll(dir) }, nil
}

// AwaitQuiet is the tools' first step: with wait > 0, WaitQuiet, and a
// word on w when the machine is still busy after it (the run goes on).
func AwaitQuiet(ctx context.Context, tool string, wait time.Duration, below float64, w io.Writer) error {
	if wait <= 0 {
		return nil
	}
	busy, err := WaitQuiet(ctx, wait, below)
	if err != nil {
		return err
	}
	if busy >= below {
		fmt.Fprintf(w, "%s: machine still %.0f%% busy (of one core) after %v; running anyway\n", tool, busy, wait)
	}
	return nil
}

// WaitQuiet waits until the whole machine is busy under below % of one
// core over 3 s, or until limit; it returns the last reading. Other work
// on the box (a shared CI runner, say) skews every latency figure.
func WaitQuiet(ctx context.Context, limit time.Duration, below float64) (float64, error) {
	deadline := time.Now().Add(limit)
	for {
		t0, b0 := time.Now(), MachineBusy()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(3 * time.Second):
		}
		busy := 100 * (MachineBusy() - b0).Seconds() / time.Since(t0).Seconds()
		if busy < below || time.Now().After(deadline) {
			return busy, nil
		}
	}
}

// WriteReport writes a tool's report to w: indented JSON with -json
// (asJSON), else the tool's own table (printTable).
func WriteReport(w io.Writer, asJSON bool, rep any, printTable func()) error {
	if !asJSON {
		printTable()
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
