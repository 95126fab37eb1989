package api_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signin"
)

// signInFixture is a session in check-in with bidders a and b registered
// with keys and c without one.
type signInFixture struct {
	*env
	keys map[string]*decrypt.PrivateKey
}

func newSignInFixture(t *testing.T, room string) *signInFixture {
	t.Helper()
	f := &signInFixture{env: newEnv(t), keys: map[string]*decrypt.PrivateKey{}}
	var bidders []map[string]string
	for _, id := range []string{"a", "b", "c"} {
		b := map[string]string{"id": id, "name": "公司 " + id}
		if id != "c" {
			k, err := decrypt.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := k.Public().MarshalPEM()
			b["public_key"] = string(pub)
			f.keys[id] = k
		}
		bidders = append(bidders, b)
	}
	now := f.now()
	status, body := f.do("POST", "/api/v1/sessions", adminKey, map[string]any{
		"id": room, "title": "道路工程", "category": "construction", "bidders": bidders,
		"deadline": now.Add(2 * time.Hour).Format(time.RFC3339), "check_in_at": now.Format(time.RFC3339),
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	f.openCheckIn(room)
	return f
}

func (f *signInFixture) openCheckIn(room string) {
	f.t.Helper()
	if _, err := f.svc.Execute(context.Background(), room, rooms.SystemActor, rooms.Command{ID: "ci", Type: rooms.CmdOpenCheckIn}); err != nil {
		f.t.Fatal(err)
	}
}

// challenge asks for a challenge as tok and returns its text.
func (f *signInFixture) challenge(room, tok string) string {
	f.t.Helper()
	status, body := f.do("GET", "/api/v1/sessions/"+room+"/signin/challenge", tok, nil)
	text, _ := body["challenge"].(string)
	if status != 200 || text == "" {
		f.t.Fatalf("challenge: %d %v", status, body)
	}
	return text
}

func sign(t *testing.T, k *decrypt.PrivateKey, text string) string {
	t.Helper()
	sig, err := k.Sign([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (f *signInFixture) post(room, tok, text, sig string) (int, map[string]any) {
	f.t.Helper()
	return f.do("POST", "/api/v1/sessions/"+room+"/signin", tok, map[string]string{"challenge": text, "signature": sig})
}

func (f *signInFixture) signedIn(room, sub string) bool {
	return f.svc.SignedIn(room, rooms.Actor{Sub: sub, Role: rooms.RoleBidder})
}

func TestKeySignIn(t *testing.T) {
	f := newSignInFixture(t, "s1")
	tok := f.token("s1", rooms.RoleBidder, "a")
	id := f.keys["a"].Public().ID()
	if status, body := f.do("GET", "/api/v1/sessions/s1/signin/challenge", tok, nil); status != 200 || body["key_id"] != hex.EncodeToString(id[:]) || body["expires_at"] == nil {
		t.Fatalf("challenge: %d %v; want the registered key's id and an expiry", status, body)
	}
	text := f.challenge("s1", tok)
	c, err := signin.Parse(text)
	if err != nil || c.Session != "s1" || c.Bidder != "a" || len(c.Nonce) != 64 {
		t.Fatalf("challenge %q: %+v %v", text, c, err)
	}
	if !strings.HasPrefix(text, "bidroom sign-in\nsession: s1\nbidder: a\nnonce: ") {
		t.Errorf("challenge text = %q", text)
	}
	// A token sign-in is refused to a bidder with a key.
	if status, body := f.do("POST", "/api/v1/sessions/s1/commands", tok, map[string]any{"id": "1", "type": "sign_in"}); status != 403 {
		t.Errorf("token sign-in of a keyed bidder: %d %v, want 403", status, body)
	}
	status, body := f.post("s1", tok, text, sign(t, f.keys["a"], text))
	if status != 200 || body["signed_in"] != true || body["method"] != "sm2" || body["key_id"] != hex.EncodeToString(id[:]) || body["duplicate"] != nil {
		t.Fatalf("sign in: %d %v", status, body)
	}
	if !f.signedIn("s1", "a") {
		t.Fatal("a is not signed in")
	}
	// The event says how: method sm2 and the key id.
	evs, err := f.svc.EventsAfter(context.Background(), "s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	var si rooms.SignIn
	if err := json.Unmarshal(last.Data, &si); err != nil || last.Type != rooms.EvSignedIn || si.Method != rooms.SignInSM2 || si.KeyID != body["key_id"] {
		t.Fatalf("last event %s %s (%v)", last.Type, last.Data, err)
	}
	// Signed in already: a fresh challenge signed again answers 200, nothing recorded twice.
	text2 := f.challenge("s1", tok)
	status, body = f.post("s1", tok, text2, sign(t, f.keys["a"], text2))
	if status != 200 || body["duplicate"] != true {
		t.Fatalf("second sign-in: %d %v", status, body)
	}
	if evs2, _ := f.svc.EventsAfter(context.Background(), "s1", 0); len(evs2) != len(evs) {
		t.Errorf("second sign-in appended %d events", len(evs2)-len(evs))
	}
}

func TestKeySignInRefusals(t *testing.T) {
	f := newSignInFixture(t, "s1")
	status, body := f.do("POST", "/api/v1/sessions", adminKey, session("s2")) // bidders a and b, no keys
	if status != 201 {
		t.Fatalf("create s2: %d %v", status, body)
	}
	pubA, _ := f.keys["a"].Public().MarshalPEM()
	s3 := session("s3")
	s3["bidders"] = []map[string]string{{"id": "a", "name": "甲", "public_key": string(pubA)}}
	if status, body := f.do("POST", "/api/v1/sessions", adminKey, s3); status != 201 {
		t.Fatalf("create s3: %d %v", status, body)
	}
	a, b, c := f.token("s1", rooms.RoleBidder, "a"), f.token("s1", rooms.RoleBidder, "b"), f.token("s1", rooms.RoleBidder, "c")
	host := f.token("s1", rooms.RoleHost, "h")
	keyA := f.keys["a"]
	other, _ := decrypt.GenerateKey()

	type result struct {
		status int
		code   string
	}
	check := func(t *testing.T, status int, body map[string]any, want result) {
		t.Helper()
		if status != want.status || errCode(body) != want.code {
			t.Fatalf("got %d %v; want %d %s", status, body, want.status, want.code)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T) (int, map[string]any)
		want result
	}{
		{"wrong key", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			return f.post("s1", a, text, sign(t, other, text))
		}, result{403, "bad_signature"}},
		{"another bidder's key", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			return f.post("s1", a, text, sign(t, f.keys["b"], text))
		}, result{403, "bad_signature"}},
		{"tampered challenge, signed as tampered", func(t *testing.T) (int, map[string]any) {
			text := strings.Replace(f.challenge("s1", a), "time: ", "time: ", 1)
			text = strings.Replace(text, "session: s1", "session: s2", 1)
			return f.post("s1", a, text, sign(t, keyA, text))
		}, result{422, "bad_challenge"}},
		{"signature over another text", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			return f.post("s1", a, text, sign(t, keyA, text+"x"))
		}, result{403, "bad_signature"}},
		{"reused nonce after a success", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", b)
			sig := sign(t, f.keys["b"], text)
			if status, body := f.post("s1", b, text, sig); status != 200 {
				t.Fatalf("first use: %d %v", status, body)
			}
			return f.post("s1", b, text, sig)
		}, result{410, "expired_challenge"}},
		{"reused nonce after a failure", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			if status, _ := f.post("s1", a, text, sign(t, other, text)); status != 403 {
				t.Fatalf("first use: %d", status)
			}
			return f.post("s1", a, text, sign(t, keyA, text))
		}, result{410, "expired_challenge"}},
		{"expired nonce", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			f.advance(2*time.Minute + time.Second)
			return f.post("s1", a, text, sign(t, keyA, text))
		}, result{410, "expired_challenge"}},
		{"unknown nonce", func(t *testing.T) (int, map[string]any) {
			text := signin.Challenge{Session: "s1", Bidder: "a", Nonce: strings.Repeat("ab", 32), Time: f.now().UTC().Truncate(time.Second)}.Text()
			return f.post("s1", a, text, sign(t, keyA, text))
		}, result{410, "expired_challenge"}},
		{"challenge of another bidder", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", b)
			return f.post("s1", a, text, sign(t, keyA, text))
		}, result{422, "bad_challenge"}},
		{"challenge of another session", func(t *testing.T) (int, map[string]any) {
			// s2's a has no key; s1's a signs a challenge issued for s1 but posts it to s2.
			text := f.challenge("s1", a)
			a2 := f.token("s2", rooms.RoleBidder, "a")
			return f.post("s2", a2, text, sign(t, keyA, text))
		}, result{409, "no_key"}},
		{"challenge of another session, same key", func(t *testing.T) (int, map[string]any) {
			// a is registered in s3 with the same key: a challenge issued for s1 is no good there.
			text := f.challenge("s1", a)
			return f.post("s3", f.token("s3", rooms.RoleBidder, "a"), text, sign(t, keyA, text))
		}, result{422, "bad_challenge"}},
		{"bidder without a key asks for a challenge", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", c, nil)
		}, result{409, "no_key"}},
		{"bidder without a key posts", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			return f.post("s1", c, text, sign(t, keyA, text))
		}, result{409, "no_key"}},
		{"staff token", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", host, nil)
		}, result{403, "forbidden"}},
		{"staff token posts", func(t *testing.T) (int, map[string]any) {
			text := f.challenge("s1", a)
			return f.post("s1", host, text, sign(t, keyA, text))
		}, result{403, "forbidden"}},
		{"admin key", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", adminKey, nil)
		}, result{403, "forbidden"}},
		{"no token", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", "", nil)
		}, result{401, "unauthorized"}},
		{"token of another session", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", f.token("s2", rooms.RoleBidder, "a"), nil)
		}, result{403, "forbidden"}},
		{"malformed challenge", func(t *testing.T) (int, map[string]any) {
			return f.post("s1", a, "please sign me", sign(t, keyA, "please sign me"))
		}, result{400, "invalid"}},
		{"signature not base64", func(t *testing.T) (int, map[string]any) {
			return f.post("s1", a, f.challenge("s1", a), "not base64!")
		}, result{400, "invalid"}},
		{"unknown field", func(t *testing.T) (int, map[string]any) {
			return f.do("POST", "/api/v1/sessions/s1/signin", a, map[string]string{"challenge": "x", "signature": "y", "key": "z"})
		}, result{400, "invalid"}},
		{"huge body", func(t *testing.T) (int, map[string]any) {
			return f.do("POST", "/api/v1/sessions/s1/signin", a, `{"challenge":"`+strings.Repeat("x", 5000)+`","signature":""}`)
		}, result{413, "too_large"}},
		{"unregistered bidder", func(t *testing.T) (int, map[string]any) {
			return f.do("GET", "/api/v1/sessions/s1/signin/challenge", f.token("s1", rooms.RoleBidder, "z"), nil)
		}, result{403, "forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.run(t)
			check(t, status, body, tt.want)
		})
	}
	if f.signedIn("s1", "a") || f.signedIn("s1", "c") {
		t.Error("a refused attempt signed a bidder in")
	}
}

