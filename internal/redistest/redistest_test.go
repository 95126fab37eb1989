package redistest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartAnswersPing(t *testing.T) {
	url := redistest.Start(t)
	if !strings.HasPrefix(url, "redis://") {
		t.Fatalf("Start = %q, want a redis:// URL", url)
	}
	if os.Getenv(redistest.EnvURL) == "" && url == redistest.Start(t) {
		t.Errorf("two Start calls returned the same server %s, want one each", url)
	}
}

func TestPrefixUnique(t *testing.T) {
	a, b := redistest.Prefix(t), redistest.Prefix(t)
	if a == b || !strings.Contains(a, "TestPrefixUnique") || strings.ContainsAny(a, "{} ") {
		t.Errorf("Prefix twice = %q, %q; want two different prefixes naming the test, without braces or spaces", a, b)
	}
}

// TestSentinelFailover checks StartSentinel's promise: a URL the Sentinels
// answer for, and a replica promoted within seconds of KillPrimary.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 1)
	if !strings.Contains(s.URL, "master_name="+redistest.SentinelMaster) || strings.Count(s.URL, "&addr=") != 2 {
		t.Errorf("URL = %q, want the master name and three Sentinels", s.URL)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	opt, err := redis.ParseFailoverURL(s.URL)
	if err != nil {
		t.Fatalf("ParseFailoverURL(%q): %v", s.URL, err)
	}
	c := redis.NewFailoverClient(opt)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the Sentinels: %v", err)
	}
	// WAIT 1: the replica is attached and in sync, so "k" is on it.
	if n, err := c.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want the replica to confirm", n, err)
	}
	old := s.KillPrimary(t)
	start := time.Now()
	for {
		now, err := s.Primary(ctx)
		if err == nil && now != old {
			t.Logf("primary %s killed; %s promoted after %v", old, now, time.Since(start).Round(time.Millisecond))
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no replica promoted after killing %s: %v", old, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		v, err := c.Get(ctx, "k").Result()
		if err == nil {
			if v != "v" {
				t.Fatalf("GET k on the new primary = %q, want %q", v, "v")
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the new primary never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPauseAndKill checks that Pause stops a server answering until
// resumed, and that Kill ends it.
func TestPauseAndKill(t *testing.T) {
	t.Setenv(redistest.EnvURL, "") // Pause and Kill need a server the test started
	url := redistest.Start(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	// No retries, and a short read timeout: go-redis does not take socket
	// deadlines from the context.
	opt.MaxRetries, opt.ReadTimeout = -1, 300*time.Millisecond
	c := redis.NewClient(opt)
	defer c.Close()
	resume := redistest.Pause(t, opt.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = c.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Error("PING answered while the server was paused")
	}
	resume()
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Errorf("PING after resume: %v", err)
	}
	redistest.Kill(t, opt.Addr)
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Error("PING answered after Kill")
	}
}
