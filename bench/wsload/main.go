// Command wsload is Bidroom's websocket load benchmark: N clients in one
// room on one server (or split across several on one Redis: -instances),
// the host announcing every 100 ms. For each N it starts a fresh `bidroom
// serve` on loopback and measures, in three phases:
//
//  1. idle memory: the server's RSS and Go heap+stack per connected client;
//  2. broadcast: delivery latency (send → receive) of every announcement to
//     every client, events lost, server and load-tool CPU;
//  3. reconnect storm: every client closes at once and resumes with its
//     last pos while the host keeps announcing; time until all caught up.
//
// It prints a table (or -json) and the largest N "held": all connected,
// p99 under -p99, no event lost, storm completed without gaps.
//
//	go run ./bench/wsload -n 1000,2000,5000,10000
//
// By default the host announces over its websocket, the clients read
// event frames by prefix and substrings (cheap), and one server runs on
// the embedded store. The first two options measure as an outside client
// would, the third on several instances:
//
//   - -announce rest: the host sends each announcement with POST
//     /api/v1/sessions/{room}/commands on a keep-alive HTTP connection;
//     its ack latency is the round trip. One send is done before the next
//     starts: a POST slower than the interval delays the next (reported
//     as late announcements), announcements never pile up.
//   - -decode full: every client decodes every frame whole with
//     encoding/json before handling it; the latency is still taken at
//     receipt, before decoding.
//   - -store redis -instances 2: two servers on one Redis started for the
//     run; client i connects to server i % 2 (reconnects too), the host to
//     server 0. Memory and CPU are reported per server (-json: servers)
//     and summed.
//
// Clients read their sockets one of two ways (-reader), so that the
// tool's own CPU, taken from the cores the server runs on, can be kept
// small or compared:
//
//   - epoll (the default, Linux): raw sockets outside Go's netpoller, read
//     by GOMAXPROCS pollers; a poller that finds nothing ready sleeps
//     -poll (1ms) rather than being woken by each frame the server sends,
//     so a receipt is taken up to that much late, against the server.
//   - conn: gorilla/websocket, a goroutine reading each client, woken by
//     Go's netpoller for every frame: the reader before epoll.
//
// The load generator shares the machine with the server, so its figures
// are for one box running both; everything goes to 127.0.0.1 and every
// phase is bounded in time. The server child is killed on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