// TestKeySignInWrongState: the domain's refusal before check-in opens.
func TestKeySignInWrongState(t *testing.T) {
	e := newEnv(t)
	k, _ := decrypt.GenerateKey()
	pub, _ := k.Public().MarshalPEM()
	s := session("s1")
	s["bidders"] = []map[string]string{{"id": "a", "name": "甲", "public_key": string(pub)}}
	if status, body := e.do("POST", "/api/v1/sessions", adminKey, s); status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	f := &signInFixture{env: e}
	tok := e.token("s1", rooms.RoleBidder, "a")
	text := f.challenge("s1", tok)
	status, body := f.post("s1", tok, text, sign(t, k, text))
	if status != 409 || errCode(body) != "wrong_state" {
		t.Fatalf("sign-in before check-in: %d %v; want 409 wrong_state", status, body)
	}
}

// TestKeySignInBounds: at most eight outstanding challenges per bidder; the
// oldest goes first.
func TestKeySignInBounds(t *testing.T) {
	f := newSignInFixture(t, "s1")
	tok := f.token("s1", rooms.RoleBidder, "a")
	var texts []string
	for range 9 {
		texts = append(texts, f.challenge("s1", tok))
	}
	if status, body := f.post("s1", tok, texts[0], sign(t, f.keys["a"], texts[0])); status != 410 || errCode(body) != "expired_challenge" {
		t.Fatalf("the ninth challenge should have evicted the first: %d %v", status, body)
	}
	if status, body := f.post("s1", tok, texts[1], sign(t, f.keys["a"], texts[1])); status != 200 {
		t.Fatalf("the second challenge: %d %v", status, body)
	}
}

