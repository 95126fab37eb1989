package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signin"
)

// The key sign-in (step 3 of the flow, CA login): a bidder registered with
// a public key signs in by signing a fresh server challenge with the
// matching private key, in their browser (WebAssembly) or with bidtool.
// The server checks the signature against the registered key and only then
// runs the server-only key_sign_in command.

// Bounds of the sign-in challenges: SignInTTL and SignInPerBidder for
// every ChallengeStore, signInMax for the one held in memory.
const (
	SignInTTL          = 2 * time.Minute
	SignInPerBidder    = 8       // outstanding challenges per bidder of a session; the oldest goes first
	signInMax          = 100_000 // outstanding challenges on this instance; the oldest goes first
	signInMaxBodyBytes = 4 << 10
)

// ChallengeStore keeps the sign-in challenges issued and not yet used.
// Each is good once, for SignInTTL, for the bidder and session it names;
// a bidder has at most SignInPerBidder outstanding (the oldest goes
// first). Behind a load balancer the store is shared (store/redis's
// SignInChallenges), so a bidder's GET and POST may reach different
// instances; a single instance keeps them in memory.
type ChallengeStore interface {
	// Issue remembers c (whose text is c.Text()) as issued at now and
	// returns when it expires.
	Issue(ctx context.Context, c signin.Challenge, now time.Time) (time.Time, error)
	// Take consumes the challenge with c's nonce if it was issued as c
	// for room/sub and has not expired: ErrExpiredChallenge when unknown,
	// used or expired; ErrBadChallenge when another bidder's, another
	// session's or altered (the nonce stays good for its owner).
	Take(ctx context.Context, c signin.Challenge, text, room, sub string, now time.Time) error
}

// challenges is the in-memory ChallengeStore of a single instance.
type challenges struct {
	mu        sync.Mutex           // guards the fields below
	byNonce   map[string]*issued   // outstanding challenges
	byBidder  map[string][]*issued // room/sub → outstanding, oldest first
	order     []*issued            // every issue, oldest first (may hold used ones)
	perBidder int                  // default SignInPerBidder
	max       int                  // default signInMax
}

type issued struct {
	nonce   string
	text    string
	key     string // room/sub
	expires time.Time
	gone    bool // used, expired or evicted
}

// Issue implements ChallengeStore.
func (s *challenges) Issue(_ context.Context, c signin.Challenge, now time.Time) (time.Time, error) {
	return s.issue(c, now), nil
}

// Take implements ChallengeStore.
func (s *challenges) Take(_ context.Context, c signin.Challenge, text, room, sub string, now time.Time) error {
	return s.take(c, text, room, sub, now)
}

// issue remembers c until now+ttl.
func (s *challenges) issue(c signin.Challenge, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byNonce == nil {
		s.byNonce, s.byBidder = map[string]*issued{}, map[string][]*issued{}
		s.perBidder, s.max = orDefault(s.perBidder, SignInPerBidder), orDefault(s.max, signInMax)
	}
	s.prune(now)
	key := c.Session + "/" + c.Bidder
	for len(s.byBidder[key]) >= s.perBidder {
		s.drop(s.byBidder[key][0])
	}
	for len(s.byNonce) >= s.max {
		s.drop(s.order[0])
		s.prune(now)
	}
	it := &issued{nonce: c.Nonce, text: c.Text(), key: key, expires: now.Add(SignInTTL)}
	s.byNonce[c.Nonce] = it
	s.byBidder[key] = append(s.byBidder[key], it)
	s.order = append(s.order, it)
	return it.expires
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// take consumes the challenge with c's nonce if it was issued as text for
// room/sub and has not expired; it says why not otherwise.
func (s *challenges) take(c signin.Challenge, text, room, sub string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.byNonce[c.Nonce]
	switch {
	case it == nil || !now.Before(it.expires):
		if it != nil {
			s.drop(it)
		}
		return ErrExpiredChallenge
	case it.key != room+"/"+sub || it.text != text:
		// Not this bidder's, or altered: the nonce stays good for its owner.
		return ErrBadChallenge
	}
	s.drop(it)
	return nil
}

// The refusals of a challenge, for every ChallengeStore.
var (
	ErrExpiredChallenge = errors.New("this challenge is unknown, used or expired: ask for a new one (GET …/signin/challenge); a challenge is good once, for 2 minutes")
	ErrBadChallenge     = errors.New("this challenge was not issued to you for this session, or was altered: sign the challenge text exactly as received")
)

// drop forgets it. Called with s.mu held.
func (s *challenges) drop(it *issued) {
	if it.gone {
		return
	}
	it.gone = true
	delete(s.byNonce, it.nonce)
	list := s.byBidder[it.key]
	for i, v := range list {
		if v == it {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byBidder, it.key)
	} else {
		s.byBidder[it.key] = list
	}
}

// prune drops expired challenges and forgets used ones from the front of
// the issue order. Called with s.mu held.
func (s *challenges) prune(now time.Time) {
	i := 0
	for ; i < len(s.order); i++ {
		it := s.order[i]
		if !it.gone && now.Before(it.expires) {
			break
		}
		s.drop(it)
	}
	s.order = s.order[i:]
	if len(s.order) > 2*len(s.byNonce)+64 { // many used in the middle: compact
		live := s.order[:0:0]
		for _, it := range s.order {
			if !it.gone {
				live = append(live, it)
			}
		}
		s.order = live
	}
}

// keyBidder authenticates a bidder of the room in the URL for the sign-in.
func (a *handlers) keyBidder(c *gin.Context) (string, rooms.Actor, bool) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return "", actor, false
	}
	if actor.Role != rooms.RoleBidder {
		apiError(c, http.StatusForbidden, "forbidden", "only bidders sign in with a key; staff sign in with their token")
		return "", actor, false
	}
	return room, actor, true
}

