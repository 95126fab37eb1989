package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points tests at an existing
// Redis server (e.g. redis://127.0.0.1:6379/0) instead of starting one.
const EnvURL = "BIDROOM_TEST_REDIS_URL"

// startTimeout bounds how long a started redis-server may take to answer.
const startTimeout = 10 * time.Second

// Start returns the URL of a Redis server for t. With EnvURL set it is that
// server, shared: keep tests apart with Prefix. Otherwise it starts
// redis-server from PATH on a free loopback port, without persistence, and
// stops it when t ends. It fails t if redis-server is not installed.
func Start(t testing.TB) (url string) {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and the Redis tests need a real server: install it "+
			"(apt-get install redis-server) or set %s to a server's URL", EnvURL)
	}
	// The port is free when we look but may be taken before redis-server
	// binds it; try a few times.
	var lastErr error
	for range 3 {
		addr, err := start(t, bin)
		if err == nil {
			return "redis://" + addr + "/0"
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return ""
}

// start runs one redis-server (without persistence unless extra turns it
// on: later arguments win) and waits until it answers PING.
func start(t testing.TB, bin string, extra ...string) (addr string, err error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	// No delay before a replica's first sync (Redis waits 5s by default, for
	// more replicas to share it).
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0",
		"--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning"}, extra...)
	p, err := launch(t, bin, port, args)
	if err != nil {
		return "", err
	}
	return p.addr, nil
}

// proc is a redis-server the package started, registered by address so
// Kill and Pause can find it.
type proc struct {
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once the process has exited and been reaped
}

var (
	procsMu sync.Mutex
	procs   = make(map[string]*proc) // live processes by address; guarded by procsMu
)

// launch starts bin with args, expecting it to listen on port, and waits
// until it answers PING. The process stops (SIGINT, then SIGKILL after 5s)
// when t ends.
func launch(t testing.TB, bin string, port int, args []string) (*proc, error) {
	p := &proc{
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:  exec.Command(bin, args...),
		out:  new(syncBuffer),
		done: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(p.addr) == nil {
			procsMu.Lock()
			procs[p.addr] = p
			procsMu.Unlock()
			t.Cleanup(func() {
				procsMu.Lock()
				delete(procs, p.addr)
				procsMu.Unlock()
				p.stop()
			})
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s on %s exited (%v): %s", bin, p.addr, p.cmd.ProcessState, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s on %s did not answer PING within %v: %s", bin, p.addr, startTimeout, p.out.String())
		}
	}
}

// stop ends the process gracefully if it still runs. SIGCONT first: a
// paused process would not act on SIGINT.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// lookup returns the live process at addr, failing t if the package did not
// start one there.
func lookup(t testing.TB, addr string) *proc {
	t.Helper()
	procsMu.Lock()
	p := procs[addr]
	procsMu.Unlock()
	if p == nil {
		t.Fatalf("no redis-server started by redistest runs on %s", addr)
	}
	return p
}

// Kill kills the redis-server at addr with SIGKILL, as a crash would (no
// shutdown: what it had not yet written to its files or sent to its
// replicas is gone), and waits until it has exited. The server must be one
// this package started.
func Kill(t testing.TB, addr string) {
	t.Helper()
	p := lookup(t, addr)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Pause stops the redis-server at addr with SIGSTOP: it keeps its
// connections but answers nothing, as a hung server would. The returned
// function resumes it (SIGCONT); it is also resumed when t ends.
func Pause(t testing.TB, addr string) (resume func()) {
	t.Helper()
	p := lookup(t, addr)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("pause redis-server on %s: %v", addr, err)
	}
	return func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Prefix returns a key prefix no other test (or run) uses, readable in
// MONITOR output: "test:<test name>:<random>". On a shared server (EnvURL
// set) the keys under it are deleted when t ends.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 48 {
		name = name[len(name)-48:]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + name + ":" + hex.EncodeToString(b[:])
	if u := os.Getenv(EnvURL); u != "" {
		t.Cleanup(func() {
			if err := deleteKeys(u, prefix+":*"); err != nil {
				t.Errorf("delete the test's keys from %s: %v", EnvURL, err)
			}
		})
	}
	return prefix
}

// deleteKeys deletes the keys matching pattern from the server at url.
func deleteKeys(url, pattern string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil || len(keys) == 0 {
		return err
	}
	return c.Unlink(ctx, keys...).Err()
}

// syncBuffer collects a child's output, written by exec's copying goroutine
// and read by the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartCluster starts a Redis Cluster of three masters (no replicas) on
// free loopback ports — redis-server with cluster-enabled, joined by
// `redis-cli --cluster create` — waits until every slot is served, and
// returns a go-redis cluster URL (redis://a?addr=b&addr=c). The servers
// stop when t ends. It fails t if redis-server or redis-cli is missing.
func StartCluster(t testing.TB) string {
	t.Helper()
	return startCluster(t, 0)
}

// StartClusterWithReplicas is StartCluster with one replica for each of
// the three masters (six servers); it also waits until every replica is in
// sync with its master.
func StartClusterWithReplicas(t testing.TB) string {
	t.Helper()
	return startCluster(t, 1)
}

