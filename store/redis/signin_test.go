package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/signin"
)

var errExpired, errBad = errors.New("expired"), errors.New("bad")

// TestSignInChallenges: good once, for its bidder and session only, for
// the ttl; the newest perBidder kept; an altered time refused.
func TestSignInChallenges(t *testing.T) {
	l := open(t, redistest.Start(t), redistest.Prefix(t))
	s := l.SignInChallenges(2*time.Minute, 3)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	issue := func(room, bidder string) signin.Challenge {
		t.Helper()
		c, err := signin.New(room, bidder, now)
		if err != nil {
			t.Fatal(err)
		}
		if exp, err := s.Issue(ctx, c, now); err != nil || !exp.Equal(now.Add(2*time.Minute)) {
			t.Fatalf("issue: %v %v", exp, err)
		}
		return c
	}
	take := func(c signin.Challenge, room, sub string, at time.Time) error {
		return s.Take(ctx, c, c.Text(), room, sub, at, errExpired, errBad)
	}
	c := issue("r1", "a")
	if err := take(c, "r1", "b", now); err != errBad {
		t.Fatalf("another bidder: %v", err)
	}
	if err := take(c, "r2", "a", now); err != errBad {
		t.Fatalf("another session: %v", err)
	}
	altered := c
	altered.Time = c.Time.Add(time.Second)
	if err := take(altered, "r1", "a", now); err != errExpired {
		t.Fatalf("an altered time: %v", err)
	}
	if err := take(c, "r1", "a", now); err != nil {
		t.Fatalf("its owner: %v", err)
	}
	if err := take(c, "r1", "a", now); err != errExpired {
		t.Fatalf("used twice: %v", err)
	}
	old := issue("r1", "a")
	if err := take(old, "r1", "a", now.Add(2*time.Minute)); err != errExpired {
		t.Fatalf("expired: %v", err)
	}
	var cs []signin.Challenge
	for range 4 {
		cs = append(cs, issue("r1", "a"))
	}
	if err := take(cs[0], "r1", "a", now); err != errExpired {
		t.Fatalf("the oldest of four, three kept: %v", err)
	}
	for _, c := range cs[1:] {
		if err := take(c, "r1", "a", now); err != nil {
			t.Fatalf("a newer one: %v", err)
		}
	}
}
