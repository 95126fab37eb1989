package loadtool

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
)

// StartPerf records process pid's stacks with perf (-F 997 -g) into file
// until stop (safe to call more than once), perf's own output going to
// progress (nil: none); stop says where the profile is through logf. With
// file empty it records nothing.
func StartPerf(pid int, file string, progress io.Writer, logf func(format string, args ...any)) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	cmd := exec.Command("perf", "record", "-F", "997", "-g", "-p", strconv.Itoa(pid), "-o", file)
	if progress != nil {
		cmd.Stdout, cmd.Stderr = progress, progress
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			logf("perf: the profile of pid %d is in %s (perf report -i %s --no-children)", pid, file, file)
		})
	}, nil
}
