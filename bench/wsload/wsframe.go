package main

// The client side of RFC 6455 that the epoll reader (epoll_linux.go)
// speaks on its own sockets: the upgrade request and its answer, the
// server's frames, the client's masked control frames. No I/O: the caller
// reads into a wsStream and writes the bytes these return.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Opcodes (RFC 6455 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	maxMessage       = 32 << 20 // the largest message a viewer takes: a snapshot can be large
	maxFrameHeader   = 14       // 2 bytes, a 64-bit length, a mask key
	streamBuf        = 2 << 10  // a stream's first read buffer (gorilla's is as large)
	keepBuf          = 64 << 10 // a larger buffer is dropped once empty (a snapshot's)
	maxUpgradeAnswer = 16 << 10 // the upgrade answer's header
	closeGoingAway   = 1001
)

// errProtocol is a server frame the client cannot accept: the connection
// cannot go on.
var errProtocol = errors.New("websocket protocol violation")

// wsStream is the read side of one client connection: the bytes read and
// not yet parsed, and a fragmented message being put together. Its buffer
// never grows past a whole frame of the largest message (limit).
type wsStream struct {
	max   int    // largest message in bytes; maxMessage unless a test sets less
	buf   []byte // read so far; buf[off:] not yet parsed
	off   int
	msg   []byte // a fragmented message's payload so far
	msgOp byte   // its opcode; 0 outside a fragmented message
}

// limit is the most the buffer holds: the largest frame, or the first
// buffer when that is larger.
func (s *wsStream) limit() int { return max(streamBuf, s.max+maxFrameHeader) }

// space returns room to read into after the unparsed bytes: it moves them
// to the front, and when the buffer is full of them, into one twice as
// large (up to limit). The payloads next returned are then invalid.
func (s *wsStream) space() []byte {
	if s.off > 0 {
		s.buf = s.buf[:copy(s.buf, s.buf[s.off:])]
		s.off = 0
	}
	if len(s.buf) == 0 && cap(s.buf) > keepBuf {
		s.buf = nil
	}
	if cap(s.buf) == 0 {
		s.buf = make([]byte, 0, streamBuf)
	}
	if len(s.buf) == cap(s.buf) {
		s.buf = append(make([]byte, 0, min(2*cap(s.buf), s.limit())), s.buf...)
	}
	return s.buf[len(s.buf):cap(s.buf)]
}

// filled notes that n bytes were read into space().
func (s *wsStream) filled(n int) { s.buf = s.buf[:len(s.buf)+n] }

// pending is the bytes read and not yet parsed.
func (s *wsStream) pending() []byte { return s.buf[s.off:] }

// discard drops the first n pending bytes (the upgrade answer).
func (s *wsStream) discard(n int) { s.off += n }

// next parses the next frame among the bytes read. It returns a whole
// data message (put together from its fragments) or a control frame, its
// payload valid until space is called; ok is false when more bytes are
// needed. An error (wrapping errProtocol) ends the connection.
func (s *wsStream) next() (op byte, payload []byte, ok bool, err error) {
	for {
		b := s.buf[s.off:]
		if len(b) < 2 {
			return 0, nil, false, nil
		}
		fin, op := b[0]&0x80 != 0, b[0]&0x0f
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return 0, nil, false, nil
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return 0, nil, false, nil
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if err := s.check(b[0], b[1], n); err != nil {
			return 0, nil, false, err
		}
		if uint64(len(b)-h) < n {
			return 0, nil, false, nil
		}
		payload = b[h : h+int(n)]
		s.off += h + int(n)
		switch {
		case op >= opClose || (op != opContinuation && fin): // a control frame, a whole message
			return op, payload, true, nil
		case op != opContinuation: // a message's first fragment
			if cap(s.msg) > keepBuf {
				s.msg = nil
			}
			s.msgOp, s.msg = op, append(s.msg[:0], payload...)
		default:
			s.msg = append(s.msg, payload...)
			if fin {
				op, s.msgOp = s.msgOp, 0
				return op, s.msg, true, nil
			}
		}
	}
}

