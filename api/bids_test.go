package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// bidFixture is a session with bidders a and b, each with an SM2 key.
type bidFixture struct {
	*env
	keys   map[string]*decrypt.PrivateKey
	tokens map[string]string
}

func newBidFixture(t *testing.T) *bidFixture {
	t.Helper()
	return newBidFixtureFor(t, nil)
}

// newBidFixtureFor is newBidFixture with the session's spec changed by
// spec (when not nil) and the server's dependencies by edits.
func newBidFixtureFor(t *testing.T, spec func(map[string]any), edits ...func(*api.Deps)) *bidFixture {
	t.Helper()
	f := &bidFixture{env: newEnvFor(t, edits...), keys: map[string]*decrypt.PrivateKey{}, tokens: map[string]string{}}
	var bidders []map[string]string
	for _, id := range []string{"a", "b"} {
		k, err := decrypt.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := k.Public().MarshalPEM()
		f.keys[id] = k
		bidders = append(bidders, map[string]string{"id": id, "name": "公司" + id, "public_key": string(pub)})
		f.tokens[id], _, _ = f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleBidder, Sub: id, TTL: time.Hour})
	}
	s := session("s1")
	s["bidders"] = bidders
	s["backup_allowed"] = true
	if spec != nil {
		spec(s)
	}
	if status, body := f.do("POST", "/api/v1/sessions", adminKey, s); status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	return f
}

