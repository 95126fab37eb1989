package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bidroom/bidroom/internal/redistest"
	"go.uber.org/goleak"
)

// TestRunOnce runs the benchmark's core against a real server: 50 clients,
// 2 s of announcements, a reconnect storm. Every event must arrive, no
// connection may drop, and every client must resume without a gap: with
// the defaults for either role, and with each option that measures as an
// outside client would (announcements by REST, every frame decoded whole)
// or on two instances sharing one Redis. The default reader is epoll
// (also blocking in epoll_wait, and answering the server's pings every
// 100 ms); the conn reader runs too.
func TestRunOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := buildServer(t)
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"supervisor", Options{Role: "supervisor"}},
		{"bidder", Options{Role: "bidder"}},
		{"bidder-announce-rest", Options{Role: "bidder", Announce: "rest"}},
		{"bidder-decode-full", Options{Role: "bidder", Decode: "full"}},
		{"supervisor-decode-full", Options{Role: "supervisor", Decode: "full"}},
		{"bidder-decode-goccy", Options{Role: "bidder", Decode: "goccy"}},
		{"bidder-redis-2-instances", Options{Role: "bidder", Store: "redis", Instances: 2}},
		{"supervisor-poll-block", Options{Role: "supervisor", Poll: pollBlock}},
		{"supervisor-pings", Options{Role: "supervisor", ServerEnv: []string{"BIDROOM_SIGNALING_PING_INTERVAL=100ms", "BIDROOM_SIGNALING_PONG_TIMEOUT=1s"}}},
		{"supervisor-conn", Options{Role: "supervisor", Reader: "conn"}},
		{"bidder-decode-full-conn", Options{Role: "bidder", Decode: "full", Reader: "conn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			var keep []goleak.Option
			if opt.Store == "redis" {
				opt.RedisURL, opt.RedisPrefix = redistest.Start(t), redistest.Prefix(t)
				keep = append(keep, goleak.IgnoreCurrent()) // redistest's, stopped by its cleanup after this check
			}
			defer goleak.VerifyNone(t, keep...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const n = 50
			opt.Server, opt.N, opt.Duration, opt.Interval = bin, n, 2*time.Second, 100*time.Millisecond
			opt.Batch, opt.BatchPause, opt.Settle = 20, 10*time.Millisecond, 100*time.Millisecond
			opt.StormTimeout, opt.StormTail = 15*time.Second, 300*time.Millisecond
			start := time.Now()
			res, err := runOnce(ctx, opt)
			if err != nil {
				t.Fatalf("runOnce: %v", err)
			}
			t.Logf("run took %.1fs", time.Since(start).Seconds())
			if !res.Held {
				t.Errorf("held = false, failures %q, client errors %q", res.Failures, res.Errors)
			}
			if res.Connected != n {
				t.Errorf("connected %d, want %d", res.Connected, n)
			}
			for _, e := range res.Errors {
				if strings.Contains(e, "undecodable") || strings.Contains(e, "refused") || strings.Contains(e, "unexpected answer") {
					t.Errorf("client error: %s", e)
				}
			}
			b := res.Broadcast
			// The announcer's pace depends on a shared CI box's load; the
			// point is that every announcement it made reached everyone.
			if b.Announcements < 3 {
				t.Errorf("announcements %d, want at least 3 in 2s", b.Announcements)
			}
			if b.Received != b.Expected || b.Lost != 0 || b.PosGaps != 0 {
				t.Errorf("broadcast received %d of %d, lost %d, pos gaps %d; want all, 0, 0", b.Received, b.Expected, b.Lost, b.PosGaps)
			}
			if b.CommandMeanMs <= 0 {
				t.Errorf("server command time %.3f ms: the server's bidroom_command_seconds did not count the host's commands", b.CommandMeanMs)
			}
			if b.Drops != 0 {
				t.Errorf("%d connections dropped unasked, want 0 (client errors %q)", b.Drops, res.Errors)
			}
			if b.Latency.Samples != b.Expected {
				t.Errorf("latency samples %d, want %d", b.Latency.Samples, b.Expected)
			}
			if b.AckLatency.Samples != b.Announcements {
				t.Errorf("ack latency samples %d, want one per announcement (%d)", b.AckLatency.Samples, b.Announcements)
			}
			s := res.Storm
			if !s.Completed || s.CaughtUp != n {
				t.Errorf("storm: completed %v, caught up %d; want true, %d", s.Completed, s.CaughtUp, n)
			}
			if s.Snapshots != 0 {
				t.Errorf("storm: %d snapshot fallbacks, want 0 (all resume)", s.Snapshots)
			}
			if s.Lost != 0 || s.PosGaps != 0 || s.Announcements <= b.Announcements {
				t.Errorf("storm: lost %d, pos gaps %d, announcements %d (broadcast had %d); want 0, 0, more",
					s.Lost, s.PosGaps, s.Announcements, b.Announcements)
			}
			if res.Memory.RSSAfter <= res.Memory.RSSBefore/2 || res.Memory.HeapStackAfter == 0 {
				t.Errorf("memory readings look wrong: %+v", res.Memory)
			}
			if opt.Instances <= 1 {
				if res.Servers != nil {
					t.Errorf("per-server results %+v with one server, want none", res.Servers)
				}
				return
			}
			if len(res.Servers) != opt.Instances {
				t.Fatalf("%d per-server results, want %d", len(res.Servers), opt.Instances)
			}
			var rss uint64
			for i, sv := range res.Servers {
				if sv.Viewers != n/opt.Instances {
					t.Errorf("server %d: %d clients, want %d", i, sv.Viewers, n/opt.Instances)
				}
				if sv.RSSAfter == 0 || sv.HeapStackAfter == 0 || sv.RSSPeak == 0 {
					t.Errorf("server %d: memory readings look wrong: %+v", i, sv)
				}
				// Each server writes every announcement to its own clients.
				if min := float64(sv.Viewers) * float64(b.Announcements) / b.Seconds; sv.FramesPerSec < min/2 {
					t.Errorf("server %d: %.0f frames/s, want about %.0f (its clients × announcements / s)", i, sv.FramesPerSec, min)
				}
				rss += sv.RSSAfter
			}
			if rss != res.Memory.RSSAfter {
				t.Errorf("summed RSS %d, servers' %d", res.Memory.RSSAfter, rss)
			}
		})
	}
}

