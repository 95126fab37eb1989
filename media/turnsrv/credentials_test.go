package turnsrv

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	testNow     = time.Unix(1_760_000_000, 0)
)

const testRealm = "bidroom"

// verify runs the whole check a TURN request goes through: the username check in key, then the
// MESSAGE-INTEGRITY check pion makes with the returned key against what the client signed.
func verify(t *testing.T, a authenticator, username, password, realm string, now time.Time) error {
	t.Helper()
	_, key, err := a.key(username, realm, now)
	if err != nil {
		return err
	}
	msg, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.NewUsername(username), stun.NewRealm(realm), stun.NewNonce("nonce"),
		stun.NewLongTermIntegrity(username, realm, password))
	if err != nil {
		t.Fatalf("build STUN request: %v", err)
	}
	return stun.MessageIntegrity(key).Check(msg)
}

func TestAuthenticator(t *testing.T) {
	a := authenticator{secret: testSecret, realm: testRealm}
	validUser, validPass := Credential(testSecret, "bidder-7", testNow.Add(time.Hour))
	expiredUser, expiredPass := Credential(testSecret, "bidder-7", testNow.Add(-time.Second))
	atExpiryUser, atExpiryPass := Credential(testSecret, "bidder-7", testNow)
	wrongUser, wrongPass := Credential(otherSecret, "bidder-7", testNow.Add(time.Hour))
	colonUser, colonPass := Credential(testSecret, "org:bidder", testNow.Add(time.Hour))
	otherUser, _ := Credential(testSecret, "bidder-8", testNow.Add(time.Hour))
	tamperedPass := []byte(validPass)
	tamperedPass[0] ^= 1 // still base64, different bytes
	future := strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)

	tests := []struct {
		name     string
		username string
		password string
		realm    string
		wantErr  error // nil: accepted; errAny: refused by the integrity check
	}{
		{"valid", validUser, validPass, testRealm, nil},
		{"valid user with colon", colonUser, colonPass, testRealm, nil},
		{"expired", expiredUser, expiredPass, testRealm, errExpired},
		{"expires now", atExpiryUser, atExpiryPass, testRealm, errExpired},
		{"wrong secret", wrongUser, wrongPass, testRealm, errIntegrity},
		{"tampered user", otherUser, validPass, testRealm, errIntegrity},
		{"tampered expiry", strings.Replace(validUser, future, future+"0", 1), validPass, testRealm, errIntegrity},
		{"tampered password", validUser, string(tamperedPass), testRealm, errIntegrity},
		{"wrong realm", validUser, validPass, "elsewhere", errWrongRealm},
		{"no colon", future, validPass, testRealm, errMalformedUsername},
		{"empty user", future + ":", validPass, testRealm, errMalformedUsername},
		{"empty", "", validPass, testRealm, errMalformedUsername},
		{"expiry not a number", "tomorrow:bidder-7", validPass, testRealm, errMalformedUsername},
		{"negative expiry", "-5:bidder-7", validPass, testRealm, errMalformedUsername},
		{"expiry overflows", "99999999999999999999:bidder-7", validPass, testRealm, errMalformedUsername},
		{"too long", future + ":" + strings.Repeat("x", maxUsernameBytes), validPass, testRealm, errMalformedUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(t, a, tt.username, tt.password, tt.realm, testNow)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("verify: got %v, want accepted", err)
			case tt.wantErr == errIntegrity && !errors.Is(err, stun.ErrIntegrityMismatch):
				t.Fatalf("verify: got %v, want %v", err, stun.ErrIntegrityMismatch)
			case tt.wantErr != nil && tt.wantErr != errIntegrity && !errors.Is(err, tt.wantErr):
				t.Fatalf("verify: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// errIntegrity marks cases the username check passes and MESSAGE-INTEGRITY refuses.
var errIntegrity = errors.New("integrity")

func TestAuthenticatorUserID(t *testing.T) {
	a := authenticator{secret: testSecret, realm: testRealm}
	username, password := Credential(testSecret, "org:bidder", testNow.Add(time.Minute))
	user, key, err := a.key(username, testRealm, testNow)
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	if user != "org:bidder" {
		t.Errorf("user: got %q, want %q", user, "org:bidder")
	}
	if want := turn.GenerateAuthKey(username, testRealm, password); !bytes.Equal(key, want) {
		t.Errorf("key: got %x, want %x", key, want)
	}
}

func TestCredentialMatchesPion(t *testing.T) {
	// pion's own generator signs time.Now()+duration; compare on the username it chose.
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(string(testSecret), "bidder-7", time.Hour)
	if err != nil {
		t.Fatalf("pion credentials: %v", err)
	}
	expiry, _, _ := strings.Cut(username, ":")
	unix, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil {
		t.Fatalf("pion username %q: %v", username, err)
	}
	gotUser, gotPass := Credential(testSecret, "bidder-7", time.Unix(unix, 0))
	if gotUser != username || gotPass != password {
		t.Errorf("Credential: got %q/%q, want %q/%q", gotUser, gotPass, username, password)
	}
}

func FuzzAuthenticatorKey(f *testing.F) {
	valid, _ := Credential(testSecret, "bidder-7", testNow.Add(time.Hour))
	for _, seed := range []string{valid, "", ":", "1:", ":x", "-1:x", "1760003600:a:b", "9999999999999999999:x"} {
		f.Add(seed)
	}
	a := authenticator{secret: testSecret, realm: testRealm}
	f.Fuzz(func(t *testing.T, username string) {
		user, key, err := a.key(username, testRealm, testNow)
		if err != nil {
			return
		}
		if !strings.HasSuffix(username, ":"+user) || user == "" {
			t.Fatalf("user %q does not end username %q", user, username)
		}
		want := turn.GenerateAuthKey(username, testRealm, sign(testSecret, username))
		if !bytes.Equal(key, want) {
			t.Fatalf("key for %q: got %x, want %x", username, key, want)
		}
	})
}

func TestLinkHeader(t *testing.T) {
	tests := []struct {
		name string
		in   ICEServer
		want string
	}{
		{
			name: "turn",
			in:   ICEServer{URLs: []string{"turn:203.0.113.5:3478?transport=udp"}, Username: "1760003600:bidder-7", Credential: "abc+/="},
			want: `<turn:203.0.113.5:3478?transport=udp>; rel="ice-server"; username="1760003600:bidder-7"; credential="abc+/="; credential-type="password"`,
		},
		{
			name: "stun has no credentials",
			in:   ICEServer{URLs: []string{"stun:203.0.113.5:3478", "TURNS:turn.example:5349?transport=tcp"}, Username: "u", Credential: "c"},
			want: `<stun:203.0.113.5:3478>; rel="ice-server", <TURNS:turn.example:5349?transport=tcp>; rel="ice-server"; username="u"; credential="c"; credential-type="password"`,
		},
		{
			name: "quotes and backslashes escaped",
			in:   ICEServer{URLs: []string{"turn:h"}, Username: `1:a"b\c`, Credential: "c"},
			want: `<turn:h>; rel="ice-server"; username="1:a\"b\\c"; credential="c"; credential-type="password"`,
		},
		{
			name: "no header splitting",
			in:   ICEServer{URLs: []string{"turn:h>\r\nX: y"}, Username: "1:a\r\nSet-Cookie: x", Credential: "c\x00"},
			want: `<turn:h%3E%0D%0AX:%20y>; rel="ice-server"; username="1:aSet-Cookie: x"; credential="c"; credential-type="password"`,
		},
		{name: "no URLs", in: ICEServer{Username: "u", Credential: "c"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.LinkHeader(); got != tt.want {
				t.Errorf("LinkHeader:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
