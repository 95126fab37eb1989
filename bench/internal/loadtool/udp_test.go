package loadtool

import (
	"net"
	"testing"
	"time"
)

// TestUDPDropsCountsAFullBuffer fills a tiny receive buffer that nobody
// reads and checks the kernel's drops show up on that socket's port.
func TestUDPDropsCountsAFullBuffer(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(1) // the kernel rounds up to its minimum
	port := rx.LocalAddr().(*net.UDPAddr).Port
	before, _ := UDPDrops(port)
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	payload := make([]byte, 1200)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for range 200 {
			_, _ = tx.Write(payload)
		}
		if after, _ := UDPDrops(port); after > before {
			return
		}
	}
	t.Fatalf("no drops counted on port %d after filling its buffer", port)
}

func TestMetricsSum(t *testing.T) {
	m := Metrics{`x_total{room="a"}`: 2, `x_total{room="b"}`: 3, "x_total_other": 7, "x_total": 1}
	if got := m.Sum("x_total"); got != 6 {
		t.Fatalf("Sum = %v, want 6", got)
	}
}
