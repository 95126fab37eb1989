//go:build !linux

package signaling

import "net"

// rawFD finds no descriptor to write to directly on this platform.
func rawFD(net.Conn) int { return -1 }

// writeNow leaves the whole batch to the flusher goroutine where the
// platform has no non-blocking write we can reach.
func writeNow(_ int, batch [][]byte) ([][]byte, error) { return batch, nil }
