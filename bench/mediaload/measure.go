package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options are one run's settings (one N).
type Options struct {
	N           int           // viewers
	Duration    time.Duration // measure window
	Settle      time.Duration // after the ramp, before measuring
	Ramp        int           // viewers connecting at once
	LateJoiners int           // viewers joining one by one during the window
	SharedMux   bool          // all viewers on one ICE UDP socket
	KeyTimeout  time.Duration // longest a viewer may wait for its first keyframe
	ServerCPU   float64       // if > 0, cap the server at this many cores after the ramp (overload runs)
	FPS         int
	Frames      []frame
	Progress    io.Writer
}

// target is a WHIP/WHEP server ready for a run: the room exists and the
// tokens are minted.
type target struct {
	base         string // http://host:port
	room         string
	pubToken     string   // host, grant publish
	viewerTokens []string // N + late joiners, grant view
	pid          int      // server process for CPU and RSS, 0 for none
	udpPort      int      // the server's muxed media port, for its kernel drops; 0 if unknown
	scrape       func(context.Context) (loadtool.Metrics, error)
}

// Result is one N's figures.
type Result struct {
	N           int     `json:"n"`
	Viewers     int     `json:"viewers"` // connected and received a keyframe
	RampSeconds float64 `json:"ramp_s"`

	ServerCPU        float64 `json:"server_cpu_pct"` // % of one core over the window
	ToolCPU          float64 `json:"tool_cpu_pct"`   // this process, % of one core
	EgressPktsPerSec float64 `json:"egress_pkts_s"`  // RTP packets the viewers read, per second
	MetricsPktsPerS  float64 `json:"metrics_pkts_s"` // the same from the server's /metrics, 0 if it has none
	PktsPerCore      float64 `json:"egress_pkts_s_per_core"`
	RSSBeforeMiB     float64 `json:"rss_before_mib"` // server with the publisher, before viewers
	RSSWithMiB       float64 `json:"rss_with_n_mib"` // at the end of the window
	MiBPerViewer     float64 `json:"mib_per_viewer"` // (with − before) / N
	Delivery         float64 `json:"frame_delivery_pct"`

	FramesExpected  int64 `json:"frames_expected"`
	FramesDelivered int64 `json:"frames_delivered"`
	FramesRewritten int64 `json:"frames_rewritten"` // timestamps the publisher never sent: no latency for them

	Latency   Dist `json:"latency_ms"`            // publisher send → viewer receipt of the frame's last packet
	LateJoin  Dist `json:"late_first_frame_s"`    // WHEP POST → first complete keyframe
	LateConn  Dist `json:"late_from_connected_s"` // connected → first complete keyframe
	LateAsked int  `json:"late_asked"`            // late joiners that missed their fast start and sent a PLI

	Loss LossCounters `json:"loss"` // over the window: where packets were dropped or skipped

	Failures []string `json:"failures,omitempty"`
}

// LossCounters say where a lost frame died: at the server (its skips to
// the next keyframe, failed sends, its socket's kernel drops) or at the
// viewers (their sockets' kernel drops), and how much NACK repair ran.
type LossCounters struct {
	ServerSkips      float64 `json:"server_skips"`       // viewers skipped ahead to a keyframe
	ServerSendErrors float64 `json:"server_send_errors"` // failed UDP sends
	ServerNACKs      float64 `json:"server_nacks"`       // NACKed packets viewers asked for
	ServerRetrans    float64 `json:"server_retransmits"` // of those, resent
	ServerSockDrops  int64   `json:"server_socket_drops"`
	ViewerSockDrops  int64   `json:"viewer_socket_drops"` // every other UDP socket on the machine
}

// Dist is a distribution's summary.
type Dist struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func distOf(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	slices.Sort(v)
	q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	return Dist{Count: len(v), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: v[len(v)-1]}
}

