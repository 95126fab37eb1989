package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/rooms"
)

// Options are one run's settings.
type Options struct {
	Server      string        // bidroom binary
	Store       string        // embedded | redis
	Instances   int           // servers on the store (more than one: redis only)
	Bidders     int           // registered, qualified bidders on websockets
	Active      int           // of them, those who bid in the burst
	Watchers    int           // more websockets that never bid: registered bidders, and Supervisors of them supervisors
	Supervisors int           // of the watchers, supervisors (the staff projection)
	Countdown   int           // the timed bidding's countdown, seconds (30–3600)
	BurstAt     time.Duration // time left on the countdown when the burst starts
	Burst       time.Duration // how long the active bidders bid
	Gap         time.Duration // least time between two bids of one bidder
	Probes      int           // bidders who try to bid after the end
	Lead        time.Duration // listing_end after the preparation starts (0: estimated)
	Timeout     time.Duration // the whole run
	RedisURL    string        // an existing Redis (else one is started)
	RedisPrefix string        // key prefix on it (else a fresh one)
	ServerEnv   []string
	DataBase    string
	Perf        string // perf record server 0 over the burst into this file
	Progress    io.Writer
}

// Config names the store and the number of instances.
func (o Options) Config() string {
	return fmt.Sprintf("%s ×%d", o.Store, o.Instances)
}

// Result is what one run measured.
type Result struct {
	Config      string `json:"config"`
	Store       string `json:"store"`
	Instances   int    `json:"instances"`
	Room        string `json:"room"`
	Bidders     int    `json:"bidders"`
	Active      int    `json:"active"`
	Watchers    int    `json:"watchers"`
	Supervisors int    `json:"supervisors"`
	Countdown   int    `json:"countdown_s"`

	PrepSecs      float64 `json:"prepare_s"` // the room written up to its listing's end (in-process, shifted clock)
	PrepCommands  int     `json:"prepare_commands"`
	JoinSecs      float64 `json:"join_s"`       // servers started, tokens minted, every websocket joined
	BurstLeftSecs float64 `json:"burst_left_s"` // time left on the countdown when the burst began
	BurstSecs     float64 `json:"burst_s"`      // the burst as run
	TailSecs      float64 `json:"tail_s"`       // burst end → auction_ended at every screen

	Sent       int            `json:"bids_sent"` // bid commands in the burst
	Reasons    map[string]int `json:"bids_by_answer"`
	Accepted   int            `json:"accepted"`
	AcceptRate float64        `json:"accepted_per_s"`
	Probes     int            `json:"probes_sent"` // bids sent at and after the end
	ProbeAns   map[string]int `json:"probes_by_answer"`

	LogBids     int    `json:"log_bids"` // bid_placed in the log: the listing's quotes + the timed bids
	FinalPrice  string `json:"final_price"`
	FinalNumber string `json:"final_number"`
	Outcome     string `json:"result"`

	ToWatchers loadtool.Latency `json:"bid_to_watchers"`     // accepted bid sent → received, every (bid, watcher)
	ToLast     loadtool.Latency `json:"bid_to_last_watcher"` // accepted bid sent → received by the last watcher, every bid
	ToScreens  loadtool.Latency `json:"bid_to_screens"`      // every (bid, connection), bidders' pages included
	AckOK      loadtool.Latency `json:"ack_accepted"`        // send → ack of the accepted bids
	AckRefused loadtool.Latency `json:"ack_refused"`         // send → refusal
	ServerCmd  float64          `json:"server_command_mean_ms"`
	ServerCmds int              `json:"server_commands"`

	Deliveries uint64 `json:"deliveries"` // bid_placed frames received in the timed bidding, every connection
	Lost       uint64 `json:"lost"`       // gaps + short tails + dropped connections + (bid, screen) pairs missing
	Gaps       uint64 `json:"gaps"`
	ShortTail  uint64 `json:"short_tail"`
	Dropped    int    `json:"dropped_connections"`
	Missing    int    `json:"missing_deliveries"`
	Forked     int    `json:"forked_screens"` // screens whose bids differ from the log's (order, number or amount)
	SlowDrops  int    `json:"slow_disconnects"`

	// Redis's own count of calls over the burst, by command (INFO
	// commandstats), and the appends (EVALSHA of the conditional append)
	// that lost the race to another writer and were decided again.
	RedisCalls  map[string]int `json:"redis_calls,omitempty"`
	AppendsLost int            `json:"appends_lost,omitempty"`
	Violations  []string       `json:"violations,omitempty"` // broken invariants

	ServerCPU  []float64 `json:"server_cpu"` // per instance, over the burst, % of one core
	RedisCPU   float64   `json:"redis_cpu"`
	ToolCPU    float64   `json:"tool_cpu"`
	OtherCPU   float64   `json:"other_cpu"`
	ServerPeak []uint64  `json:"server_peak_rss"` // per instance
	ServerRSS  []uint64  `json:"server_rss_end"`

	Failures []string `json:"failures,omitempty"`
}

