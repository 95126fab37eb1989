// Package auth mints and verifies Bidroom access tokens (HS256 JWTs naming
// a subject, a role, a room and media grants) and checks admin API keys.
package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bidroom/bidroom/rooms"
)

// Grants a token may carry for media (WHIP/WHEP).
const (
	GrantPublish = "publish"
	GrantView    = "view"
)

// AnyRoom is the room claim of a token valid in every room of its center
// (an admin's or a supervisor's), or of every center (the oversight's).
const AnyRoom = "*"

// RoleOversight is the city's oversight (市级监管): it reads every room of
// every center and changes nothing. In a room it acts as a supervisor who
// may not send commands; the server refuses its writes at every door.
const RoleOversight rooms.Role = "oversight"

// SharedCenter is rooms.SharedCenter: the expert pool's.
const SharedCenter = rooms.SharedCenter

// issuer is the iss claim of every token.
const issuer = "bidroom"

// MaxTokenBytes bounds a token presented to the server.
const MaxTokenBytes = 4096

// MaxTTL bounds the lifetime of a minted token.
const MaxTTL = 30 * 24 * time.Hour

// ErrUnauthorized is a missing, malformed, forged or expired token.
var ErrUnauthorized = errors.New("unauthorized")

// Claims is what a token says about its bearer.
type Claims struct {
	Room string     `json:"room"`
	Role rooms.Role `json:"role"`
	// Center is the trading center a wildcard (AnyRoom) admin or
	// supervisor token works for; "" is the main center, as in rooms.
	Center string   `json:"center,omitempty"`
	Grants []string `json:"grants,omitempty"`
	Name   string   `json:"name,omitempty"`
	jwt.RegisteredClaims
}

// Actor returns the room actor the claims describe. The oversight acts as
// a supervisor named oversight:<sub>, who reads only (ReadOnly).
func (c *Claims) Actor() rooms.Actor {
	if c.Role == RoleOversight {
		return rooms.Actor{Sub: "oversight:" + c.Subject, Role: rooms.RoleSupervisor}
	}
	return rooms.Actor{Sub: c.Subject, Role: c.Role}
}

// ReadOnly reports whether the bearer may only read (the oversight).
func (c *Claims) ReadOnly() bool { return c.Role == RoleOversight }

// Allows reports whether the token is valid for room, which belongs to
// roomCenter ("" the main center, SharedCenter every center's): a token
// for that room, a wildcard admin or supervisor token of its center, or
// the oversight's.
func (c *Claims) Allows(room, roomCenter string) bool {
	if c.Room == room {
		return true
	}
	if c.Room != AnyRoom {
		return false
	}
	switch c.Role {
	case RoleOversight:
		return true
	case rooms.RoleAdmin, rooms.RoleSupervisor:
		return c.Center == roomCenter || roomCenter == SharedCenter
	}
	return false
}

// HasGrant reports whether the token carries a media grant.
func (c *Claims) HasGrant(g string) bool { return slices.Contains(c.Grants, g) }

// Issuer mints and verifies tokens with one HMAC secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
}

// NewIssuer returns an Issuer for secret (at least 32 bytes).
func NewIssuer(secret []byte, now func() time.Time) (*Issuer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("token secret must be at least 32 bytes, got %d", len(secret))
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{secret: slices.Clone(secret), now: now}, nil
}

// Request is what a new token should say.
type Request struct {
	Room   string     `json:"room"`
	Role   rooms.Role `json:"role"`
	Sub    string     `json:"sub"`
	Name   string     `json:"name,omitempty"`
	Grants []string   `json:"grants,omitempty"`
	Center string     `json:"center,omitempty"` // a wildcard token's center ("" the main one)
	TTL    time.Duration
}

// Mint signs a token for req, returning it and its expiry.
func (i *Issuer) Mint(req Request) (string, time.Time, error) {
	if req.Role != RoleOversight {
		if _, err := rooms.ParseRole(string(req.Role)); err != nil {
			return "", time.Time{}, err
		}
	}
	wildcard := req.Role == rooms.RoleAdmin || req.Role == rooms.RoleSupervisor || req.Role == RoleOversight
	if req.Room != AnyRoom && !rooms.ValidID(req.Room) || req.Room == AnyRoom && !wildcard {
		return "", time.Time{}, fmt.Errorf("room must be a session id (or %q for admin, supervisor and oversight tokens), got %q", AnyRoom, req.Room)
	}
	if req.Role == RoleOversight && (req.Room != AnyRoom || req.Center != "" || slices.Contains(req.Grants, GrantPublish)) {
		return "", time.Time{}, fmt.Errorf("the oversight's token is for every room of every center (room %q, no center) and never publishes media", AnyRoom)
	}
	if req.Center != "" && !rooms.ValidID(req.Center) {
		return "", time.Time{}, fmt.Errorf("center must be a center id, got %q", req.Center)
	}
	if !rooms.ValidID(req.Sub) {
		return "", time.Time{}, fmt.Errorf("sub must be 1-64 letters, digits, '.', '_' or '-', got %q", req.Sub)
	}
	if len(req.Name) > 200 {
		return "", time.Time{}, errors.New("name must be at most 200 bytes")
	}
	for _, g := range req.Grants {
		if g != GrantPublish && g != GrantView {
			return "", time.Time{}, fmt.Errorf("unknown grant %q (want %s or %s)", g, GrantPublish, GrantView)
		}
	}
	if req.TTL <= 0 || req.TTL > MaxTTL {
		return "", time.Time{}, fmt.Errorf("ttl must be between 1s and %s, got %s", MaxTTL, req.TTL)
	}
	now := i.now()
	exp := now.Add(req.TTL).Truncate(time.Second)
	claims := Claims{
		Room: req.Room, Role: req.Role, Grants: req.Grants, Name: req.Name, Center: req.Center,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: req.Sub,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(i.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return tok, exp, nil
}

// Verify checks a token's signature, expiry and claims.
func (i *Issuer) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no token", ErrUnauthorized)
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token too long", ErrUnauthorized)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return i.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(i.now))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: token expired", ErrUnauthorized)
		}
		return nil, fmt.Errorf("%w: invalid token", ErrUnauthorized)
	}
	if _, err := rooms.ParseRole(string(c.Role)); err != nil && c.Role != RoleOversight || !rooms.ValidID(c.Subject) || c.Room == "" {
		return nil, fmt.Errorf("%w: token claims are incomplete", ErrUnauthorized)
	}
	return &c, nil
}

// KeyMatches compares a presented admin key with the configured one in
// constant time.
func KeyMatches(presented, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(want)) == 1
}
