//go:build !linux

package signaling

import "net"

// writeNow leaves the whole batch to the flusher goroutine where the
// platform has no non-blocking write we can reach.
func writeNow(_ net.Conn, batch [][]byte) ([][]byte, error) { return batch, nil }
