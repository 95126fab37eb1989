// Command mediaload is Bidroom's media load benchmark: one WHIP publisher
// of real H.264 (Debian's ffmpeg/libx264, 720p30, 2 Mbit/s, 2 s GOP,
// PLI ignored) and N WHEP viewers (NACK, receiver reports and TWCC on),
// ICE over 127.0.0.1 only. For each N it starts a fresh `bidroom serve`
// on loopback and measures: server CPU, egress packets/s and packets/s per
// core of server CPU, server memory per viewer, frame delivery, latency
// (publisher send → viewer receipt of the frame's last packet) and, for
// viewers joining one by one during the window, the wait for their first
// frame.
//
//	go run ./bench/mediaload -n 100,200,300,500
//
// The test clip is made once with ffmpeg into the user cache directory.
// The load generator shares the machine with the server, so its figures
// are for one box running both; every phase is bounded in time and the
// server child is killed on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mediaload:", err)
		os.Exit(1)
	}
}

// Report is the -json output.
type Report struct {
	Machine   loadtool.Machine `json:"machine"`
	Command   string           `json:"command"`
	SharedMux bool             `json:"viewers_share_one_socket"`
	Results   []Result         `json:"results"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mediaload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cacheDefault := filepath.Join(os.TempDir(), "bidroom-mediaload")
	if d, err := os.UserCacheDir(); err == nil {
		cacheDefault = filepath.Join(d, "bidroom-mediaload")
	}
	var (
		opt       Options
		serverBin = fs.String("server", "", "bidroom binary (default: go build github.com/bidroom/bidroom/cmd/bidroom into a temp dir)")
		nList     = fs.String("n", "100,200,300,500", "viewers per run, a comma list for a sweep")
		asJSON    = fs.Bool("json", false, "print JSON instead of a table")
		socket    = fs.String("viewer-socket", "own", "viewers' ICE sockets: own (one UDP socket each) or shared (one ICE UDP mux for all; "+
			"only against a server with a port per connection: with one muxed server port every viewer would have the same 5-tuple)")
		cacheDir = fs.String("cache", cacheDefault, "where the test clip is made and kept")
		ffmpeg   = fs.String("ffmpeg", "ffmpeg", "ffmpeg with libx264")
		dataBase = fs.String("data-base", "", "parent of the server's temporary data dir (default: the system temp dir)")
		env      loadtool.ListFlag
	)
	fs.DurationVar(&opt.Duration, "d", 20*time.Second, "measure window")
	fs.DurationVar(&opt.Settle, "settle", 3*time.Second, "wait after the publisher starts and after the ramp")
	fs.IntVar(&opt.Ramp, "ramp", 20, "viewers connecting at once")
	fs.IntVar(&opt.LateJoiners, "late", 20, "viewers joining one by one during the window, for the first-frame wait")
	fs.DurationVar(&opt.KeyTimeout, "key-timeout", 15*time.Second, "longest a viewer may wait for its first keyframe")
	fs.Float64Var(&opt.ServerCPU, "server-cpu", 0, "overload run: cap the server at this many cores (0.2 = a fifth of one) after the ramp, with a CPU cgroup (needs root)")
	fs.Var(&env, "server-env", "KEY=VALUE for the server's environment, repeatable (GOGC=200, GOMAXPROCS=1, BIDROOM_...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ns, err := parseNs(*nList)
	if err != nil {
		return err
	}
	switch *socket {
	case "shared":
		opt.SharedMux = true
	case "own":
	default:
		return fmt.Errorf("-viewer-socket must be shared or own, got %q", *socket)
	}
	if opt.Duration < 2*time.Second || opt.Ramp < 1 || opt.LateJoiners < 0 || opt.KeyTimeout <= 0 || opt.ServerCPU < 0 {
		return errors.New("-d must be at least 2s, -ramp at least 1, -late not negative, -key-timeout positive, -server-cpu not negative")
	}
	if _, err := loadtool.RaiseFDLimit(); err != nil { // every viewer holds sockets
		return err
	}

	clipPath, err := ensureClip(ctx, *ffmpeg, *cacheDir, defaultClip)
	if err != nil {
		return err
	}
	opt.Frames, err = loadClip(clipPath)
	if err != nil {
		return err
	}
	opt.FPS = defaultClip.FPS
	opt.Progress = stderr

	cleanup, err := loadtool.BuildServer(ctx, serverBin, "mediaload", stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	rep := Report{Machine: loadtool.DescribeMachine(*serverBin, 0), Command: commandLine(), SharedMux: opt.SharedMux}
	fmt.Fprintf(stderr, "mediaload: %s; clip %s, %d frames\n", rep.Machine.Line("mediaload"), clipPath, len(opt.Frames))
	srvCfg := loadtool.Config{Binary: *serverBin, Name: "mediaload", Env: env, DataBase: *dataBase}
	for _, n := range ns {
		opt.N = n
		res, err := runOnce(ctx, opt, srvCfg)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errNoMedia) {
				return err
			}
			res.Failures = append(res.Failures, "run failed: "+err.Error())
			fmt.Fprintf(stderr, "mediaload: N=%d failed: %v\n", n, err)
		}
		rep.Results = append(rep.Results, res)
	}
	return loadtool.WriteReport(stdout, *asJSON, rep, func() { printTable(stdout, rep, opt) })
}

// runOnce starts a server, prepares the room and tokens, and measures N.
func runOnce(ctx context.Context, opt Options, cfg loadtool.Config) (Result, error) {
	media, udpPort, err := mediaEnv()
	if err != nil {
		return Result{N: opt.N}, err
	}
	cfg.Env = append(media, cfg.Env...) // the user's -server-env wins
	srv, err := loadtool.Start(ctx, cfg)
	if err != nil {
		return Result{N: opt.N}, err
	}
	defer srv.Stop()
	r := loadtool.NewREST(srv)
	defer r.Close()
	room, err := createSession(ctx, r)
	if err != nil {
		return Result{N: opt.N}, err
	}
	pub, err := r.MintToken(ctx, room, "host", "mediaload-host", "publish")
	if err != nil {
		return Result{N: opt.N}, fmt.Errorf("mint the publisher's token: %w", err)
	}
	subs := make([]string, opt.N+opt.LateJoiners)
	for i := range subs {
		subs[i] = fmt.Sprintf("viewer-%05d", i)
	}
	views, err := r.MintTokens(ctx, room, "supervisor", subs, "view")
	if err != nil {
		return Result{N: opt.N}, err
	}
	res, err := measure(ctx, opt, target{
		base: srv.Base, room: room, pubToken: pub, viewerTokens: views,
		pid: srv.PID(), scrape: srv.Scrape, udpPort: udpPort,
	})
	if aerr := srv.Alive(); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return res, err
}

func parseNs(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-n wants positive viewer counts separated by commas, got %q", s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func commandLine() string {
	return strings.Join(append([]string{"mediaload"}, os.Args[1:]...), " ")
}

func printTable(w io.Writer, rep Report, opt Options) {
	fmt.Fprintln(w, rep.Machine.Line("mediaload"))
	sock := "one socket each"
	if rep.SharedMux {
		sock = "one shared UDP mux"
	}
	fmt.Fprintf(w, "publisher: H.264 720p30 2 Mbit/s, 2 s GOP, PLI ignored; viewers: NACK/RR/TWCC, PLI while no keyframe, %s; window %v, %d late joiners\n\n",
		sock, opt.Duration, opt.LateJoiners)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tviewers\tsrv CPU %\tegress pkt/s\tpkt/s per core\tRSS before MiB\tRSS with N MiB\tMiB/viewer\tdelivery %\tlat p50 ms\tlat p99 ms\tlate p50 s\tlate p95 s\tfrom conn p50 s\ttool CPU %\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.0f\t\n",
			r.N, r.Viewers, r.ServerCPU, r.EgressPktsPerSec, r.PktsPerCore, r.RSSBeforeMiB, r.RSSWithMiB, r.MiBPerViewer,
			r.Delivery, r.Latency.P50, r.Latency.P99, r.LateJoin.P50, r.LateJoin.P95, r.LateConn.P50, r.ToolCPU)
	}
	tw.Flush()
	fmt.Fprintln(w, "egress pkt/s: RTP packets the viewers read (retransmissions included); per core: ÷ server CPU in cores.\n"+
		"latency: publisher send → receipt of a frame's last packet; late: WHEP POST (or connected) → first complete keyframe.\n"+
		"bar (MediaMTX): ~100-120k pkt/s per core, 4.3 MiB/viewer, late first frame p50 1.0 s, p95 2.0 s.")
	for _, r := range rep.Results {
		if r.MetricsPktsPerS > 0 {
			fmt.Fprintf(w, "N=%d: server /metrics says %.0f pkt/s sent\n", r.N, r.MetricsPktsPerS)
		}
		if l := r.Loss; l != (LossCounters{}) {
			fmt.Fprintf(w, "N=%d: loss: server skipped %.0f viewers ahead, %.0f send errors, %d drops at its socket; "+
				"%d drops at viewer sockets; %.0f NACKed, %.0f resent\n",
				r.N, l.ServerSkips, l.ServerSendErrors, l.ServerSockDrops, l.ViewerSockDrops, l.ServerNACKs, l.ServerRetrans)
		}
		if r.LateAsked > 0 {
			fmt.Fprintf(w, "N=%d: %d late joiners missed the start of their fast-start burst and asked for a keyframe (PLI)\n", r.N, r.LateAsked)
		}
		if r.FramesRewritten > 0 {
			fmt.Fprintf(w, "N=%d: %d frames had timestamps the publisher never sent (rewritten): counted, no latency\n", r.N, r.FramesRewritten)
		}
		for _, f := range r.Failures {
			fmt.Fprintf(w, "N=%d: %s\n", r.N, f)
		}
	}
	fmt.Fprintf(w, "command: %s\n", rep.Command)
}
