package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// Options are one run's settings.
type Options struct {
	Server      string        // bidroom binary
	Members     int           // the committee: odd, 5–25
	Bids        int           // bids of the opening, every one scored
	Supervisors int           // supervisors watching the evaluation room
	Rounds      int           // times every member signs sheets: the first submission, then the chair sends every sheet back
	Duration    time.Duration // the scoring goes on (more rounds) until at least this long after it opened
	Gap         time.Duration // least time between two commands of one member
	Pool        int           // experts in the pool (at least 3 × Members)
	Lead        time.Duration // the opening's deadline after its creation (0: estimated)
	Timeout     time.Duration // the whole run
	ServerEnv   []string
	DataBase    string
	Perf        string // perf record the server over the evaluation into this file
	Progress    io.Writer
}

// Result is what one run measured.
type Result struct {
	Members     int    `json:"members"`
	Bids        int    `json:"bids"`
	Supervisors int    `json:"supervisors"`
	Rounds      int    `json:"rounds"` // scoring rounds done
	Opening     string `json:"opening"`
	Evaluation  string `json:"evaluation"`
	Pool        int    `json:"pool"`
	SheetsBytes int    `json:"sheets_bytes"` // one member's signed sheets text

	OpeningSecs float64 `json:"opening_s"`    // the opening that produced the bids (not measured further)
	SetupSecs   float64 `json:"setup_s"`      // pool import, evaluation, draw, start, every websocket joined
	EvalSecs    float64 `json:"evaluation_s"` // first command sent → report platform-signed at every supervisor
	FormSecs    float64 `json:"convene_s"`    // → scoring opened (declarations, chair)
	ScoringSecs float64 `json:"scoring_s"`    // scoring opened → last tally at every supervisor
	ReportSecs  float64 `json:"report_s"`     // last tally → report completed at every supervisor
	PlatformMs  float64 `json:"platform_ms"`  // POST …/report → report_platform_signed at every supervisor

	Commands int              `json:"commands"`
	ByType   []CommandLatency `json:"command_latency"`   // send → ack, by command and "all"
	FanOut   loadtool.Latency `json:"fan_out"`           // command sent → its first event at one supervisor, every (command, supervisor)
	FanAll   loadtool.Latency `json:"fan_out_all"`       // command sent → its event at the last supervisor, every command
	FanAfter loadtool.Latency `json:"fan_out_after_ack"` // the sender's ack → the event at the last supervisor (negative: before the ack)
	Round    loadtool.Latency `json:"round"`             // a return round: the chair's first return sent → the tally at every supervisor
	Server   ServerSide       `json:"server"`

	Events        uint64 `json:"events"`           // event frames received, every connection
	SupBytes      uint64 `json:"supervisor_bytes"` // frame bytes received by the supervisors over the evaluation
	Lost          uint64 `json:"lost"`             // gaps + tails short of the head + dropped connections + supervisors short of the room's head
	Gaps          uint64 `json:"gaps"`
	ShortTail     uint64 `json:"short_tail"`
	Dropped       int    `json:"dropped_connections"`
	MissingFanOut int    `json:"missing_fan_out"` // (command, supervisor) pairs with no event
	HeadSeq       uint64 `json:"head_seq"`
	Refused       int    `json:"refused"` // commands refused (rate_limited among them)
	RateLimited   int    `json:"rate_limited"`
	SlowDrops     int    `json:"slow_disconnects"`

	ServerCPU     float64          `json:"server_cpu"` // over the evaluation, % of one core
	ToolCPU       float64          `json:"tool_cpu"`
	OtherCPU      float64          `json:"other_cpu"`
	CPUPerCommand float64          `json:"server_cpu_ms_per_command"`
	ServerPeakRSS uint64           `json:"server_peak_rss"`
	ServerRSS     uint64           `json:"server_rss_end"`
	Phases        []loadtool.Phase `json:"phases"`

	Failures []string `json:"failures,omitempty"`
}

// CommandLatency is one command type's send → ack latency.
type CommandLatency struct {
	Command string `json:"command"`
	loadtool.Latency
}

