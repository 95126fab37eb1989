//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// epollRig is one viewer read by a set of pollers, dialing a test server.
type epollRig struct {
	ps     *pollers
	v      *viewer
	cancel context.CancelFunc // stops the pollers
}

// newEpollRig starts pollers and a server with handler h; the cleanup
// stops both.
func newEpollRig(t *testing.T, h http.HandlerFunc) *epollRig {
	t.Helper()
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ps, err := startPollers(ctx, time.Millisecond, &wg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	r := &runner{ctx: ctx, wsURLs: []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?room=r"}, host: &host{}}
	r.phase2Last.Store(math.MaxUint64)
	return &epollRig{ps: ps, v: &viewer{r: r, sub: "v-1", token: "tok"}, cancel: cancel}
}

func (g *epollRig) dial(t *testing.T, pos *uint64) (viewerConn, error) {
	t.Helper()
	return g.ps.dial(context.Background(), g.v, pos, false)
}

// within returns what ch gives, failing the test if nothing comes in 5s.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing within 5s")
	}
	var zero T
	return zero
}

// ended is c.wait, failing the test if the connection has not ended in
// 5s (the rig's cleanup then ends it).
func ended(t *testing.T, c viewerConn) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.wait() }()
	return within(t, done)
}

// hijack answers the upgrade request itself with answer (the request's
// key's accept in place of ACCEPT), then reads until the client closes.
func hijack(t *testing.T, answer string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		a := strings.ReplaceAll(answer, "ACCEPT", acceptKey(req.Header.Get("Sec-WebSocket-Key")))
		if _, err := io.WriteString(conn, a); err != nil {
			t.Errorf("write the answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, conn)
	}
}

const upgraded = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n"

// TestEpollDial: the epoll reader's own handshake and framing against
// gorilla's server side (and a few hand-written answers): the request it
// sends, messages to the viewer, pings answered, closes both ways,
// refusals and timeouts as errors, the run's end.
func TestEpollDial(t *testing.T) {
	defer goleak.VerifyNone(t)
	var up websocket.Upgrader

	t.Run("messages, ping, the server's close", func(t *testing.T) {
		got := make(chan string, 3)
		g := newEpollRig(t, func(w http.ResponseWriter, req *http.Request) {
			got <- req.URL.RequestURI() + " " + req.Header.Get("Authorization")
			conn, err := up.Upgrade(w, req, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			conn.SetPongHandler(func(s string) error {
				got <- "pong " + s
				return conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second))
			})
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"resumed","pos":7}`))
			_ = conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
			_, _, err = conn.ReadMessage() // the pong, then the client's answer to the close
			got <- err.Error()
		})
		pos := uint64(7)
		g.v.pos.Store(pos)
		c, err := g.dial(t, &pos)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := ended(t, c); err == nil || !strings.Contains(err.Error(), "closed by the server: 1000 bye") {
			t.Errorf("wait: %v, want the server's close 1000 bye", err)
		}
		for _, want := range []string{"/ws?room=r&pos=7 Bearer tok", "pong are you there", "websocket: close 1000"} {
			if s := within(t, got); !strings.HasPrefix(s, want) {
				t.Errorf("server saw %q, want %q", s, want)
			}
		}
		if g.v.resumes.Load() != 1 || g.v.r.errsAll.Load() != 0 {
			t.Errorf("viewer: %d resumes, errors %q; want 1, none", g.v.resumes.Load(), g.v.r.errs)
		}
	})

	t.Run("go away", func(t *testing.T) {
		got := make(chan string, 1)
		g := newEpollRig(t, func(w http.ResponseWriter, req *http.Request) {
			conn, err := up.Upgrade(w, req, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			_, _, err = conn.ReadMessage()
			got <- err.Error()
		})
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.goAway()
		if err := ended(t, c); !errors.Is(err, errClosedByTool) {
			t.Errorf("wait: %v, want %v", err, errClosedByTool)
		}
		if s, want := within(t, got), "websocket: close 1001 (going away): wsload storm"; s != want {
			t.Errorf("server saw %q, want %q", s, want)
		}
	})

	t.Run("frames in the answer's read", func(t *testing.T) {
		g := newEpollRig(t, hijack(t, upgraded+string(cat(
			serverFrame(false, opText, []byte(`{"v":1,"type":"res`)),
			serverFrame(true, opContinuation, []byte(`umed","pos":0}`)),
			serverFrame(true, opClose, closePayload(1001, "restart"))))))
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := ended(t, c); err == nil || !strings.Contains(err.Error(), "1001 restart") {
			t.Errorf("wait: %v, want the server's close", err)
		}
		if g.v.resumes.Load() != 1 {
			t.Errorf("%d resumes, want the one that came with the answer", g.v.resumes.Load())
		}
	})

	t.Run("refused", func(t *testing.T) {
		g := newEpollRig(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"token expired"}}`)
		})
		_, err := g.dial(t, nil)
		if err == nil || !strings.Contains(err.Error(), `HTTP 401 {"error":{"code":"unauthorized","message":"token expired"}}`) {
			t.Errorf("dial: %v, want HTTP 401 and the body", err)
		}
	})

	t.Run("wrong accept", func(t *testing.T) {
		g := newEpollRig(t, hijack(t, strings.Replace(upgraded, "ACCEPT", "d3Jvbmc=", 1)))
		if _, err := g.dial(t, nil); err == nil || !strings.Contains(err.Error(), `Sec-WebSocket-Accept "d3Jvbmc="`) {
			t.Errorf("dial: %v, want the accept refused", err)
		}
	})

	t.Run("protocol violation", func(t *testing.T) {
		g := newEpollRig(t, hijack(t, upgraded+"\x81\x81abcd"))
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := ended(t, c); !errors.Is(err, errProtocol) {
			t.Errorf("wait: %v, want a protocol violation", err)
		}
	})

	t.Run("no answer", func(t *testing.T) {
		g := newEpollRig(t, hijack(t, ""))
		g.ps.timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := g.dial(t, nil)
		if !errors.Is(err, errTimeout) {
			t.Errorf("dial: %v, want %v", err, errTimeout)
		}
		if d := time.Since(start); d < g.ps.timeout || d > 5*time.Second {
			t.Errorf("gave up after %v, want about %v", d, g.ps.timeout)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		g := newEpollRig(t, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g.v.r.wsURLs[0] = "ws://" + ln.Addr().String() + "/ws?room=r"
		ln.Close()
		if _, err := g.dial(t, nil); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("dial: %v, want connection refused", err)
		}
	})

	t.Run("the run's end", func(t *testing.T) {
		g := newEpollRig(t, func(w http.ResponseWriter, req *http.Request) {
			if conn, err := up.Upgrade(w, req, nil); err == nil {
				_, _, _ = conn.ReadMessage()
				conn.Close()
			}
		})
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		g.cancel()
		if err := ended(t, c); !errors.Is(err, context.Canceled) {
			t.Errorf("wait: %v, want %v", err, context.Canceled)
		}
		c.close() // a late request is harmless
		if _, err := g.dial(t, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("dial after the end: %v, want %v", err, context.Canceled)
		}
	})
}
