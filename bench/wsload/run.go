package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Options configures one run (one N against a fresh server).
type Options struct {
	Server       string        // bidroom binary
	N            int           // viewers
	Role         string        // viewers' role: supervisor or bidder
	Duration     time.Duration // phase 2: how long the host announces
	Interval     time.Duration // between announcements
	Batch        int           // phase 1: viewers connected at once
	BatchPause   time.Duration // between batches
	Settle       time.Duration // before each memory reading
	StormTimeout time.Duration // phase 3: longest the storm may take
	StormTail    time.Duration // announcing after the storm settled, before checking for gaps
	SendQueue    int           // server's signaling.send_queue; 0 keeps its default
	P99Limit     time.Duration // held: p99 under this
	ServerEnv    []string      // extra environment for the server
	DataBase     string        // where the server's data dir is made ("" = system temp dir)
	Progress     io.Writer     // progress lines (stderr)
	Announce     string        // how the host announces: ws (its websocket, the default) or rest (POST .../commands)
	Decode       string        // how viewers read frames: fast (the default), full (encoding/json, every frame) or goccy (github.com/goccy/go-json, every frame)
	Store        string        // the servers' store: embedded (the default) or redis
	Instances    int           // servers sharing the room (0 means 1; more than one needs redis)
	RedisURL     string        // redis: an existing server (tests); "" starts one for the run
	RedisPrefix  string        // redis: the key prefix; "" makes a fresh one
	Reader       string        // how viewers read their sockets: epoll (pollers, the default; Linux) or conn (a goroutine each)
	Poll         time.Duration // epoll: an idle poller's sleep; 0 means 1ms, pollBlock blocks in epoll_wait
	ProbePairs   int           // before the run, the loopback probe over this many connections (at most N); 0 skips it
}

// pollBlock as Options.Poll (-poll 0) makes the epoll pollers block in
// epoll_wait instead of sleeping between rounds.
const pollBlock time.Duration = -1

// withDefaults fills in the zero values of the options added after the
// first version, so a zero Options runs as before them.
func (o Options) withDefaults() Options {
	if o.Announce == "" {
		o.Announce = "ws"
	}
	if o.Decode == "" {
		o.Decode = "fast"
	}
	if o.Store == "" {
		o.Store = "embedded"
	}
	if o.Instances < 1 {
		o.Instances = 1
	}
	if o.Reader == "" {
		o.Reader = "epoll"
	}
	if o.Poll == 0 {
		o.Poll = time.Millisecond
	}
	return o
}

// check refuses options that cannot run.
func (o Options) check() error {
	if o.Announce != "ws" && o.Announce != "rest" {
		return fmt.Errorf("-announce must be ws or rest, got %q", o.Announce)
	}
	if o.Decode != "fast" && o.Decode != "full" && o.Decode != "goccy" {
		return fmt.Errorf("-decode must be fast, full or goccy, got %q", o.Decode)
	}
	if o.Store != "embedded" && o.Store != "redis" {
		return fmt.Errorf("-store must be embedded or redis, got %q", o.Store)
	}
	if o.Instances > 1 && o.Store != "redis" {
		return errors.New("-instances above 1 needs -store redis (the embedded store is one process's)")
	}
	switch {
	case o.Reader != "epoll" && o.Reader != "conn":
		return fmt.Errorf("-reader must be epoll or conn, got %q", o.Reader)
	case o.Reader == "epoll" && !epollSupported:
		return errors.New("-reader epoll needs Linux (epoll); use -reader conn here")
	}
	return nil
}

// Result is what one run measured.
type Result struct {
	N         int             `json:"n"`
	Run       int             `json:"run,omitempty"` // which round of -runs
	Role      string          `json:"role"`
	Connected int             `json:"connected"`
	Connect   ConnectResult   `json:"connect"`
	Memory    MemoryResult    `json:"memory"`
	Broadcast BroadcastResult `json:"broadcast"`
	Storm     StormResult     `json:"storm"`
	Probe     *ProbeResult    `json:"probe,omitempty"` // the box's speed just before the run
	Held      bool            `json:"held"`
	Failures  []string        `json:"failures,omitempty"`
	Errors    []string        `json:"errors,omitempty"` // first few client-side errors
	ErrorsAll uint64          `json:"errors_total"`
	// Servers is each instance's share, with more than one (-instances);
	// the figures above are then sums over them.
	Servers []ServerResult `json:"servers,omitempty"`
}