// held says the run kept every invariant: nothing accepted after the end,
// nothing lost, no fork, every screen at the same result.
func held(r Result) bool {
	return len(r.Failures) == 0 && len(r.Violations) == 0 && r.Lost == 0 && r.Forked == 0 && r.Accepted > 0
}

// runOnce prepares the room, starts the server(s) on its store and runs
// one burst to the end.
func runOnce(ctx context.Context, opt Options) (res Result, err error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Minute
	}
	if opt.Instances < 1 {
		opt.Instances = 1
	}
	res = Result{Config: opt.Config(), Store: opt.Store, Instances: opt.Instances, Bidders: opt.Bidders, Active: opt.Active,
		Watchers: opt.Watchers, Supervisors: opt.Supervisors, Countdown: opt.Countdown, Reasons: map[string]int{}, ProbeAns: map[string]int{}}
	if opt.Store != "redis" && opt.Instances > 1 {
		return res, errors.New("more than one instance needs the redis store (the embedded store is one process's)")
	}
	if opt.Active > opt.Bidders || opt.Active < 2 || opt.Supervisors > opt.Watchers || opt.Probes > opt.Active-1 {
		return res, errors.New("need 2 ≤ active ≤ bidders, supervisors ≤ watchers, probes < active")
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	r := &runner{opt: opt, id: "al" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	defer r.cleanup()
	err = r.run(ctx, &res)
	res.Failures = append(res.Failures, r.errs.List()...)
	if err != nil && !r.stopped {
		for _, s := range r.servers {
			if alive := s.Alive(); alive != nil {
				err = errors.Join(err, alive)
			}
		}
	}
	return res, err
}

// runner holds one run's state.
type runner struct {
	opt     Options
	id      string // this run's id, in room and command ids
	store   storeSpec
	redis   *loadtool.Redis
	servers []*loadtool.Server
	dataDir string
	stopped bool // the servers were stopped on purpose
	errs    loadtool.Errors

	bidders  []*bidder // every bidder; the first Active bid
	watchers []*screen // the watchers (registered bidders, then supervisors)

	mu       sync.Mutex // guards attempts
	attempts []attempt
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, "auctionload [%s]: "+format+"\n", append([]any{r.opt.Config()}, args...)...)
	}
}

