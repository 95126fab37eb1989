package signaling

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestWireFramesReadByGorilla checks our framing against an independent
// reader (gorilla's client) at every length-encoding boundary.
func TestWireFramesReadByGorilla(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 300000}
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, n := range sizes {
			_, _ = conn.NetConn().Write(wire(opText, bytes.Repeat([]byte{'x'}, n)))
		}
		_, _ = conn.NetConn().Write(wire(opClose, closePayload(websocket.ClosePolicyViolation, "too slow")))
		_, _, _ = conn.ReadMessage() // wait for the client to go
	}))
	defer hs.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadLimit(1 << 20)
	for _, n := range sizes {
		typ, r, err := ws.NextReader()
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		got, _ := io.ReadAll(r)
		if typ != websocket.TextMessage || len(got) != n || bytes.Count(got, []byte{'x'}) != n {
			t.Fatalf("n=%d: got type %d, %d bytes", n, typ, len(got))
		}
	}
	_, _, err = ws.NextReader()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.ClosePolicyViolation || ce.Text != "too slow" {
		t.Fatalf("close = %v", err)
	}
}
