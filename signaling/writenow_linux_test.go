package signaling

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TestWriteNowPartial: writeNow writes what a small socket buffer takes
// without blocking, and what it returns is exactly the rest, so the
// reader gets every byte once, in order.
func TestWriteNowPartial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	_ = server.(*net.TCPConn).SetWriteBuffer(8 << 10)
	_ = client.(*net.TCPConn).SetReadBuffer(8 << 10)

	// 400 frames of 1,000 bytes: far more than both buffers hold.
	var batch [][]byte
	var want bytes.Buffer
	for i := range 400 {
		f := bytes.Repeat([]byte{byte('a' + i%26)}, 1000)
		batch = append(batch, f)
		want.Write(f)
	}
	rest, err := writeNow(rawFD(server), append([][]byte(nil), batch...))
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) == 0 {
		t.Fatal("400 KB went into an 8 KB socket without blocking: the test proves nothing")
	}
	left := 0
	for _, b := range rest {
		left += len(b)
	}
	written := want.Len() - left
	if written <= 0 {
		t.Fatalf("nothing written (%d left)", left)
	}
	for i, f := range batch { // the shared frames are never modified
		if f[0] != byte('a'+i%26) || len(f) != 1000 {
			t.Fatalf("frame %d changed", i)
		}
	}
	done := make(chan error, 1)
	go func() {
		bufs := net.Buffers(rest)
		_, err := bufs.WriteTo(server) // what the flusher does with the rest
		done <- err
	}()
	got, err := io.ReadAll(io.LimitReader(client, int64(want.Len())))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("reader got %d bytes, not the %d written in order", len(got), want.Len())
	}
}

func TestConsume(t *testing.T) {
	b := [][]byte{[]byte("abc"), []byte("de"), []byte("fgh")}
	for _, c := range []struct {
		n    int
		want string
	}{{0, "abcdefgh"}, {2, "cdefgh"}, {3, "defgh"}, {4, "efgh"}, {5, "fgh"}, {7, "h"}, {8, ""}} {
		got := bytes.Join(consume(append([][]byte(nil), b...), c.n), nil)
		if string(got) != c.want {
			t.Errorf("consume(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