// TestOptionErrors: options that cannot run are refused before anything
// is built or started.
func TestOptionErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-announce", "grpc"},
		{"-decode", "slow"},
		{"-store", "postgres"},
		{"-instances", "2"}, // embedded store
		{"-instances", "0"},
		{"-reader", "select"},
		{"-poll", "-1ms"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), args, io.Discard, &stderr)
		if err == nil {
			t.Errorf("run %q: no error", args)
			continue
		}
		if want := strings.TrimLeft(args[0], "-"); !strings.Contains(err.Error(), want) {
			t.Errorf("run %q: error %q does not name %s", args, err, want)
		}
	}
}

// TestTableHeader: the defaults print the header they always did; each
// option says how the figures were measured.
func TestTableHeader(t *testing.T) {
	opt := Options{Role: "supervisor", Duration: 20 * time.Second, Interval: 100 * time.Millisecond, P99Limit: 100 * time.Millisecond}.withDefaults()
	header := func(opt Options) string {
		var b strings.Builder
		printTable(&b, Report{Role: opt.Role}, opt)
		line, _, _ := strings.Cut(strings.SplitN(b.String(), "\n", 3)[1], "\n")
		return line
	}
	if got, want := header(opt), "clients: role supervisor, one room, one server; broadcast 20s every 100ms; p99 limit 100ms; send queue server default; "+
		"reader epoll (idle pollers sleep 1ms)"; got != want {
		t.Errorf("default header\n got %q\nwant %q", got, want)
	}
	opt.Poll = pollBlock
	if got, want := header(opt), "reader epoll (pollers block in epoll_wait)"; !strings.HasSuffix(got, want) {
		t.Errorf("header %q does not end in %q", got, want)
	}
	opt.Announce, opt.Decode, opt.Store, opt.Instances, opt.Reader = "rest", "full", "redis", 2, "conn"
	got := header(opt)
	for _, want := range []string{"2 servers on one Redis", "by POST /api/v1/sessions/{room}/commands", "every frame JSON-decoded", "reader conn (a goroutine per client)"} {
		if !strings.Contains(got, want) {
			t.Errorf("header %q does not say %q", got, want)
		}
	}
}

func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bidroom")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput()
	if err != nil {
		t.Fatalf("go build the server: %v\n%s", err, out)
	}
	return bin
}

func TestParseAnnText(t *testing.T) {
	tests := []struct {
		in   string
		idx  uint64
		sent int64
		ok   bool
	}{
		{`12:1700000000123456789"}`, 12, 1700000000123456789, true},
		{`1:5`, 1, 5, true},
		{`12`, 0, 0, false},
		{`:5`, 0, 0, false},
		{`7:`, 0, 0, false},
		{`hello`, 0, 0, false},
	}
	for _, tt := range tests {
		idx, sent, ok := parseAnnText([]byte(tt.in))
		if idx != tt.idx || sent != tt.sent || ok != tt.ok {
			t.Errorf("parseAnnText(%q) = %d, %d, %v; want %d, %d, %v", tt.in, idx, sent, ok, tt.idx, tt.sent, tt.ok)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond / 10) // 0.1 .. 100 ms
	}
	s := h.summary()
	if s.Samples != 1000 {
		t.Errorf("samples %d, want 1000", s.Samples)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50Ms, 50}, {"p99", s.P99Ms, 99}, {"max", s.MaxMs, 100}} {
		if c.got < c.want || c.got > c.want+0.2 {
			t.Errorf("%s = %.2f ms, want %.1f..%.1f", c.name, c.got, c.want, c.want+0.2)
		}
	}
}

