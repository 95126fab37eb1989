package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signin/client"
)

func get(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestDemoKeySignIn: the demo registers its bidders with throwaway keys and
// hands each one's private key out, so a newcomer can sign in with it; the
// endpoint serves nothing else, and nothing at all without a demo.
func TestDemoKeySignIn(t *testing.T) {
	srv := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_DEMO_ENABLED=true")
	base := "http://" + srv.addr
	status, raw, _ := get(t, base+"/api/v1/demo")
	var demo struct {
		Room   string `json:"room"`
		People []struct {
			Role   rooms.Role `json:"role"`
			Sub    string     `json:"sub"`
			Token  string     `json:"token"`
			KeyURL string     `json:"key_url"`
		} `json:"people"`
	}
	if status != 200 || json.Unmarshal(raw, &demo) != nil {
		t.Fatalf("GET /api/v1/demo: %d %s", status, raw)
	}
	bidders := 0
	for _, p := range demo.People {
		if p.Role == rooms.RoleExpert {
			t.Errorf("the demo opening lists expert %s: experts are not at the opening (R21)", p.Sub)
		}
		if (p.KeyURL != "") != (p.Role == rooms.RoleBidder) {
			t.Errorf("%s (%s) key_url %q", p.Sub, p.Role, p.KeyURL)
		}
		if p.Role != rooms.RoleBidder {
			continue
		}
		bidders++
		status, pemKey, hdr := get(t, base+p.KeyURL)
		if status != 200 || !strings.Contains(hdr.Get("Content-Disposition"), p.Sub+".key.pem") {
			t.Fatalf("GET %s: %d %v", p.KeyURL, status, hdr)
		}
		key, err := decrypt.ParsePrivateKeyPEM(pemKey, nil)
		if err != nil {
			t.Fatalf("%s: %v", p.KeyURL, err)
		}
		// A plain sign_in is refused: a demo bidder signs in with the key.
		req, _ := http.NewRequest("POST", base+"/api/v1/sessions/"+demo.Room+"/commands", strings.NewReader(`{"id":"1","type":"sign_in"}`))
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s: token sign-in answered %d, want 403", p.Sub, resp.StatusCode)
		}
		res, err := (&client.Bidder{Server: base, Session: demo.Room, Token: p.Token}).SignIn(context.Background(), key)
		if err != nil || !res.SignedIn || res.Method != "sm2" {
			t.Fatalf("%s signs in with the downloaded key: %+v %v", p.Sub, res, err)
		}
		// Each demo bidder holds a sample bid sealed with that key, so the
		// opening has three bids and can be unlocked in the browser.
		req, _ = http.NewRequest("GET", base+"/api/v1/sessions/"+demo.Room, nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var view struct {
			State struct {
				You struct {
					Bid *struct {
						Digest string `json:"digest"`
					} `json:"bid"`
				} `json:"you"`
			} `json:"state"`
		}
		err = json.NewDecoder(resp.Body).Decode(&view)
		resp.Body.Close()
		if err != nil || view.State.You.Bid == nil || len(view.State.You.Bid.Digest) != 64 {
			t.Errorf("%s: no sample bid in the demo (%v)", p.Sub, err)
		}
	}
	if bidders != 3 {
		t.Errorf("%d demo bidders, want 3", bidders)
	}
	for _, sub := range []string{"host-1", "supervisor-1", "nobody"} {
		if status, body, _ := get(t, base+"/api/v1/demo/keys/"+sub); status != 404 {
			t.Errorf("GET /api/v1/demo/keys/%s: %d %s, want 404", sub, status, body)
		}
	}

	plain := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir())
	if status, body, _ := get(t, "http://"+plain.addr+"/api/v1/demo/keys/bidder-a"); status != 404 {
		t.Errorf("no demo: GET /api/v1/demo/keys/bidder-a: %d %s, want 404", status, body)
	}
}
