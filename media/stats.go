package media

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// totals are a space's counters; live tracks' counters are added at read
// time, departed ones are folded in here when they end.
type totals struct {
	inPackets, inBytes, inLost, plisSent           uint64
	outPackets, outBytes, nacks, retransmits, plis uint64
	skips                                          uint64
}

func (t *totals) addSource(src *source) {
	t.inPackets += src.stats.packets.Load()
	t.inBytes += src.stats.bytes.Load()
	t.inLost += src.stats.lost.Load()
	t.plisSent += src.stats.plisSent.Load()
}

func (t *totals) addViewer(d *downTrack) {
	t.outPackets += d.stats.packets.Load()
	t.outBytes += d.stats.bytes.Load()
	t.nacks += d.stats.nacks.Load()
	t.retransmits += d.stats.retransmits.Load()
	t.plis += d.stats.plis.Load()
	t.skips += d.stats.skips.Load()
}

// trackEnded folds an ended source's counters into its space.
func (s *Server) trackEnded(key Space, src *source) {
	s.mu.Lock()
	if sp := s.spaces[key]; sp != nil {
		sp.gone.addSource(src)
	}
	s.mu.Unlock()
}

// TrackStats describes one published track.
type TrackStats struct {
	Kind        string  `json:"kind"`
	Codec       string  `json:"codec"`
	BitrateKbps float64 `json:"bitrate_kbps"`
	Packets     uint64  `json:"packets"`
	Lost        uint64  `json:"lost"`      // upstream gaps seen
	PLIsSent    uint64  `json:"plis_sent"` // keyframe requests sent to the publisher
	Viewers     int64   `json:"viewers"`
}

// FeedStats describes one feed.
type FeedStats struct {
	Name      string `json:"name"`
	Publisher string `json:"publisher,omitempty"`
	// PublisherName is the publisher's display name, from their token.
	PublisherName string       `json:"publisher_name,omitempty"`
	Since         *time.Time   `json:"since,omitempty"`
	Tracks        []TrackStats `json:"tracks"`
}

// SpaceStats is what the host sees of a hall's media.
type SpaceStats struct {
	Publishers  int         `json:"publishers"`
	Viewers     int         `json:"viewers"`
	Feeds       []FeedStats `json:"feeds"`
	EgressKbps  float64     `json:"egress_kbps"`
	Retransmits uint64      `json:"retransmits"`
	NACKs       uint64      `json:"nacks"`
	PLIs        uint64      `json:"plis"`
	Skips       uint64      `json:"skips"`
	ViewerLoss  float64     `json:"viewer_loss_pct"` // mean of viewers' last reported loss
}

// rate turns a byte counter into kbit/s. A reading less than a second after
// the last one returns the last rate: two readers polling (host and
// supervisor, roster and stats) must not see a rate over microseconds.
type rate struct {
	mu    sync.Mutex // guards the fields below
	bytes uint64
	at    time.Time
	kbps  float64
}

func (r *rate) sample(bytes uint64, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	dt := now.Sub(r.at).Seconds()
	switch {
	case r.at.IsZero() || bytes < r.bytes:
		r.kbps = 0
	case dt < 1:
		return r.kbps
	default:
		r.kbps = float64(bytes-r.bytes) * 8 / 1000 / dt
	}
	r.bytes, r.at = bytes, now
	return r.kbps
}

// Stats reports a space's feeds, tracks and viewers.
func (s *Server) Stats(key Space) SpaceStats {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var st SpaceStats
	sp := s.spaces[key]
	if sp == nil {
		return st
	}
	st.Viewers = sp.viewers
	for _, f := range sp.feeds {
		fs := FeedStats{Name: f.name, Tracks: []TrackStats{}}
		if f.publisher != nil {
			st.Publishers++
			fs.Publisher, fs.PublisherName = f.publisher.subject, f.publisher.name
			since := f.publisher.created
			fs.Since = &since
		}
		for _, sl := range []*slot{f.video, f.audio} {
			src := sl.src.Load()
			if src == nil {
				continue
			}
			bytes := src.stats.bytes.Load()
			fs.Tracks = append(fs.Tracks, TrackStats{
				Kind: src.kind.String(), Codec: src.codec.MimeType, BitrateKbps: src.rate.sample(bytes, now),
				Packets: src.stats.packets.Load(), Lost: src.stats.lost.Load(), PLIsSent: src.stats.plisSent.Load(),
				Viewers: sl.viewers.Load(),
			})
		}
		st.Feeds = append(st.Feeds, fs)
	}
	sort.Slice(st.Feeds, func(i, j int) bool { return st.Feeds[i].Name < st.Feeds[j].Name })
	var out uint64
	var loss float64
	n := 0
	for _, ss := range s.sessions {
		if ss.space != key || ss.publish {
			continue
		}
		for _, d := range ss.tracks {
			out += d.stats.bytes.Load()
			st.Retransmits += d.stats.retransmits.Load()
			st.NACKs += d.stats.nacks.Load()
			st.PLIs += d.stats.plis.Load()
			st.Skips += d.stats.skips.Load()
			loss += float64(d.stats.fractionLost.Load()) / 256 * 100
			n++
		}
	}
	st.EgressKbps = sp.rate.sample(out, now)
	if n > 0 {
		st.ViewerLoss = loss / float64(n)
	}
	return st
}