func TestViewerEventParsing(t *testing.T) {
	for _, decode := range []string{"fast", "full", "goccy"} {
		t.Run(decode, func(t *testing.T) {
			full := decode != "fast"
			r := &runner{fullDecode: full, unmarshal: decoder(decode)}
			r.phase2Last.Store(^uint64(0))
			r.host = &host{}
			v := &viewer{r: r}
			handle := v.handle
			if full {
				handle = v.handleFull
			}
			sent := time.Now().Add(-5 * time.Millisecond)
			staff := `{"v":1,"type":"event","pos":3,"event":{"room":"r","seq":3,"time":"2026-12-06T10:00:00.123456789Z","actor":{"sub":"h","role":"host"},` +
				`"type":"announcement","cmd":"a-1","vis":{},"data":{"text":"` + annText(1, sent) + `"},"prev":"x","hash":"y"}}`
			v.pos.Store(2)
			handle([]byte(staff), time.Now(), false)
			public := `{"v":1,"type":"event","pos":5,"event":{"type":"announcement","time":"2026-12-06T10:00:00Z","actor":{"sub":"h","role":"host"},"data":{"text":"` + annText(2, sent) + `"}}}`
			handle([]byte(public), time.Now(), false)
			other := `{"v":1,"type":"event","pos":6,"event":{"type":"presence","time":"2026-12-06T10:00:00Z","actor":{"sub":"system","role":"system"},"data":{"text":7}}}`
			handle([]byte(other), time.Now(), false)
			dupe := `{"v":1,"type":"event","pos":6,"event":{"type":"announcement","time":"2026-12-06T10:00:00Z","actor":{"sub":"h","role":"host"},"data":{"text":"` + annText(3, sent) + `"}}}`
			handle([]byte(dupe), time.Now(), false)
			if got := v.pos.Load(); got != 6 {
				t.Errorf("pos %d, want 6", got)
			}
			if v.annRecv.Load() != 2 || v.lastAnn.Load() != 2 || v.annGaps.Load() != 0 {
				t.Errorf("announcements recv %d last %d gaps %d; want 2, 2, 0", v.annRecv.Load(), v.lastAnn.Load(), v.annGaps.Load())
			}
			if v.posGaps.Load() != 1 || v.dupes.Load() != 1 {
				t.Errorf("pos gaps %d, dupes %d; want 1 (3 -> 5), 1 (6 again)", v.posGaps.Load(), v.dupes.Load())
			}
			if v.errFrames.Load() != 0 {
				t.Errorf("%d frames not understood, want 0 (errors %q)", v.errFrames.Load(), r.errs)
			}
			if l := r.steady.summary(); l.Samples != 2 || l.P50Ms < 5 {
				t.Errorf("latency samples %d p50 %.1f ms, want 2 samples of at least 5 ms", l.Samples, l.P50Ms)
			}
			// A snapshot (a reconnect's: the viewer had joined) and a resume
			// go through the same handling either way.
			v.joinedAny.Store(true)
			handle([]byte(`{"v":1,"type":"snapshot","pos":9,"kind":"opening","state":{"announcements":[{"text":"`+annText(4, sent)+`"}]}}`), time.Now(), false)
			if v.pos.Load() != 9 || v.lastAnn.Load() != 4 || v.snapSkip.Load() != 2 || v.snapshots.Load() != 1 {
				t.Errorf("after a snapshot: pos %d, last announcement %d, skipped %d, snapshots %d; want 9, 4, 2, 1",
					v.pos.Load(), v.lastAnn.Load(), v.snapSkip.Load(), v.snapshots.Load())
			}
			handle([]byte(`{"v":1,"type":"resumed","pos":9}`), time.Now(), false)
			if v.resumes.Load() != 1 || r.errsAll.Load() != 0 {
				t.Errorf("resumes %d, errors %q; want 1, none", v.resumes.Load(), r.errs)
			}
			handle([]byte(`{"v":1,"type":"event","pos":`), time.Now(), false)
			if v.errFrames.Load() != 1 {
				t.Errorf("a truncated frame: %d frames not understood, want 1", v.errFrames.Load())
			}
		})
	}
}

