package main

import (
	"context"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/signin"
	redisstore "github.com/bidroom/bidroom/store/redis"
)

// signInStore is where the key sign-in challenges are kept: in Redis with
// the Redis store, so any instance answers a bidder's signed challenge;
// nil (this instance's memory) with the embedded store, which has one
// instance anyway.
func signInStore(log eventLog) api.ChallengeStore {
	if l, ok := log.(*redisstore.Log); ok {
		return redisChallenges{l.SignInChallenges(api.SignInTTL, api.SignInPerBidder)}
	}
	return nil
}

// redisChallenges is store/redis's challenge store with the API's refusals.
type redisChallenges struct{ s *redisstore.SignInChallenges }

func (r redisChallenges) Issue(ctx context.Context, c signin.Challenge, now time.Time) (time.Time, error) {
	return r.s.Issue(ctx, c, now)
}

func (r redisChallenges) Take(ctx context.Context, c signin.Challenge, text, room, sub string, now time.Time) error {
	return r.s.Take(ctx, c, text, room, sub, now, api.ErrExpiredChallenge, api.ErrBadChallenge)
}