// ServerSide is the server's own command time (bidroom_command_seconds:
// decide and durably append, from reading the frame to queuing the ack)
// over the evaluation's commands.
type ServerSide struct {
	Commands int     `json:"commands"`
	MeanMs   float64 `json:"mean_ms"`
	P99LeMs  float64 `json:"p99_le_ms"` // the histogram bucket the p99 falls in (upper bound)
}

// held says the evaluation ran to the platform's signature with every
// command taken and nothing lost.
func held(r Result) bool {
	return len(r.Failures) == 0 && r.Lost == 0 && r.Refused == 0 && r.MissingFanOut == 0 && r.SlowDrops == 0 && r.Commands > 0 && r.PlatformMs > 0
}

// Command types in the order the evaluation uses them.
var commandOrder = []string{rooms.CmdDeclare, rooms.CmdVoteChair, rooms.CmdOpenScoring, rooms.CmdSubmitSheets, rooms.CmdReturnSheet, rooms.CmdSignReport}

// runOnce starts a server and runs one opening and one evaluation on it.
func runOnce(ctx context.Context, opt Options) (res Result, err error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 15 * time.Minute
	}
	if opt.Rounds < 1 {
		opt.Rounds = 1
	}
	opt.Pool = max(opt.Pool, 3*opt.Members)
	res = Result{Members: opt.Members, Bids: opt.Bids, Supervisors: opt.Supervisors, Pool: opt.Pool}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	srv, err := loadtool.Start(ctx, loadtool.Config{Binary: opt.Server, Name: "evalload", Env: opt.ServerEnv, DataBase: opt.DataBase})
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	r := &runner{opt: opt, srv: srv, rest: loadtool.NewREST(srv), cpu: loadtool.NewCPUMarks(srv.PID())}
	defer r.rest.Close()
	err = r.run(ctx, &res)
	res.Failures = append(res.Failures, r.errs.List()...)
	if alive := srv.Alive(); alive != nil {
		err = errors.Join(err, alive)
	}
	return res, err
}

// runner holds one run's state.
type runner struct {
	opt  Options
	srv  *loadtool.Server
	rest *loadtool.REST
	cpu  *loadtool.CPUMarks
	errs loadtool.Errors
	eval string   // the evaluation room
	bids []string // its bidders

	mu   sync.Mutex // guards sent
	sent []sent     // every command sent, in no particular order
}

// sent is one command the server took, and its ack.
type sent struct {
	id, command string
	ack         loadtool.Ack
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, "evalload: "+format+"\n", args...)
	}
}

