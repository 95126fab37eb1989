package loadtool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// cgroupPeriod is the CFS period for a CPU limit: short, so a throttled
// server stalls for a few milliseconds at a time rather than most of 100 ms.
const cgroupPeriod = 10_000 // µs

// LimitCPU caps process pid at cores CPUs (0.25 = a quarter of one core)
// with a new CPU cgroup, to overload a server on purpose. It needs root and
// the cgroup v1 cpu controller or cgroup v2. release moves the process
// back out (if it still runs) and removes the group.
func LimitCPU(pid int, cores float64) (release func(), err error) {
	if cores <= 0 {
		return nil, errors.New("cpu limit must be positive")
	}
	quota := int(cores * cgroupPeriod)
	name := fmt.Sprintf("bidroom-load-%d", pid)
	var dir, root string
	var files [][2]string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // v2
		root = "/sys/fs/cgroup"
		files = [][2]string{{"cpu.max", fmt.Sprintf("%d %d", quota, cgroupPeriod)}}
	} else {
		root = "/sys/fs/cgroup/cpu"
		files = [][2]string{{"cpu.cfs_period_us", strconv.Itoa(cgroupPeriod)}, {"cpu.cfs_quota_us", strconv.Itoa(quota)}}
	}
	dir = filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s (needs root and a cpu controller): %w", dir, err)
	}
	release = func() {
		_ = os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
		_ = os.Remove(dir)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0); err != nil {
			release()
			return nil, fmt.Errorf("cgroup %s: write %s: %w", dir, f[0], err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		release()
		return nil, fmt.Errorf("cgroup %s: move pid %d in: %w", dir, pid, err)
	}
	return release, nil
}
