//go:build linux

package signaling

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxIovecs bounds one writev (IOV_MAX is 1024 on Linux).
const maxIovecs = 1024

// writeNow writes as much of batch to conn as the socket takes without
// blocking: one write(2)/writev(2) on the connection's non-blocking
// descriptor, never parked on the poller. It returns what is left, which
// a flusher goroutine then writes with a deadline. A broadcast thus costs
// one system call per client and no goroutine while sockets have room,
// which is nearly always. An error that is not "would block" is returned
// with the batch; the flusher's own write meets it again and ends the
// connection in the usual way.
func writeNow(conn net.Conn, batch [][]byte) ([][]byte, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return batch, nil // TLS or a test pipe: the flusher writes it all
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return batch, nil
	}
	for len(batch) > 0 {
		var n int
		var werr error
		// Returning true tells the runtime not to wait for the socket to
		// become writable: a full socket is the flusher's business.
		if err := rc.Write(func(fd uintptr) bool {
			if len(batch) == 1 {
				n, werr = unix.Write(int(fd), batch[0])
			} else {
				n, werr = unix.Writev(int(fd), batch[:min(len(batch), maxIovecs)])
			}
			return true
		}); err != nil {
			return batch, nil // the descriptor is closing: the flusher finishes the connection
		}
		if werr != nil {
			if errors.Is(werr, unix.EAGAIN) || errors.Is(werr, unix.EINTR) {
				return batch, nil
			}
			return batch, werr
		}
		batch = consume(batch, n)
		if n == 0 {
			return batch, nil
		}
	}
	return nil, nil
}

// consume drops the first n written bytes of batch. A partly written
// frame is re-sliced in batch (the caller's own slice), never modified:
// frames are shared between clients.
func consume(batch [][]byte, n int) [][]byte {
	for len(batch) > 0 && n >= len(batch[0]) {
		n -= len(batch[0])
		batch = batch[1:]
	}
	if len(batch) > 0 && n > 0 {
		batch[0] = batch[0][n:]
	}
	return batch
}