func (a *handlers) signInChallenge(c *gin.Context) {
	room, actor, ok := a.keyBidder(c)
	if !ok {
		return
	}
	key, ok := a.bidderKey(c, room, actor.Sub)
	if !ok {
		return
	}
	now := a.Svc.Now()
	ch, err := signin.New(room, actor.Sub, now)
	if err != nil {
		a.fail(c, err)
		return
	}
	expires, err := a.challenges().Issue(c.Request.Context(), ch, now)
	if err != nil {
		a.fail(c, fmt.Errorf("keep the sign-in challenge: %w", err))
		return
	}
	c.Header("Cache-Control", "no-store")
	id := key.ID()
	c.JSON(http.StatusOK, signin.Issued{Challenge: ch.Text(), ExpiresAt: expires, KeyID: hex.EncodeToString(id[:])})
}

func (a *handlers) signIn(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, signInMaxBodyBytes)
	room, actor, ok := a.keyBidder(c)
	if !ok {
		return
	}
	var req struct {
		Challenge string `json:"challenge"`
		Signature string `json:"signature"`
	}
	if !bind(c, &req) {
		return
	}
	ch, err := signin.Parse(req.Challenge)
	if err != nil {
		apiError(c, http.StatusBadRequest, "invalid", "challenge: "+err.Error())
		return
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(req.Signature))
	if err != nil || len(sig) == 0 || len(sig) > 128 {
		apiError(c, http.StatusBadRequest, "invalid", "signature must be the base64 DER SM2 signature of the challenge text")
		return
	}
	key, ok := a.bidderKey(c, room, actor.Sub)
	if !ok {
		return
	}
	switch err := a.challenges().Take(c.Request.Context(), ch, req.Challenge, room, actor.Sub, a.Svc.Now()); {
	case errors.Is(err, ErrExpiredChallenge):
		apiError(c, http.StatusGone, "expired_challenge", err.Error())
		return
	case errors.Is(err, ErrBadChallenge):
		apiError(c, http.StatusUnprocessableEntity, "bad_challenge", err.Error())
		return
	case err != nil:
		a.fail(c, fmt.Errorf("check the sign-in challenge: %w", err))
		return
	}
	if err := key.Verify([]byte(req.Challenge), sig); err != nil {
		apiError(c, http.StatusForbidden, "bad_signature",
			"the signature does not verify with the public key registered for you: sign with the matching private key")
		return
	}
	a.keySignIn(c, room, actor, key, ch.Nonce)
}

// keySignIn records the sign-in once the signature checked out.
func (a *handlers) keySignIn(c *gin.Context, room string, actor rooms.Actor, key *decrypt.PublicKey, nonce string) {
	id := key.ID()
	keyID := hex.EncodeToString(id[:])
	data, _ := json.Marshal(rooms.SignIn{KeyID: keyID})
	res, err := a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "key_sign_in:" + nonce, Type: rooms.CmdKeySignIn, Data: data})
	if err != nil {
		a.fail(c, err)
		return
	}
	out := signin.Result{SignedIn: true, Method: rooms.SignInSM2, KeyID: keyID, Duplicate: res.Duplicate || res.Last == 0}
	if snap, err := a.Svc.Snapshot(c.Request.Context(), room, actor); err == nil {
		if v, ok := snap.Opening(); ok && v.You != nil {
			out.SignedAt = v.You.SignedAt
		}
	}
	c.JSON(http.StatusOK, out)
}

// challenges is the store of sign-in challenges: the shared one when the
// server has one (Deps.SignIns), else this instance's memory.
func (a *handlers) challenges() ChallengeStore {
	if a.SignIns != nil {
		return a.SignIns
	}
	return &a.signIns
}
