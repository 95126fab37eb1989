package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// serverFrame is a frame as the server sends it (unmasked), its length in
// the shortest form.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n < 126:
		b = []byte{b0, byte(n)}
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(n))
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 127}, uint64(n))
	}
	return append(b, payload...)
}

func opName(op byte) string {
	switch op {
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return fmt.Sprintf("op%#x", op)
}

// feed passes data to a stream bounded at max in reads of the given sizes
// (in turn; as much as fits when none), as the poller does, and returns
// what next gave ("text:payload", ...) until the first error. It fails the
// test if the stream buffers past its bound or leaves no room to read
// while it needs more bytes.
func feed(t testing.TB, data []byte, sizes []int, max int) ([]string, error) {
	t.Helper()
	s := &wsStream{max: max}
	var out []string
	for i := 0; len(data) > 0; i++ {
		room := s.space()
		if cap(s.buf) > s.limit() {
			t.Fatalf("buffer of %d bytes, over the bound %d", cap(s.buf), s.limit())
		}
		n := len(data)
		if len(sizes) > 0 {
			n = min(n, sizes[i%len(sizes)])
		}
		n = copy(room, data[:n])
		if n == 0 {
			t.Fatalf("no room to read into, %d bytes pending", len(s.pending()))
		}
		s.filled(n)
		data = data[n:]
		for {
			op, payload, ok, err := s.next()
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			if len(payload) > max || len(s.msg) > max {
				t.Fatalf("a message of %d bytes (%d put together), over the bound %d", len(payload), len(s.msg), max)
			}
			out = append(out, opName(op)+":"+string(payload))
		}
	}
	return out, nil
}

// long64 is a frame with a 64-bit length field for a short payload (not
// the shortest form, still valid).
func long64(op byte, payload string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{0x80 | op, 127}, uint64(len(payload))), payload...)
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// mixed is a stream of every kind of frame the reader handles.
var mixed = cat(
	serverFrame(true, opText, []byte(`{"v":1,"type":"welcome"}`)),
	serverFrame(true, opText, bytes.Repeat([]byte("s"), 300)), // 16-bit length
	long64(opBinary, "b64"),
	serverFrame(false, opText, []byte("Hel")), // fragmented, a ping and a pong between its parts
	serverFrame(true, opPing, []byte("p1")),
	serverFrame(false, opContinuation, []byte("lo")),
	serverFrame(true, opPong, nil),
	serverFrame(true, opContinuation, []byte("!")),
	serverFrame(true, opText, nil),
	serverFrame(true, opClose, closePayload(1000, "bye")),
)

var mixedWant = []string{`text:{"v":1,"type":"welcome"}`, "text:" + strings.Repeat("s", 300), "binary:b64",
	"ping:p1", "pong:", "text:Hello!", "text:", "close:\x03\xe8bye"}

func TestStreamMessages(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000) // 64-bit length; the buffer grows for it
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"mixed", mixed, mixedWant},
		{"64-bit length", serverFrame(true, opText, big), []string{"text:" + string(big)}},
		{"fragments of 16- and 64-bit lengths", cat(serverFrame(false, opBinary, big[:300]), serverFrame(false, opContinuation, big[300:]),
			serverFrame(true, opContinuation, []byte("y"))), []string{"binary:" + string(big) + "y"}},
		{"a frame not yet whole", cat(serverFrame(true, opText, []byte("a")), serverFrame(true, opText, []byte("bcd"))[:4]), []string{"text:a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := feed(t, tc.data, nil, maxMessage)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !equal(got, tc.want) {
				t.Errorf("got %.80q\nwant %.80q", got, tc.want)
			}
			if got, err := feed(t, tc.data, []int{1}, maxMessage); err != nil || !equal(got, tc.want) {
				t.Errorf("byte by byte: got %.80q, %v; want the same as whole", got, err)
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00|") == strings.Join(b, "\x00|") }

// TestStreamSplitEverywhere: the stream split into two reads at every
// byte reads the same as whole.
func TestStreamSplitEverywhere(t *testing.T) {
	for i := 1; i < len(mixed); i++ {
		got, err := feed(t, mixed, []int{i, len(mixed)}, maxMessage)
		if err != nil || !equal(got, mixedWant) {
			t.Fatalf("split at %d: got %.80q, %v; want %.80q", i, got, err, mixedWant)
		}
	}
}

// TestStreamBufferShrinks: after a large message the buffer goes back to
// its first size once empty.
func TestStreamBufferShrinks(t *testing.T) {
	s := &wsStream{max: maxMessage}
	data := serverFrame(true, opText, bytes.Repeat([]byte("x"), 200<<10))
	for len(data) > 0 {
		n := copy(s.space(), data)
		s.filled(n)
		data = data[n:]
	}
	if _, p, ok, err := s.next(); !ok || err != nil || len(p) != 200<<10 {
		t.Fatalf("next: %d bytes, %v, %v; want the whole message", len(p), ok, err)
	}
	if s.space(); cap(s.buf) != streamBuf {
		t.Errorf("buffer of %d bytes after the message, want %d", cap(s.buf), streamBuf)
	}
}

func TestStreamViolations(t *testing.T) {
	frag60 := serverFrame(false, opText, bytes.Repeat([]byte("a"), 60))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"masked", []byte{0x81, 0x81, 1, 2, 3, 4, 'a'}, "masked"},
		{"reserved bits", []byte{0xC1, 0x00}, "reserved bits 0x40"},
		{"opcode 3", []byte{0x83, 0x00}, "opcode 0x3"},
		{"opcode 0xB", []byte{0x8B, 0x00}, "opcode 0xb"},
		{"fragmented ping", []byte{0x09, 0x00}, "control frame 0x9"},
		{"ping of 126 bytes", serverFrame(true, opPing, make([]byte, 126)), "over 125"},
		{"close of one byte", []byte{0x88, 0x01, 0x03}, "one byte"},
		{"continuation first", []byte{0x80, 0x01, 'a'}, "continuation"},
		{"text inside a fragmented message", cat(frag60, serverFrame(true, opText, []byte("b"))), "new message inside"},
		// Refused on the header, before the payload is buffered.
		{"over the bound, 16-bit length", []byte{0x81, 126, 0x00, 101}, "over 100 bytes"},
		{"64-bit length, top bit set", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, "over 100 bytes"},
		{"fragments over the bound", cat(frag60, serverFrame(true, opContinuation, bytes.Repeat([]byte("a"), 41))[:2]), "over 100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := feed(t, tc.data, nil, 100)
			if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a protocol violation saying %q", err, tc.want)
			}
		})
	}
	// Exactly the bound, in fragments, is fine.
	if got, err := feed(t, cat(frag60, serverFrame(true, opContinuation, bytes.Repeat([]byte("a"), 40))), nil, 100); err != nil || len(got) != 1 {
		t.Errorf("a message of exactly the bound: %q, %v; want it", got, err)
	}
}

