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

// rawFD is the descriptor under conn, or -1 when there is none to write
// to directly (TLS, a test pipe). The client writes to it without Go's
// descriptor lock (no per-write reference count, no poller reset, no
// allocation): that is safe because only the client's flusher role
// closes the connection (finish), and writeNow runs in that role, so the
// descriptor cannot be closed, and its number reused, under a write.
func rawFD(conn net.Conn) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return -1
	}
	return fd
}

// writeNow writes as much of batch to the non-blocking descriptor fd as
// the socket takes without blocking: one write(2)/writev(2), never parked
// on the poller. It returns what is left, which a flusher goroutine then
// writes with a deadline. A broadcast thus costs one system call per
// client and no goroutine while sockets have room, which is nearly
// always. An error that is not "would block" is returned with the batch;
// the flusher's own write meets it again and ends the connection in the
// usual way. The caller holds the client's flusher role (see rawFD).
func writeNow(fd int, batch [][]byte) ([][]byte, error) {
	if fd < 0 {
		return batch, nil // the flusher writes it all
	}
	for len(batch) > 0 {
		var n int
		var err error
		if len(batch) == 1 {
			n, err = unix.Write(fd, batch[0])
		} else {
			n, err = unix.Writev(fd, batch[:min(len(batch), maxIovecs)])
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return batch, nil
			}
			return batch, err
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