// ServerResult is one instance's figures in a run of several.
type ServerResult struct {
	Viewers          int     `json:"viewers"` // connected to it: viewer i to instance i % instances
	RSSBefore        uint64  `json:"rss_before_bytes"`
	RSSAfter         uint64  `json:"rss_after_bytes"`
	HeapStackBefore  uint64  `json:"heap_stack_before_bytes"`
	HeapStackAfter   uint64  `json:"heap_stack_after_bytes"`
	RSSPerConn       float64 `json:"rss_per_conn_bytes"` // over its own viewers
	HeapStackPerConn float64 `json:"heap_stack_per_conn_bytes"`
	GoroutinesAfter  float64 `json:"goroutines_after"`
	BroadcastCPU     float64 `json:"broadcast_cpu_percent"` // of one core
	FramesPerSec     float64 `json:"broadcast_frames_per_second"`
	RSSPeak          uint64  `json:"rss_peak_bytes"` // VmHWM at the end of the broadcast
	StormCPU         float64 `json:"storm_cpu_percent"`
}

// ConnectResult is phase 1's connection figures.
type ConnectResult struct {
	Seconds   float64 `json:"seconds"`
	DialFails uint64  `json:"dial_failures"`
}

// MemoryResult is the server's memory before and after connecting N idle
// viewers (with several instances, the sum of theirs).
type MemoryResult struct {
	RSSBefore        uint64  `json:"rss_before_bytes"`
	RSSAfter         uint64  `json:"rss_after_bytes"`
	HeapStackBefore  uint64  `json:"heap_stack_before_bytes"`
	HeapStackAfter   uint64  `json:"heap_stack_after_bytes"`
	RSSPerConn       float64 `json:"rss_per_conn_bytes"`
	HeapStackPerConn float64 `json:"heap_stack_per_conn_bytes"`
	GoroutinesAfter  float64 `json:"server_goroutines_after"`
	StackPerConn     float64 `json:"stack_per_conn_bytes"`  // part of heap+stack: goroutine stacks
	ObjectsPerConn   float64 `json:"heap_objects_per_conn"` // heap objects (live or not yet collected)
	GCCyclesConnect  float64 `json:"gc_cycles_while_connecting"`
}

// BroadcastResult is phase 2: one announcement per interval to everyone.
type BroadcastResult struct {
	Seconds       float64 `json:"seconds"`
	Announcements uint64  `json:"announcements"` // acked by the server
	Expected      uint64  `json:"expected"`      // announcements x viewers
	Received      uint64  `json:"received"`
	Lost          uint64  `json:"lost"`
	PosGaps       uint64  `json:"pos_gaps"`
	Dupes         uint64  `json:"duplicates"`
	Drops         uint64  `json:"unexpected_disconnects"`
	MinPerClient  uint64  `json:"min_received_per_client"`
	Latency       Latency `json:"latency"`
	// Where the time goes: host send -> ack (decide + durable append), and
	// per announcement the first and the last client to receive it.
	AckLatency    Latency `json:"ack_latency"`
	FirstLatency  Latency `json:"first_delivery_latency"`
	LastLatency   Latency `json:"last_delivery_latency"`
	ServerCPU     float64 `json:"server_cpu_percent"`          // of one core (several instances: their sum)
	RedisCPU      float64 `json:"redis_cpu_percent,omitempty"` // the Redis the run started (-store redis); omitted when 0
	ToolCPU       float64 `json:"tool_cpu_percent"`
	OtherCPU      float64 `json:"other_cpu_percent"`            // everything else on the machine
	LateSends     uint64  `json:"late_announcements,omitempty"` // a send took longer than the interval, so the next waited
	FramesPerSec  float64 `json:"server_frames_per_second"`
	CommandMeanMs float64 `json:"server_command_mean_ms"` // decide + durable append, the host's commands by websocket or REST
	CommandP99Ms  float64 `json:"server_command_p99_ms"`  // upper edge of the histogram bucket
	GCCycles      float64 `json:"server_gc_cycles"`
	GCPauseMs     float64 `json:"server_gc_pause_total_ms"`
	SlowDrops     float64 `json:"server_slow_disconnects"`
	RSSPeak       uint64  `json:"server_rss_peak_bytes"` // several instances: the sum of their peaks
}

// StormResult is phase 3: every viewer closes at once and resumes.
type StormResult struct {
	Completed     bool    `json:"completed"`
	Seconds       float64 `json:"seconds"`         // close until the last viewer caught up
	ResumedSecs   float64 `json:"resumed_seconds"` // close until the last viewer resumed
	P50Secs       float64 `json:"p50_seconds"`     // median viewer's time to catch up
	CaughtUp      int     `json:"caught_up"`
	Snapshots     int     `json:"snapshot_fallbacks"`
	DialFails     uint64  `json:"dial_failures"`
	Announcements uint64  `json:"announcements"` // total acked by the end
	Lost          uint64  `json:"lost"`
	PosGaps       uint64  `json:"pos_gaps"`
	SnapSkipped   uint64  `json:"announcements_in_snapshots"`
	Latency       Latency `json:"latency"` // announcements sent during the storm
	ServerCPU     float64 `json:"server_cpu_percent"`
	RedisCPU      float64 `json:"redis_cpu_percent,omitempty"` // the Redis the run started (-store redis); omitted when 0
	ToolCPU       float64 `json:"tool_cpu_percent"`
	OtherCPU      float64 `json:"other_cpu_percent"`
	LateSends     uint64  `json:"late_announcements,omitempty"`
}

