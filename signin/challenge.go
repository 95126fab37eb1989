// Package signin owns the bidder's key sign-in challenge (签到验证): its text
// format, which binds the purpose, the session, the bidder, a fresh nonce
// and the server time, and the bidder-side check-and-sign of that text.
//
// It does not issue or remember challenges (package api does) and does not
// decide who may sign in (package rooms does). The HTTP client of the
// exchange is signin/client (kept apart so the WebAssembly signer does not
// link net/http).
package signin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bidroom/bidroom/decrypt"
)

// Purpose is the first line of every sign-in challenge. It keeps a sign-in
// signature from ever being taken for a signature over anything else the
// bidder's key signs (a sealed bid's signature covers a 32-byte digest).
const Purpose = "bidroom sign-in"

// NonceBytes is the size of a challenge's random nonce.
const NonceBytes = 32

// MaxText bounds a challenge's text (session and bidder ids are at most 64
// bytes each in practice; this leaves room).
const MaxText = 1024

// ErrMalformed: the text is not a sign-in challenge.
var ErrMalformed = errors.New("not a bidroom sign-in challenge")

// Issued is the answer to GET /api/v1/sessions/{id}/signin/challenge.
type Issued struct {
	Challenge string    `json:"challenge"` // the text to sign, exactly
	ExpiresAt time.Time `json:"expires_at"`
	KeyID     string    `json:"key_id"` // the registered key's id (SM3 of its SubjectPublicKeyInfo, hex): a client can tell a wrong key before signing
}

// Result is the answer to a successful POST /api/v1/sessions/{id}/signin.
type Result struct {
	SignedIn  bool      `json:"signed_in"`
	Method    string    `json:"method"`              // "sm2"
	KeyID     string    `json:"key_id"`              // SM3 of the signing key's SubjectPublicKeyInfo, hex
	Duplicate bool      `json:"duplicate,omitempty"` // already signed in: nothing recorded twice
	SignedAt  time.Time `json:"signed_at,omitzero"`
}

// Challenge is what a bidder signs to prove they hold their registered key.
type Challenge struct {
	Session string
	Bidder  string
	Nonce   string    // NonceBytes random bytes, lowercase hex
	Time    time.Time // server time of issue, UTC, whole seconds
}

// New returns a challenge for bidder in session with a fresh nonce.
func New(session, bidder string, now time.Time) (Challenge, error) {
	var b [NonceBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Challenge{}, fmt.Errorf("sign-in nonce: %w", err)
	}
	return Challenge{Session: session, Bidder: bidder, Nonce: hex.EncodeToString(b[:]), Time: now.UTC().Truncate(time.Second)}, nil
}

// Text is the exact text signed, e.g.
//
//	bidroom sign-in
//	session: S-001
//	bidder: B-7
//	nonce: 3f…(64 hex digits)
//	time: 2026-11-25T09:30:00Z
//
// Lines end in "\n", the last one too.
func (c Challenge) Text() string {
	return fmt.Sprintf("%s\nsession: %s\nbidder: %s\nnonce: %s\ntime: %s\n",
		Purpose, c.Session, c.Bidder, c.Nonce, c.Time.UTC().Format(time.RFC3339))
}

// Parse reads a challenge's text. It accepts exactly what Text writes, so
// Parse(text).Text() == text for every text it accepts.
func Parse(text string) (Challenge, error) {
	if len(text) > MaxText {
		return Challenge{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxText)
	}
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[5] != "" || lines[0] != Purpose {
		return Challenge{}, fmt.Errorf("%w: want the five lines the server sent, starting %q", ErrMalformed, Purpose)
	}
	field := func(line, name string) (string, error) {
		v, ok := strings.CutPrefix(line, name+": ")
		if !ok || v == "" || strings.ContainsAny(v, "\r\x00") {
			return "", fmt.Errorf("%w: line %q should be %q", ErrMalformed, line, name+": …")
		}
		return v, nil
	}
	var c Challenge
	var err error
	var at string
	for _, f := range []struct {
		line, name string
		dst        *string
	}{{lines[1], "session", &c.Session}, {lines[2], "bidder", &c.Bidder}, {lines[3], "nonce", &c.Nonce}, {lines[4], "time", &at}} {
		if *f.dst, err = field(f.line, f.name); err != nil {
			return Challenge{}, err
		}
	}
	if raw, err := hex.DecodeString(c.Nonce); err != nil || len(raw) != NonceBytes || c.Nonce != strings.ToLower(c.Nonce) {
		return Challenge{}, fmt.Errorf("%w: the nonce is not %d bytes of lowercase hex", ErrMalformed, NonceBytes)
	}
	if c.Time, err = time.Parse(time.RFC3339, at); err != nil || c.Time.Location() != time.UTC {
		return Challenge{}, fmt.Errorf("%w: the time is not RFC 3339 UTC", ErrMalformed)
	}
	if c.Text() != text {
		return Challenge{}, fmt.Errorf("%w: not in the server's exact form", ErrMalformed)
	}
	return c, nil
}

// Sign checks that text is a sign-in challenge for session (and for
// bidder, unless bidder is empty) and returns key's SM2 signature over it
// (DER, base64), as the server's POST …/signin expects. A bidder's key
// signs nothing else on the server's say-so.
func Sign(key *decrypt.PrivateKey, text, session, bidder string) (string, error) {
	c, err := Parse(text)
	if err != nil {
		return "", err
	}
	if c.Session != session {
		return "", fmt.Errorf("%w: it is for session %q, not %q", ErrMalformed, c.Session, session)
	}
	if bidder != "" && c.Bidder != bidder {
		return "", fmt.Errorf("%w: it is for bidder %q, not %q", ErrMalformed, c.Bidder, bidder)
	}
	sig, err := key.Sign([]byte(text))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
