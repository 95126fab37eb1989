// Command openload is Bidroom's opening load benchmark: one opening session
// on a fresh `bidroom serve`, run end to end the way it runs on the day.
//
// Setup: N bidders, each with an SM2 key registered with the session, seal
// (decrypt.Seal) and upload (bidclient, resumable upload) a bid before the
// deadline, a few at a time. Then every bidder, V viewers (supervisors,
// the staff projection: they see every event) and the host hold a
// websocket; the bidders sign in with their keys (the challenge exchange).
// The deadline fires on the server's clock; the scripted host starts the
// decryption as soon as the room is opened, and every bidder's client
// unlocks at once when its page shows the window open (GET the wrapped key,
// unwrap locally, send the data key encrypted to the platform key). The host
// closes the window early once all are unlocked, reads out, opens the
// confirmation, the bidders confirm by signing the read-out, the host
// closes it and asks for the opening record (when the server has
// POST /record).
//
// It measures setup time, deadline → decryption started, decryption
// started → all unlocked, deadline → read-out received by every client,
// delivery latency of every event to every client (event server time →
// receipt), lost events (gaps, tails short of the server's head for the
// client's projection, missing read_out or final event, dropped
// connections), unlock failures, and server and tool CPU per phase and the
// server's peak RSS.
//
//	go run ./bench/openload -bidders 200 -viewers 300 -bid-bytes 65536
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
		fmt.Fprintln(os.Stderr, "openload:", err)
		os.Exit(1)
	}
}

// Report is the -json output.
type Report struct {
	Machine loadtool.Machine `json:"machine"`
	Command string           `json:"command"`
	Result  Result           `json:"result"`
	Held    bool             `json:"held"` // every bid unlocked and confirmed, nothing lost, no failures
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openload", flag.ContinueOnError)
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
	fs.IntVar(&opt.Bidders, "bidders", 200, "registered bidders, each sealing, uploading, signing in, unlocking and confirming")
	fs.IntVar(&opt.Viewers, "viewers", 300, "supervisors watching the room over the websocket")
	fs.IntVar(&opt.BidBytes, "bid-bytes", 64<<10, "plaintext bytes of each bid")
	fs.DurationVar(&opt.Lead, "lead", 0, "deadline this long after the session is created (0: estimated from the sizes); setup must finish before it")
	fs.IntVar(&opt.Concurrency, "concurrency", 8, "bids sealed and uploaded at once (connects and sign-ins use a few times more)")
	fs.DurationVar(&opt.Timeout, "timeout", 10*time.Minute, "the longest the whole run may take")
	fs.StringVar(&opt.DataBase, "data-base", "", "parent of the server's temporary data dir (default: the system temp dir)")
	fs.Var(&env, "server-env", "KEY=VALUE for the server's environment, repeatable (GOGC=200, BIDROOM_...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opt.Bidders < 1 || opt.Viewers < 0 || opt.BidBytes < 1 {
		return errors.New("-bidders and -bid-bytes must be positive, -viewers not negative")
	}
	if opt.Bidders > 999 || opt.Viewers > 99999 {
		return errors.New("at most 999 bidders and 99999 viewers")
	}
	if int64(opt.BidBytes)*int64(opt.Concurrency) > 4<<30 {
		return errors.New("-bid-bytes × -concurrency over 4 GiB: each bid is sealed in memory before its upload")
	}
	opt.ServerEnv = env
	if !*quiet {
		opt.Progress = stderr
	}
	if _, err := loadtool.RaiseFDLimit(); err != nil {
		return err
	}
	cleanup, err := loadtool.BuildServer(ctx, serverBin, "openload", stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	opt.Server = *serverBin

	if err := loadtool.AwaitQuiet(ctx, "openload", *waitIdle, *idleBelow, stderr); err != nil {
		return err
	}
	rep := Report{Machine: loadtool.DescribeMachine(opt.Server, 0), Command: strings.Join(append([]string{"openload"}, args...), " ")}
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
		return errors.New("the opening did not complete cleanly (see the failures)")
	}
	return nil
}

// held says the run did everything the day needs: every bid unlocked,
// read out to everyone and confirmed, nothing lost, nothing failed.
func held(r Result) bool { return r.Held() }

func printReport(w io.Writer, rep Report) {
	r := rep.Result
	fmt.Fprintln(w, rep.Machine.Line("openload"))
	fmt.Fprintf(w, "opening: %d bidders (key sign-in, unlock, signed confirmation), %d viewers (%s), host; bids of %d bytes; record: %s\n\n",
		r.Bidders, r.Viewers, r.Viewer, r.BidBytes, r.Record)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("setup: keys, session, seal + upload every bid", fmt.Sprintf("%.1f s", r.SetupSecs))
	row("join: every websocket, every bidder signed in", fmt.Sprintf("%.1f s (%.1f s left before the deadline)", r.ConnectSecs, r.SlackSecs))
	row("deadline → opened (server timer)", fmt.Sprintf("%.3f s", r.OpenedSecs))
	row("deadline → decryption started", fmt.Sprintf("%.3f s", r.DecryptStart))
	row("decryption started → all unlocked", fmt.Sprintf("%.2f s (%d of %d; one bidder's unlock p50 %.0f ms, max %.0f ms)", r.UnlockSecs, r.Unlocked, r.Bidders, r.UnlockP50Ms, r.UnlockMaxMs))
	row("deadline → read-out received by every client", fmt.Sprintf("%.2f s", r.ReadOutSecs))
	row("confirmation started → all confirmed", fmt.Sprintf("%.2f s (%d of %d; one bidder's confirmation p50 %.0f ms, max %.0f ms)", r.ConfirmSecs, r.Confirmed, r.Bidders, r.ConfirmP50Ms, r.ConfirmMaxMs))
	row("deadline → last step received by every client", fmt.Sprintf("%.2f s", r.TotalSecs))
	row("state delivery latency p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms (%d deliveries)", r.Latency.P50Ms, r.Latency.P99Ms, r.Latency.MaxMs, r.Latency.Samples))
	row("lost events", fmt.Sprintf("%d (gaps %d, short tails %d, missing read_out/final %d, dropped connections %d; room head seq %d)", r.Lost, r.Gaps, r.ShortTail, r.MissingKey, r.Dropped, r.HeadSeq))
	row("failures: sign-in / unlock / confirm", fmt.Sprintf("%d / %d / %d", r.SignInFails, r.UnlockFails, r.ConfirmFails))
	row("server CPU over the run (% of a core)", fmt.Sprintf("%.0f %% (tool %.0f %%, other processes %.0f %%)", r.ServerCPU, r.ToolCPU, r.OtherCPU))
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