// runner holds one run's state; its goroutines are in wg.
type runner struct {
	opt        Options
	ctx        context.Context    // ends when the run stops its clients
	servers    []*loadtool.Server // the instances; the host's is the first
	redisPID   int                // the Redis this run started, 0 for none
	wsURLs     []string           // the room's websocket URL on each server
	dialer     *websocket.Dialer
	pollers    *pollers                // -reader epoll; nil reads with gorilla (-reader conn)
	fullDecode bool                    // -decode full or goccy
	unmarshal  func([]byte, any) error // their decoder
	wg         sync.WaitGroup

	host     *host
	hostLost atomic.Bool
	viewers  []*viewer
	joined   atomic.Int64 // viewers that have had a snapshot

	phase2Last atomic.Uint64 // last announcement of phase 2; MaxUint64 while it runs
	stormStart atomic.Int64  // unix nanos of the storm's close; 0 before
	steady     histogram     // announcements of phase 2
	storm      histogram     // announcements after
	spread     eventSpread   // per announcement: first and last delivery

	errMu   sync.Mutex // guards errs
	errs    []string
	errsAll atomic.Uint64
}

func (r *runner) record(idx uint64, d time.Duration) {
	if idx <= r.phase2Last.Load() {
		r.steady.record(d)
	} else {
		r.storm.record(d)
	}
	r.spread.record(idx, d)
}

// noteError keeps the first few client-side errors for the report.
func (r *runner) noteError(err error) {
	if r.errsAll.Add(1) > 10 {
		return
	}
	r.errMu.Lock()
	r.errs = append(r.errs, err.Error())
	r.errMu.Unlock()
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, "[N=%d] %s\n", r.opt.N, fmt.Sprintf(format, args...))
	}
}

// runOnce starts a fresh server and runs the three phases against it.
// A run that measured something returns its Result with Failures filled
// in; an error means it could not be measured at all.
func runOnce(parent context.Context, opt Options) (res Result, err error) {
	res = Result{N: opt.N, Role: opt.Role}
	opt = opt.withDefaults()
	if err := opt.check(); err != nil {
		return res, err
	}
	if opt.ProbePairs > 0 { // before any server runs: the box alone
		pairs := min(opt.ProbePairs, opt.N)
		pr, err := loopbackProbe(parent, pairs, max(1, probeFrames/pairs))
		if err != nil {
			return res, err
		}
		res.Probe = &pr
	}
	env := opt.ServerEnv
	if opt.SendQueue > 0 { // 0 keeps the server default; -server-env still wins
		env = append([]string{"BIDROOM_SIGNALING_SEND_QUEUE=" + strconv.Itoa(opt.SendQueue)}, env...)
	}
	redisPID, url := 0, ""
	if opt.Store == "redis" {
		var prefix string
		url, prefix = opt.RedisURL, opt.RedisPrefix
		if url == "" {
			rd, err := loadtool.StartRedis(parent, "wsload")
			if err != nil {
				return res, err
			}
			defer rd.Stop() // after the servers (deferred below)
			url, redisPID = rd.URL, rd.PID()
		}
		if prefix == "" {
			prefix = "wsload:" + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
		// One store and one token secret: a token minted by the first
		// server is good on every one.
		env = append([]string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL=" + url, "BIDROOM_STORE_REDIS_PREFIX=" + prefix,
			"BIDROOM_AUTH_TOKEN_SECRET=" + loadtool.RandomString(48)}, env...)
	}
	servers := make([]*loadtool.Server, 0, opt.Instances)
	for i := range opt.Instances {
		srv, err := loadtool.Start(parent, loadtool.Config{Binary: opt.Server, Name: "wsload", Env: env, DataBase: opt.DataBase})
		if err != nil {
			if opt.Instances > 1 {
				err = fmt.Errorf("start server %d: %w", i, err)
			}
			return res, err
		}
		defer srv.Stop()
		servers = append(servers, srv)
	}

	ctx, cancel := context.WithCancel(parent)
	r := &runner{opt: opt, ctx: ctx, servers: servers, redisPID: redisPID, dialer: newDialer(),
		fullDecode: opt.Decode != "fast", unmarshal: decoder(opt.Decode)}
	r.phase2Last.Store(math.MaxUint64)
	defer func() {
		cancel()
		r.closeAll()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			if err == nil {
				err = errors.New("client goroutines did not stop within 30s")
			}
		}
		if err != nil {
			for i, srv := range servers {
				switch {
				case srv.Alive() != nil:
				case len(servers) == 1:
					err = fmt.Errorf("%w\nserver log tail:\n%s", err, srv.LogTail(10))
				default:
					err = fmt.Errorf("%w\nserver %d log tail:\n%s", err, i, srv.LogTail(10))
				}
			}
		}
		r.errMu.Lock()
		res.Errors, res.ErrorsAll = r.errs, r.errsAll.Load()
		r.errMu.Unlock()
	}()
	if res.Probe != nil {
		r.logf("box: loopback probe %.2f µs a frame (%d frames over %d connections, no server)", res.Probe.UsPerFrame, res.Probe.Frames, res.Probe.Pairs)
	}
	if len(servers) == 1 {
		r.logf("server pid %d at %s", servers[0].PID(), servers[0].Base)
	} else {
		for i, srv := range servers {
			r.logf("server %d: pid %d at %s", i, srv.PID(), srv.Base)
		}
	}
	switch {
	case redisPID != 0:
		r.logf("store: Redis pid %d at %s, %d server(s) on it", redisPID, url, len(servers))
	case opt.Store == "redis":
		r.logf("store: Redis at %s (not started by this run), %d server(s) on it", url, len(servers))
	}

	if opt.Reader == "epoll" { // in r.wg, stopped by cancel
		if r.pollers, err = startPollers(ctx, opt.Poll, &r.wg); err != nil {
			return res, err
		}
	}
	if err := r.setup(ctx); err != nil {
		return res, err
	}
	if err := r.connect(ctx, &res); err != nil {
		return res, err
	}
	if res.Connected == opt.N {
		if err := r.broadcast(ctx, &res); err != nil {
			return res, err
		}
		if err := r.stormPhase(ctx, &res); err != nil {
			return res, err
		}
	}
	res.Held = len(res.Failures) == 0
	return res, nil
}

