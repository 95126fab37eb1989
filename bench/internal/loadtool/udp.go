package loadtool

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// UDPDrops sums the kernel's per-socket receive drops (the last column of
// /proc/net/udp and /proc/net/udp6: datagrams that arrived to a full
// receive buffer), split into the sockets bound to serverPort and all
// others. On loopback the others are the load tool's viewers, so the split
// tells whether lost frames died at the server or at the receivers.
func UDPDrops(serverPort int) (server, others int64) {
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 {
				continue
			}
			drops, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
			if err != nil {
				continue
			}
			_, portHex, _ := strings.Cut(fields[1], ":")
			port, err := strconv.ParseInt(portHex, 16, 32)
			if err == nil && int(port) == serverPort {
				server += drops
			} else {
				others += drops
			}
		}
		f.Close()
	}
	return server, others
}

// Sum adds every sample of a metric family, whatever its labels.
func (m Metrics) Sum(name string) float64 {
	var sum float64
	for k, v := range m {
		if family, _, _ := strings.Cut(k, "{"); family == name {
			sum += v
		}
	}
	return sum
}