func (r *runner) run(ctx context.Context, res *Result) error {
	opt := r.opt
	r.cpu.Mark("start")
	opened := time.Now()

	// A finished opening with its signed record: the bids to evaluate.
	op, err := loadtool.RunOpening(ctx, r.srv, r.rest, loadtool.OpeningOptions{
		Bidders: opt.Bids, BidBytes: 16 << 10, Lead: opt.Lead, Tool: "evalload", Progress: opt.Progress})
	if err == nil && (!op.Held() || op.Record != "recorded") {
		err = fmt.Errorf("the opening did not finish cleanly (record: %s): %s", op.Record, strings.Join(op.Failures, "; "))
	}
	if err != nil {
		return fmt.Errorf("opening: %w", err)
	}
	res.Opening, r.bids = op.Room, op.BidderIDs
	res.OpeningSecs = time.Since(opened).Seconds()
	r.cpu.Mark("opening done")
	t0 := time.Now()

	// The pool, the evaluation, the supervisors, the draw and the start.
	keys, err := r.importPool(ctx)
	if err != nil {
		return err
	}
	r.eval = "evalload-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	res.Evaluation = r.eval
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/evaluations", r.evaluationRequest(op.Room), nil); err != nil {
		return fmt.Errorf("create the evaluation: %w", err)
	}
	supTokens, err := r.rest.MintTokens(ctx, r.eval, "supervisor", loadtool.Subs("S", opt.Supervisors))
	if err != nil {
		return err
	}
	sups := make([]*supervisor, opt.Supervisors)
	var supWatchers []*loadtool.Watcher
	for i, tok := range supTokens {
		sups[i] = newSupervisor(fmt.Sprintf("S%03d", i+1), tok)
		supWatchers = append(supWatchers, sups[i].w)
	}
	stopSups, err := loadtool.ConnectAll(ctx, r.srv.Base, r.eval, supWatchers, 16)
	defer stopSups()
	if err != nil {
		return err
	}
	var drawn struct {
		Draw rooms.DrawRecord `json:"draw"`
	}
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/evaluations/"+r.eval+"/draw", nil, &drawn); err != nil {
		return fmt.Errorf("draw: %w", err)
	}
	var members []*member
	for _, s := range drawn.Draw.Drawn {
		if !s.Reserve {
			members = append(members, &member{id: s.Expert, seat: len(members), key: keys[s.Expert]})
		}
	}
	if len(members) != opt.Members {
		return fmt.Errorf("the draw seated %d members, want %d", len(members), opt.Members)
	}
	members[0].chair = true
	start := map[string]any{"id": "evalload-start", "type": rooms.CmdStartEvaluation, "data": map[string]any{}}
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/sessions/"+r.eval+"/commands", start, nil); err != nil {
		return fmt.Errorf("start the evaluation: %w", err)
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	memTokens, err := r.rest.MintTokens(ctx, r.eval, "expert", ids, "view", "publish")
	if err != nil {
		return err
	}
	var memWatchers []*loadtool.Watcher
	for i, m := range members {
		m.w = loadtool.NewWatcher(m.id, "expert", memTokens[i])
		m.rest = r.rest.As(memTokens[i])
		memWatchers = append(memWatchers, m.w)
	}
	stopMembers, err := loadtool.ConnectAll(ctx, r.srv.Base, r.eval, memWatchers, 16)
	defer stopMembers()
	if err != nil {
		return err
	}
	res.SetupSecs = time.Since(t0).Seconds()
	r.logf("pool of %d, evaluation %s, %d members drawn and connected, %d supervisors watching (%.1fs)", opt.Pool, r.eval, len(members), len(sups), res.SetupSecs)

	// The evaluation itself, driven by the members' websockets.
	before, err := r.srv.Scrape(ctx)
	if err != nil {
		return err
	}
	stopPerf, err := r.startPerf()
	if err != nil {
		return err
	}
	defer stopPerf()
	for _, s := range sups {
		s.joinBytes = s.w.Bytes()
	}
	r.cpu.Mark("convened")
	begin := time.Now()
	c := &committee{r: r, members: members}
	err = c.run(ctx)
	res.Refused, res.RateLimited = c.refused, c.rateLimited
	if err != nil {
		return err
	}
	res.Rounds = c.rounds
	res.SheetsBytes = c.sheetsBytes
	r.cpu.Mark("reported")
	for _, s := range sups {
		if err := s.w.WaitUntil(ctx, 30*time.Second, s.w.Sub+" receives report_completed", func() bool { return s.w.Count(rooms.EvReportCompleted) > 0 }); err != nil {
			return err
		}
	}
	completedAll := lastFirst(supWatchers, rooms.EvReportCompleted)

	// The platform signs the report (REST, as the console or a supervisor asks).
	platformAsked := time.Now()
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/evaluations/"+r.eval+"/report", nil, nil); err != nil {
		return fmt.Errorf("platform signature: %w", err)
	}
	for _, w := range append(slices.Clone(supWatchers), memWatchers...) {
		if err := w.WaitUntil(ctx, 30*time.Second, w.Sub+" receives report_platform_signed", func() bool { return w.Count(rooms.EvReportPlatformSigned) > 0 }); err != nil {
			return err
		}
	}
	end := lastFirst(supWatchers, rooms.EvReportPlatformSigned)
	r.cpu.Mark("platform signed")
	stopPerf()
	after, err := r.srv.Scrape(ctx)
	if err != nil {
		return err
	}
	mem, _ := loadtool.ReadProcMem(r.srv.PID())
	res.ServerPeakRSS, res.ServerRSS = mem.Peak, mem.RSS
	r.logf("report signed by the platform %.1fs after the first command; checking the streams", end.Sub(begin).Seconds())

	// Timings.
	res.EvalSecs = end.Sub(begin).Seconds()
	res.FormSecs = c.scoringOpenedSent.Sub(begin).Seconds()
	scoringOpened := lastFirst(supWatchers, rooms.EvScoringOpened)
	lastTally := lastNth(sups, res.Rounds)
	res.ScoringSecs = lastTally.Sub(scoringOpened).Seconds()
	res.ReportSecs = completedAll.Sub(lastTally).Seconds()
	res.PlatformMs = loadtool.Ms(end.Sub(platformAsked))
	var rounds []time.Duration
	for k, t := range c.returnStarts {
		if at := lastNth(sups, k+2); !at.IsZero() && !t.IsZero() {
			rounds = append(rounds, at.Sub(t))
		}
	}
	res.Round = loadtool.Summarize(rounds)

	// Latencies: every command's ack, and its events at every supervisor.
	r.commandFigures(sups, res)
	res.Server = serverSide(before, after)
	res.SlowDrops = int(after["bidroom_ws_slow_disconnects_total"] - before["bidroom_ws_slow_disconnects_total"])

	// Lost frames: every connection's stream gap-free and at the head of
	// its projection, every supervisor at the room's head.
	all := append(slices.Clone(supWatchers), memWatchers...)
	st := loadtool.CheckStreams(ctx, r.srv.Base, r.eval, all, &r.errs)
	res.Events, res.Gaps, res.ShortTail, res.Dropped = st.Events, st.Gaps, st.ShortTail, st.Dropped
	conn, snap, err := loadtool.Dial(ctx, loadtool.NewDialer(), r.srv.Base, r.eval, supTokens[0])
	if err != nil {
		return fmt.Errorf("the room's head: %w", err)
	}
	conn.Close()
	res.HeadSeq = snap.Seq
	var behind uint64
	for _, s := range sups {
		if p := s.w.Pos(); p != snap.Seq {
			behind++
			r.errs.Note(fmt.Errorf("supervisor %s's stream ends at %d, the room's head is %d: %s", s.w.Sub, p, snap.Seq, loadtool.Tail(ctx, r.srv.Base, r.eval, s.w.Token, p)))
		}
	}
	res.Lost = res.Gaps + res.ShortTail + uint64(res.Dropped) + behind
	for _, s := range sups {
		res.SupBytes += s.w.Bytes() - s.joinBytes
	}

	res.Phases, _ = r.cpu.Phases()
	if ev, ok := r.cpu.Between("convened", "platform signed", "evaluation"); ok {
		res.ServerCPU, res.ToolCPU, res.OtherCPU = ev.ServerCPU, ev.ToolCPU, ev.OtherCPU
		if res.Commands > 0 {
			res.CPUPerCommand = ev.ServerCPU / 100 * ev.Secs * 1000 / float64(res.Commands)
		}
	}
	r.logf("done: %d commands, p99 %.1f ms, fan-out p99 %.1f ms, %d lost", res.Commands, res.ByType[len(res.ByType)-1].P99Ms, res.FanOut.P99Ms, res.Lost)
	return nil
}

