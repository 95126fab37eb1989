// Command auctionload is Bidroom's auction load benchmark (issue 14): the
// timed bidding (限时竞价) of one online auction on websockets, with a
// burst of bids in the countdown's last seconds, on one server with the
// embedded store, one on Redis, and two servers on one Redis.
//
// A listing lasts at least 10 working days and may not start in the past,
// so the room is first written up to its listing's end by an in-process
// rooms.Service on the same store with its clock set back (prepare.go):
// the auction created 20 days ago, every bidder registered with a random
// number, deposits recorded, qualifications confirmed, the listing opened
// and two quotes made. The real servers then start on that store; their
// scheduler closes the listing at listing_end (a few seconds on) and the
// timed bidding starts with its countdown.
//
// B bidders (the first A of them active) and W watchers (registered
// bidders who never bid, S of them supervisors instead) hold websockets,
// split evenly across the instances. When BurstAt is left on the
// countdown, the active bidders bid for Burst: each, whenever its page
// shows someone else leading, bids the lowest valid amount (price + one
// step), one bid at a time and at most one per Gap (the server's command
// rate). Most are refused as not above the price. Then nobody bids, the
// countdown runs out, and P bidders try to bid at the end (0–200 ms
// after it, by the same clock the server uses) and again after
// auction_ended: each must be refused.
//
// It reports the answers by reason, the latency from an accepted bid's
// send to its arrival at every watcher (and every connection), the ack
// latency, lost frames, server CPU and RSS, and holds the run to the
// auction's invariants against the log read back from the store: one
// chain, every screen with the log's bids in order, none accepted after
// its countdown, strictly increasing on the grid, every accepted answer
// exactly one bid, and auction_ended naming the last bid.
//
//	go run ./bench/auctionload                       # the three configurations, 300 bidders (100 bidding), 500 watchers
//	go run ./bench/auctionload -configs redis2 -runs 3
//
// Everything runs on this machine over loopback, bounded in time; the
// servers and Redis are killed on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		fmt.Fprintln(os.Stderr, "auctionload:", err)
		os.Exit(1)
	}
}

// Report is the -json output.
type Report struct {
	Machine loadtool.Machine `json:"machine"`
	Command string           `json:"command"`
	Results []Result         `json:"results"`
	Held    bool             `json:"held"` // every run kept every invariant
}

// configs are the -configs names: the store and the instances.
var configs = map[string]struct {
	store     string
	instances int
}{
	"embedded": {"embedded", 1},
	"redis":    {"redis", 1},
	"redis2":   {"redis", 2},
}

