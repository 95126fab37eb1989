package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/internal/redistest"
	"github.com/bidroom/bidroom/rooms"
)

// TestSignInAcrossInstances: two servers on one Redis, no sticky sessions —
// a bidder's challenge fetched from one instance is signed and sent to the
// other and signs them in; the same challenge sent again, to either, is
// refused as used; another bidder's challenge is refused as not theirs.
func TestSignInAcrossInstances(t *testing.T) {
	url := redistest.Start(t)
	env := []string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL=" + url, "BIDROOM_STORE_REDIS_PREFIX=" + redistest.Prefix(t)}
	a := startServer(t, append(env, "BIDROOM_DATA_DIR="+t.TempDir())...)
	b := startServer(t, append(env, "BIDROOM_DATA_DIR="+t.TempDir())...)
	keys := map[string]*decrypt.PrivateKey{}
	var bidders []map[string]any
	for _, id := range []string{"x", "y"} {
		k, err := decrypt.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, _ := k.Public().MarshalPEM()
		keys[id] = k
		bidders = append(bidders, map[string]any{"id": id, "name": "公司" + id, "public_key": string(pem)})
	}
	a.post("/api/v1/sessions", map[string]any{"id": "si", "title": "签到测试", "category": "construction",
		"deadline": time.Now().Add(time.Hour), "check_in_at": time.Now(), "bidders": bidders}, testAdminKey)
	waitFor(t, "check-in open", 10*time.Second, func() bool {
		return a.get("/api/v1/sessions/si", testAdminKey)["state"].(map[string]any)["phase"] == string(rooms.PhaseCheckIn)
	})
	tokX := a.token("si", rooms.RoleBidder, "x")
	tokY := a.token("si", rooms.RoleBidder, "y")
	challenge := func(s *server, tok string) string {
		return s.get("/api/v1/sessions/si/signin/challenge", tok)["challenge"].(string)
	}
	post := func(s *server, tok, text string, k *decrypt.PrivateKey) (int, string) {
		sig, err := k.Sign([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"challenge": text, "signature": base64.StdEncoding.EncodeToString(sig)})
		req, _ := http.NewRequest("POST", "http://"+s.addr+"/api/v1/sessions/si/signin", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	text := challenge(a, tokX)
	if st, body := post(b, tokX, text, keys["x"]); st != http.StatusOK {
		t.Fatalf("challenge from A, answer to B: %d %s", st, body)
	}
	for _, s := range []*server{a, b} {
		if st, body := post(s, tokX, text, keys["x"]); st != http.StatusGone {
			t.Fatalf("the used challenge again: %d %s", st, body)
		}
	}
	textY := challenge(b, tokY)
	if st, body := post(a, tokX, textY, keys["x"]); st != http.StatusUnprocessableEntity {
		t.Fatalf("another bidder's challenge: %d %s", st, body)
	}
	if st, body := post(a, tokY, textY, keys["y"]); st != http.StatusOK {
		t.Fatalf("y's own challenge, still good after x tried it: %d %s", st, body)
	}
	v := b.get("/api/v1/sessions/si", testAdminKey)["state"].(map[string]any)
	signed := 0
	for _, p := range v["bidders"].([]any) {
		if p.(map[string]any)["signed_in"] == true {
			signed++
		}
	}
	if signed != 2 {
		t.Fatalf("%d bidders signed in, want 2: %v", signed, v["bidders"])
	}
}