func (r *runner) record(a attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

// cleanup stops what the run started, servers first.
func (r *runner) cleanup() {
	for _, s := range r.servers {
		s.Stop()
	}
	if r.redis != nil {
		r.redis.Stop()
	}
	if r.dataDir != "" {
		_ = os.RemoveAll(r.dataDir)
	}
}

// screens is every connection: bidders, then watchers.
func (r *runner) screens() []*screen {
	out := make([]*screen, 0, len(r.bidders)+len(r.watchers))
	for _, b := range r.bidders {
		out = append(out, b.screen)
	}
	return append(out, r.watchers...)
}

func (r *runner) run(ctx context.Context, res *Result) error {
	opt := r.opt
	room := "auctionload-" + r.id
	res.Room = room

	// The store, and the room in it up to the listing's end.
	r.store = storeSpec{Backend: opt.Store}
	switch opt.Store {
	case "redis":
		r.store.URL, r.store.Prefix = opt.RedisURL, opt.RedisPrefix
		if r.store.URL == "" {
			rd, err := loadtool.StartRedis(ctx, "auctionload")
			if err != nil {
				return err
			}
			r.redis, r.store.URL = rd, rd.URL
		}
		if r.store.Prefix == "" {
			r.store.Prefix = "auctionload:" + r.id
		}
	default:
		dir, err := os.MkdirTemp(opt.DataBase, "auctionload-data-")
		if err != nil {
			return err
		}
		r.dataDir, r.store.DataDir = dir, dir
	}
	nums := numbers(opt.Bidders + opt.Watchers - opt.Supervisors)
	var parts []participant
	for i := range opt.Bidders {
		parts = append(parts, participant{id: fmt.Sprintf("B%03d", i+1), number: nums[i], qualified: true})
	}
	for i := range opt.Watchers - opt.Supervisors {
		parts = append(parts, participant{id: fmt.Sprintf("W%03d", i+1), number: nums[opt.Bidders+i]})
	}
	lead := opt.Lead
	if lead <= 0 {
		// Preparing (3 commands per qualified bidder, each a durable
		// append), starting the servers, minting and connecting.
		lead = 4*time.Second + time.Duration(3*opt.Bidders+opt.Watchers)*time.Millisecond +
			time.Duration(opt.Bidders+opt.Watchers)*4*time.Millisecond
	}
	t0 := time.Now()
	log, err := r.store.open(ctx)
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	prep, err := prepare(ctx, log, room, parts, lead, opt.Countdown)
	if cerr := log.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close the store after preparing: %w", cerr)
	}
	if err != nil {
		return err
	}
	res.PrepSecs, res.PrepCommands = time.Since(t0).Seconds(), prep.commands
	r.logf("room %s prepared in %.1fs (%d commands, listing ends in %.1fs)", room, res.PrepSecs, prep.commands, time.Until(prep.listingEnd).Seconds())

	// The servers on that store, with one token secret between them.
	t1 := time.Now()
	env := append(r.store.env(), "BIDROOM_AUTH_TOKEN_SECRET="+loadtool.RandomString(48))
	env = append(env, opt.ServerEnv...)
	for range opt.Instances {
		s, err := loadtool.Start(ctx, loadtool.Config{Binary: opt.Server, Name: "auctionload", Env: env, DataBase: opt.DataBase})
		if err != nil {
			return err
		}
		r.servers = append(r.servers, s)
	}
	rest := loadtool.NewREST(r.servers[0])
	defer rest.Close()
	bidderIDs, watcherIDs := make([]string, opt.Bidders), make([]string, opt.Watchers-opt.Supervisors)
	for i := range bidderIDs {
		bidderIDs[i] = parts[i].id
	}
	for i := range watcherIDs {
		watcherIDs[i] = parts[opt.Bidders+i].id
	}
	bTok, err := rest.MintTokens(ctx, room, "bidder", bidderIDs)
	if err != nil {
		return err
	}
	wTok, err := rest.MintTokens(ctx, room, "bidder", watcherIDs)
	if err != nil {
		return err
	}
	sTok, err := rest.MintTokens(ctx, room, "supervisor", loadtool.Subs("S", opt.Supervisors))
	if err != nil {
		return err
	}
	for i, id := range bidderIDs {
		r.bidders = append(r.bidders, &bidder{screen: newScreen(id, "bidder", bTok[i], parts[i].number, i%opt.Instances), id: id})
	}
	for i, id := range watcherIDs {
		r.watchers = append(r.watchers, newScreen(id, "bidder", wTok[i], parts[opt.Bidders+i].number, i%opt.Instances))
	}
	for i, tok := range sTok {
		r.watchers = append(r.watchers, newScreen(fmt.Sprintf("S%03d", i+1), "supervisor", tok, "", i%opt.Instances))
	}
	stop, err := r.connect(ctx, room)
	defer stop()
	if err != nil {
		return err
	}
	res.JoinSecs = time.Since(t1).Seconds()
	r.logf("%d servers, %d websockets joined in %.1fs", len(r.servers), len(r.screens()), res.JoinSecs)

	// The timed bidding: the scheduler closes the listing at listing_end.
	sup := r.watchers[len(r.watchers)-1] // a supervisor, or a watcher
	if err := waitFor(ctx, sup, time.Until(prep.listingEnd)+15*time.Second, "the timed bidding", func() bool {
		_, _, _, ph := sup.state()
		return ph == rooms.AuctionTimed
	}); err != nil {
		return err
	}
	_, _, endsAt, _ := sup.state()
	burstStart := endsAt.Add(-opt.BurstAt)
	r.logf("timed bidding: the countdown ends in %.1fs; the burst starts in %.1fs", time.Until(endsAt).Seconds(), time.Until(burstStart).Seconds())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(burstStart)):
	}

	pids := []int{}
	for _, s := range r.servers {
		pids = append(pids, s.PID())
	}
	if r.redis != nil {
		pids = append(pids, r.redis.PID())
	}
	cpu := newCPUMarks(pids...)
	before := r.scrape(ctx)
	var redisBefore map[string]float64
	if opt.Store == "redis" {
		redisBefore = redisCalls(ctx, r.store.URL)
	}
	stopPerf, err := r.startPerf()
	if err != nil {
		return err
	}
	defer stopPerf()

	// The burst: the active bidders bid against each other.
	cpu.mark("burst")
	begin := time.Now()
	_, _, endsAt, _ = sup.state()
	res.BurstLeftSecs = endsAt.Sub(begin).Seconds()
	until := begin.Add(opt.Burst)
	var wg sync.WaitGroup
	for _, b := range r.bidders[:opt.Active] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.burst(ctx, r.id, until, opt.Gap, r.record)
		}()
	}
	wg.Wait()
	cpu.mark("burst end")
	stopPerf()
	res.BurstSecs = time.Since(begin).Seconds()
	after := r.scrape(ctx)
	if opt.Store == "redis" {
		res.RedisCalls = redisDelta(redisBefore, redisCalls(ctx, r.store.URL))
	}
	r.mu.Lock()
	var top attempt
	for _, a := range r.attempts {
		if a.reason == "accepted" && a.amount > top.amount {
			top = a
		}
	}
	r.mu.Unlock()
	r.logf("burst done: %d bids sent in %.1fs, highest accepted %s", len(r.attempts), res.BurstSecs, yuan(top.amount))

	// The end: the countdown runs out; a few bidders try to bid at it and
	// after it; every one must be refused.
	if top.amount > 0 {
		if err := waitFor(ctx, sup, 15*time.Second, "the last accepted bid at "+sup.w.Sub, func() bool {
			h, _, _, _ := sup.state()
			return h >= top.amount
		}); err != nil {
			return err
		}
	}
	high, leader, endsAt, _ := sup.state()
	r.logf("the countdown ends in %.1fs at %s", time.Until(endsAt).Seconds(), yuan(high))
	var probers []*bidder
	for _, b := range r.bidders[:opt.Active] {
		if b.number != leader && len(probers) < opt.Probes {
			probers = append(probers, b)
		}
	}
	offsets := []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}
	var probes sync.WaitGroup
	for i, b := range probers {
		probes.Add(1)
		go func() {
			defer probes.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(endsAt.Add(offsets[i%len(offsets)]))):
			}
			r.record(b.bid(ctx, r.id, high+step, true))
		}()
	}
	probes.Wait()
	all := r.screens()
	for _, s := range all {
		if err := waitFor(ctx, s, time.Until(endsAt)+20*time.Second, s.w.Sub+" receives auction_ended", func() bool {
			e, _ := s.result()
			return e != nil
		}); err != nil {
			r.errs.Note(err)
		}
	}
	var endedAll time.Time
	for _, s := range all {
		if _, at := s.result(); at.After(endedAll) {
			endedAll = at
		}
	}
	res.TailSecs = endedAll.Sub(begin.Add(opt.Burst)).Seconds()
	for _, b := range probers {
		r.record(b.bid(ctx, r.id, high+step, true))
	}
	cpu.mark("ended")

	// Memory, and every stream against its projection's head.
	for _, s := range r.servers {
		m, _ := loadtool.ReadProcMem(s.PID())
		res.ServerPeak, res.ServerRSS = append(res.ServerPeak, m.Peak), append(res.ServerRSS, m.RSS)
	}
	for i, s := range r.servers {
		var mine []*loadtool.Watcher
		for _, sc := range all {
			if sc.instance == i {
				mine = append(mine, sc.w)
			}
		}
		st := loadtool.CheckStreams(ctx, s.Base, room, mine, &r.errs)
		res.Gaps += st.Gaps
		res.ShortTail += st.ShortTail
		res.Dropped += st.Dropped
	}
	for i := range r.servers {
		if before[i] != nil && after[i] != nil {
			res.ServerCmds += int(after[i]["bidroom_command_seconds_count"] - before[i]["bidroom_command_seconds_count"])
			res.ServerCmd += 1000 * (after[i]["bidroom_command_seconds_sum"] - before[i]["bidroom_command_seconds_sum"])
			res.SlowDrops += int(after[i]["bidroom_ws_slow_disconnects_total"] - before[i]["bidroom_ws_slow_disconnects_total"])
		}
	}
	if res.ServerCmds > 0 {
		res.ServerCmd /= float64(res.ServerCmds)
	}
	if sp, ok := cpu.between("burst", "burst end"); ok {
		for i := range r.servers {
			res.ServerCPU = append(res.ServerCPU, sp.Procs[i])
		}
		if r.redis != nil {
			res.RedisCPU = sp.Procs[len(sp.Procs)-1]
		}
		res.ToolCPU, res.OtherCPU = sp.Tool, sp.Other
	}

	// The log itself, read back once the servers are gone.
	stop()
	for _, s := range r.servers {
		if err := s.Alive(); err != nil {
			return err
		}
		s.Stop()
	}
	r.stopped = true
	log, err = r.store.open(ctx)
	if err != nil {
		return fmt.Errorf("reopen the store: %w", err)
	}
	events, err := readAll(ctx, log, room)
	_ = log.Close()
	if err != nil {
		return err
	}
	r.check(events, prep, res)
	if n := res.RedisCalls["evalsha"] + res.RedisCalls["eval"]; n > 0 {
		res.AppendsLost = n - res.Accepted // appends over the burst are the accepted bids
	}
	r.logf("done: %d accepted, %d refused, bid → watchers p99 %.1f ms, %d lost, %d violations",
		res.Accepted, res.Sent-res.Accepted, res.ToWatchers.P99Ms, res.Lost, len(res.Violations))
	return nil
}

