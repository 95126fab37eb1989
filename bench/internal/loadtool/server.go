// Package loadtool is what the load tools (wsload, mediaload, openload,
// evalload) share: a `bidroom serve` child and the readers of what they
// measure of it (/proc CPU and memory, /metrics), the REST client, a
// websocket participant that checks its stream (Watcher), one opening run
// end to end (RunOpening: what openload measures and evalload starts
// from), latency summaries and CPU marks, and the machine facts and
// process limits their reports start with. It holds no tool's report.
package loadtool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Server is a bidroom child process on a free loopback port with its own
// temporary data directory.
type Server struct {
	Base     string // http://127.0.0.1:PORT
	AdminKey string
	metrics  string // server.metrics_token, sent when scraping
	cmd      *exec.Cmd
	dir      string // temp dir: data/ and server.log
	logPath  string
	http     *http.Client  // healthz and metrics
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error         // set before exited is closed
}

// Config is what the child is started with.
type Config struct {
	Binary   string
	Name     string   // the tool's name, in the temp dir's name
	Env      []string // KEY=VALUE added last, winning over the defaults (GOGC, GOMAXPROCS, BIDROOM_*)
	LogLevel string   // default warn
	DataBase string   // parent of the server's temp dir; "" for the system default
}

// Start runs `bidroom serve` with the embedded store, no demo, a generated
// admin key, media on a loopback muxed UDP port, and waits until /healthz
// answers.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	dir, err := os.MkdirTemp(cfg.DataBase, cfg.Name+"-server-")
	if err != nil {
		return nil, fmt.Errorf("create server temp dir: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		dir: dir, Base: "http://127.0.0.1:" + strconv.Itoa(port),
		AdminKey: RandomString(24), metrics: RandomString(24), logPath: filepath.Join(dir, "server.log"),
		http:   &http.Client{Timeout: 10 * time.Second},
		exited: make(chan struct{}),
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	level := cfg.LogLevel
	if level == "" {
		level = "warn"
	}
	env := []string{}
	for _, kv := range os.Environ() {
		// The server refuses unknown BIDROOM_ variables, and ours must win.
		if !strings.HasPrefix(kv, "BIDROOM_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"BIDROOM_DATA_DIR="+filepath.Join(dir, "data"),
		"BIDROOM_SERVER_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"BIDROOM_STORE_BACKEND=embedded",
		"BIDROOM_AUTH_ADMIN_KEY="+s.AdminKey,
		"BIDROOM_SERVER_METRICS_TOKEN="+s.metrics,
		"BIDROOM_AUTH_TOKEN_SECRET="+RandomString(48),
		"BIDROOM_DEMO_ENABLED=false",
		"BIDROOM_LOG_LEVEL="+level,
		"BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:0", // never the fixed default port two children would share
	)
	// exec keeps the last value of a duplicated key, so these win.
	env = append(env, cfg.Env...)

	// Not CommandContext: stop decides how the child ends (SIGTERM, then SIGKILL).
	s.cmd = exec.Command(cfg.Binary, "serve")
	s.cmd.Env = env
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Own process group (a terminal's Ctrl-C reaches only us; we stop the
	// child in order), and killed by the kernel if this process dies first.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	go func() { // owned by s: stop waits for exited
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitHealthy(ctx, 20*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// PID is the child's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

func (s *Server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was ready (%v); log:\n%s", s.waitErr, s.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := s.http.Get(s.Base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not healthy at %s after %v; log:\n%s", s.Base, timeout, s.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the child: SIGTERM (graceful shutdown), SIGKILL after 10 s,
// then removes its data directory. Safe to call more than once.
func (s *Server) Stop() {
	s.http.CloseIdleConnections()
	stopChild(s.cmd, s.exited, 10*time.Second)
	_ = os.RemoveAll(s.dir)
}

// stopChild ends a child process that closes exited when it has exited:
// SIGTERM, then SIGKILL after grace. Nothing if it has exited already.
func stopChild(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Alive reports an error if the child has exited.
func (s *Server) Alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server exited (%v); log:\n%s", s.waitErr, s.LogTail(20))
	default:
		return nil
	}
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a TCP port free on 127.0.0.1 just now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort returns a UDP port free on 127.0.0.1 just now.
func FreeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// RandomString returns n random bytes, base64url-encoded.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ProcMem is a process's resident memory from /proc/PID/status.
type ProcMem struct {
	RSS  uint64 // VmRSS, bytes
	Peak uint64 // VmHWM, bytes
}

// ReadProcMem reads a process's resident memory.
func ReadProcMem(pid int) (ProcMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMem{}, err
	}
	var m ProcMem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// ProcCPU returns a process's user+system CPU time from /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it start at 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// SelfCPU returns this process's user+system CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Metrics is one scrape of the server's /metrics: sample name (with its
// labels, as exposed) to value.
type Metrics map[string]float64

// HeapStack is the Go heap in use plus goroutine stacks, in bytes.
func (m Metrics) HeapStack() float64 {
	return m["go_memstats_heap_inuse_bytes"] + m["go_memstats_stack_inuse_bytes"]
}

// Scrape reads the server's /metrics.
func (s *Server) Scrape(ctx context.Context) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.metrics)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// MachineBusy returns the CPU time all processors spent not idle, from
// the first line of /proc/stat.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch i {
		case 3, 4: // idle, iowait
		case 8, 9: // guest, guest_nice: already in user and nice
		default:
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}