// importPool generates a key for every expert of the pool and imports
// them (POST /api/v1/pool/experts, JSON): two thirds technical (A01), a
// third economic (B02), none employed by a bidder or the tenderer.
func (r *runner) importPool(ctx context.Context) (map[string]*decrypt.PrivateKey, error) {
	keys := map[string]*decrypt.PrivateKey{}
	var experts []map[string]any
	for i := range r.opt.Pool {
		k, err := decrypt.GenerateKey()
		if err != nil {
			return nil, err
		}
		pub, err := k.Public().MarshalPEM()
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("X%04d", i+1)
		keys[id] = k
		spec := "A01"
		if i%3 == 2 {
			spec = "B02"
		}
		experts = append(experts, map[string]any{"id": id, "name": "专家" + id, "employer": fmt.Sprintf("市建筑设计研究院第%d所", i+1),
			"specialties": []string{spec}, "center": "市中心", "phone": fmt.Sprintf("138%08d", i+1), "credit": 90, "public_key": string(pub)})
	}
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/pool/experts", map[string]any{"experts": experts}, nil); err != nil {
		return nil, fmt.Errorf("import the pool: %w", err)
	}
	return keys, nil
}

// evaluationRequest is POST /api/v1/evaluations's body: a committee of
// Members (two thirds A01, a third B02, with reserves), the criteria with
// three checks, four items and a mean_trimmed price rule (100 points).
func (r *runner) evaluationRequest(opening string) map[string]any {
	econ := max(1, r.opt.Members/3)
	return map[string]any{
		"id": r.eval, "opening": opening, "tenderer": "城东水务集团", "size": r.opt.Members,
		"quotas": []map[string]any{
			{"specialty": "A01", "count": r.opt.Members - econ, "reserves": 2},
			{"specialty": "B02", "count": econ, "reserves": 1},
		},
		"min_credit": 60, "max_repeats": 3, "period_days": 180,
		"criteria": criteria,
	}
}