// Published lists the feeds that have a publisher (the roster an
// evaluation call's browsers subscribe from).
func (st SpaceStats) Published() []FeedStats {
	out := []FeedStats{}
	for _, f := range st.Feeds {
		if f.Publisher != "" {
			out = append(out, f)
		}
	}
	return out
}

var (
	labels        = []string{"room", "hall"}
	descPubs      = prometheus.NewDesc("bidroom_media_publishers", "Feeds with a publisher.", labels, nil)
	descViewers   = prometheus.NewDesc("bidroom_media_viewers", "WHEP viewer sessions.", labels, nil)
	descIn        = prometheus.NewDesc("bidroom_media_ingress_packets_total", "RTP packets received from publishers.", labels, nil)
	descInBytes   = prometheus.NewDesc("bidroom_media_ingress_bytes_total", "RTP payload bytes received from publishers.", labels, nil)
	descInLost    = prometheus.NewDesc("bidroom_media_ingress_lost_total", "Packets missing from publishers' streams when first seen.", labels, nil)
	descPLIOut    = prometheus.NewDesc("bidroom_media_plis_sent_total", "Keyframe requests sent to publishers (throttled).", labels, nil)
	descOut       = prometheus.NewDesc("bidroom_media_egress_packets_total", "RTP packets sent to viewers.", labels, nil)
	descOutB      = prometheus.NewDesc("bidroom_media_egress_bytes_total", "RTP payload bytes sent to viewers.", labels, nil)
	descNacks     = prometheus.NewDesc("bidroom_media_nacks_total", "NACK messages received from viewers.", labels, nil)
	descRetx      = prometheus.NewDesc("bidroom_media_retransmits_total", "Packets retransmitted to viewers from the shared history.", labels, nil)
	descPLIIn     = prometheus.NewDesc("bidroom_media_plis_received_total", "Keyframe requests received from viewers.", labels, nil)
	descSkips     = prometheus.NewDesc("bidroom_media_skips_total", "Times a lagging viewer was skipped ahead to the next keyframe.", labels, nil)
	descUDP       = prometheus.NewDesc("bidroom_media_udp_datagrams_total", "Datagrams sent on the muxed UDP socket.", nil, nil)
	descBatches   = prometheus.NewDesc("bidroom_media_udp_batches_total", "sendmmsg calls on the muxed UDP socket.", nil, nil)
	descDropped   = prometheus.NewDesc("bidroom_media_udp_send_errors_total", "Datagrams the kernel refused.", nil, nil)
	descSegmented = prometheus.NewDesc("bidroom_media_udp_segmented_datagrams_total", "Datagrams sent inside segmented (GSO) messages.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPubs, descViewers, descIn, descInBytes, descInLost, descPLIOut, descOut, descOutB, descNacks, descRetx, descPLIIn, descSkips, descUDP, descBatches, descDropped, descSegmented} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: counters are read at scrape
// time, nothing is counted twice on the forwarding path.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	type row struct {
		key        Space
		pubs, view int
		t          totals
	}
	rows := make(map[Space]*row, len(s.spaces))
	for key, sp := range s.spaces {
		r := &row{key: key, view: sp.viewers, t: sp.gone}
		for _, f := range sp.feeds {
			if f.publisher != nil {
				r.pubs++
			}
			for _, sl := range []*slot{f.video, f.audio} {
				if src := sl.src.Load(); src != nil {
					r.t.addSource(src)
				}
			}
		}
		rows[key] = r
	}
	for _, ss := range s.sessions {
		if r := rows[ss.space]; r != nil && !ss.publish {
			for _, d := range ss.tracks {
				r.t.addViewer(d)
			}
		}
	}
	s.mu.Unlock()
	for _, r := range rows {
		l := []string{r.key.Room, string(r.key.Hall)}
		ch <- prometheus.MustNewConstMetric(descPubs, prometheus.GaugeValue, float64(r.pubs), l...)
		ch <- prometheus.MustNewConstMetric(descViewers, prometheus.GaugeValue, float64(r.view), l...)
		for _, c := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{descIn, r.t.inPackets}, {descInBytes, r.t.inBytes}, {descInLost, r.t.inLost}, {descPLIOut, r.t.plisSent},
			{descOut, r.t.outPackets}, {descOutB, r.t.outBytes}, {descNacks, r.t.nacks}, {descRetx, r.t.retransmits},
			{descPLIIn, r.t.plis}, {descSkips, r.t.skips},
		} {
			ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v), l...)
		}
	}
	if s.conn != nil {
		ch <- prometheus.MustNewConstMetric(descUDP, prometheus.CounterValue, float64(s.conn.sent.Load()))
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(s.conn.batches.Load()))
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.conn.dropped.Load()))
		ch <- prometheus.MustNewConstMetric(descSegmented, prometheus.CounterValue, float64(s.conn.segmented.Load()))
	}
}
