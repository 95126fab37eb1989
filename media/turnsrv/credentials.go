package turnsrv

import (
	"crypto/hmac"
	"crypto/sha1" // #nosec G505 -- HMAC-SHA1 is what the TURN REST API and every client expect.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// maxUsernameBytes is the STUN limit on USERNAME (RFC 8489 section 14.3).
const maxUsernameBytes = 513

// Reasons a TURN username is refused before the message integrity check.
var (
	errMalformedUsername = errors.New("username is not <expiry unix>:<user>")
	errExpired           = errors.New("credential expired")
	errWrongRealm        = errors.New("realm does not match")
)

// ICEServer is one entry of RTCConfiguration.iceServers, as handed to a client.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// Credential computes a TURN REST API credential (draft-uberti-behave-turn-rest-00): username is
// "<expires unix>:<user>" and password is base64(HMAC-SHA1(secret, username)). It does no I/O.
func Credential(secret []byte, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return username, sign(secret, username)
}

func sign(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash writes never fail
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// LinkHeader renders c as the value of a WHIP Link header (RFC 9725 section 4.4, RFC 8288): one
// link-value per URL, comma separated, each with rel="ice-server" and, for turn: and turns: URLs,
// username, credential and credential-type="password". Characters a header cannot carry are
// percent-encoded in the URL and dropped from quoted strings, so the value never splits a header.
func (c ICEServer) LinkHeader() string {
	var b strings.Builder
	for i, u := range c.URLs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('<')
		b.WriteString(linkTarget(u))
		b.WriteString(`>; rel="ice-server"`)
		if !isTURNURL(u) {
			continue
		}
		b.WriteString("; username=")
		b.WriteString(quote(c.Username))
		b.WriteString("; credential=")
		b.WriteString(quote(c.Credential))
		b.WriteString(`; credential-type="password"`)
	}
	return b.String()
}

func isTURNURL(u string) bool {
	scheme, _, _ := strings.Cut(u, ":")
	scheme = strings.ToLower(scheme)
	return scheme == "turn" || scheme == "turns"
}

// linkTarget percent-encodes the bytes that may not appear inside <...> of a Link header.
func linkTarget(u string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// quote renders s as an RFC 9110 quoted-string: '"' and '\' are escaped, control characters
// (which no quoted-string may hold) are dropped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// authenticator checks TURN REST API usernames. It hands pion the long-term key for a username it
// accepts; pion then checks MESSAGE-INTEGRITY, which is where a wrong password or secret fails.
type authenticator struct {
	secret []byte
	realm  string
}

// key validates username and realm at now and returns the user part of the username (the
// allocation owner, for quotas) and the long-term key MD5(username:realm:password).
func (a authenticator) key(username, realm string, now time.Time) (user string, key []byte, err error) {
	if len(username) > maxUsernameBytes {
		return "", nil, fmt.Errorf("%w: %d bytes long", errMalformedUsername, len(username))
	}
	expiry, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return "", nil, errMalformedUsername
	}
	unix, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil || unix < 0 {
		return "", nil, fmt.Errorf("%w: expiry %q is not a unix time", errMalformedUsername, expiry)
	}
	if expires := time.Unix(unix, 0); !now.Before(expires) {
		return "", nil, fmt.Errorf("%w at %s", errExpired, expires.UTC().Format(time.RFC3339))
	}
	if realm != a.realm {
		return "", nil, fmt.Errorf("%w: got %q", errWrongRealm, realm)
	}
	return user, turn.GenerateAuthKey(username, realm, sign(a.secret, username)), nil
}