// check refuses a frame header (its first two bytes and its length) that
// breaks RFC 6455 for a client that negotiated no extension, or a
// message over the bound.
func (s *wsStream) check(b0, b1 byte, n uint64) error {
	fin, op, room := b0&0x80 != 0, b0&0x0f, uint64(s.max)
	switch {
	case b0&0x70 != 0:
		return fmt.Errorf("%w: reserved bits %#x set", errProtocol, b0&0x70)
	case b1&0x80 != 0:
		return fmt.Errorf("%w: a masked frame from the server", errProtocol)
	case op > opPong || (op > opBinary && op < opClose):
		return fmt.Errorf("%w: opcode %#x", errProtocol, op)
	case op >= opClose && (!fin || n > 125):
		return fmt.Errorf("%w: control frame %#x fragmented or over 125 bytes", errProtocol, op)
	case op == opClose && n == 1:
		return fmt.Errorf("%w: a close frame of one byte", errProtocol)
	case op == opContinuation && s.msgOp == 0:
		return fmt.Errorf("%w: a continuation frame outside a fragmented message", errProtocol)
	case op != opContinuation && op < opClose && s.msgOp != 0:
		return fmt.Errorf("%w: a new message inside a fragmented one", errProtocol)
	case op == opContinuation:
		room -= uint64(len(s.msg))
	}
	if n > room {
		return fmt.Errorf("%w: a message over %d bytes", errProtocol, s.max)
	}
	return nil
}

// clientFrame is a whole control frame from the client, masked with key
// as RFC 6455 5.3 requires; payload is at most 125 bytes.
func clientFrame(op byte, payload []byte, key [4]byte) []byte {
	b := append(make([]byte, 0, 6+len(payload)), 0x80|op, 0x80|byte(len(payload)))
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// maskKey is a fresh masking key.
func maskKey() (k [4]byte) {
	_, _ = rand.Read(k[:])
	return k
}

// closePayload is a close frame's payload: a status code and a reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// closeReply answers the server's close frame with payload p: the close
// echoing its status (RFC 6455 5.5.1), and why the connection ended.
func closeReply(p []byte) (reply []byte, why error) {
	if len(p) < 2 {
		return nil, errors.New("websocket closed by the server (no status)")
	}
	return p[:2], fmt.Errorf("websocket closed by the server: %d %s", binary.BigEndian.Uint16(p), p[2:])
}

// upgradeRequest is the GET that opens a websocket at uri (path and
// query) on host, with the bearer token, and the Sec-WebSocket-Accept its
// answer must carry.
func upgradeRequest(host, uri, token string) (req []byte, accept string) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req = []byte("GET " + uri + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + token + "\r\n\r\n")
	return req, acceptKey(key)
}

// acceptKey is the Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkUpgrade reads the answer to an upgrade request at the start of b.
// It returns the answer's length when it is a 101 with the right accept
// (what follows is the first frames); 0 and no error while more bytes are
// needed; an error naming the status and the body's start for any other
// answer. eof: no more bytes will come.
func checkUpgrade(b []byte, accept string, eof bool) (int, error) {
	end := bytes.Index(b[:min(len(b), maxUpgradeAnswer)], []byte("\r\n\r\n"))
	switch {
	case end < 0 && len(b) >= maxUpgradeAnswer:
		return 0, fmt.Errorf("websocket handshake: the answer's header is over %d bytes", maxUpgradeAnswer)
	case end < 0 && eof:
		return 0, fmt.Errorf("websocket handshake: connection closed after %d bytes of the answer", len(b))
	case end < 0:
		return 0, nil
	}
	n := end + 4
	resp, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(b[:n]), n), nil)
	if err != nil {
		return 0, fmt.Errorf("websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body := b[n:]
		want := 512
		if resp.ContentLength >= 0 {
			want = min(want, int(resp.ContentLength))
		}
		if len(body) < want && !eof {
			return 0, nil // the body's start is on its way
		}
		return 0, fmt.Errorf("websocket handshake: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Connection")), "upgrade") {
		return 0, fmt.Errorf("websocket handshake: 101 with Upgrade %q, Connection %q", resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != accept {
		return 0, fmt.Errorf("websocket handshake: Sec-WebSocket-Accept %q, want %q", got, accept)
	}
	return n, nil
}
