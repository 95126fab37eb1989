// Command evalload is Bidroom's evaluation load benchmark: one evaluation
// room (评标) on a fresh `bidroom serve`, run end to end by its committee
// over the websocket while supervisors watch.
//
// Setup: a finished opening with B bids (the same code path as openload:
// keyed bidders seal, upload, sign in, unlock and confirm; the record is
// signed), a pool of experts with SM2 keys the tool generates (imported
// over REST), the evaluation created from the opening (a committee of M,
// quotas with reserves, criteria with a mean_trimmed price rule), S
// supervisors connected, the draw, the start, and the M members connected.
//
// The evaluation is driven by the members' websocket commands with real
// SM2 signatures: every member declares (rooms.DeclarationMessage), a
// majority votes the chair, the chair opens the scoring, every member
// signs sheets for every bid (rooms.SheetsMessage over the exact JSON
// text). For R rounds the chair then sends every sheet back
// (return_sheet) and the members re-sign, which gives the samples a p99
// needs; after the last tally every member signs the report
// (rooms.ReportMessage) and the platform signs it (REST).
//
// It measures command latency (send → ack) by command and overall, the
// fan-out latency (command sent → its event at each supervisor, and at the
// last of them), lost frames (every connection's positions gap-free and at
// its projection's head, every supervisor at the room's head), the
// server's own command time (/metrics), server CPU and RSS, and the time
// the whole evaluation takes.
//
//	go run ./bench/evalload -members 7 -bids 20 -supervisors 50 -rounds 40
//
// Everything runs on this machine over loopback, bounded in time; the
// server child is killed on exit.
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
		fmt.Fprintln(os.Stderr, "evalload:", err)
		os.Exit(1)
	}
}

// Report is the -json output.
type Report struct {
	Machine loadtool.Machine `json:"machine"`
	Command string           `json:"command"`
	Result  Result           `json:"result"`
	Held    bool             `json:"held"` // the report signed by everyone and the platform, every command taken, nothing lost
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evalload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opt       Options
		serverBin = fs.String("server", "", "bidroom binary (default: go build github.com/bidroom/bidroom/cmd/bidroom into a temp dir)")
		asJSON    = fs.Bool("json", false, "print JSON instead of a table")
		quiet     = fs.Bool("quiet", false, "no progress on stderr")
		waitIdle  = fs.Duration("wait-idle", 2*time.Minute, "first wait up to this long for other processes to leave the machine idle (0: don't)")
		idleBelow = fs.Float64("idle-below", 15, "idle means the machine busy under this % of one core over 3s")
		env       loadtool.ListFlag
	)
	fs.IntVar(&opt.Members, "members", 7, "committee members (odd, 5-25), all drawn from the pool")
	fs.IntVar(&opt.Bids, "bids", 20, "bids of the opening, every one scored by every member")
	fs.IntVar(&opt.Supervisors, "supervisors", 50, "supervisors watching the evaluation over the websocket")
	fs.IntVar(&opt.Rounds, "rounds", 40, "scoring rounds: the first sheets, then each round the chair sends every sheet back and every member re-signs")
	fs.DurationVar(&opt.Duration, "d", 0, "keep adding rounds until the scoring has run at least this long (0: -rounds only)")
	fs.DurationVar(&opt.Gap, "gap", 75*time.Millisecond, "least time between two commands of one member (the server takes at most 20 a second per connection)")
	fs.IntVar(&opt.Pool, "pool", 60, "experts in the pool (at least 3 × -members)")
	fs.DurationVar(&opt.Lead, "lead", 0, "the opening's deadline this long after its creation (0: estimated)")
	fs.DurationVar(&opt.Timeout, "timeout", 15*time.Minute, "the longest the whole run may take")
	fs.StringVar(&opt.DataBase, "data-base", "", "parent of the server's temporary data dir (default: the system temp dir)")
	fs.StringVar(&opt.Perf, "perf", "", "perf record the server (-F 997 -g) from the start of the evaluation to the platform's signature into this file")
	fs.Var(&env, "server-env", "KEY=VALUE for the server's environment, repeatable (GOGC=200, BIDROOM_...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case opt.Members < 5 || opt.Members > 25 || opt.Members%2 == 0:
		return errors.New("-members must be odd, 5 to 25 (R19)")
	case opt.Bids < 3 || opt.Bids > 500:
		return errors.New("-bids must be 3 to 500 (an opening needs 3, an evaluation scores at most 500)")
	case opt.Supervisors < 1 || opt.Supervisors > 10000:
		return errors.New("-supervisors must be 1 to 10000")
	case opt.Rounds < 1 || opt.Gap < 0 || opt.Duration < 0:
		return errors.New("-rounds must be positive, -gap and -d not negative")
	}
	opt.ServerEnv = env
	if !*quiet {
		opt.Progress = stderr
	}
	if _, err := loadtool.RaiseFDLimit(); err != nil {
		return err
	}
	cleanup, err := loadtool.BuildServer(ctx, serverBin, "evalload", stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	opt.Server = *serverBin

	if err := loadtool.AwaitQuiet(ctx, "evalload", *waitIdle, *idleBelow, stderr); err != nil {
		return err
	}
	rep := Report{Machine: loadtool.DescribeMachine(opt.Server, 0), Command: strings.Join(append([]string{"evalload"}, args...), " ")}
	res, err := runOnce(ctx, opt)
	rep.Result = res
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Result.Failures = append(rep.Result.Failures, "run failed: "+err.Error())
	}
	rep.Held = held(rep.Result)
	if err := loadtool.WriteReport(stdout, *asJSON, rep, func() { printReport(stdout, rep) }); err != nil {
		return err
	}
	if !rep.Held {
		return errors.New("the evaluation did not complete cleanly (see the failures)")
	}
	return nil
}