func startCluster(t testing.TB, replicas int) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and the Redis Cluster tests need a real one (apt-get install redis-server)")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (it comes with redis-server) and creates the test cluster")
	}
	var addrs []string
	for range 3 * (1 + replicas) {
		var addr string
		var lastErr error
		for range 3 {
			if addr, lastErr = start(t, bin, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"); lastErr == nil {
				break
			}
		}
		if lastErr != nil {
			t.Fatalf("start a cluster node: %v", lastErr)
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strings.Split(addrs[0], ":")[1], "cluster", "info").CombinedOutput()
		if err == nil && strings.Contains(string(out), "cluster_state:ok") && strings.Contains(string(out), "cluster_slots_assigned:16384") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test cluster did not become ok: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if replicas > 0 {
		for _, addr := range addrs {
			if err := awaitReplicas(addr, replicas, deadline); err != nil {
				t.Fatalf("the test cluster's replicas: %v", err)
			}
		}
	}
	return "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
}

// awaitReplicas waits until deadline for the server at addr, if it is a
// master, to have n replicas online (connected and done syncing).
func awaitReplicas(addr string, n int, deadline time.Time) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "replication").Result()
		cancel()
		if err == nil {
			if !strings.Contains(info, "role:master") || strings.Count(info, ",state=online,") >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not have %d replicas online: %v\n%s", addr, n, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SentinelMaster is the name StartSentinel's Sentinels know the primary by.
const SentinelMaster = "bidroom-test"

// Sentinel is a primary with replicas watched by three Sentinels, started
// by StartSentinel.
type Sentinel struct {
	// URL reaches the current primary through the Sentinels, in the form
	// store/redis reads in sentinel mode:
	// redis://127.0.0.1:P1?master_name=bidroom-test&addr=127.0.0.1:P2&addr=127.0.0.1:P3
	URL       string
	sentinels []string // the Sentinels' addresses
}

// StartSentinel starts, on free loopback ports, a primary, replicas
// replicas of it (--replicaof) and three Sentinels monitoring it with a
// quorum of two, down-after-milliseconds 1000 and failover-timeout 3000,
// so a primary that dies is replaced within a few seconds. serverArgs go to
// the primary and the replicas (e.g. "--appendonly", "yes"); without them
// they run without persistence. It returns once every Sentinel sees the
// replicas and the other Sentinels, and the replicas are in sync. Every
// process stops when t ends. It fails t if redis-server is missing; EnvURL
// does not apply (the test needs servers it may kill).
func StartSentinel(t testing.TB, replicas int, serverArgs ...string) *Sentinel {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and the Redis Sentinel tests need a real one (apt-get install redis-server)")
	}
	startOne := func(what string, launchOne func() (string, error)) string {
		t.Helper()
		var lastErr error
		for range 3 { // the free port may be taken before the server binds it
			addr, err := launchOne()
			if err == nil {
				return addr
			}
			lastErr = err
		}
		t.Fatalf("start %s: %v", what, lastErr)
		return ""
	}
	primary := startOne("the primary", func() (string, error) { return start(t, bin, serverArgs...) })
	host, port, _ := net.SplitHostPort(primary)
	for range replicas {
		startOne("a replica", func() (string, error) {
			return start(t, bin, append(slices.Clone(serverArgs), "--replicaof", host, port)...)
		})
	}
	deadline := time.Now().Add(startTimeout)
	if err := awaitReplicas(primary, replicas, deadline); err != nil {
		t.Fatalf("the Sentinel test's replicas: %v", err)
	}
	s := &Sentinel{}
	for range 3 {
		s.sentinels = append(s.sentinels, startOne("a Sentinel", func() (string, error) {
			return startSentinel(t, bin, primary)
		}))
	}
	for _, addr := range s.sentinels {
		if err := awaitSentinel(addr, replicas, len(s.sentinels)-1, deadline); err != nil {
			t.Fatalf("the test's Sentinels: %v", err)
		}
	}
	s.URL = "redis://" + s.sentinels[0] + "?master_name=" + SentinelMaster + "&addr=" + strings.Join(s.sentinels[1:], "&addr=")
	return s
}

// startSentinel runs one Sentinel monitoring primary. Sentinel rewrites its
// configuration file, so each gets its own in a fresh directory.
func startSentinel(t testing.TB, bin, primary string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	host, pport, _ := net.SplitHostPort(primary)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`sentinel monitor %[1]s %s %s 2
sentinel down-after-milliseconds %[1]s 1000
sentinel failover-timeout %[1]s 3000
sentinel parallel-syncs %[1]s 2
`, SentinelMaster, host, pport)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("write the Sentinel's configuration: %w", err)
	}
	p, err := launch(t, bin, port, []string{conf, "--sentinel",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning"})
	if err != nil {
		return "", err
	}
	return p.addr, nil
}

// awaitSentinel waits until deadline for the Sentinel at addr to see the
// primary with replicas replicas and others other Sentinels: a failover
// needs the replicas known and a majority of Sentinels to vote.
func awaitSentinel(addr string, replicas, others int, deadline time.Time) error {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := c.Master(ctx, SentinelMaster).Result()
		cancel()
		if err == nil && m["num-slaves"] == strconv.Itoa(replicas) && m["num-other-sentinels"] == strconv.Itoa(others) && m["flags"] == "master" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Sentinel at %s does not see %d replicas and %d other Sentinels: %v %v", addr, replicas, others, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Primary returns the address the Sentinels give for the current primary.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var lastErr error
	for _, addr := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr})
		hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		lastErr = fmt.Errorf("the Sentinel at %s answered %v, %v", addr, hp, err)
	}
	return "", fmt.Errorf("ask the Sentinels for the primary: %w", lastErr)
}

// KillPrimary kills the current primary with SIGKILL (see Kill) and
// returns its address; the Sentinels then promote a replica.
func (s *Sentinel) KillPrimary(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := s.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	Kill(t, addr)
	return addr
}
