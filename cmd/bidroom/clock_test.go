package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMovableClock: with testing.movable_clock the admin moves the
// server's clock forward and the rooms' timers follow; without it the
// endpoint does not exist; bad moves and other callers are refused.
func TestMovableClock(t *testing.T) {
	srv := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_TESTING_MOVABLE_CLOCK=true")
	base := "http://" + srv.addr
	serverTime := func() time.Time {
		t.Helper()
		_, raw, _ := get(t, base+"/api/v1/time")
		var v struct {
			ServerTime time.Time `json:"server_time"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v.ServerTime
	}
	move := func(addr, key, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/testing/clock", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	srv.createSession("clk") // deadline in an hour
	before := serverTime()
	for body, want := range map[string]int{`{"advance":"-1h"}`: 400, `{"advance":"0s"}`: 400, `{"advance":"10000h"}`: 400, `{"advance":"soon"}`: 400} {
		if st := move(srv.addr, testAdminKey, body); st != want {
			t.Errorf("move %s: %d, want %d", body, st, want)
		}
	}
	if st := move(srv.addr, "not-the-key", `{"advance":"1h"}`); st != 401 {
		t.Errorf("a move without the admin key: %d, want 401", st)
	}
	if st := move(srv.addr, testAdminKey, `{"advance":"72h"}`); st != 200 {
		t.Fatalf("move 72h: %d", st)
	}
	if got := serverTime().Sub(before); got < 72*time.Hour || got > 73*time.Hour {
		t.Fatalf("the clock moved %s, want 72h", got)
	}
	// The scheduler sees the moved clock: the session passes its deadline.
	host := srv.token("clk", "host", "h1")
	waitFor(t, "the deadline on the moved clock", 10*time.Second, func() bool {
		req, _ := http.NewRequest("GET", base+"/api/v1/sessions/clk", nil)
		req.Header.Set("Authorization", "Bearer "+host)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			State struct {
				Phase string `json:"phase"`
			} `json:"state"`
		}
		return json.NewDecoder(resp.Body).Decode(&v) == nil && v.State.Phase != "check_in" && v.State.Phase != "scheduled"
	})

	plain := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir())
	if st := move(plain.addr, testAdminKey, `{"advance":"1h"}`); st != 404 {
		t.Errorf("a server without a movable clock: %d, want 404", st)
	}
}
