package signaling

import "encoding/binary"

// Websocket opcodes the server writes (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// wire frames payload as one unfragmented, unmasked server frame. The
// server writes frames itself rather than through gorilla's writer so that
// a frame shared by thousands of clients is framed once, queued frames go
// out in one writev, and the write deadline is not re-armed per frame;
// gorilla still parses what clients send.
func wire(opcode byte, payload []byte) []byte {
	n := len(payload)
	var hdr [10]byte
	hdr[0] = 0x80 | opcode // FIN
	h := 2
	switch {
	case n < 126:
		hdr[1] = byte(n)
	case n <= 0xFFFF:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = 10
	}
	b := make([]byte, h+n)
	copy(b, hdr[:h])
	copy(b[h:], payload)
	return b
}

// closePayload is the body of a close frame: the code, then the reason
// (cut to fit the 125-byte control frame limit).
func closePayload(code int, text string) []byte {
	if len(text) > 123 {
		text = text[:123]
	}
	b := make([]byte, 2+len(text))
	binary.BigEndian.PutUint16(b, uint16(code))
	copy(b[2:], text)
	return b
}
