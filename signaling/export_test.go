package signaling

import (
	"time"

	dto "github.com/prometheus/client_model/go"
)

// SetFanOutChunk lets a test make every broadcast parallel; it returns
// the function that restores the default.
func SetFanOutChunk(n int) (restore func()) {
	old := fanOutChunk
	fanOutChunk = n
	return func() { fanOutChunk = old }
}

// SetBroadcastGap sets the least time between a room's broadcasts; it
// returns the function that restores the default.
func SetBroadcastGap(d time.Duration) (restore func()) {
	old := broadcastGap
	broadcastGap = d
	return func() { broadcastGap = old }
}

// Broadcasts is the number of broadcasts the server made.
func (s *Server) Broadcasts() float64 {
	var m dto.Metric
	if err := s.metrics.broadcasts.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
