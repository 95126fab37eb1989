package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/signin"
)

// SignInChallenges keeps the key sign-in challenges in Redis, so a bidder's
// GET …/signin/challenge and POST …/signin may reach different instances
// behind a load balancer. Each bidder of a session has one sorted set in
// the session's hash slot, its members the challenges (nonce:time) ranked
// by when they were issued: issuing adds one and keeps the newest
// perBidder; taking removes it with one ZREM, so a challenge is good once
// across every instance.
type SignInChallenges struct {
	client    goredis.UniversalClient
	prefix    string
	ttl       time.Duration
	perBidder int
}

// SignInChallenges returns the Log's challenge store: challenges good for
// ttl, at most perBidder outstanding per bidder of a session.
func (l *Log) SignInChallenges(ttl time.Duration, perBidder int) *SignInChallenges {
	return &SignInChallenges{client: l.client, prefix: l.prefix, ttl: ttl, perBidder: perBidder}
}

// issueScript adds the challenge ARGV[1] ranked by a counter (KEYS[2]), so
// the newest are kept even when issued within one second; trims the set to
// the newest ARGV[2]; lets both keys expire after ARGV[3] seconds of quiet.
var issueScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], n, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1`)

func (s *SignInChallenges) key(room, bidder string) string {
	return s.prefix + ":room:{" + room + "}:signin:" + bidder
}

// member is a challenge in its bidder's set: its nonce and its time, so a
// challenge whose time was altered finds nothing.
func member(c signin.Challenge) string { return fmt.Sprintf("%s:%d", c.Nonce, c.Time.Unix()) }

// Issue remembers c and returns when it expires.
func (s *SignInChallenges) Issue(ctx context.Context, c signin.Challenge, now time.Time) (time.Time, error) {
	keep := int64((s.ttl + time.Minute) / time.Second)
	key := s.key(c.Session, c.Bidder)
	if err := issueScript.Run(ctx, s.client, []string{key, key + ":n"}, member(c), s.perBidder, keep).Err(); err != nil {
		return time.Time{}, wrap("issue a sign-in challenge", c.Session, err)
	}
	return c.Time.Add(s.ttl), nil
}

// Take consumes the challenge c sent as text by room/sub, or says why not:
// errBad when it names another bidder or session or is not c's text;
// errExpired when unknown, used, evicted, too old, or its time altered.
func (s *SignInChallenges) Take(ctx context.Context, c signin.Challenge, text, room, sub string, now time.Time, errExpired, errBad error) error {
	if c.Session != room || c.Bidder != sub || text != c.Text() {
		return errBad
	}
	key := s.key(room, sub)
	if !now.Before(c.Time.Add(s.ttl)) {
		// Too old whatever the set says; remove it so it cannot be used later either.
		_ = s.client.ZRem(ctx, key, member(c)).Err()
		return errExpired
	}
	n, err := s.client.ZRem(ctx, key, member(c)).Result()
	if err != nil {
		return wrap("take a sign-in challenge", room, err)
	}
	if n == 1 {
		return nil // removed by this call: no other instance can take it too
	}
	return errExpired
}
