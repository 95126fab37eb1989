package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/rooms"
)

// TestOutboxREST: GET /api/v1/outbox needs the admin key, answers zero
// counts before the outbox exists, then the counts and the latest items
// without their JSON.
func TestOutboxREST(t *testing.T) {
	e := newEnv(t)
	if st, body := e.do("GET", "/api/v1/outbox", "", nil); st != http.StatusUnauthorized {
		t.Fatalf("no key: %d %v", st, body)
	}
	st, body := e.do("GET", "/api/v1/outbox", adminKey, nil)
	if st != http.StatusOK || body["counts"].(map[string]any)["documents"].(float64) != 0 || len(body["items"].([]any)) != 0 {
		t.Fatalf("empty outbox: %d %v", st, body)
	}
	ctx := context.Background()
	exec := func(id, typ string, data any) {
		raw, _ := json.Marshal(data)
		if _, err := e.svc.Execute(ctx, rooms.OutboxRoom, rooms.SystemActor, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	exec("create", rooms.CmdCreateOutbox, struct{}{})
	js := `{"version":"bidroom-push-v1"}`
	id := rooms.OutboxDocumentID("op-1", 3, rooms.DocPublicity, "")
	exec("q", rooms.CmdQueueDocument, rooms.OutboxDocument{ID: id, SourceRoom: "op-1", SourceSeq: 3, Kind: rooms.DocPublicity, JSON: js,
		Digest: hex.EncodeToString(sm3.Sm3Sum([]byte(js))), Signature: "MEUCIQ==", KeyID: strings.Repeat("a", 64), Targets: []string{"https://p.example.cn/in"}})
	exec("a1", rooms.CmdRecordAttempt, rooms.DeliveryAttempt{ID: id, Target: "https://p.example.cn/in", At: e.now(), Status: 503, Error: "HTTP 503", NextAt: e.now().Add(10e9)})

	st, body = e.do("GET", "/api/v1/outbox?limit=5", adminKey, nil)
	if st != http.StatusOK {
		t.Fatalf("%d %v", st, body)
	}
	c := body["counts"].(map[string]any)
	items := body["items"].([]any)
	if c["documents"].(float64) != 1 || c["pending"].(float64) != 1 || len(items) != 1 {
		t.Fatalf("outbox %v", body)
	}
	it := items[0].(map[string]any)
	states := it["states"].([]any)
	latest := states[0].(map[string]any)["latest"].([]any)
	if it["id"] != id || it["json"] != "" || states[0].(map[string]any)["attempts"].(float64) != 1 || latest[0].(map[string]any)["status"].(float64) != 503 {
		t.Fatalf("item %v", it)
	}
	if st, _ := e.do("GET", "/api/v1/outbox?limit=0", adminKey, nil); st != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", st)
	}
}