// setup creates the room, mints the tokens and connects the host.
func (r *runner) setup(ctx context.Context) error {
	api := loadtool.NewREST(r.servers[0])
	defer api.Close()
	subs := make([]string, r.opt.N)
	for i := range subs {
		subs[i] = "v-" + strconv.Itoa(i+1)
	}
	start := time.Now()
	room, err := createSession(ctx, api, subs, r.opt.Role == "bidder")
	if err != nil {
		return err
	}
	if err := waitPhase(ctx, api, room, "check_in", 15*time.Second); err != nil {
		return err
	}
	hostTok, err := api.MintToken(ctx, room, "host", "host-1")
	if err != nil {
		return fmt.Errorf("mint host token: %w", err)
	}
	tokens, err := api.MintTokens(ctx, room, r.opt.Role, subs)
	if err != nil {
		return err
	}
	r.logf("room %s: %d %s tokens in %.1fs", room, len(tokens), r.opt.Role, time.Since(start).Seconds())
	r.wsURLs = make([]string, len(r.servers))
	for i, srv := range r.servers {
		r.wsURLs[i] = "ws" + srv.Base[len("http"):] + "/ws?room=" + room
	}
	r.viewers = make([]*viewer, r.opt.N)
	for i := range r.viewers {
		r.viewers[i] = &viewer{r: r, sub: subs[i], token: tokens[i], inst: i % len(r.servers)}
	}

	if r.opt.Announce == "rest" {
		r.host = &host{rest: newRESTClient(), url: r.servers[0].Base + "/api/v1/sessions/" + room + "/commands", token: hostTok}
		// The host's first request: its token works, and its connection
		// is open before the first announcement.
		return r.host.warm(ctx, r.servers[0].Base+"/api/v1/sessions/"+room)
	}
	conn, err := r.dial(ctx, 0, hostTok, nil)
	if err != nil {
		return fmt.Errorf("connect host: %w", err)
	}
	r.host = &host{conn: conn, joined: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.host.readLoop(r)
	}()
	select {
	case <-r.host.joined:
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("host got no snapshot within 15s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connect is phase 1: N idle viewers, in batches, and the memory they cost.
func (r *runner) connect(ctx context.Context, res *Result) error {
	befores, err := r.memory(ctx)
	if err != nil {
		return err
	}
	before := sumMem(befores)
	res.Memory.RSSBefore, res.Memory.HeapStackBefore = before.rss, before.heapStack

	start := time.Now()
	batch := max(1, r.opt.Batch)
	for lo := 0; lo < r.opt.N; lo += batch {
		hi := min(lo+batch, r.opt.N)
		for _, v := range r.viewers[lo:hi] {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				v.run(ctx)
			}()
		}
		if err := r.waitFor(ctx, 60*time.Second, func() bool { return r.joined.Load() >= int64(hi) }); err != nil {
			res.Connected = int(r.joined.Load())
			res.Failures = append(res.Failures, fmt.Sprintf("only %d of %d viewers connected (batch up to %d timed out)", res.Connected, r.opt.N, hi))
			r.logf("connect failed: %d/%d", res.Connected, r.opt.N)
			return nil
		}
		if hi < r.opt.N {
			time.Sleep(r.opt.BatchPause)
		}
	}
	res.Connected = r.opt.N
	res.Connect.Seconds = time.Since(start).Seconds()
	for _, v := range r.viewers {
		res.Connect.DialFails += v.dialFails.Load()
	}
	r.logf("connected %d viewers in %.1fs (%d failed dials, retried)", r.opt.N, res.Connect.Seconds, res.Connect.DialFails)

	afters, err := r.memory(ctx)
	if err != nil {
		return err
	}
	after := sumMem(afters)
	m := &res.Memory
	m.RSSAfter, m.HeapStackAfter, m.GoroutinesAfter = after.rss, after.heapStack, after.goroutines
	m.RSSPerConn = (float64(m.RSSAfter) - float64(m.RSSBefore)) / float64(r.opt.N)
	m.HeapStackPerConn = (float64(m.HeapStackAfter) - float64(m.HeapStackBefore)) / float64(r.opt.N)
	m.StackPerConn = (after.stack - before.stack) / float64(r.opt.N)
	m.ObjectsPerConn = (after.objects - before.objects) / float64(r.opt.N)
	m.GCCyclesConnect = after.gc - before.gc
	r.logf("memory: RSS %.1f -> %.1f MiB (%.1f KiB/conn), heap+stack %.1f -> %.1f MiB (%.1f KiB/conn, of which stacks %.1f KiB, %.0f heap objects); %.0f GCs while connecting",
		mib(m.RSSBefore), mib(m.RSSAfter), m.RSSPerConn/1024, mib(m.HeapStackBefore), mib(m.HeapStackAfter), m.HeapStackPerConn/1024,
		m.StackPerConn/1024, m.ObjectsPerConn, m.GCCyclesConnect)
	if len(r.servers) > 1 {
		res.Servers = make([]ServerResult, len(r.servers))
		for _, v := range r.viewers {
			res.Servers[v.inst].Viewers++
		}
		for i := range res.Servers {
			s, b, a := &res.Servers[i], befores[i], afters[i]
			s.RSSBefore, s.RSSAfter, s.HeapStackBefore, s.HeapStackAfter = b.rss, a.rss, b.heapStack, a.heapStack
			s.GoroutinesAfter = a.goroutines
			if s.Viewers > 0 {
				s.RSSPerConn = (float64(a.rss) - float64(b.rss)) / float64(s.Viewers)
				s.HeapStackPerConn = (float64(a.heapStack) - float64(b.heapStack)) / float64(s.Viewers)
			}
			r.logf("memory: server %d, %d viewers: RSS %.1f -> %.1f MiB (%.1f KiB/conn), heap+stack %.1f KiB/conn",
				i, s.Viewers, mib(s.RSSBefore), mib(s.RSSAfter), s.RSSPerConn/1024, s.HeapStackPerConn/1024)
		}
	}
	return nil
}

type memReading struct {
	rss, heapStack                 uint64
	goroutines, stack, objects, gc float64
}

// sumMem adds up the servers' readings.
func sumMem(ms []memReading) memReading {
	var t memReading
	for _, m := range ms {
		t.rss += m.rss
		t.heapStack += m.heapStack
		t.goroutines += m.goroutines
		t.stack += m.stack
		t.objects += m.objects
		t.gc += m.gc
	}
	return t
}

// memory reads each server's memory after letting them settle.
func (r *runner) memory(ctx context.Context) ([]memReading, error) {
	select {
	case <-time.After(r.opt.Settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return eachServer(r, func(srv *loadtool.Server) (memReading, error) { return readMemory(ctx, srv) })
}

// eachServer asks every server the same, naming the server in an error
// when there are several.
func eachServer[T any](r *runner, ask func(*loadtool.Server) (T, error)) ([]T, error) {
	out := make([]T, len(r.servers))
	for i, srv := range r.servers {
		v, err := ask(srv)
		if err != nil {
			if len(r.servers) > 1 {
				err = fmt.Errorf("server %d: %w", i, err)
			}
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// readMemory reads one server's memory: RSS from /proc, the rest from its
// metrics.
func readMemory(ctx context.Context, srv *loadtool.Server) (memReading, error) {
	pm, err := loadtool.ReadProcMem(srv.PID())
	if err != nil {
		return memReading{}, err
	}
	m, err := srv.Scrape(ctx)
	if err != nil {
		return memReading{}, err
	}
	return memReading{rss: pm.RSS, heapStack: uint64(m.HeapStack()), goroutines: m["go_goroutines"],
		stack: m["go_memstats_stack_inuse_bytes"], objects: m["go_memstats_heap_objects"], gc: m["go_gc_duration_seconds_count"]}, nil
}

// scrape reads every server's /metrics.
func (r *runner) scrape(ctx context.Context) ([]loadtool.Metrics, error) {
	return eachServer(r, func(srv *loadtool.Server) (loadtool.Metrics, error) { return srv.Scrape(ctx) })
}

// sumMetrics adds up the servers' samples (counters and histogram buckets
// add up; so do gauges of what each holds).
func sumMetrics(ms []loadtool.Metrics) loadtool.Metrics {
	if len(ms) == 1 {
		return ms[0]
	}
	t := loadtool.Metrics{}
	for _, m := range ms {
		for k, v := range m {
			t[k] += v
		}
	}
	return t
}

// announce sends one announcement per interval until stop is closed. A
// send is done before the next starts: one slower than the interval (a
// REST round trip) makes the next late, counted in host.late; the ticker
// then fires at once, not once per missed tick, so sends never pile up.
func (r *runner) announce(ctx context.Context, stop <-chan struct{}) error {
	t := time.NewTicker(r.opt.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		if err := r.host.announce(ctx, r, r.host.sent.Load()+1); err != nil {
			return err
		}
		if time.Since(start) > r.opt.Interval {
			r.host.late.Add(1)
		}
		select {
		case <-t.C:
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// announceFor announces for d, then waits until the server acked them all.
func (r *runner) announceFor(ctx context.Context, d time.Duration) error {
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	if err := r.announce(ctx, stop); err != nil {
		return err
	}
	return r.waitAcks(ctx)
}

func (r *runner) waitAcks(ctx context.Context) error {
	if err := r.waitFor(ctx, 30*time.Second, func() bool {
		return r.host.acked.Load()+r.host.errors.Load() >= r.host.sent.Load() || r.hostLost.Load()
	}); err != nil {
		return fmt.Errorf("server acked %d of %d announcements within 30s", r.host.acked.Load(), r.host.sent.Load())
	}
	if r.hostLost.Load() {
		return errors.New("host connection lost")
	}
	return nil
}

// cpuMark is a CPU reading of each server, of the Redis this run started,
// of this process and of the whole machine (other work on the box skews
// every figure: it is reported).
type cpuMark struct {
	at                  time.Time
	servers             []time.Duration
	redis, own, machine time.Duration
}

func (r *runner) cpuNow() cpuMark {
	var m cpuMark
	for _, srv := range r.servers {
		s, _ := loadtool.ProcCPU(srv.PID())
		m.servers = append(m.servers, s)
	}
	if r.redisPID != 0 {
		m.redis, _ = loadtool.ProcCPU(r.redisPID)
	}
	m.at, m.own, m.machine = time.Now(), loadtool.SelfCPU(), loadtool.MachineBusy()
	return m
}

// cpuUse is CPU over an interval in percent of one core (the machine has
// 100 x nproc): server is the sum of servers.
type cpuUse struct {
	server, redis, own, others float64
	servers                    []float64
}

func (m cpuMark) since(now cpuMark) cpuUse {
	wall := now.at.Sub(m.at).Seconds()
	if wall <= 0 {
		return cpuUse{servers: make([]float64, len(m.servers))}
	}
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	u := cpuUse{redis: pct(now.redis - m.redis), own: pct(now.own - m.own)}
	for i := range m.servers {
		s := pct(now.servers[i] - m.servers[i])
		u.servers = append(u.servers, s)
		u.server += s
	}
	u.others = max(0, pct(now.machine-m.machine)-u.server-u.redis-u.own)
	return u
}

// broadcast is phase 2.
func (r *runner) broadcast(ctx context.Context, res *Result) error {
	b := &res.Broadcast
	ms0, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	m0 := sumMetrics(ms0)
	late0 := r.host.late.Load()
	c0 := r.cpuNow()
	if err := r.announceFor(ctx, r.opt.Duration); err != nil {
		return err
	}
	b.LateSends = r.host.late.Load() - late0
	k := r.host.acked.Load()
	r.phase2Last.Store(k)
	// Everything acked is in the log; give the fan-out time to deliver it.
	_ = r.waitFor(ctx, 30*time.Second, func() bool {
		for _, v := range r.viewers {
			if v.lastAnn.Load() < k {
				return false
			}
		}
		return true
	})
	c1 := r.cpuNow()
	ms1, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	m1 := sumMetrics(ms1)
	u := c0.since(c1)
	b.ServerCPU, b.RedisCPU, b.ToolCPU, b.OtherCPU = u.server, u.redis, u.own, u.others
	b.Seconds = c1.at.Sub(c0.at).Seconds()
	b.Announcements = k
	b.Expected = k * uint64(r.opt.N)
	b.MinPerClient = math.MaxUint64
	for _, v := range r.viewers {
		got := v.annRecv.Load()
		b.Received += got
		b.MinPerClient = min(b.MinPerClient, got)
		if got < k {
			b.Lost += k - got
		}
		b.PosGaps += v.posGaps.Load()
		b.Dupes += v.dupes.Load()
		b.Drops += v.drops.Load()
	}
	b.Latency = r.steady.summary()
	b.AckLatency = r.host.ackLat.summary()
	b.FirstLatency, b.LastLatency = r.spread.summary(1, k)
	d := func(name string) float64 { return m1[name] - m0[name] }
	b.FramesPerSec = d("bidroom_ws_frames_sent_total") / b.Seconds
	if n := d("bidroom_command_seconds_count"); n > 0 {
		b.CommandMeanMs = 1000 * d("bidroom_command_seconds_sum") / n
		b.CommandP99Ms = 1000 * bucketQuantile(m0, m1, "bidroom_command_seconds", 0.99)
	}
	b.GCCycles = d("go_gc_duration_seconds_count")
	b.GCPauseMs = 1000 * d("go_gc_duration_seconds_sum")
	b.SlowDrops = d("bidroom_ws_slow_disconnects_total")
	for i, srv := range r.servers {
		var peak uint64
		if pm, err := loadtool.ReadProcMem(srv.PID()); err == nil {
			peak = pm.Peak
		}
		b.RSSPeak += peak
		if i < len(res.Servers) {
			s := &res.Servers[i]
			s.BroadcastCPU, s.RSSPeak = u.servers[i], peak
			s.FramesPerSec = (ms1[i]["bidroom_ws_frames_sent_total"] - ms0[i]["bidroom_ws_frames_sent_total"]) / b.Seconds
		}
	}
	if r.host.errors.Load() > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d announcements refused by the server", r.host.errors.Load()))
	}
	if b.Lost > 0 || b.PosGaps > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("broadcast lost %d events (%d pos gaps)", b.Lost, b.PosGaps))
	}
	if lim := r.opt.P99Limit; lim > 0 && b.Latency.P99Ms >= ms(lim) {
		res.Failures = append(res.Failures, fmt.Sprintf("p99 %.1f ms is not under %v", b.Latency.P99Ms, lim))
	}
	r.logf("broadcast: %d announcements, p50 %.1f p99 %.1f max %.1f ms, lost %d, CPU %% of a core: server %.0f, tool %.0f, other processes %.0f",
		k, b.Latency.P50Ms, b.Latency.P99Ms, b.Latency.MaxMs, b.Lost, b.ServerCPU, b.ToolCPU, b.OtherCPU)
	r.logf("broadcast: server command time mean %.2f ms, p99 <= %.0f ms", b.CommandMeanMs, b.CommandP99Ms)
	for i, s := range res.Servers {
		r.logf("broadcast: server %d (%d viewers): CPU %.0f%%, %.0f frames/s, RSS peak %.0f MiB", i, s.Viewers, s.BroadcastCPU, s.FramesPerSec, mib(s.RSSPeak))
	}
	if r.redisPID != 0 {
		r.logf("broadcast: Redis CPU %.0f%%", b.RedisCPU)
	}
	if b.LateSends > 0 {
		r.logf("broadcast: %d of %d announcements sent late: the send before took longer than %v", b.LateSends, r.host.sent.Load(), r.opt.Interval)
	}
	r.logf("broadcast: ack p50 %.1f p99 %.1f max %.1f ms; first delivery p50 %.1f p99 %.1f ms; last delivery p50 %.1f p99 %.1f max %.1f ms",
		b.AckLatency.P50Ms, b.AckLatency.P99Ms, b.AckLatency.MaxMs, b.FirstLatency.P50Ms, b.FirstLatency.P99Ms,
		b.LastLatency.P50Ms, b.LastLatency.P99Ms, b.LastLatency.MaxMs)
	return nil
}

// stormPhase is phase 3: with the host announcing, every viewer closes at
// once and resumes from its last pos.
func (r *runner) stormPhase(ctx context.Context, res *Result) error {
	s := &res.Storm
	stop := make(chan struct{})
	late0 := r.host.late.Load()
	annErr := make(chan error, 1)
	r.wg.Add(1)
	go func(stop <-chan struct{}) {
		defer r.wg.Done()
		annErr <- r.announce(ctx, stop)
	}(stop)
	stopAnnouncing := func() error {
		if stop != nil {
			close(stop)
			stop = nil
			return <-annErr
		}
		return nil
	}
	defer stopAnnouncing()
	time.Sleep(3 * r.opt.Interval) // the stream is flowing when the storm hits

	dialFails0 := uint64(0)
	for _, v := range r.viewers {
		dialFails0 += v.dialFails.Load()
	}
	c0 := r.cpuNow()
	start := time.Now()
	r.stormStart.Store(start.UnixNano())
	// Close from a few goroutines so the close itself is not the bottleneck.
	var closers sync.WaitGroup
	const parts = 4
	for p := range parts {
		closers.Add(1)
		go func() {
			defer closers.Done()
			for i := p; i < len(r.viewers); i += parts {
				r.viewers[i].closeNow()
			}
		}()
	}
	closers.Wait()
	err := r.waitFor(ctx, r.opt.StormTimeout, func() bool {
		for _, v := range r.viewers {
			if v.stormCaughtUp.Load() == 0 {
				return false
			}
		}
		return true
	})
	c1 := r.cpuNow()
	u := c0.since(c1)
	s.ServerCPU, s.RedisCPU, s.ToolCPU, s.OtherCPU = u.server, u.redis, u.own, u.others
	for i := range res.Servers {
		res.Servers[i].StormCPU = u.servers[i]
	}
	s.Completed = err == nil
	var caught []int64
	var lastJoin, lastCaught int64
	for _, v := range r.viewers {
		if t := v.stormJoined.Load(); t != 0 {
			lastJoin = max(lastJoin, t)
		}
		if t := v.stormCaughtUp.Load(); t != 0 {
			caught = append(caught, t)
			lastCaught = max(lastCaught, t)
		}
		if v.stormSnapshot.Load() {
			s.Snapshots++
		}
		s.DialFails += v.dialFails.Load()
	}
	s.DialFails -= dialFails0
	s.CaughtUp = len(caught)
	if lastJoin > 0 {
		s.ResumedSecs = time.Duration(lastJoin - start.UnixNano()).Seconds()
	}
	if lastCaught > 0 {
		s.Seconds = time.Duration(lastCaught - start.UnixNano()).Seconds()
	}
	if len(caught) > 0 {
		s.P50Secs = time.Duration(quickMedian(caught) - start.UnixNano()).Seconds()
	}
	if !s.Completed {
		res.Failures = append(res.Failures, fmt.Sprintf("storm: only %d of %d viewers caught up within %v", s.CaughtUp, r.opt.N, r.opt.StormTimeout))
	}
	r.logf("storm: %d/%d caught up, last resumed %.2fs, last caught up %.2fs, %d snapshot fallbacks, server CPU %.0f%%",
		s.CaughtUp, r.opt.N, s.ResumedSecs, s.Seconds, s.Snapshots, s.ServerCPU)
	for i, sv := range res.Servers {
		r.logf("storm: server %d CPU %.0f%%", i, sv.StormCPU)
	}

	// Keep announcing a little, stop, and check that everyone has everything.
	time.Sleep(r.opt.StormTail)
	if err := stopAnnouncing(); err != nil {
		return err
	}
	s.LateSends = r.host.late.Load() - late0
	if s.LateSends > 0 {
		r.logf("storm: %d announcements sent late: the send before took longer than %v", s.LateSends, r.opt.Interval)
	}
	if err := r.waitAcks(ctx); err != nil {
		return err
	}
	total := r.host.acked.Load()
	_ = r.waitFor(ctx, 30*time.Second, func() bool {
		for _, v := range r.viewers {
			if v.lastAnn.Load() < total {
				return false
			}
		}
		return true
	})
	s.Announcements = total
	for _, v := range r.viewers {
		got := v.annRecv.Load() + v.snapSkip.Load()
		if got < total {
			s.Lost += total - got
		}
		s.PosGaps += v.posGaps.Load()
		s.SnapSkipped += v.snapSkip.Load()
	}
	s.Latency = r.storm.summary()
	if s.Lost > 0 || s.PosGaps > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("storm: %d announcements missing, %d pos gaps at the end", s.Lost, s.PosGaps))
	}
	r.logf("storm end: %d announcements, lost %d, pos gaps %d, latency during storm p99 %.0f ms max %.0f ms",
		total, s.Lost, s.PosGaps, s.Latency.P99Ms, s.Latency.MaxMs)
	return nil
}

// closeAll stops every viewer's connection (ctx is already cancelled, so
// nobody reconnects) and the host's.
func (r *runner) closeAll() {
	for _, v := range r.viewers {
		v.closing.Store(true)
		if c := v.conn.Load(); c != nil {
			(*c).close()
		}
	}
	if r.host != nil {
		r.host.close()
	}
}

// waitFor polls cond until it holds, the timeout passes or the server dies.
func (r *runner) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		for i, srv := range r.servers {
			if err := srv.Alive(); err != nil {
				if len(r.servers) > 1 {
					err = fmt.Errorf("server %d: %w", i, err)
				}
				return err
			}
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func quickMedian(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	slices.Sort(s)
	return s[len(s)/2]
}

// bucketQuantile estimates the q-quantile of a Prometheus histogram's
// observations between two scrapes: the upper edge of the bucket holding it.
func bucketQuantile(m0, m1 loadtool.Metrics, name string, q float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range m1 {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
			if err == nil {
				bs = append(bs, bucket{le, v - m0[k]})
			}
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0
	}
	rank := q * bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= rank {
			return b.le
		}
	}
	return math.Inf(1)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
