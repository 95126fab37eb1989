package signaling

import "github.com/prometheus/client_golang/prometheus"

// metrics are the signaling figures exported at /metrics.
type metrics struct {
	connections prometheus.Gauge
	connects    *prometheus.CounterVec // by outcome
	frames      prometheus.Counter
	broadcasts  prometheus.Counter
	commands    *prometheus.CounterVec // by command and result code
	commandTime prometheus.Histogram
	slowDrops   prometheus.Counter
	rooms       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bidroom_ws_connections", Help: "Open websocket connections."}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_ws_connects_total", Help: "Websocket connection attempts by outcome."}, []string{"outcome"}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bidroom_ws_frames_sent_total", Help: "Frames queued to websocket clients."}),
		broadcasts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bidroom_ws_broadcasts_total", Help: "Broadcasts of new events to a room's connections (events close together go out in one)."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_commands_total", Help: "Commands handled (websocket or REST), by type and result."}, []string{"command", "result"}),
		commandTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bidroom_command_seconds", Help: "Time to decide and durably append a command (websocket or REST).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		slowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bidroom_ws_slow_disconnects_total", Help: "Clients disconnected because their send queue was full."}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bidroom_ws_active_rooms", Help: "Rooms with at least one connection on this instance."}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.connects, m.frames, m.broadcasts, m.commands, m.commandTime, m.slowDrops, m.rooms)
	}
	return m
}
