package placement

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisClient connects to a real Redis for t and returns the client and a
// key prefix of t's own.
func redisClient(t *testing.T) (goredis.UniversalClient, string) {
	t.Helper()
	opt, err := goredis.ParseURL(redistest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c, redistest.Prefix(t)
}

func newRegistry(t *testing.T, c goredis.UniversalClient, prefix string, self Instance, lease time.Duration) *Redis {
	t.Helper()
	r, err := NewRedis(c, prefix, self, lease)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	instA = Instance{ID: "a", URL: "http://127.0.0.1:1001"}
	instB = Instance{ID: "b", URL: "http://127.0.0.1:1002"}
)

// TestRedisLease: one instance takes a room's lease, another sees it and
// can neither take, renew nor release it; the holder renews it; once it
// lapses the other takes it, and the former holder can no longer renew.
func TestRedisLease(t *testing.T) {
	c, prefix := redisClient(t)
	const lease = 400 * time.Millisecond
	a := newRegistry(t, c, prefix, instA, lease)
	b := newRegistry(t, c, prefix, instB, lease)
	ctx := context.Background()

	if _, held, err := b.Lookup(ctx, "r1"); err != nil || held {
		t.Fatalf("Lookup of a free room: held=%v err=%v", held, err)
	}
	l, err := a.Acquire(ctx, "r1")
	if err != nil || l.Holder != instA || l.TTL <= 0 || l.TTL > lease {
		t.Fatalf("a.Acquire: %+v %v; want a's lease of at most %v", l, err, lease)
	}
	// The key carries the room as its hash tag (one slot on a Cluster).
	if n, err := c.Exists(ctx, prefix+":media:{r1}").Result(); err != nil || n != 1 {
		t.Fatalf("key %s:media:{r1}: exists=%d err=%v", prefix, n, err)
	}
	if l, err := b.Acquire(ctx, "r1"); err != nil || l.Holder != instA {
		t.Fatalf("b.Acquire of a's room: %+v %v; want a's lease", l, err)
	}
	if ok, err := b.Renew(ctx, "r1"); err != nil || ok {
		t.Fatalf("b.Renew of a's lease: %v %v; want false", ok, err)
	}
	if err := b.Release(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if l, held, err := b.Lookup(ctx, "r1"); err != nil || !held || l.Holder != instA {
		t.Fatalf("after b's release: %+v held=%v %v; want a's still", l, held, err)
	}

	// Renewing keeps it past its first term.
	for range 4 {
		time.Sleep(lease / 3)
		if ok, err := a.Renew(ctx, "r1"); err != nil || !ok {
			t.Fatalf("a.Renew: %v %v", ok, err)
		}
	}
	if l, held, _ := b.Lookup(ctx, "r1"); !held || l.Holder != instA {
		t.Fatalf("a's renewed lease after %v: %+v held=%v", 4*lease/3, l, held)
	}

	// Not renewed, it lapses; b takes it and a cannot renew b's.
	time.Sleep(lease + 100*time.Millisecond)
	if _, held, err := b.Lookup(ctx, "r1"); err != nil || held {
		t.Fatalf("a lapsed lease: held=%v err=%v", held, err)
	}
	if l, err := b.Acquire(ctx, "r1"); err != nil || l.Holder != instB {
		t.Fatalf("b.Acquire after the lapse: %+v %v", l, err)
	}
	if ok, err := a.Renew(ctx, "r1"); err != nil || ok {
		t.Fatalf("a.Renew of b's lease: %v %v; want false", ok, err)
	}
	if l, _, _ := a.Lookup(ctx, "r1"); l.Holder != instB {
		t.Fatalf("after a's renew attempt the lease is %+v; want b's", l)
	}
	// b releases: the room is free, and a takes it.
	if err := b.Release(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := a.Lookup(ctx, "r1"); held {
		t.Fatal("released lease still held")
	}
	if l, err := a.Acquire(ctx, "r1"); err != nil || l.Holder != instA {
		t.Fatalf("a.Acquire of a released room: %+v %v", l, err)
	}
}

// TestRedisLeaseRestart: a new run of an instance at the same address (a
// new id) takes over its former run's rooms at once; an instance whose
// lease lapsed with nobody taking it gets it back by renewing.
func TestRedisLeaseRestart(t *testing.T) {
	c, prefix := redisClient(t)
	ctx := context.Background()
	a := newRegistry(t, c, prefix, instA, time.Minute)
	if _, err := a.Acquire(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	again := Instance{ID: "a-restarted", URL: instA.URL + "/"}
	a2 := newRegistry(t, c, prefix, again, time.Minute)
	if l, err := a2.Acquire(ctx, "r1"); err != nil || l.Holder.ID != again.ID || l.Holder.URL != instA.URL {
		t.Fatalf("a restarted at the same address: %+v %v; want its lease", l, err)
	}
	if ok, _ := a.Renew(ctx, "r1"); ok {
		t.Fatal("the former run renewed its successor's lease")
	}

	short := newRegistry(t, c, prefix, instB, 200*time.Millisecond)
	if _, err := short.Acquire(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ok, err := short.Renew(ctx, "r2"); err != nil || !ok {
		t.Fatalf("renewing a lapsed lease nobody took: %v %v; want true", ok, err)
	}
	if l, held, _ := a.Lookup(ctx, "r2"); !held || l.Holder != instB {
		t.Fatalf("after the renewal: %+v held=%v", l, held)
	}
}

func TestInstanceCheck(t *testing.T) {
	for _, in := range []Instance{
		{ID: "", URL: "http://a:1"}, {ID: "a b", URL: "http://a:1"}, {ID: "a", URL: "a:1"},
		{ID: "a", URL: "ftp://a:1"}, {ID: "a", URL: "http://a:1/x"}, {ID: "a", URL: "http://u:p@a:1"},
		{ID: "a", URL: "http://a:1?x=1"},
	} {
		if in.Check() == nil {
			t.Errorf("%+v passes Check", in)
		}
	}
	if err := (Instance{ID: "node-1.a_b", URL: "https://10.0.0.1:8443/"}).Check(); err != nil {
		t.Errorf("a good instance: %v", err)
	}
}

// TestRedisLeaseCluster: the scripts touch one hash-tagged key each, so
// the registry works on a Redis Cluster; rooms land in different slots.
func TestRedisLeaseCluster(t *testing.T) {
	opt, err := goredis.ParseClusterURL(redistest.StartCluster(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClusterClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	a := newRegistry(t, c, prefix, instA, time.Minute)
	b := newRegistry(t, c, prefix, instB, time.Minute)
	slots := map[int64]bool{}
	for i := range 8 {
		room := "room-" + string(rune('a'+i))
		if l, err := a.Acquire(ctx, room); err != nil || l.Holder != instA {
			t.Fatalf("a.Acquire(%s): %+v %v", room, l, err)
		}
		if ok, err := b.Renew(ctx, room); err != nil || ok {
			t.Fatalf("b.Renew(%s) of a's lease: %v %v", room, ok, err)
		}
		if l, held, err := b.Lookup(ctx, room); err != nil || !held || l.Holder != instA {
			t.Fatalf("b.Lookup(%s): %+v %v %v", room, l, held, err)
		}
		if err := a.Release(ctx, room); err != nil {
			t.Fatal(err)
		}
		if l, err := b.Acquire(ctx, room); err != nil || l.Holder != instB {
			t.Fatalf("b.Acquire(%s) after a's release: %+v %v", room, l, err)
		}
		slot, err := c.ClusterKeySlot(ctx, a.Key(room)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[slot] = true
	}
	if len(slots) < 2 {
		t.Errorf("8 rooms in %d slot(s); the test shows nothing about the Cluster", len(slots))
	}
}
