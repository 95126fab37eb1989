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
	"strconv"
	"strings"
	"sync"
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

// start runs one redis-server and waits until it answers PING.
func start(t testing.TB, bin string, extra ...string) (addr string, err error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning"}, extra...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(startTimeout)
	for {
		if ping(addr) == nil {
			t.Cleanup(stop)
			return addr, nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("redis-server on %s exited (%v): %s", addr, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server on %s did not answer PING within %v: %s", addr, startTimeout, out.String())
		}
	}
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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and the Redis Cluster tests need a real one (apt-get install redis-server)")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (it comes with redis-server) and creates the test cluster")
	}
	var addrs []string
	for range 3 {
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
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
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
	return "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
}
