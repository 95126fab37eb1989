package loadtool

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Redis is a redis-server child on a free loopback port, without
// persistence (as the store's tests run it), for load runs of servers on
// the Redis store.
type Redis struct {
	URL     string // redis://127.0.0.1:PORT/0
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // set before exited is closed
}

// StartRedis runs redis-server from PATH on a free loopback port and waits
// until it answers PING.
func StartRedis(ctx context.Context, name string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (apt-get install redis-server): %w", err)
	}
	dir, err := os.MkdirTemp("", name+"-redis-")
	if err != nil {
		return nil, fmt.Errorf("create redis temp dir: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r := &Redis{URL: "redis://" + addr + "/0", dir: dir, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { // owned by r: Stop waits for exited
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ping(addr) != nil {
		select {
		case <-r.exited:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server on %s exited before it answered (%v)", addr, r.waitErr)
		case <-ctx.Done():
			r.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s", addr)
		}
	}
	return r, nil
}

// PID is the child's process id.
func (r *Redis) PID() int { return r.cmd.Process.Pid }

// Stop ends the child (SIGTERM, SIGKILL after 5 s) and removes its
// directory. Safe to call more than once.
func (r *Redis) Stop() {
	stopChild(r.cmd, r.exited, 5*time.Second)
	_ = os.RemoveAll(r.dir)
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
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
