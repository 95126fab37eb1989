package main

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

// server is a bidroom child process on a free loopback port with its own
// temporary data directory.
type server struct {
	cmd      *exec.Cmd
	dir      string // temp dir: data/ and server.log
	base     string // http://127.0.0.1:PORT
	udpPort  int    // media UDP port it was given, 0 if it has no media settings
	adminKey string
	logPath  string
	http     *http.Client  // healthz and metrics
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error         // set before exited is closed
}

// serverConfig is what the child is started with.
type serverConfig struct {
	Binary   string
	NoMedia  bool     // leave out the BIDROOM_MEDIA_* settings
	ExtraEnv []string // KEY=VALUE added last (GODEBUG, GOGC, GOMAXPROCS, BIDROOM_*)
	LogLevel string
	DataBase string // parent of the server's temp dir; "" for the system default
}

// startServer runs `bidroom serve` with media on one muxed UDP port on
// 127.0.0.1 and waits until /healthz answers.
func startServer(ctx context.Context, cfg serverConfig) (*server, error) {
	dir, err := os.MkdirTemp(cfg.DataBase, "mediaload-server-")
	if err != nil {
		return nil, fmt.Errorf("create server temp dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &server{
		dir: dir, base: "http://127.0.0.1:" + strconv.Itoa(port),
		adminKey: randomString(24), logPath: filepath.Join(dir, "server.log"),
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
		"BIDROOM_AUTH_ADMIN_KEY="+s.adminKey,
		"BIDROOM_AUTH_TOKEN_SECRET="+randomString(48),
		"BIDROOM_DEMO_ENABLED=false",
		"BIDROOM_LOG_LEVEL="+level,
	)
	if !cfg.NoMedia {
		if s.udpPort, err = freeUDPPort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		port := strconv.Itoa(s.udpPort)
		env = append(env,
			"BIDROOM_MEDIA_ENABLED=true", "BIDROOM_MEDIA_INCLUDE_LOOPBACK=true",
			"BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:"+port, "BIDROOM_MEDIA_INTERFACES=lo",
			"BIDROOM_MEDIA_RECORD=false", // the disk is not what this measures
		)
	}
	env = append(env, cfg.ExtraEnv...)

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
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was ready (%v); log:\n%s", s.waitErr, s.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := s.http.Get(s.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not healthy at %s after %v; log:\n%s", s.base, timeout, s.logTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the child: SIGTERM (graceful shutdown), SIGKILL after 10 s,
// then removes its data directory. Safe to call more than once.
func (s *server) stop() {
	s.http.CloseIdleConnections()
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.dir)
}

// alive reports an error if the child has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server exited (%v); log:\n%s", s.waitErr, s.logTail(20))
	default:
		return nil
	}
}

// logTail returns the last n lines of the server's log.
func (s *server) logTail(n int) string {
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// procMem is a process's resident memory from /proc/PID/status.
type procMem struct {
	RSS  uint64 // VmRSS, bytes
	Peak uint64 // VmHWM, bytes
}

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
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

// procCPU returns a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
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

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metrics is one scrape of the server's /metrics: sample name (with its
// labels, as exposed) to value.
type metrics map[string]float64

func (s *server) scrape(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	m := metrics{}
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