// measure runs the phases against t: publisher, ramp, settle, the
// measure window with late joiners, teardown.
func measure(ctx context.Context, opt Options, t target) (Result, error) {
	res := Result{N: opt.N}
	progress := func(format string, args ...any) {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "mediaload: N=%d: "+format+"\n", append([]any{opt.N}, args...)...)
		}
	}
	if len(t.viewerTokens) < opt.N+opt.LateJoiners {
		return res, fmt.Errorf("%d viewer tokens for %d viewers and %d late joiners", len(t.viewerTokens), opt.N, opt.LateJoiners)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: opt.Ramp + 4}}
	defer hc.CloseIdleConnections()

	pubAPI, err := newPeerAPI(false)
	if err != nil {
		return res, err
	}
	defer pubAPI.close()
	viewAPI, err := newPeerAPI(opt.SharedMux)
	if err != nil {
		return res, err
	}
	defer viewAPI.close()

	log := newFrameLog()
	pub, err := startPublisher(ctx, pubAPI, hc, endpointURL(t.base, "whip", t.room), t.pubToken, opt.Frames, opt.FPS, log)
	if err != nil {
		return res, err
	}
	defer func() {
		if err := pub.stop(); err != nil {
			progress("stop publisher: %v", err)
		}
	}()
	if err := sleep(ctx, opt.Settle); err != nil {
		return res, err
	}
	if t.pid != 0 {
		if m, err := loadtool.ReadProcMem(t.pid); err == nil {
			res.RSSBeforeMiB = mib(m.RSS)
		}
	}

	// Ramp: N viewers, opt.Ramp at a time; each must see a keyframe.
	var recording atomic.Bool
	whep := endpointURL(t.base, "whep", t.room)
	viewers := make([]*viewer, opt.N)
	errs := make([]error, opt.N)
	rampStart := time.Now()
	forEach(opt.N, opt.Ramp, func(i int) {
		v, err := startViewer(ctx, viewAPI, hc, whep, t.viewerTokens[i], log, &recording)
		if err != nil {
			errs[i] = err
			return
		}
		viewers[i] = v
	})
	defer forEach(opt.N, 32, func(i int) {
		if viewers[i] != nil {
			_ = viewers[i].stop()
		}
	})
	res.RampSeconds = time.Since(rampStart).Seconds()
	if err := firstError(errs); err != nil {
		if errors.Is(err, errNoMedia) {
			return res, err
		}
		res.Failures = append(res.Failures, fmt.Sprintf("%d of %d viewers failed to connect, first: %v", countErrors(errs), opt.N, err))
	}
	clear(errs)
	forEach(opt.N, opt.N, func(i int) {
		if viewers[i] != nil {
			errs[i] = viewers[i].waitFirstKey(ctx, opt.KeyTimeout)
		}
	})
	for i, v := range viewers {
		if v != nil && errs[i] == nil {
			res.Viewers++
		}
	}
	if err := firstError(errs); err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("%d viewers got no keyframe, first: %v", countErrors(errs), err))
	}
	progress("%d/%d viewers receiving after %.1fs", res.Viewers, opt.N, time.Since(rampStart).Seconds())
	if res.Viewers == 0 {
		return res, errors.New("no viewer received a keyframe")
	}
	if opt.ServerCPU > 0 && t.pid != 0 {
		release, err := loadtool.LimitCPU(t.pid, opt.ServerCPU)
		if err != nil {
			return res, err
		}
		defer release()
		progress("server capped at %.2f cores", opt.ServerCPU)
	}
	if err := sleep(ctx, opt.Settle); err != nil {
		return res, err
	}

	// Measure window, late joiners arriving one by one during it.
	type snap struct {
		at       time.Time
		srv, own time.Duration
		pkts     int64
		sent     int64
		complete []int64
		m        loadtool.Metrics
		drops    [2]int64 // server socket, others
	}
	take := func() snap {
		s := snap{at: time.Now(), own: loadtool.SelfCPU(), sent: log.sent(), complete: make([]int64, opt.N)}
		s.drops[0], s.drops[1] = loadtool.UDPDrops(t.udpPort)
		if t.pid != 0 {
			s.srv, _ = loadtool.ProcCPU(t.pid)
		}
		for i, v := range viewers {
			if v != nil {
				s.pkts += v.packets.Load()
				s.complete[i] = v.stats().complete
			}
		}
		if t.scrape != nil {
			s.m, _ = t.scrape(ctx)
		}
		return s
	}
	progress("measuring for %v with %d late joiners", opt.Duration, opt.LateJoiners)
	recording.Store(true)
	s0 := take()
	late := make([]lateResult, opt.LateJoiners)
	var lateWG sync.WaitGroup
	lateCtx, lateCancel := context.WithCancel(ctx)
	defer func() { lateCancel(); lateWG.Wait() }()
	span := max(opt.Duration-time.Second, time.Second) / time.Duration(max(opt.LateJoiners, 1))
	for i := range opt.LateJoiners {
		at := time.Duration((float64(i) + rand.Float64()) * float64(span))
		lateWG.Add(1)
		go func() {
			defer lateWG.Done()
			if sleep(lateCtx, at) != nil {
				return
			}
			late[i] = joinLate(lateCtx, viewAPI, hc, whep, t.viewerTokens[opt.N+i], log, opt.KeyTimeout)
		}()
	}
	err = sleep(ctx, opt.Duration)
	s1 := take()
	recording.Store(false)
	if err != nil {
		return res, err
	}
	if t.pid != 0 {
		if m, err := loadtool.ReadProcMem(t.pid); err == nil {
			res.RSSWithMiB = mib(m.RSS)
		}
	}
	if err := pub.failure(); err != nil {
		res.Failures = append(res.Failures, err.Error())
	}
	// Frames sent near the end are still on their way: let them land.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return res, err
	}

	wall := s1.at.Sub(s0.at).Seconds()
	res.ServerCPU = 100 * (s1.srv - s0.srv).Seconds() / wall
	res.ToolCPU = 100 * (s1.own - s0.own).Seconds() / wall
	res.EgressPktsPerSec = float64(s1.pkts-s0.pkts) / wall
	if s0.m != nil && s1.m != nil {
		res.MetricsPktsPerS = (egressPackets(s1.m) - egressPackets(s0.m)) / wall
		delta := func(name string) float64 { return s1.m.Sum(name) - s0.m.Sum(name) }
		res.Loss.ServerSkips = delta("bidroom_media_skips_total")
		res.Loss.ServerSendErrors = delta("bidroom_media_udp_send_errors_total")
		res.Loss.ServerNACKs = delta("bidroom_media_nacks_total")
		res.Loss.ServerRetrans = delta("bidroom_media_retransmits_total")
	}
	res.Loss.ServerSockDrops = s1.drops[0] - s0.drops[0]
	res.Loss.ViewerSockDrops = s1.drops[1] - s0.drops[1]
	if res.ServerCPU > 0 {
		res.PktsPerCore = res.EgressPktsPerSec / (res.ServerCPU / 100)
	}
	if res.RSSWithMiB > 0 && res.RSSBeforeMiB > 0 {
		res.MiBPerViewer = (res.RSSWithMiB - res.RSSBeforeMiB) / float64(opt.N)
	}

	var lat []float64
	for i, v := range viewers {
		if v == nil {
			continue
		}
		st := v.stats()
		if st.firstKeyAt.IsZero() {
			res.FramesExpected += s1.sent - s0.sent
			continue
		}
		if st.firstKeyIndex < 0 || st.rewritten > 0 {
			// Timestamps rewritten by the server: count frames, not indices.
			res.FramesExpected += s1.sent - s0.sent
			res.FramesDelivered += min(st.complete-s0.complete[i], s1.sent-s0.sent)
		} else {
			lo := max(s0.sent, st.firstKeyIndex)
			res.FramesExpected += s1.sent - lo
			res.FramesDelivered += st.delivered.countRange(lo, s1.sent)
		}
		res.FramesRewritten += st.rewritten
		for _, us := range st.latencies {
			lat = append(lat, float64(us)/1000)
		}
	}
	if res.FramesExpected > 0 {
		res.Delivery = 100 * float64(res.FramesDelivered) / float64(res.FramesExpected)
	}
	res.Latency = distOf(lat)

	lateWG.Wait() // each is bounded by opt.KeyTimeout
	var joinS, connS []float64
	lateFailed := 0
	var lateErr error
	for _, l := range late {
		if l.err != nil {
			lateFailed++
			lateErr = cmpOr(lateErr, l.err)
			continue
		}
		if l.asked {
			res.LateAsked++
		}
		if l.firstFrame > 0 {
			joinS = append(joinS, l.firstFrame.Seconds())
			connS = append(connS, l.fromConnected.Seconds())
		}
	}
	if lateFailed > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d of %d late joiners failed, first: %v", lateFailed, opt.LateJoiners, lateErr))
	}
	res.LateJoin, res.LateConn = distOf(joinS), distOf(connS)
	return res, nil
}