// commandFigures turns every command sent into the latency figures.
func (r *runner) commandFigures(sups []*supervisor, res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byType := map[string][]time.Duration{}
	var all, fan, fanAll, fanAfter []time.Duration
	for _, s := range r.sent {
		d := s.ack.Latency()
		byType[s.command] = append(byType[s.command], d)
		all = append(all, d)
		var last time.Duration
		complete := true
		for _, sup := range sups {
			at, ok := sup.received(s.id)
			if !ok {
				res.MissingFanOut++
				complete = false
				continue
			}
			f := at.Sub(s.ack.Sent)
			fan = append(fan, f)
			last = max(last, f)
		}
		if complete && len(sups) > 0 {
			fanAll = append(fanAll, last)
			fanAfter = append(fanAfter, last-d)
		}
	}
	res.Commands = len(all)
	for _, t := range commandOrder {
		if d := byType[t]; len(d) > 0 {
			res.ByType = append(res.ByType, CommandLatency{Command: t, Latency: loadtool.Summarize(d)})
		}
	}
	res.ByType = append(res.ByType, CommandLatency{Command: "all", Latency: loadtool.Summarize(all)})
	res.FanOut, res.FanAll, res.FanAfter = loadtool.Summarize(fan), loadtool.Summarize(fanAll), loadtool.Summarize(fanAfter)
}

// record keeps a command the server took, for the figures.
func (r *runner) record(id, command string, ack loadtool.Ack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{id: id, command: command, ack: ack})
}

// serverSide reads the server's command time over the run from two
// scrapes of bidroom_command_seconds.
func serverSide(before, after loadtool.Metrics) ServerSide {
	const name = "bidroom_command_seconds"
	n := after[name+"_count"] - before[name+"_count"]
	if n <= 0 {
		return ServerSide{}
	}
	s := ServerSide{Commands: int(n), MeanMs: 1000 * (after[name+"_sum"] - before[name+"_sum"]) / n}
	type bucket struct{ le, count float64 }
	var buckets []bucket
	for k, v := range after {
		le, ok := strings.CutPrefix(k, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le = strings.TrimSuffix(le, `"}`)
		f, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		buckets = append(buckets, bucket{le: f, count: v - before[k]})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	for _, b := range buckets {
		if b.count >= 0.99*n && !math.IsInf(b.le, 1) { // beyond the last bucket: left 0
			s.P99LeMs = 1000 * b.le
			break
		}
	}
	return s
}

// lastFirst is when the last of ws received its first event of type t.
func lastFirst(ws []*loadtool.Watcher, t string) time.Time {
	var last time.Time
	for _, w := range ws {
		if at := w.FirstTime(t); at.After(last) {
			last = at
		}
	}
	return last
}

// lastNth is when the last supervisor received the n-th scores_tallied
// (zero if one has not).
func lastNth(sups []*supervisor, n int) time.Time {
	var last time.Time
	for _, s := range sups {
		at := s.tally(n)
		if at.IsZero() {
			return time.Time{}
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// startPerf records the server's stacks with perf into Options.Perf until stop,
// when a file is given (loadtool.StartPerf).
func (r *runner) startPerf() (stop func(), err error) {
	return loadtool.StartPerf(r.srv.PID(), r.opt.Perf, r.opt.Progress, r.logf)
}