// Report is the -json output.
type Report struct {
	Machine loadtool.Machine `json:"machine"`
	Command string           `json:"command"`
	Role    string           `json:"role"`
	// How it was measured, when not the default (ws, fast, embedded, 1).
	Announce  string     `json:"announce,omitempty"`  // rest: announcements by POST .../commands
	Decode    string     `json:"decode,omitempty"`    // full: every frame decoded with encoding/json; goccy: with goccy/go-json
	Store     string     `json:"store,omitempty"`     // redis
	Instances int        `json:"instances,omitempty"` // servers sharing the room, when more than one
	Reader    string     `json:"reader"`              // epoll or conn (runs before -reader read as conn)
	Poll      string     `json:"poll,omitempty"`      // epoll: an idle poller's sleep, or "block" (-poll 0)
	Results   []Result   `json:"results"`
	Held      int        `json:"held"`              // largest N held in every run, 0 for none
	Runs      int        `json:"runs"`              // rounds of the sweep (-runs)
	Summary   []NSummary `json:"summary,omitempty"` // each N over its runs
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opt       Options
		serverBin = fs.String("server", "", "bidroom binary (default: go build github.com/bidroom/bidroom/cmd/bidroom into a temp dir)")
		nList     = fs.String("n", "1000", "clients per run, a comma list for a sweep: 1000,2000,5000,10000")
		asJSON    = fs.Bool("json", false, "print JSON instead of a table")
		keepGoing = fs.Bool("keep-going", false, "in a sweep, run larger N even after one was not held")
		runs      = fs.Int("runs", 1, "run the whole sweep this many times, one round after another (every N in each, as with -keep-going); "+
			"the summary gives each N's p99 in every run and in how many it held: a shared box's speed drifts, so one run decides little")
		waitIdle  = fs.Duration("wait-idle", 3*time.Minute, "before each N, wait up to this long for other processes to leave the machine idle (0: don't)")
		idleBelow = fs.Float64("idle-below", 15, "idle means the machine busy under this % of one core over 3s")
		env       loadtool.ListFlag
		poll      time.Duration
	)
	fs.StringVar(&opt.Role, "role", "supervisor", "clients' role: supervisor (staff projection) or bidder (registered bidders, the public projection)")
	fs.DurationVar(&opt.Duration, "d", 20*time.Second, "phase 2: how long the host announces")
	fs.DurationVar(&opt.Interval, "interval", 100*time.Millisecond, "between announcements")
	fs.IntVar(&opt.Batch, "batch", 500, "phase 1: clients connecting at once")
	fs.DurationVar(&opt.BatchPause, "batch-pause", 100*time.Millisecond, "phase 1: pause between batches")
	fs.DurationVar(&opt.Settle, "settle", 2*time.Second, "wait before each memory reading")
	fs.DurationVar(&opt.StormTimeout, "storm-timeout", 120*time.Second, "phase 3: longest the reconnect storm may take")
	fs.DurationVar(&opt.StormTail, "storm-tail", time.Second, "phase 3: announcing after the storm, before checking for gaps")
	fs.IntVar(&opt.SendQueue, "send-queue", 0, "server signaling.send_queue (0: its default)")
	fs.DurationVar(&opt.P99Limit, "p99", 100*time.Millisecond, "a run is held only with broadcast p99 under this")
	fs.IntVar(&opt.ProbePairs, "probe-pairs", 5000, "before each run, with no server running, time loopback TCP frames over this many connections (at most N): the box's speed at a broadcast's kernel work, which drifts on a shared machine; 0: skip")
	fs.StringVar(&opt.DataBase, "data-base", "", "directory under which the server's temporary data dir is made (default: the system temp dir; /dev/shm takes disk sync out of the figures)")
	fs.Var(&env, "server-env", "KEY=VALUE for the server's environment, repeatable (GODEBUG=gctrace=1, GOGC=200, BIDROOM_...)")
	fs.StringVar(&opt.Announce, "announce", "ws", "how the host announces: ws (a command frame on its websocket) or rest (POST /api/v1/sessions/{room}/commands on one keep-alive HTTP connection; the answer is the ack)")
	fs.StringVar(&opt.Decode, "decode", "fast", "how clients read frames: fast (event frames by prefix and substrings) full (every frame decoded whole with encoding/json, as an outside client would; latency still taken at receipt) or goccy (the same, with github.com/goccy/go-json: about 3x faster here, nearer a browser's native JSON.parse)")
	fs.StringVar(&opt.Store, "store", "embedded", "the servers' store: embedded, or redis (one redis-server started for each run)")
	fs.IntVar(&opt.Instances, "instances", 1, "servers sharing the room, above 1 with -store redis: client i connects to server i % instances, the host to server 0")
	fs.StringVar(&opt.Reader, "reader", "epoll", "how clients read their sockets: epoll (raw sockets outside Go's netpoller, read by GOMAXPROCS epoll pollers; Linux only) "+
		"or conn (gorilla/websocket, a goroutine per client woken for each frame: the reader before epoll, for comparison)")
	fs.DurationVar(&poll, "poll", time.Millisecond, "-reader epoll: a poller that finds nothing to read sleeps this long, so the server's sends do not wake the tool for each frame; "+
		"a message's receipt is then taken up to this late, which counts against the server's latency. 0: block in epoll_wait, woken by each frame (and every 10ms to take new sockets and closes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opt.Role != "supervisor" && opt.Role != "bidder" {
		return fmt.Errorf("-role must be supervisor or bidder, got %q", opt.Role)
	}
	if opt.Interval <= 0 || opt.Duration < opt.Interval {
		return errors.New("-interval must be positive and -d at least one interval")
	}
	if opt.Instances < 1 {
		return fmt.Errorf("-instances must be at least 1, got %d", opt.Instances)
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1, got %d", *runs)
	}
	switch {
	case poll < 0:
		return fmt.Errorf("-poll must not be negative, got %v", poll)
	case poll == 0:
		opt.Poll = pollBlock
	default:
		opt.Poll = poll
	}
	if err := opt.check(); err != nil {
		return err
	}
	ns, err := parseNs(*nList)
	if err != nil {
		return err
	}
	opt.ServerEnv = env
	opt.Progress = stderr

	fdLimit, err := loadtool.RaiseFDLimit()
	if err != nil {
		return err
	}
	maxN := ns[len(ns)-1]
	if err := checkLimits(fdLimit, maxN); err != nil {
		return err
	}
	if w := portWarning(maxN); w != "" {
		fmt.Fprintln(stderr, "wsload: warning:", w)
	}

	cleanup, err := loadtool.BuildServer(ctx, serverBin, "wsload", stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	opt.Server = *serverBin

	rep := Report{Machine: loadtool.DescribeMachine(opt.Server, fdLimit), Command: commandLine(), Role: opt.Role, Reader: opt.Reader}
	if opt.Reader == "epoll" {
		rep.Poll = pollName(opt.Poll)
	}
	if opt.Announce != "ws" {
		rep.Announce = opt.Announce
	}
	if opt.Decode != "fast" {
		rep.Decode = opt.Decode
	}
	if opt.Store != "embedded" {
		rep.Store = opt.Store
	}
	if opt.Instances > 1 {
		rep.Instances = opt.Instances
	}
	fmt.Fprintf(stderr, "wsload: %s\n", rep.Machine.Line("wsload"))
	for run := 1; run <= *runs; run++ {
		if *runs > 1 {
			fmt.Fprintf(stderr, "wsload: run %d of %d\n", run, *runs)
		}
		if err := sweep(ctx, &rep, opt, ns, run, *runs > 1 || *keepGoing, *waitIdle, *idleBelow, stderr); err != nil {
			return err
		}
	}
	rep.Runs = *runs
	rep.Summary = summarize(rep.Results)
	rep.Held = largestHeldEveryRun(rep.Summary)
	return loadtool.WriteReport(stdout, *asJSON, rep, func() { printTable(stdout, rep, opt) })
}

