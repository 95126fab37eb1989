package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// TestDemoEvaluation: a fresh demo server offers yesterday's finished
// opening (three sealed PDF bids opened and read out, its record signed)
// and its evaluation, convened with a committee drawn from the seeded
// pool. The three members a newcomer plays go through it over REST with
// their downloaded keys; the demo plays the other two, so the evaluation
// reaches a report every member signed.
func TestDemoEvaluation(t *testing.T) {
	srv := startServer(t, "BIDROOM_DATA_DIR="+t.TempDir(), "BIDROOM_DEMO_ENABLED=true")
	base := "http://" + srv.addr
	status, raw, _ := get(t, base+"/api/v1/demo")
	var demo api.Demo
	if status != 200 || json.Unmarshal(raw, &demo) != nil || demo.Evaluation == nil {
		t.Fatalf("GET /api/v1/demo: %d %s", status, raw)
	}
	ev := demo.Evaluation
	if len(ev.Played) != 2 {
		t.Fatalf("the demo plays %v, want two members", ev.Played)
	}
	var experts []api.DemoToken
	var supervisor, bidder string
	for _, p := range ev.People {
		switch p.Role {
		case rooms.RoleExpert:
			experts = append(experts, p)
		case rooms.RoleSupervisor:
			supervisor = p.Token
		case rooms.RoleBidder:
			if p.Room != ev.Opening {
				t.Errorf("bidder %s's link is for %s, want the finished opening %s", p.Sub, p.Room, ev.Opening)
			}
			bidder = p.Token
		}
	}
	if len(experts) != 3 || supervisor == "" || bidder == "" {
		t.Fatalf("the evaluation's people: %+v", ev.People)
	}

	// The finished opening: closed, its record signed and readable by a bidder.
	call := func(method, path, tok string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, body := call("GET", "/api/v1/sessions/"+ev.Opening+"/record", bidder, nil); st != 200 || !strings.Contains(string(body), "8195500.00") {
		t.Fatalf("the finished opening's record: %d %.300s", st, body)
	}

	type view struct {
		Phase     rooms.EvalPhase `json:"phase"`
		Venue     string          `json:"venue"`
		Bids      []rooms.EvalBid `json:"bids"`
		Committee []rooms.Member  `json:"committee"`
		Digest    string          `json:"report_digest"`
	}
	state := func() view {
		t.Helper()
		st, body := call("GET", "/api/v1/sessions/"+ev.Room, supervisor, nil)
		var out struct {
			State view `json:"state"`
		}
		if st != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("the evaluation as the supervisor: %d %.300s", st, body)
		}
		return out.State
	}
	waitState := func(what string, ok func(view) bool) view {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			v := state()
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, v)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	v := state()
	if v.Phase != rooms.EvalConvened || len(v.Committee) != 5 || len(v.Bids) != 3 || v.Venue != demoVenue {
		t.Fatalf("the demo evaluation: %+v", v)
	}
	for _, b := range v.Bids {
		if len(b.PlaintextDigest) != 64 {
			t.Errorf("bid of %s has no decrypted document: %+v", b.Bidder, b)
		}
	}

	keys := map[string]*decrypt.PrivateKey{}
	for _, x := range experts {
		st, pemKey, _ := get(t, base+x.KeyURL)
		k, err := decrypt.ParsePrivateKeyPEM(pemKey, nil)
		if st != 200 || err != nil {
			t.Fatalf("%s's key: %d %v", x.Sub, st, err)
		}
		keys[x.Sub] = k
	}
	n := 0
	do := func(x api.DemoToken, typ string, data any) {
		t.Helper()
		n++
		raw, _ := json.Marshal(data)
		st, body := call("POST", "/api/v1/sessions/"+ev.Room+"/commands", x.Token, map[string]any{"id": fmt.Sprint("t", n), "type": typ, "data": json.RawMessage(raw)})
		if st >= 300 {
			t.Fatalf("%s by %s: %d %s", typ, x.Sub, st, body)
		}
	}
	sign := func(x api.DemoToken, msg string) string {
		sig, err := keys[x.Sub].Sign([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	for _, x := range experts {
		do(x, rooms.CmdDeclare, rooms.Declaration{Signature: sign(x, rooms.DeclarationMessage(ev.Room, x.Sub, false))})
	}
	for _, x := range experts {
		do(x, rooms.CmdVoteChair, rooms.ChairVote{Candidate: experts[0].Sub})
	}
	waitState("the played members to declare", func(v view) bool {
		for _, m := range v.Committee {
			if !m.Declared {
				return false
			}
		}
		return true
	})
	do(experts[0], rooms.CmdOpenScoring, nil)
	for _, x := range experts {
		text := demoScoreSheets(v.Bids, x.Sub)
		do(x, rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: text, Signature: sign(x, rooms.SheetsMessage(ev.Room, x.Sub, text))})
	}
	v = waitState("the tally", func(v view) bool { return v.Phase == rooms.EvalTallied && v.Digest != "" })
	for i, x := range experts {
		dissent := ""
		if i == 2 {
			dissent = "对第二名的施工组织设计评分有保留意见。"
		}
		do(x, rooms.CmdSignReport, rooms.ReportSignature{Digest: v.Digest, Dissent: dissent,
			Signature: sign(x, rooms.ReportMessage(ev.Room, x.Sub, v.Digest, dissent))})
	}
	waitState("the report every member signed", func(v view) bool { return v.Phase == rooms.EvalReported })
}
