package api_test

import (
	"strings"
	"testing"

	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
)

// TestExpertsAreNotAtTheOpening (R21): the API will not mint an expert's
// token for an opening, and one made elsewhere is refused at the opening's
// REST state, its commands, its log and its media roster.
func TestExpertsAreNotAtTheOpening(t *testing.T) {
	e := newEnv(t)
	recordtest.Run(t, e.svc, "op1", e.advance)
	st, body := e.do("POST", "/api/v1/tokens", adminKey, map[string]any{"room": "op1", "role": "expert", "sub": "x01"})
	if st != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "R21") {
		t.Fatalf("an expert's token for an opening: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/tokens", adminKey, map[string]any{"room": "ev-later", "role": "expert", "sub": "x01"}); st != 201 {
		t.Fatalf("an expert's token for another room: %d %v", st, body)
	}
	tok := e.mint("op1", rooms.RoleExpert, "x01")
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/sessions/op1"},
		{"POST", "/api/v1/sessions/op1/commands"},
		{"GET", "/api/v1/sessions/op1/log"},
		{"GET", "/api/v1/sessions/op1/media?hall=evaluation"},
	} {
		var data any
		if c.method == "POST" {
			data = map[string]any{"id": "1", "type": "announce", "data": map[string]any{"text": "x"}}
		}
		if st, body := e.do(c.method, c.path, tok, data); st != 403 {
			t.Errorf("%s %s as an expert: %d %v, want 403", c.method, c.path, st, body)
		}
	}
}