func printReport(w io.Writer, rep Report) {
	r := rep.Result
	fmt.Fprintln(w, rep.Machine.Line("evalload"))
	fmt.Fprintf(w, "evaluation: %d members (drawn from a pool of %d), %d bids (sheets of %d bytes), %d supervisors watching; %d scoring rounds\n\n",
		r.Members, r.Pool, r.Bids, r.SheetsBytes, r.Supervisors, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("the opening that made the bids (not measured)", fmt.Sprintf("%.1f s", r.OpeningSecs))
	row("setup: pool, evaluation, draw, start, websockets", fmt.Sprintf("%.2f s", r.SetupSecs))
	row("the whole evaluation: first command → platform's signature at every supervisor", fmt.Sprintf("%.2f s (%d commands)", r.EvalSecs, r.Commands))
	row("  declarations and chair → scoring opened", fmt.Sprintf("%.2f s", r.FormSecs))
	row("  scoring opened → last tally at every supervisor", fmt.Sprintf("%.2f s", r.ScoringSecs))
	row("  last tally → report completed at every supervisor", fmt.Sprintf("%.2f s", r.ReportSecs))
	row("  POST …/report → platform's signature at every supervisor", fmt.Sprintf("%.1f ms", r.PlatformMs))
	row("one return round (chair's first return → tally at every supervisor) p50 / max", fmt.Sprintf("%.0f / %.0f ms (%d rounds)", r.Round.P50Ms, r.Round.MaxMs, r.Round.Samples))
	tw.Flush()

	fmt.Fprintln(w, "\ncommand latency, send → ack (ms):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tn\tp50\tp95\tp99\tmax\t")
	lat := func(name string, l loadtool.Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.Samples, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
	for _, c := range r.ByType {
		lat(c.Command, c.Latency)
	}
	lat("fan-out: sent → event at a supervisor", r.FanOut)
	lat("fan-out: sent → event at the last supervisor", r.FanAll)
	lat("fan-out: sender's ack → event at the last supervisor", r.FanAfter)
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row = func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("server's command time (decide + durable append), mean / p99 bucket", fmt.Sprintf("%.2f ms / ≤ %.1f ms (%d commands)", r.Server.MeanMs, r.Server.P99LeMs, r.Server.Commands))
	row("lost frames", fmt.Sprintf("%d (gaps %d, short tails %d, dropped connections %d, fan-out missing %d; %d frames received; room head seq %d)",
		r.Lost, r.Gaps, r.ShortTail, r.Dropped, r.MissingFanOut, r.Events, r.HeadSeq))
	row("sent to the supervisors over the evaluation", fmt.Sprintf("%.1f MiB (%.0f KiB per command)", float64(r.SupBytes)/(1<<20), float64(r.SupBytes)/1024/float64(max(1, r.Commands))))
	row("refused commands (rate_limited) / slow disconnects", fmt.Sprintf("%d (%d) / %d", r.Refused, r.RateLimited, r.SlowDrops))
	row("server CPU over the evaluation (% of a core)", fmt.Sprintf("%.0f %% (%.2f ms per command; tool %.0f %%, other processes %.0f %%)", r.ServerCPU, r.CPUPerCommand, r.ToolCPU, r.OtherCPU))
	row("server RSS peak / at the end", fmt.Sprintf("%.1f / %.1f MiB", float64(r.ServerPeakRSS)/(1<<20), float64(r.ServerRSS)/(1<<20)))
	tw.Flush()

	fmt.Fprintln(w, "\nCPU by phase (% of one core; the machine has", rep.Machine.CPUs, "cores):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tseconds\tserver %\ttool %\tother %\t")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.0f\t%.0f\t\n", p.Name, p.Secs, p.ServerCPU, p.ToolCPU, p.OtherCPU)
	}
	tw.Flush()
	for _, f := range r.Failures {
		fmt.Fprintln(w, "failure:", f)
	}
	fmt.Fprintf(w, "\nheld: %v\ncommand: %s\n", rep.Held, rep.Command)
}