// sweep runs each N of ns once (run: which round), adding the results to
// rep; a non-held N ends the sweep unless keepGoing.
func sweep(ctx context.Context, rep *Report, opt Options, ns []int, run int, keepGoing bool, waitIdle time.Duration, idleBelow float64, stderr io.Writer) error {
	maxN := ns[len(ns)-1]
	for _, n := range ns {
		opt.N = n
		if waitIdle > 0 {
			if busy, err := loadtool.WaitQuiet(ctx, waitIdle, idleBelow); err != nil {
				return err
			} else if busy >= idleBelow {
				fmt.Fprintf(stderr, "wsload: machine still %.0f%% busy (of one core) after %v; running N=%d anyway\n", busy, waitIdle, n)
			}
		}
		res, err := runOnce(ctx, opt)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Failures = append(res.Failures, "run failed: "+err.Error())
			fmt.Fprintf(stderr, "wsload: N=%d failed: %v\n", n, err)
		}
		res.Run = run
		rep.Results = append(rep.Results, res)
		if !res.Held && !keepGoing {
			if n != maxN {
				fmt.Fprintf(stderr, "wsload: N=%d not held; not trying larger N (-keep-going to)\n", n)
			}
			break
		}
	}
	return nil
}

// NSummary is one N over every run of it.
type NSummary struct {
	N      int       `json:"n"`
	Runs   int       `json:"runs"`
	Held   int       `json:"held"`   // runs that held
	P99Ms  []float64 `json:"p99_ms"` // each run's broadcast p99, in run order
	Median float64   `json:"median_p99_ms"`
	// ProbeUs is each run's loopback probe (µs a frame; runs without one
	// add nothing): the box's speed beside its p99.
	ProbeUs []float64 `json:"probe_us_per_frame,omitempty"`
}