// targetP99 is the target for a bid to every screen.
const targetP99 = 150.0 // ms

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("auctionload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opt       Options
		serverBin = fs.String("server", "", "bidroom binary (default: go build github.com/bidroom/bidroom/cmd/bidroom into a temp dir)")
		which     = fs.String("configs", "embedded,redis,redis2", "configurations, comma-separated: embedded (one server), redis (one server), redis2 (two servers on one Redis)")
		runs      = fs.Int("runs", 1, "runs of each configuration, interleaved")
		asJSON    = fs.Bool("json", false, "print JSON instead of tables")
		quiet     = fs.Bool("quiet", false, "no progress on stderr")
		waitIdle  = fs.Duration("wait-idle", 2*time.Minute, "first wait up to this long for other processes to leave the machine idle (0: don't)")
		idleBelow = fs.Float64("idle-below", 15, "idle means the machine busy under this % of one core over 3s")
		countdown = fs.Duration("countdown", 30*time.Second, "the timed bidding's countdown (30s–1h, whole seconds)")
		env       loadtool.ListFlag
	)
	fs.IntVar(&opt.Bidders, "bidders", 300, "registered, qualified bidders on websockets")
	fs.IntVar(&opt.Active, "active", 100, "of the bidders, those who bid in the burst")
	fs.IntVar(&opt.Watchers, "watchers", 500, "more websockets that never bid: registered bidders, and -supervisors of them supervisors")
	fs.IntVar(&opt.Supervisors, "supervisors", 50, "of the watchers, supervisors (the staff projection)")
	fs.DurationVar(&opt.BurstAt, "burst-at", 10*time.Second, "start the burst when this much is left on the countdown")
	fs.DurationVar(&opt.Burst, "burst", 10*time.Second, "how long the active bidders bid")
	fs.DurationVar(&opt.Gap, "gap", 50*time.Millisecond, "least time between two bids of one bidder (the server takes 20 commands a second per connection)")
	fs.IntVar(&opt.Probes, "probes", 5, "bidders who try to bid at the end (0–200 ms after it) and after auction_ended")
	fs.DurationVar(&opt.Lead, "lead", 0, "listing_end this long after the preparation starts (0: estimated from the sizes)")
	fs.DurationVar(&opt.Timeout, "timeout", 5*time.Minute, "the longest one run may take")
	fs.StringVar(&opt.RedisURL, "redis-url", "", "use this Redis (redis://host:port/db) instead of starting redis-server on a free port")
	fs.StringVar(&opt.DataBase, "data-base", "", "parent of the servers' temporary data dirs (default: the system temp dir)")
	fs.StringVar(&opt.Perf, "perf", "", "perf record server 0 (-F 997 -g) over the burst into this file (the last run's)")
	fs.Var(&env, "server-env", "KEY=VALUE for the servers' environment, repeatable (GOGC=200, BIDROOM_...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	opt.Countdown = int(countdown.Seconds())
	switch {
	case opt.Countdown < 30 || opt.Countdown > 3600 || *countdown != time.Duration(opt.Countdown)*time.Second:
		return errors.New("-countdown must be whole seconds, 30s to 1h")
	case opt.Active < 2 || opt.Active > opt.Bidders || opt.Bidders+opt.Watchers-opt.Supervisors > 2000:
		return errors.New("-active must be 2 to -bidders, and an auction registers at most 2000 bidders (-bidders + -watchers - -supervisors)")
	case opt.Supervisors < 1 || opt.Supervisors > opt.Watchers:
		return errors.New("-supervisors must be 1 to -watchers")
	case opt.Probes < 0 || opt.Probes >= opt.Active:
		return errors.New("-probes must be 0 to -active - 1")
	case opt.Burst <= 0 || opt.BurstAt <= 0 || opt.BurstAt > *countdown || opt.Gap < 0 || *runs < 1:
		return errors.New("-burst and -burst-at must be positive, -burst-at at most -countdown, -gap not negative, -runs at least 1")
	}
	var names []string
	for _, n := range strings.Split(*which, ",") {
		if _, ok := configs[n]; !ok {
			return fmt.Errorf("-configs: unknown configuration %q (embedded, redis, redis2)", n)
		}
		names = append(names, n)
	}
	opt.ServerEnv = env
	if !*quiet {
		opt.Progress = stderr
	}
	fdLimit, err := loadtool.RaiseFDLimit()
	if err != nil {
		return err
	}
	cleanup, err := loadtool.BuildServer(ctx, serverBin, "auctionload", stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	opt.Server = *serverBin

	if err := loadtool.AwaitQuiet(ctx, "auctionload", *waitIdle, *idleBelow, stderr); err != nil {
		return err
	}
	rep := Report{Machine: loadtool.DescribeMachine(opt.Server, fdLimit), Command: strings.Join(append([]string{"auctionload"}, args...), " "), Held: true}
	for range *runs {
		for _, n := range names {
			o := opt
			o.Store, o.Instances = configs[n].store, configs[n].instances
			res, err := runOnce(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res.Failures = append(res.Failures, "run failed: "+err.Error())
			}
			rep.Results = append(rep.Results, res)
			rep.Held = rep.Held && held(res)
			if !*asJSON {
				printResult(stdout, res)
			}
		}
	}
	if err := loadtool.WriteReport(stdout, *asJSON, rep, func() { printSummary(stdout, rep) }); err != nil {
		return err
	}
	if !rep.Held {
		return errors.New("a run broke an invariant or lost frames (see the violations and failures)")
	}
	return nil
}

// printResult writes one run's figures.
func printResult(w io.Writer, r Result) {
	fmt.Fprintf(w, "\n== %s: %d bidders (%d bidding), %d watchers (%d supervisors), countdown %d s, room %s\n",
		r.Config, r.Bidders, r.Active, r.Watchers, r.Supervisors, r.Countdown, r.Room)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("prepare (in-process, clock set back)", fmt.Sprintf("%.1f s, %d commands", r.PrepSecs, r.PrepCommands))
	row("servers up, tokens, websockets joined", fmt.Sprintf("%.1f s", r.JoinSecs))
	row("burst", fmt.Sprintf("%.1f s, from %.1f s left on the countdown", r.BurstSecs, r.BurstLeftSecs))
	row("bids sent in the burst", fmt.Sprintf("%d: %s", r.Sent, answers(r.Reasons)))
	row("accepted", fmt.Sprintf("%d (%.1f/s); the log has %d bids (2 from the listing)", r.Accepted, r.AcceptRate, r.LogBids))
	row("bids at/after the end", fmt.Sprintf("%d: %s", r.Probes, answers(r.ProbeAns)))
	row("result", fmt.Sprintf("%s to %s at %s; burst end → auction_ended at every screen %.1f s", r.Outcome, r.FinalNumber, r.FinalPrice, r.TailSecs))
	tw.Flush()

	fmt.Fprintln(w, "\nlatency (ms):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tn\tp50\tp95\tp99\tmax\t")
	lat := func(name string, l loadtool.Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.Samples, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
	lat("accepted bid sent → each watcher", r.ToWatchers)
	lat("accepted bid sent → the last watcher", r.ToLast)
	lat("accepted bid sent → each connection", r.ToScreens)
	lat("bid sent → ack, accepted", r.AckOK)
	lat("bid sent → answer, refused", r.AckRefused)
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row = func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("server command time (all commands, mean)", fmt.Sprintf("%.2f ms over %d commands", r.ServerCmd, r.ServerCmds))
	row("lost frames", fmt.Sprintf("%d (gaps %d, short tails %d, dropped %d, missing bids %d; %d bid frames delivered); forked screens %d; slow disconnects %d",
		r.Lost, r.Gaps, r.ShortTail, r.Dropped, r.Missing, r.Deliveries, r.Forked, r.SlowDrops))
	var cpu, mem []string
	for i := range r.ServerCPU {
		cpu = append(cpu, fmt.Sprintf("%.0f %%", r.ServerCPU[i]))
	}
	for i := range r.ServerPeak {
		mem = append(mem, fmt.Sprintf("%.0f / %.0f MiB", float64(r.ServerPeak[i])/(1<<20), float64(r.ServerRSS[i])/(1<<20)))
	}
	c := "server " + strings.Join(cpu, " + ")
	if r.Store == "redis" {
		c += fmt.Sprintf(", redis %.0f %%", r.RedisCPU)
	}
	row("CPU over the burst (% of one core)", fmt.Sprintf("%s, tool %.0f %%, other processes %.0f %%", c, r.ToolCPU, r.OtherCPU))
	row("server RSS peak / at the end", strings.Join(mem, "; "))
	if len(r.RedisCalls) > 0 {
		total := 0
		for _, n := range r.RedisCalls {
			total += n
		}
		row("redis calls over the burst", fmt.Sprintf("%d (%.1f per bid sent): %s; appends that lost the race %d",
			total, float64(total)/float64(max(1, r.Sent)), answers(r.RedisCalls), r.AppendsLost))
	}
	tw.Flush()
	for _, v := range r.Violations {
		fmt.Fprintln(w, "VIOLATION:", v)
	}
	for _, f := range r.Failures {
		fmt.Fprintln(w, "failure:", f)
	}
	fmt.Fprintf(w, "held: %v; bid → watchers p99 %.1f ms (target < %.0f ms: %v)\n", held(r), r.ToWatchers.P99Ms, targetP99, r.ToWatchers.P99Ms < targetP99)
}

// printSummary writes one line per run.
func printSummary(w io.Writer, rep Report) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, rep.Machine.Line("auctionload"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tsent\taccepted\tnot above\tpost-end refused\tp50\tp99 →watchers\tp99 →last\tack p99\tlost\tserver CPU\theld\t")
	for _, r := range rep.Results {
		var cpu []string
		for _, c := range r.ServerCPU {
			cpu = append(cpu, fmt.Sprintf("%.0f", c))
		}
		refused := r.Probes - r.ProbeAns["accepted"]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%s %%\t%v\t\n", r.Config, r.Sent, r.Accepted, r.Reasons["not_above"],
			refused, r.Probes, r.ToWatchers.P50Ms, r.ToWatchers.P99Ms, r.ToLast.P99Ms, r.AckOK.P99Ms, r.Lost, strings.Join(cpu, "+"), held(r))
	}
	tw.Flush()
	fmt.Fprintf(w, "held: %v\ncommand: %s\n", rep.Held, rep.Command)
}

// answers writes a count map, largest first.
func answers(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