// connect joins every screen to its instance, a few at a time: each takes
// the auction's state from its snapshot before its reader starts. stop
// closes them and waits for the readers (call it even after an error).
func (r *runner) connect(ctx context.Context, room string) (stop func(), err error) {
	all := r.screens()
	d := loadtool.NewDialer()
	var readers sync.WaitGroup
	var mu sync.Mutex // guards started
	var started []*screen
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range started {
			s.w.Close()
		}
		readers.Wait()
		started = nil
	}
	err = loadtool.ForEach(ctx, len(all), 16, func(i int) error {
		s := all[i]
		if err := s.w.Connect(ctx, d, r.servers[s.instance].Base, room); err != nil {
			return err
		}
		if err := s.start(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		started = append(started, s)
		readers.Add(1)
		go func() { defer readers.Done(); s.w.Run() }()
		return nil
	})
	return stop, err
}

// scrape reads every server's /metrics (nil for one that fails).
func (r *runner) scrape(ctx context.Context) []loadtool.Metrics {
	out := make([]loadtool.Metrics, len(r.servers))
	for i, s := range r.servers {
		m, err := s.Scrape(ctx)
		if err != nil {
			r.errs.Note(err)
		}
		out[i] = m
	}
	return out
}

// startPerf records server 0's stacks with perf into Options.Perf until stop,
// when a file is given (loadtool.StartPerf).
func (r *runner) startPerf() (stop func(), err error) {
	return loadtool.StartPerf(r.servers[0].PID(), r.opt.Perf, r.opt.Progress, r.logf)
}

// waitFor waits until cond holds on s (checked after each of its events
// and every 50 ms), for at most timeout.
func waitFor(ctx context.Context, s *screen, timeout time.Duration, what string, cond func() bool) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("%s: not after %v", what, timeout.Round(time.Millisecond))
		case <-tick.C:
		}
	}
	return nil
}

// readAll reads a room's whole log and checks its hash chain.
func readAll(ctx context.Context, log rooms.Log, room string) ([]rooms.Event, error) {
	var all []rooms.Event
	for {
		evs, err := log.Read(ctx, room, uint64(len(all)), 1000)
		if err != nil {
			return nil, fmt.Errorf("read the log back: %w", err)
		}
		all = append(all, evs...)
		if len(evs) < 1000 {
			break
		}
	}
	if err := rooms.VerifyChain(0, "", all); err != nil {
		return nil, fmt.Errorf("the log's chain: %w", err)
	}
	return all, nil
}

// sortedKeys lists a count map's keys, largest count first.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	return keys
}