// TestKeySignInOpenSSL: a challenge signed by OpenSSL 3 (a CA tool's
// stand-in) with an OpenSSL key is accepted.
func TestKeySignInOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found on PATH")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("genpkey", "-algorithm", "SM2", "-out", "k.pem")
	run("pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
	pub, err := os.ReadFile(filepath.Join(dir, "pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	now := e.now()
	status, body := e.do("POST", "/api/v1/sessions", adminKey, map[string]any{
		"id": "s1", "title": "道路工程", "category": "construction",
		"bidders":  []map[string]string{{"id": "a", "name": "甲", "public_key": string(pub)}},
		"deadline": now.Add(2 * time.Hour).Format(time.RFC3339), "check_in_at": now.Format(time.RFC3339),
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	f := &signInFixture{env: e}
	f.openCheckIn("s1")
	tok := e.token("s1", rooms.RoleBidder, "a")
	text := f.challenge("s1", tok)
	if err := os.WriteFile(filepath.Join(dir, "challenge.txt"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	run("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", "k.pem", "-pkeyopt", "distid:"+decrypt.DefaultUserID,
		"-in", "challenge.txt", "-out", "sig.der")
	sig, err := os.ReadFile(filepath.Join(dir, "sig.der"))
	if err != nil {
		t.Fatal(err)
	}
	status, body = f.post("s1", tok, text, base64.StdEncoding.EncodeToString(sig))
	if status != 200 || body["signed_in"] != true {
		t.Fatalf("OpenSSL-signed challenge: %d %v", status, body)
	}
	if !f.signedIn("s1", "a") {
		t.Fatal("a is not signed in")
	}
}
