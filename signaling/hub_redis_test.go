package signaling_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
	"github.com/bidroom/bidroom/store/redis"
)

// TestHubWatchesAgainAfterRedisError: Redis refuses the watch a room's hub
// starts with (its clients already joined); once Redis answers again, the
// clients get every event another instance appended, during the refusal
// and after it, and the failure streak is logged once, not per try.
//
// The refusal is real: the hub's server talks to Redis as a user of this
// test's own, whose permissions the test withdraws (ACL SETUSER -@all) and
// gives back, which works on a shared server (BIDROOM_TEST_REDIS_URL) and
// touches nothing else on it. The one seam is gatedLog: the hub starts its
// watch at the same time as its first client takes its snapshot, so the
// test holds the watch back until the clients joined, then withdraws the
// permissions and lets it go to Redis.
func TestHubWatchesAgainAfterRedisError(t *testing.T) {
	rawURL := redistest.Start(t)
	prefix := redistest.Prefix(t)
	ctx := t.Context()

	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(opt)
	t.Cleanup(func() { admin.Close() })
	user, pass := "bidroom-test-"+randomHex(6), randomHex(16)
	acl := func(rules ...any) {
		t.Helper()
		if err := admin.Do(ctx, append([]any{"ACL", "SETUSER", user}, rules...)...).Err(); err != nil {
			t.Fatalf("ACL SETUSER %s %v (the test needs a Redis with ACLs, 6 or later, and a URL allowed to change them): %v", user, rules, err)
		}
	}
	acl("reset", "on", ">"+pass, "~"+prefix+":*", "&"+prefix+":*", "+@all")
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)

	openLog := func(u string) *redis.Log {
		t.Helper()
		l, err := redis.Open(ctx, u, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	gated := &gatedLog{Log: openLog(u.String()), open: make(chan struct{})}
	svc := rooms.NewService(gated, nil)
	// Another server on the same Redis, as the default user: its appends
	// reach this one's hub only through the watch or the log.
	other := &env{t: t, svc: rooms.NewService(openLog(rawURL), nil)}
	adm, host := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.Actor{Sub: "h2", Role: rooms.RoleHost}
	other.exec("r1", adm, rooms.CmdCreateSession, rooms.SessionSpec{
		Title: "工程", Category: "construction", Deadline: time.Now().Add(time.Hour), CheckInAt: time.Now()})
	other.exec("r1", rooms.SystemActor, rooms.CmdOpenCheckIn, nil)

	issuer, err := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv := signaling.New(svc, issuer, signaling.Config{}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	hs := httptest.NewServer(srv)
	e := &env{t: t, svc: svc, issuer: issuer, srv: srv, http: hs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
		hs.Close()
	})

	var clients []*conn
	for _, who := range []struct {
		role rooms.Role
		sub  string
	}{{rooms.RoleHost, "h1"}, {rooms.RoleSupervisor, "s1"}} {
		c := e.mustDial("room=r1", e.token("r1", who.role, who.sub))
		c.expect("welcome")
		c.expect("snapshot")
		clients = append(clients, c)
	}

	// Redis refuses the hub's user everything; the hub's watch goes to it.
	acl("-@all")
	close(gated.open)
	waitUntil(t, "the hub's watch to fail", func() bool { return gated.failures() >= 1 })
	other.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: "during"})
	// Let the hub try a few times, then give Redis back.
	for deadline := time.Now().Add(5 * time.Second); gated.failures() < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	acl("+@all")
	other.exec("r1", host, rooms.CmdAnnounce, rooms.Announcement{Text: "after"})

	for i, c := range clients {
		for _, want := range []string{"during", "after"} {
			f := expectWithin(c, "event", 20*time.Second)
			var ev rooms.Event
			var a rooms.Announcement
			if err := json.Unmarshal(f.Event, &ev); err != nil || ev.Type != rooms.EvAnnouncement || json.Unmarshal(ev.Data, &a) != nil || a.Text != want {
				t.Fatalf("client %d got %s, want the announcement %q", i, f.Event, want)
			}
		}
	}
	if n := gated.failures(); n < 3 {
		t.Errorf("the hub tried to watch %d times while Redis refused, want at least 3", n)
	}
	// The events may have come by polling, before the watch was made again.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "ws: watching room again") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if n := strings.Count(out, "ws: watch room"); n != 1 {
		t.Errorf("the failure streak was logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "ws: watching room again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, out)
	}
}

// gatedLog is a real rooms.Log whose Watch calls wait until open is
// closed; it counts the calls that failed.
type gatedLog struct {
	rooms.Log
	open chan struct{}

	mu     sync.Mutex // guards failed
	failed int
}

func (g *gatedLog) Watch(ctx context.Context, room string) (<-chan uint64, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ch, err := g.Log.Watch(ctx, room)
	if err != nil {
		g.mu.Lock()
		g.failed++
		g.mu.Unlock()
	}
	return ch, err
}

func (g *gatedLog) failures() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

// expectWithin reads the next frame, waiting up to d for it, and requires
// its type.
func expectWithin(c *conn, typ string, d time.Duration) frame {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	var f frame
	if err := c.ReadJSON(&f); err != nil {
		c.t.Fatalf("no frame within %v (want %s): %v", d, typ, err)
	}
	if f.Type != typ {
		c.t.Fatalf("got %s frame (%s %s), want %s", f.Type, f.Code, f.Message, typ)
	}
	return f
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects the server's log lines, written by its goroutines
// and read by the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