// summarize groups results by N, in the order the Ns first ran.
func summarize(results []Result) []NSummary {
	var out []NSummary
	at := map[int]int{}
	for _, r := range results {
		i, ok := at[r.N]
		if !ok {
			i = len(out)
			at[r.N] = i
			out = append(out, NSummary{N: r.N})
		}
		s := &out[i]
		s.Runs++
		if r.Held {
			s.Held++
		}
		s.P99Ms = append(s.P99Ms, r.Broadcast.Latency.P99Ms)
		if r.Probe != nil {
			s.ProbeUs = append(s.ProbeUs, r.Probe.UsPerFrame)
		}
	}
	for i := range out {
		p := slices.Clone(out[i].P99Ms)
		slices.Sort(p)
		if n := len(p); n%2 == 1 {
			out[i].Median = p[n/2]
		} else {
			out[i].Median = (p[n/2-1] + p[n/2]) / 2
		}
	}
	return out
}

// largestHeldEveryRun is the largest N that held in every run of it, 0
// for none.
func largestHeldEveryRun(sum []NSummary) int {
	held := 0
	for _, s := range sum {
		if s.Runs > 0 && s.Held == s.Runs {
			held = max(held, s.N)
		}
	}
	return held
}

func parseNs(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-n wants positive client counts separated by commas, got %q", s)
		}
		if len(ns) > 0 && n <= ns[len(ns)-1] {
			return nil, fmt.Errorf("-n must be increasing, got %q", s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// fdHeadroom is what a process needs besides one descriptor per client:
// listener, store, REST and the runtime's own.
const fdHeadroom = 100

// checkLimits fails clearly if N clients cannot fit. The limit is per
// process: this tool holds N client sockets and the server N accepted
// ones, each needs N+100 under its own limit, 2N+100 on the machine.
func checkLimits(fdLimit uint64, n int) error {
	need := uint64(n) + fdHeadroom
	if fdLimit < need {
		return fmt.Errorf("ulimit -Hn is %d, but N=%d needs %d descriptors in this process and as many in the server "+
			"(each holds one end of every connection; %d on the machine): raise the hard limit (as root: ulimit -Hn %d) or lower -n",
			fdLimit, n, need, 2*n+fdHeadroom, need)
	}
	if b, err := os.ReadFile("/proc/sys/fs/file-max"); err == nil {
		if max, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && max < uint64(2*n+fdHeadroom) {
			return fmt.Errorf("fs.file-max is %d, but N=%d needs %d open files on the machine", max, n, 2*n+fdHeadroom)
		}
	}
	return nil
}

// portWarning notes a local port range too small for a storm: N sockets
// in TIME_WAIT from the closes plus N new connections.
func portWarning(n int) string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return ""
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	if hi-lo+1 < 2*n {
		return fmt.Sprintf("ip_local_port_range has %d ports; a storm of %d clients may need %d", hi-lo+1, n, 2*n)
	}
	return ""
}

func commandLine() string {
	return strings.Join(append([]string{"wsload"}, os.Args[1:]...), " ")
}

func printTable(w io.Writer, rep Report, opt Options) {
	fmt.Fprintln(w, rep.Machine.Line("wsload"))
	fmt.Fprintf(w, "clients: role %s, one room, %s; broadcast %v every %v%s; p99 limit %v; send queue %s%s; %s\n\n",
		rep.Role, serversName(opt), opt.Duration, opt.Interval, announceName(opt), opt.P99Limit, queueName(opt.SendQueue), decodeName(opt), readerName(opt))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tconnect s\tRSS/conn KiB\theap+stack/conn KiB\tp50 ms\tp95 ms\tp99 ms\tmax ms\texpected\treceived\tlost\tsrv CPU %\ttool CPU %\tother CPU %\tbox µs\tstorm s\tstorm snapshots\theld\t")
	for _, r := range rep.Results {
		b, s := r.Broadcast, r.Storm
		storm := "-"
		if s.Completed {
			storm = fmt.Sprintf("%.2f", s.Seconds)
		} else if s.CaughtUp > 0 {
			storm = fmt.Sprintf(">%.0f", opt.StormTimeout.Seconds())
		}
		box := "-"
		if r.Probe != nil {
			box = fmt.Sprintf("%.2f", r.Probe.UsPerFrame)
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\t%s\t\n",
			r.N, r.Connect.Seconds, r.Memory.RSSPerConn/1024, r.Memory.HeapStackPerConn/1024,
			b.Latency.P50Ms, b.Latency.P95Ms, b.Latency.P99Ms, b.Latency.MaxMs,
			b.Expected, b.Received, b.Lost, b.ServerCPU, b.ToolCPU, b.OtherCPU, box, storm, s.Snapshots, yesNo(r.Held))
	}
	tw.Flush()

	fmt.Fprintln(w, "\ndetails (broadcast: where the time goes; storm):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tsrv RSS MiB\tsrv goroutines\tstack/conn KiB\tobjects/conn\tframes/s\tCPU µs/frame\tcmd mean ms\tcmd p99 ms\tack p99 ms\tfirst p99 ms\tlast p99 ms\tGC cycles\tGC pause ms\tslow drops\t"+
		"storm resumed s\tstorm p50 s\tstorm srv CPU %\tstorm other CPU %\tstorm lat p99 ms\tstorm lost\t")
	for _, r := range rep.Results {
		b, s := r.Broadcast, r.Storm
		cmdMean, cmdP99 := fmt.Sprintf("%.2f", b.CommandMeanMs), fmt.Sprintf("%.0f", b.CommandP99Ms)
		perFrame := "-" // server and tool CPU for one frame: how fast the box ran during the broadcast
		if b.FramesPerSec > 0 {
			perFrame = fmt.Sprintf("%.1f", (b.ServerCPU+b.ToolCPU)/100*1e6/b.FramesPerSec)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%d\t\n",
			r.N, mib(r.Memory.RSSAfter), r.Memory.GoroutinesAfter, r.Memory.StackPerConn/1024, r.Memory.ObjectsPerConn, b.FramesPerSec, perFrame, cmdMean, cmdP99,
			b.AckLatency.P99Ms, b.FirstLatency.P99Ms, b.LastLatency.P99Ms, b.GCCycles, b.GCPauseMs, b.SlowDrops,
			s.ResumedSecs, s.P50Secs, s.ServerCPU, s.OtherCPU, s.Latency.P99Ms, s.Lost)
	}
	tw.Flush()
	cmd, ack, others := "cmd: server time to decide and durably append (its histogram; p99 is a bucket edge)", "ack: host send -> ack", "server and tool"
	if opt.Announce == "rest" {
		ack = "ack: host POST round trip"
	}
	if opt.Store == "redis" {
		others = "servers, Redis and tool"
	}
	fmt.Fprintf(w, "%s; %s;\n"+
		"first/last: per announcement, the fastest and slowest client; other CPU: processes besides %s;\n"+
		"box µs: before the run, with no server, one frame written and read over loopback TCP (-probe-pairs): the box's speed then, which drifts;\n"+
		"CPU µs/frame: server and tool CPU over the broadcast's frames: the box's speed during the run (the same work costs a third more when the box is slow).\n", cmd, ack, others)
	printServers(w, rep, opt)

	for _, r := range rep.Results {
		for _, f := range r.Failures {
			fmt.Fprintf(w, "N=%d: %s\n", r.N, f)
		}
		if late := r.Broadcast.LateSends + r.Storm.LateSends; late > 0 {
			fmt.Fprintf(w, "N=%d: %d announcements went out late (broadcast %d, storm %d): the send before took longer than %v\n",
				r.N, late, r.Broadcast.LateSends, r.Storm.LateSends, opt.Interval)
		}
		if r.ErrorsAll > 0 {
			fmt.Fprintf(w, "N=%d: %d client-side errors, first: %s\n", r.N, r.ErrorsAll, strings.Join(r.Errors, "; "))
		}
	}
	if rep.Runs > 1 {
		fmt.Fprintf(w, "\nover %d runs:\n", rep.Runs)
		for _, s := range rep.Summary {
			p := make([]string, len(s.P99Ms))
			for i, v := range s.P99Ms {
				p[i] = fmt.Sprintf("%.1f", v)
			}
			fmt.Fprintf(w, "N=%d: held in %d of %d runs; p99 %s ms, median %.1f ms\n", s.N, s.Held, s.Runs, strings.Join(p, " / "), s.Median)
			if len(s.ProbeUs) == s.Runs {
				for i, v := range s.ProbeUs {
					p[i] = fmt.Sprintf("%.2f", v)
				}
				fmt.Fprintf(w, "       the box before each run (loopback probe): %s µs a frame\n", strings.Join(p, " / "))
			}
		}
	}
	if rep.Held > 0 {
		fmt.Fprintf(w, "\nheld: N=%d (largest N with all connected, p99 < %v, no lost events, storm caught up with no gap, in every run)\n", rep.Held, opt.P99Limit)
	} else {
		fmt.Fprintln(w, "\nheld: none")
	}
	fmt.Fprintf(w, "command: %s\n", rep.Command)
}

// printServers prints each server's share with several, and Redis's CPU.
func printServers(w io.Writer, rep Report, opt Options) {
	if opt.Instances > 1 {
		fmt.Fprintf(w, "\nper server (client i on server i %% %d, the host on server 0; the tables above sum them):\n", opt.Instances)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "N\tserver\tclients\tRSS/conn KiB\theap+stack/conn KiB\tsrv RSS MiB\tgoroutines\tframes/s\tsrv CPU %\tRSS peak MiB\tstorm srv CPU %\t")
		for _, r := range rep.Results {
			for i, s := range r.Servers {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n",
					r.N, i, s.Viewers, s.RSSPerConn/1024, s.HeapStackPerConn/1024, mib(s.RSSAfter), s.GoroutinesAfter,
					s.FramesPerSec, s.BroadcastCPU, mib(s.RSSPeak), s.StormCPU)
			}
		}
		tw.Flush()
	}
	if opt.Store == "redis" {
		fmt.Fprintln(w, "\nRedis (one, shared):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "N\tCPU %\tstorm CPU %\t")
		for _, r := range rep.Results {
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t\n", r.N, r.Broadcast.RedisCPU, r.Storm.RedisCPU)
		}
		tw.Flush()
	}
}