// TestRESTAnnouncePacing: with -announce rest the host POSTs one command
// at a time, one per interval; a slow answer delays the next send (counted
// as late) instead of letting sends overlap or pile up; a refusal is a
// command error and the others are acked by their answers.
func TestRESTAnnouncePacing(t *testing.T) {
	defer goleak.VerifyNone(t)
	const interval = 20 * time.Millisecond
	var inflight, overlaps, calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if inflight.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inflight.Add(-1)
		var cmd struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		if err := json.NewDecoder(req.Body).Decode(&cmd); err != nil || cmd.Type != "announce" ||
			req.URL.Path != "/api/v1/sessions/r/commands" || req.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("request %s %s %q: %+v (%v)", req.Method, req.URL.Path, req.Header.Get("Authorization"), cmd, err)
		}
		if _, _, ok := parseAnnText([]byte(cmd.Data.Text)); !ok {
			t.Errorf("announcement text %q", cmd.Data.Text)
		}
		switch calls.Add(1) {
		case 2:
			time.Sleep(4 * interval)
		case 4:
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","message":"only the host"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": cmd.ID, "duplicate": false})
	}))
	defer srv.Close()

	r := &runner{opt: Options{Interval: interval}}
	r.host = &host{rest: newRESTClient(), url: srv.URL + "/api/v1/sessions/r/commands", token: "tok"}
	defer r.host.close()
	stop := make(chan struct{})
	timer := time.AfterFunc(400*time.Millisecond, func() { close(stop) })
	defer timer.Stop()
	if err := r.announce(context.Background(), stop); err != nil {
		t.Fatalf("announce: %v", err)
	}
	h := r.host
	sent := h.sent.Load()
	if overlaps.Load() != 0 || uint64(calls.Load()) != sent {
		t.Errorf("%d overlapping POSTs, %d POSTs for %d announcements; want 0, one each", overlaps.Load(), calls.Load(), sent)
	}
	// 400 ms at 20 ms, less the 80 ms the slow answer held the sender.
	if sent < 8 || sent > 400/20+1 {
		t.Errorf("%d announcements in 400 ms at one per 20 ms", sent)
	}
	if h.late.Load() < 1 {
		t.Errorf("late sends %d, want the one after the slow answer counted", h.late.Load())
	}
	if h.errors.Load() != 1 || h.acked.Load() != sent || h.ackLat.count.Load() != sent-1 {
		t.Errorf("errors %d, acked %d, ack latencies %d; want 1, %d, %d", h.errors.Load(), h.acked.Load(), h.ackLat.count.Load(), sent, sent-1)
	}
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "a-4 refused: HTTP 403 forbidden: only the host") {
		t.Errorf("client errors %q, want the refusal of a-4", r.errs)
	}
}

// TestSummarize: -runs groups each N's runs in the order the Ns ran, with
// every run's p99, how many held and the median; the sweep's held N is
// the largest that held in every run.
func TestSummarize(t *testing.T) {
	res := func(n int, p99 float64, held bool) Result {
		r := Result{N: n, Held: held}
		r.Broadcast.Latency.P99Ms = p99
		return r
	}
	results := []Result{
		res(5000, 60, true), res(10000, 112, false),
		res(5000, 70, true), res(10000, 88, true),
		res(5000, 65, true), res(10000, 95, true),
	}
	sum := summarize(results)
	if len(sum) != 2 || sum[0].N != 5000 || sum[1].N != 10000 {
		t.Fatalf("summary %+v, want N=5000 then N=10000", sum)
	}
	if s := sum[0]; s.Runs != 3 || s.Held != 3 || s.Median != 65 || !slices.Equal(s.P99Ms, []float64{60, 70, 65}) {
		t.Errorf("N=5000: %+v", s)
	}
	if s := sum[1]; s.Runs != 3 || s.Held != 2 || s.Median != 95 {
		t.Errorf("N=10000: %+v", s)
	}
	if got := largestHeldEveryRun(sum); got != 5000 {
		t.Errorf("held N = %d, want 5000 (10000 held in 2 of 3)", got)
	}
	if got := summarize(results[:4])[1].Median; got != 100 {
		t.Errorf("median of two runs = %v, want their mean 100", got)
	}
}

// TestLoopbackProbe runs the probe small: every frame is counted and the
// figure is a plausible time (a microsecond to a millisecond a frame).
func TestLoopbackProbe(t *testing.T) {
	pr, err := loopbackProbe(t.Context(), 2000, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loopback probe: %.2f µs a frame over %d connections", pr.UsPerFrame, pr.Pairs)
	if pr.Pairs != 2000 || pr.Frames != 10000 || pr.UsPerFrame < 1 || pr.UsPerFrame > 1000 {
		t.Errorf("probe = %+v; want 2000 pairs, 10000 frames, 1-1000 µs a frame", pr)
	}
}