func TestClientFrames(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	if got, want := clientFrame(opPong, []byte("abc"), key), []byte{0x8A, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3}; !bytes.Equal(got, want) {
		t.Errorf("pong = % x, want % x", got, want)
	}
	f := clientFrame(opClose, closePayload(closeGoingAway, "wsload storm"), key)
	if f[0] != 0x88 || f[1] != 0x80|14 || len(f) != 6+14 {
		t.Fatalf("close frame % x: want FIN, close, masked, 14 bytes", f)
	}
	for i := range f[6:] {
		f[6+i] ^= key[i%4]
	}
	if got := string(f[6:]); got != "\x03\xe9wsload storm" {
		t.Errorf("close payload unmasked %q, want 1001 wsload storm", got)
	}

	reply, why := closeReply(closePayload(1000, "bye"))
	if !bytes.Equal(reply, []byte{0x03, 0xe8}) || why == nil || !strings.Contains(why.Error(), "1000 bye") {
		t.Errorf("closeReply(1000 bye) = % x, %v; want 03 e8 and an error naming 1000 bye", reply, why)
	}
	if reply, why := closeReply(nil); reply != nil || why == nil || !strings.Contains(why.Error(), "no status") {
		t.Errorf("closeReply(empty) = % x, %v; want nothing and no status", reply, why)
	}
}

func TestCheckUpgrade(t *testing.T) {
	req, accept := upgradeRequest("127.0.0.1:80", "/ws?room=r&pos=3", "tok")
	for _, want := range []string{"GET /ws?room=r&pos=3 HTTP/1.1\r\n", "Host: 127.0.0.1:80\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
		"Sec-WebSocket-Version: 13\r\n", "Authorization: Bearer tok\r\n"} {
		if !bytes.Contains(req, []byte(want)) {
			t.Errorf("request %q has no %q", req, want)
		}
	}
	// RFC 6455 4.2.2's example.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptKey = %q, want the RFC's", got)
	}
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
	refused := "HTTP/1.1 401 Unauthorized\r\nContent-Length: 22\r\n\r\n"
	for _, tc := range []struct {
		name   string
		answer string
		eof    bool
		n      int
		err    string
	}{
		{"101 and a frame", ok + "\x81\x01a", false, len(ok), ""},
		{"header not whole", ok[:len(ok)-1], false, 0, ""},
		{"closed in the header", ok[:20], true, 0, "closed after 20 bytes"},
		{"body on its way", refused + `{"error":`, false, 0, ""},
		{"refused", refused + `{"error":"bad token"}` + "\n", false, 0, `HTTP 401 {"error":"bad token"}`},
		{"refused, closed early", refused + `{"err`, true, 0, `HTTP 401 {"err`},
		{"wrong accept", strings.Replace(ok, accept, "d3Jvbmc=", 1), false, 0, "Sec-WebSocket-Accept"},
		{"not websocket", strings.Replace(ok, "Upgrade: websocket", "Upgrade: h2c", 1), false, 0, "Upgrade"},
		{"header too long", "HTTP/1.1 101 Switching Protocols\r\nX: " + strings.Repeat("x", maxUpgradeAnswer), false, 0, "over 16384 bytes"},
	} {
		n, err := checkUpgrade([]byte(tc.answer), accept, tc.eof)
		if n != tc.n || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %d, %v; want %d and an error saying %q", tc.name, n, err, tc.n, tc.err)
		}
	}
}

// FuzzFrameParser feeds arbitrary bytes, in reads of arbitrary sizes, to
// a stream of an arbitrary bound: it never panics, never buffers past the
// bound, always has room to read when it needs more, and reads the same
// as when fed in as large reads as fit.
func FuzzFrameParser(f *testing.F) {
	f.Add(mixed, []byte{1}, uint16(1000))
	f.Add(mixed, []byte{7, 200, 3}, uint16(300))
	f.Add(serverFrame(true, opText, bytes.Repeat([]byte("x"), 3000)), []byte{255}, uint16(5000))
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, []byte(nil), uint16(100))
	f.Fuzz(func(t *testing.T, data, sizes []byte, bound uint16) {
		max := 1 + int(bound)
		reads := make([]int, len(sizes))
		for i, s := range sizes {
			reads[i] = 1 + int(s)
		}
		got, err := feed(t, data, reads, max)
		whole, wholeErr := feed(t, data, nil, max)
		if !equal(got, whole) || fmt.Sprint(err) != fmt.Sprint(wholeErr) {
			t.Errorf("in reads of %v: %.80q, %v\nin large reads: %.80q, %v", reads, got, err, whole, wholeErr)
		}
	})
}