// serversName says where the clients connect, for the table's header.
func serversName(opt Options) string {
	switch {
	case opt.Instances > 1:
		return fmt.Sprintf("%d servers on one Redis (client i on server i %% %d, the host on server 0)", opt.Instances, opt.Instances)
	case opt.Store == "redis":
		return "one server on Redis"
	}
	return "one server"
}

// announceName says how the host announces, when not over its websocket.
func announceName(opt Options) string {
	if opt.Announce == "rest" {
		return " by POST /api/v1/sessions/{room}/commands"
	}
	return ""
}

// decodeName says how the clients read frames, when not the cheap way.
func decodeName(opt Options) string {
	switch opt.Decode {
	case "full":
		return "; every frame JSON-decoded (encoding/json)"
	case "goccy":
		return "; every frame JSON-decoded (goccy/go-json)"
	}
	return ""
}

// readerName says how the clients read their sockets.
func readerName(opt Options) string {
	if opt.Reader == "conn" {
		return "reader conn (a goroutine per client)"
	}
	if opt.Poll == pollBlock {
		return "reader epoll (pollers block in epoll_wait)"
	}
	return "reader epoll (idle pollers sleep " + pollName(opt.Poll) + ")"
}

// pollName is -poll for the report: the sleep, or block for 0.
func pollName(d time.Duration) string {
	if d == pollBlock {
		return "block"
	}
	return d.String()
}

func queueName(q int) string {
	if q == 0 {
		return "server default"
	}
	return strconv.Itoa(q)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