// lateResult is one late joiner's wait for its first frame.
type lateResult struct {
	firstFrame    time.Duration // WHEP POST → first complete keyframe
	fromConnected time.Duration // connected → first complete keyframe
	asked         bool          // it sent a PLI before its first keyframe
	err           error
}

// joinLate connects one viewer, waits for its first keyframe and leaves.
func joinLate(ctx context.Context, api *peerAPI, hc *http.Client, endpoint, token string, log *frameLog, timeout time.Duration) lateResult {
	var off atomic.Bool
	v, err := startViewer(ctx, api, hc, endpoint, token, log, &off)
	if err != nil {
		return lateResult{err: err}
	}
	defer v.stop()
	if err := v.waitFirstKey(ctx, timeout); err != nil {
		if ctx.Err() != nil {
			return lateResult{} // the run ended first: not a failure, no figure
		}
		return lateResult{err: err}
	}
	st := v.stats()
	r := lateResult{firstFrame: st.firstKeyAt.Sub(v.postAt), asked: v.plis.Load() > 0}
	if c := v.connectedAt.Load(); c != 0 {
		r.fromConnected = st.firstKeyAt.Sub(time.Unix(0, c))
	}
	return r
}

// forEach calls f(0..n-1), at most par at a time, and waits.
func forEach(n, par int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(par, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func countErrors(errs []error) int {
	n := 0
	for _, e := range errs {
		if e != nil {
			n++
		}
	}
	return n
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// egressPackets sums the server's per-room counters of RTP packets sent to
// viewers (0 for a server without them).
func egressPackets(m loadtool.Metrics) float64 {
	return m.Sum("bidroom_media_egress_packets_total")
}