// seal returns a sealed bid of n random bytes for session/bidder signed by key.
func seal(t *testing.T, session, bidder string, key *decrypt.PrivateKey, n int) []byte {
	t.Helper()
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	var out bytes.Buffer
	_, err := decrypt.Seal(&out, bytes.NewReader(plain), decrypt.SealOptions{
		SessionID: session, BidderID: bidder, Size: int64(n), Signer: key,
		Sheet: decrypt.Sheet{Price: "9800000.00", Duration: "300天", Quality: "合格", ProjectManager: "李工"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// bidUploads and backupUploads are where bids and backup copies are uploaded.
const (
	bidUploads    = "/api/v1/sessions/s1/bids/uploads"
	backupUploads = "/api/v1/sessions/s1/bids/mine/backup/uploads"
)

func (f *bidFixture) patch(token, upload string, offset int, part []byte) (int, map[string]any) {
	return f.patchAt(bidUploads, token, upload, offset, part)
}

func (f *bidFixture) patchAt(base, token, upload string, offset int, part []byte) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest("PATCH", f.url+base+"/"+upload, bytes.NewReader(part))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Offset", fmt.Sprint(offset))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// upload sends file in two parts and completes it.
func (f *bidFixture) upload(token string, file []byte) (int, map[string]any) {
	return f.uploadTo(bidUploads, token, file, nil)
}

// uploadTo sends file to base in two parts and completes it with complete
// as the body (nil for none).
func (f *bidFixture) uploadTo(base, token string, file []byte, complete any) (int, map[string]any) {
	f.t.Helper()
	status, body := f.do("POST", base, token, map[string]any{"size": len(file)})
	if status != 201 {
		return status, body
	}
	id := body["upload_id"].(string)
	half := len(file) / 2
	if status, body := f.patchAt(base, token, id, 0, file[:half]); status != 200 || body["offset"] != float64(half) {
		f.t.Fatalf("first part: %d %v", status, body)
	}
	if status, body := f.patchAt(base, token, id, half, file[half:]); status != 200 {
		f.t.Fatalf("second part: %d %v", status, body)
	}
	return f.do("POST", base+"/"+id+"/complete", token, complete)
}

func TestBidUploadAndReceipt(t *testing.T) {
	f := newBidFixture(t)
	file := seal(t, "s1", "a", f.keys["a"], 200_000)
	status, body := f.upload(f.tokens["a"], file)
	if status != 201 {
		t.Fatalf("complete: %d %v", status, body)
	}
	// The receipt is signed by the platform key the server publishes.
	resp, err := http.Get(f.url + "/api/v1/platform-key")
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	platform, err := decrypt.ParsePublicKeyPEM(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(body["signed"].(string))
	sig, _ := base64.StdEncoding.DecodeString(body["signature"].(string))
	if err := platform.Verify(raw, sig); err != nil {
		t.Fatalf("receipt signature: %v", err)
	}
	raw[len(raw)-2] ^= 1
	if platform.Verify(raw, sig) == nil {
		t.Fatal("a changed receipt verifies")
	}
	raw[len(raw)-2] ^= 1
	var r struct {
		Session, Bidder, Digest string
		Size                    int64
		ReceivedAt              time.Time `json:"received_at"`
	}
	_ = json.Unmarshal(raw, &r)
	if r.Session != "s1" || r.Bidder != "a" || r.Size != int64(len(file)) || len(r.Digest) != 64 || time.Since(r.ReceivedAt) > time.Minute {
		t.Fatalf("receipt = %s", raw)
	}
	// The bidder sees their bid; bidder b and the host do not.
	_, view := f.do("GET", "/api/v1/sessions/s1", f.tokens["a"], nil)
	if !strings.Contains(fmt.Sprint(view), r.Digest) {
		t.Errorf("bidder a's view lacks its bid: %v", view)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	for who, tok := range map[string]string{"bidder b": f.tokens["b"], "host": host} {
		_, v := f.do("GET", "/api/v1/sessions/s1", tok, nil)
		if strings.Contains(fmt.Sprint(v), r.Digest) {
			t.Errorf("%s sees bidder a's bid before the deadline", who)
		}
	}
	// A replacement, then a withdrawal.
	if status, body := f.upload(f.tokens["a"], seal(t, "s1", "a", f.keys["a"], 1000)); status != 201 {
		t.Fatalf("replacement: %d %v", status, body)
	}
	if status, body := f.do("DELETE", "/api/v1/sessions/s1/bids/mine", f.tokens["a"], nil); status != 200 {
		t.Fatalf("withdraw: %d %v", status, body)
	}
	if status, body := f.do("DELETE", "/api/v1/sessions/s1/bids/mine", f.tokens["a"], nil); status != 404 {
		t.Fatalf("withdraw twice: %d %v", status, body)
	}
}

func TestBidRefusals(t *testing.T) {
	f := newBidFixture(t)
	other, _ := decrypt.GenerateKey()
	plain := []byte(strings.Repeat("这是一份未加密的投标文件", 100))
	tests := []struct {
		name string
		file []byte
		code string
	}{
		{"unencrypted", plain, "bad_bid"},
		{"signed by another key", seal(t, "s1", "a", other, 500), "bad_bid"},
		{"sealed for another session", seal(t, "s9", "a", f.keys["a"], 500), "bad_bid"},
		{"sealed by another bidder", seal(t, "s1", "b", f.keys["a"], 500), "bad_bid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.upload(f.tokens["a"], tt.file)
			if status != 422 || errCode(body) != tt.code {
				t.Fatalf("got %d %v, want 422 %s", status, body, tt.code)
			}
		})
	}
	// Another bidder cannot see or write someone else's upload.
	_, body := f.do("POST", "/api/v1/sessions/s1/bids/uploads", f.tokens["a"], map[string]any{"size": 10})
	id := body["upload_id"].(string)
	if status, _ := f.patch(f.tokens["b"], id, 0, []byte("x")); status != 404 {
		t.Errorf("b writes a's upload: %d", status)
	}
	if status, _ := f.patch(f.tokens["a"], id, 5, []byte("x")); status != 409 {
		t.Errorf("wrong offset: %d", status)
	}
	if status, _ := f.patch(f.tokens["a"], id, 0, make([]byte, 11)); status != 413 {
		t.Errorf("over the declared size: %d", status)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	if status, _ := f.do("POST", "/api/v1/sessions/s1/bids/uploads", host, map[string]any{"size": 10}); status != 403 {
		t.Errorf("host uploads: %d", status)
	}
	if status, _ := f.do("POST", "/api/v1/sessions/s1/bids/uploads", f.tokens["a"], map[string]any{"size": 0}); status != 400 {
		t.Errorf("size 0: %d", status)
	}
	// At the deadline every upload step is refused (R1).
	good := seal(t, "s1", "a", f.keys["a"], 500)
	_, body = f.do("POST", "/api/v1/sessions/s1/bids/uploads", f.tokens["a"], map[string]any{"size": len(good)})
	late := body["upload_id"].(string)
	f.advance(2 * time.Hour)
	if status, body := f.patch(f.tokens["a"], late, 0, good); status != 409 || errCode(body) != "wrong_state" {
		t.Errorf("part after the deadline: %d %v", status, body)
	}
	if status, body := f.do("POST", "/api/v1/sessions/s1/bids/uploads/"+late+"/complete", f.tokens["a"], nil); status != 409 {
		t.Errorf("complete after the deadline: %d %v", status, body)
	}
	if status, _ := f.do("POST", "/api/v1/sessions/s1/bids/uploads", f.tokens["a"], map[string]any{"size": 10}); status != 409 {
		t.Errorf("new upload after the deadline: %d", status)
	}
}

// unlockAs runs the bidder's side of the exchange: fetch the wrapped key,
// unwrap it locally, encrypt it to the platform key, send it.
func (f *bidFixture) unlockAs(bidder string, dataKey []byte) (int, map[string]any) {
	f.t.Helper()
	status, ch := f.do("GET", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens[bidder], nil)
	if status != 200 {
		return status, ch
	}
	if dataKey == nil {
		wrapped, _ := base64.StdEncoding.DecodeString(ch["wrapped_key"].(string))
		var err error
		if dataKey, err = f.keys[bidder].Decrypt(wrapped); err != nil {
			f.t.Fatalf("unwrap locally: %v", err)
		}
	}
	platform, err := decrypt.ParsePublicKeyPEM([]byte(ch["platform_key"].(string)))
	if err != nil {
		f.t.Fatal(err)
	}
	ct, err := platform.Encrypt(dataKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do("POST", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens[bidder], map[string]string{"encrypted_key": base64.StdEncoding.EncodeToString(ct)})
}

func TestUnlockExchange(t *testing.T) {
	f := newBidFixture(t)
	for _, b := range []string{"a", "b"} {
		if status, body := f.upload(f.tokens[b], seal(t, "s1", b, f.keys[b], 200_000)); status != 201 {
			t.Fatalf("upload %s: %d %v", b, status, body)
		}
	}
	f.advance(2*time.Hour + time.Minute)
	ctx := t.Context()
	if _, err := f.svc.Execute(ctx, "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	if status, body := f.unlockAs("a", nil); status != 409 || errCode(body) != "wrong_state" {
		t.Fatalf("unlock before the window: %d %v", status, body)
	}
	host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	if status, body := f.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "w", "type": "start_decryption"}); status != 200 {
		t.Fatalf("start decryption: %d %v", status, body)
	}

	status, body := f.unlockAs("a", nil)
	if status != 200 || body["sheet"].(map[string]any)["price"] != "9800000.00" || body["plaintext_size"] != float64(200_000) {
		t.Fatalf("unlock a: %d %v", status, body)
	}
	if status, body := f.unlockAs("a", nil); status != 200 || body["duplicate"] != true {
		t.Fatalf("unlock a again: %d %v", status, body)
	}

	// A wrong data key is recorded as the bidder's failure; a retry succeeds.
	if status, body := f.unlockAs("b", bytes.Repeat([]byte{7}, 16)); status != 422 || errCode(body) != "wrong_key" {
		t.Fatalf("wrong key: %d %v", status, body)
	}
	// The data key encrypted to the master platform key, not this session's key.
	_, ch := f.do("GET", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens["b"], nil)
	wrapped, _ := base64.StdEncoding.DecodeString(ch["wrapped_key"].(string))
	dk, _ := f.keys["b"].Decrypt(wrapped)
	ct, _ := f.platform.Public().Encrypt(dk)
	if status, body := f.do("POST", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens["b"], map[string]string{"encrypted_key": base64.StdEncoding.EncodeToString(ct)}); status != 422 || errCode(body) != "bad_exchange" {
		t.Fatalf("key for the master platform key: %d %v", status, body)
	}
	// Garbage instead of a ciphertext.
	if status, body := f.do("POST", "/api/v1/sessions/s1/bids/mine/unlock", f.tokens["b"], map[string]string{"encrypted_key": "!!"}); status != 422 || errCode(body) != "bad_exchange" {
		t.Fatalf("bad exchange: %d %v", status, body)
	}
	// Concurrent clients: every one gets the sheet, the log opens the bid once.
	results := make(chan int, 4)
	for range 4 {
		go func() {
			s, _ := f.unlockAs("b", nil)
			results <- s
		}()
	}
	for range 4 {
		if s := <-results; s != 200 {
			t.Errorf("concurrent unlock: %d", s)
		}
	}
	evs, _ := f.svc.EventsAfter(ctx, "s1", 0)
	opened, failed := map[string]int{}, 0
	for _, e := range evs {
		switch e.Type {
		case rooms.EvBidOpened:
			var u rooms.Unlock
			_ = json.Unmarshal(e.Data, &u)
			opened[u.Bidder]++
		case rooms.EvUnlockFailed:
			failed++
		}
	}
	if opened["a"] != 1 || opened["b"] != 1 || failed != 3 {
		t.Fatalf("opened %v, failed attempts %d; want each bid opened once and 3 failures recorded", opened, failed)
	}
	// Bidders see their own outcome only; the host sees both.
	_, view := f.do("GET", "/api/v1/sessions/s1", f.tokens["a"], nil)
	if strings.Contains(fmt.Sprint(view), "attempts:3") {
		t.Errorf("bidder a sees b's attempts: %v", view)
	}
	_, hv := f.do("GET", "/api/v1/sessions/s1", host, nil)
	if n := strings.Count(fmt.Sprint(hv), "9800000.00"); n != 2 {
		t.Errorf("host view shows %d opened sheets, want 2", n)
	}
}
