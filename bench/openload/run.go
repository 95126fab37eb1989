package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/bidclient"
	"github.com/bidroom/bidroom/decrypt"
)

// Options are one run's settings.
type Options struct {
	Server      string        // bidroom binary
	Bidders     int           // registered bidders, each with a key and a sealed bid
	Viewers     int           // supervisors watching the room
	BidBytes    int           // plaintext bytes of each bid
	Lead        time.Duration // deadline after the session is created; 0: estimated from the sizes
	Concurrency int           // seal+upload, connects and sign-ins at once
	Timeout     time.Duration // the whole run
	ServerEnv   []string
	DataBase    string
	Progress    io.Writer
}

// Result is what one run measured. Times from the deadline are on the
// server's clock where the server stamped them (its events), else on
// this machine's (receipts; the same clock).
type Result struct {
	Bidders  int    `json:"bidders"`
	Viewers  int    `json:"viewers"`
	Viewer   string `json:"viewer_role"`
	BidBytes int    `json:"bid_bytes"`
	Record   string `json:"record"` // what happened to the opening record step

	SetupSecs     float64 `json:"setup_s"`       // start → every bid sealed and uploaded
	ConnectSecs   float64 `json:"connect_s"`     // → every websocket joined and every bidder signed in
	SlackSecs     float64 `json:"slack_s"`       // time left before the deadline when ready
	OpenedSecs    float64 `json:"opened_s"`      // deadline → opened event (the timer)
	DecryptStart  float64 `json:"decrypt_start"` // deadline → decryption_started
	UnlockSecs    float64 `json:"unlock_s"`      // decryption_started → last bid_opened (server times)
	UnlockP50Ms   float64 `json:"unlock_p50_ms"` // one bidder: decryption_started received → its unlock answered
	UnlockMaxMs   float64 `json:"unlock_max_ms"`
	ReadOutSecs   float64 `json:"read_out_s"`     // deadline → read_out received by every client
	ConfirmSecs   float64 `json:"confirm_s"`      // confirmation_started → last confirmed (server times)
	ConfirmP50Ms  float64 `json:"confirm_p50_ms"` // one bidder: confirmation_started received → its confirmation answered
	ConfirmMaxMs  float64 `json:"confirm_max_ms"`
	TotalSecs     float64 `json:"total_s"`  // deadline → the last step (record, or confirmation closed) received by every client
	Unlocked      int     `json:"unlocked"` // bids opened (bid_opened events seen by the host)
	UnlockFails   int     `json:"unlock_failures"`
	Confirmed     int     `json:"confirmed"`
	ConfirmFails  int     `json:"confirm_failures"`
	SignInFails   int     `json:"sign_in_failures"`
	Latency       Latency `json:"latency"` // every event to every client, the whole run
	Events        uint64  `json:"events"`  // event frames received, all clients
	Lost          uint64  `json:"lost"`    // gaps + tails short of the head + missing read_out/final events + dropped connections
	Gaps          uint64  `json:"gaps"`
	ShortTail     uint64  `json:"short_tail"`
	MissingKey    int     `json:"missing_key_events"`
	Dropped       int     `json:"dropped_connections"`
	HeadSeq       uint64  `json:"head_seq"` // the room's last sequence number at the end
	ServerCPU     float64 `json:"server_cpu"`
	ToolCPU       float64 `json:"tool_cpu"`
	OtherCPU      float64 `json:"other_cpu"`
	ServerPeakRSS uint64  `json:"server_peak_rss"`
	ServerRSS     uint64  `json:"server_rss_end"`
	Phases        []Phase `json:"phases"`

	Failures []string `json:"failures,omitempty"`
}

// Phase is the CPU of one stretch of the run, in % of one core.
type Phase struct {
	Name      string  `json:"name"`
	Secs      float64 `json:"s"`
	ServerCPU float64 `json:"server_cpu"`
	ToolCPU   float64 `json:"tool_cpu"`
	OtherCPU  float64 `json:"other_cpu"`
}

// Latency summarizes delivery latencies.
type Latency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	q := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	return Latency{Samples: len(d), P50Ms: q(0.50), P99Ms: q(0.99), MaxMs: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mark is a point of the run with the CPU counters at it.
type mark struct {
	name             string
	at               time.Time
	srv, tool, total time.Duration
}

// bidder is one scripted bidder: key, REST client and websocket.
type bidder struct {
	id      string
	key     *decrypt.PrivateKey
	client  *bidclient.Client
	w       *watcher
	unlock  time.Duration // decryption_started received → unlock answered
	confirm time.Duration // confirmation_started received → confirmation answered
}

// runner holds one run's state.
type runner struct {
	opt     Options
	srv     *loadtool.Server
	rest    *loadtool.REST
	room    string
	marks   []mark
	errMu   sync.Mutex
	errs    []string
	nErrs   atomic.Int64
	unlockF atomic.Int64
	confF   atomic.Int64
	signF   atomic.Int64
}

func (r *runner) note(err error) {
	r.nErrs.Add(1)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, err.Error())
	}
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, "openload: "+format+"\n", args...)
	}
}

func (r *runner) mark(name string) {
	srv, _ := loadtool.ProcCPU(r.srv.PID())
	r.marks = append(r.marks, mark{name: name, at: time.Now(), srv: srv, tool: loadtool.SelfCPU(), total: loadtool.MachineBusy()})
}

// estimateLead is how far ahead the deadline is set when -lead is not
// given: key generation, sealing and uploading every bid, connecting every
// client and signing the bidders in, with room to spare on a busy box.
func estimateLead(o Options) time.Duration {
	perBid := 30*time.Millisecond + time.Duration(float64(o.BidBytes)/10e6*float64(time.Second)) // seal at ~50 MB/s, upload, SM2
	return 10*time.Second + time.Duration(o.Bidders)*perBid + time.Duration(o.Bidders+o.Viewers)*10*time.Millisecond
}

// runOnce starts a server and runs one opening end to end.
func runOnce(ctx context.Context, opt Options) (res Result, err error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Minute
	}
	if opt.Lead <= 0 {
		opt.Lead = estimateLead(opt)
	}
	res = Result{Bidders: opt.Bidders, Viewers: opt.Viewers, Viewer: "supervisor", BidBytes: opt.BidBytes}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	srv, err := loadtool.Start(ctx, loadtool.Config{Binary: opt.Server, Name: "openload", Env: opt.ServerEnv, DataBase: opt.DataBase})
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	r := &runner{opt: opt, srv: srv, rest: loadtool.NewREST(srv)}
	defer r.rest.Close()
	r.mark("start")
	err = r.opening(ctx, &res)
	res.Failures = append(res.Failures, r.errs...)
	if n := r.nErrs.Load(); n > int64(len(r.errs)) {
		res.Failures = append(res.Failures, fmt.Sprintf("… %d more errors", n-int64(len(r.errs))))
	}
	if alive := srv.Alive(); alive != nil {
		err = errors.Join(err, alive)
	}
	return res, err
}

// opening is the run proper: setup, the opening, and the checks.
func (r *runner) opening(ctx context.Context, res *Result) error {
	opt := r.opt
	t0 := time.Now()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opt.Bidders + 16, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()

	// Keys and the session, with every bidder registered with their key.
	bidders := make([]*bidder, opt.Bidders)
	specs := make([]map[string]string, opt.Bidders)
	for i := range bidders {
		k, err := decrypt.GenerateKey()
		if err != nil {
			return err
		}
		pub, err := k.Public().MarshalPEM()
		if err != nil {
			return err
		}
		id := fmt.Sprintf("B%03d", i+1)
		bidders[i] = &bidder{id: id, key: k}
		specs[i] = map[string]string{"id": id, "name": "投标人" + id + "建设工程有限公司", "public_key": string(pub)}
	}
	now := time.Now().UTC()
	r.room = "openload-" + strconv.FormatInt(now.UnixNano(), 36)
	deadline := now.Add(opt.Lead).Truncate(time.Millisecond)
	req := map[string]any{
		"id": r.room, "title": "openload benchmark", "section": r.room, "category": "construction",
		"deadline": deadline, "check_in_at": now, "control_price": "12800000.00", "budget": "11000000.00",
		"bidders": specs,
		"read_out_fields": []map[string]string{{"key": "price", "label": "投标报价（元）"}, {"key": "duration", "label": "工期"},
			{"key": "quality", "label": "质量"}, {"key": "project_manager", "label": "项目经理"}},
	}
	if err := r.rest.Call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	subs := func(prefix string, n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("%s%03d", prefix, i+1)
		}
		return s
	}
	bidderIDs := make([]string, len(bidders))
	for i, b := range bidders {
		bidderIDs[i] = b.id
	}
	bTokens, err := r.rest.MintTokens(ctx, r.room, "bidder", bidderIDs)
	if err != nil {
		return err
	}
	vTokens, err := r.rest.MintTokens(ctx, r.room, "supervisor", subs("V", opt.Viewers))
	if err != nil {
		return err
	}
	hostToken, err := r.rest.MintToken(ctx, r.room, "host", "host-1")
	if err != nil {
		return err
	}
	for i, b := range bidders {
		b.client = &bidclient.Client{Server: r.srv.Base, Session: r.room, Token: bTokens[i], HTTP: hc}
	}

	// Seal and upload every bid, a few at a time, as the bidders would
	// before the deadline.
	plain := make([]byte, opt.BidBytes)
	_, _ = rand.Read(plain)
	if err := forEach(ctx, len(bidders), opt.Concurrency, func(i int) error {
		b := bidders[i]
		var sealed bytes.Buffer
		_, err := decrypt.Seal(&sealed, bytes.NewReader(plain), decrypt.SealOptions{
			SessionID: r.room, BidderID: b.id, Size: int64(len(plain)), Signer: b.key,
			Sheet: decrypt.Sheet{Price: fmt.Sprintf("%d.00", 10_500_000+i*1_000), Duration: "365日历天", Quality: "合格", ProjectManager: "项目经理" + b.id},
		})
		if err != nil {
			return fmt.Errorf("seal %s: %w", b.id, err)
		}
		uctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := b.client.Upload(uctx, bytes.NewReader(sealed.Bytes()), int64(sealed.Len()), nil); err != nil {
			return fmt.Errorf("upload %s: %w", b.id, err)
		}
		return nil
	}); err != nil {
		return err
	}
	res.SetupSecs = time.Since(t0).Seconds()
	r.mark("uploaded")
	r.logf("%d bids sealed and uploaded in %.1fs; the deadline is in %.1fs", len(bidders), res.SetupSecs, time.Until(deadline).Seconds())

	// Every participant joins the room; the bidders sign in with their keys.
	d := newDialer()
	host := newWatcher("host-1", "host", hostToken)
	all := []*watcher{host}
	for i, b := range bidders {
		b.w = newWatcher(b.id, "bidder", bTokens[i])
		all = append(all, b.w)
	}
	for i, tok := range vTokens {
		all = append(all, newWatcher(fmt.Sprintf("V%03d", i+1), "supervisor", tok))
	}
	var readers sync.WaitGroup
	defer func() {
		for _, w := range all {
			w.close()
		}
		readers.Wait()
	}()
	var startMu sync.Mutex
	if err := forEach(ctx, len(all), 4*opt.Concurrency, func(i int) error {
		if err := all[i].connect(ctx, d, r.srv.Base, r.room); err != nil {
			return err
		}
		startMu.Lock()
		defer startMu.Unlock()
		readers.Add(1)
		go func() { defer readers.Done(); all[i].run() }()
		return nil
	}); err != nil {
		return err
	}
	if err := r.waitPhase(ctx, "check_in", 30*time.Second); err != nil {
		return err
	}
	if err := host.command(ctx, cmdID(r.room, "host-sign-in"), "sign_in"); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	_ = forEach(ctx, len(bidders), 2*opt.Concurrency, func(i int) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := bidders[i].client.SignIn(sctx, bidders[i].key); err != nil {
			r.signF.Add(1)
			r.note(fmt.Errorf("sign-in %s: %w", bidders[i].id, err))
		}
		return nil
	})
	res.SignInFails = int(r.signF.Load())
	res.ConnectSecs = time.Since(t0).Seconds() - res.SetupSecs
	res.SlackSecs = time.Until(deadline).Seconds()
	r.mark("ready")
	if res.SlackSecs < 0 {
		return fmt.Errorf("setup ended %.1fs after the deadline: give a longer -lead", -res.SlackSecs)
	}
	r.logf("%d clients joined, %d bidders signed in in %.1fs; waiting %.1fs for the deadline", len(all), len(bidders)-res.SignInFails, res.ConnectSecs, res.SlackSecs)

	// Each bidder's client unlocks as soon as its page shows the window
	// open, and confirms as soon as the confirmation opens: all at once.
	var actors sync.WaitGroup
	actx, stopActors := context.WithCancel(ctx)
	defer func() { stopActors(); actors.Wait() }()
	for _, b := range bidders {
		actors.Add(1)
		go func() { defer actors.Done(); r.bidderScript(actx, b) }()
	}

	// The scripted host.
	err = r.hostScript(ctx, host, bidders, deadline, res)
	if err != nil {
		return err
	}
	stopActors() // every bidder has confirmed by now, or failed
	actors.Wait()

	// The last step must reach every client; then each client's stream is
	// compared with the server's head for its projection.
	final := "confirmation_closed"
	if res.Record == "recorded" {
		final = "opening_record_signed"
	}
	for _, w := range all {
		if err := w.waitUntil(ctx, 30*time.Second, w.sub+" receives "+final, func() bool { return !w.firstTime(final).IsZero() }); err != nil {
			r.note(err)
		}
	}
	r.mark("closed")
	res.UnlockFails, res.ConfirmFails = int(r.unlockF.Load()), int(r.confF.Load())
	var unlockTimes, confirmTimes []time.Duration
	for _, b := range bidders {
		if b.unlock > 0 {
			unlockTimes = append(unlockTimes, b.unlock)
		}
		if b.confirm > 0 {
			confirmTimes = append(confirmTimes, b.confirm)
		}
	}
	u, c := summarize(unlockTimes), summarize(confirmTimes)
	res.UnlockP50Ms, res.UnlockMaxMs = u.P50Ms, u.MaxMs
	res.ConfirmP50Ms, res.ConfirmMaxMs = c.P50Ms, c.MaxMs
	r.checkStreams(ctx, all, deadline, final, res)

	mem, _ := loadtool.ReadProcMem(r.srv.PID())
	res.ServerPeakRSS, res.ServerRSS = mem.Peak, mem.RSS
	r.phases(res)
	r.logf("done: %d unlocked, %d lost, p99 %.1f ms", res.Unlocked, res.Lost, res.Latency.P99Ms)
	return nil
}

// bidderScript is one bidder's client in the opening: unlock when the
// window opens (retrying a failure a few times, as the page lets one),
// confirm by signature when the confirmation opens.
func (r *runner) bidderScript(ctx context.Context, b *bidder) {
	select {
	case <-ctx.Done():
		return
	case <-b.w.firstCh("decryption_started"):
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		uctx, cancel := context.WithTimeout(ctx, time.Minute)
		u, err := b.client.Unlock(uctx, b.key)
		cancel()
		if err == nil && u.Opened {
			b.unlock = time.Since(start)
			break
		}
		r.unlockF.Add(1)
		r.note(fmt.Errorf("unlock %s (attempt %d): %v", b.id, attempt, err))
		if attempt == 3 || ctx.Err() != nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	select {
	case <-ctx.Done():
		return
	case <-b.w.firstCh("confirmation_started"):
	}
	start = time.Now()
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := b.client.Confirm(cctx, b.key)
		cancel()
		if err == nil {
			b.confirm = time.Since(start)
			return
		}
		r.confF.Add(1)
		r.note(fmt.Errorf("confirm %s (attempt %d): %v", b.id, attempt, err))
		if attempt == 3 || ctx.Err() != nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// hostScript runs the opening from the host's websocket: start the
// decryption once the room is opened, close it as soon as every bid is
// unlocked, read out, open and close the confirmation, then ask for the
// record.
func (r *runner) hostScript(ctx context.Context, host *watcher, bidders []*bidder, deadline time.Time, res *Result) error {
	n := len(bidders)
	wait := time.Until(deadline) + 30*time.Second
	if err := host.waitUntil(ctx, wait, "the room opens at the deadline", func() bool { return !host.firstTime("opened").IsZero() }); err != nil {
		return err
	}
	r.mark("opened")
	if err := host.command(ctx, cmdID(r.room, "start-decryption"), "start_decryption"); err != nil {
		return err
	}
	if err := host.waitUntil(ctx, 10*time.Second, "decryption_started", func() bool { return !host.firstTime("decryption_started").IsZero() }); err != nil {
		return err
	}
	r.mark("decrypting")
	unlockWait := 2*time.Minute + time.Duration(n)*time.Duration(opt2(r.opt.BidBytes))
	if err := host.waitUntil(ctx, unlockWait, "every bid unlocked", func() bool { return host.count("bid_opened") >= n }); err != nil {
		r.note(err)
	}
	r.mark("unlocked")
	res.Unlocked = host.count("bid_opened")
	if err := host.command(ctx, cmdID(r.room, "close-decryption"), "close_decryption"); err != nil {
		return err
	}
	if err := host.waitUntil(ctx, 10*time.Second, "decryption_closed", func() bool { return !host.firstTime("decryption_closed").IsZero() }); err != nil {
		return err
	}
	if err := host.command(ctx, cmdID(r.room, "start-read-out"), "start_read_out"); err != nil {
		return err
	}
	if err := host.waitUntil(ctx, 10*time.Second, "read_out", func() bool { return !host.firstTime("read_out").IsZero() }); err != nil {
		return err
	}
	r.mark("read out")
	if err := host.command(ctx, cmdID(r.room, "start-confirmation"), "start_confirmation"); err != nil {
		return err
	}
	if err := host.waitUntil(ctx, 2*time.Minute, "every bidder confirmed", func() bool { return host.count("confirmed") >= res.Unlocked }); err != nil {
		r.note(err)
	}
	res.Confirmed = host.count("confirmed")
	r.mark("confirmed")
	if err := host.command(ctx, cmdID(r.room, "close-confirmation"), "close_confirmation"); err != nil {
		return err
	}
	if err := host.waitUntil(ctx, 10*time.Second, "confirmation_closed", func() bool { return !host.firstTime("confirmation_closed").IsZero() }); err != nil {
		return err
	}
	res.Record = r.record(ctx, host)
	return nil
}

// tail lists the types of the events after pos in token's projection,
// for a failure message.
func (r *runner) tail(ctx context.Context, token string, pos uint64) string {
	u := strings.Replace(r.srv.Base, "http", "ws", 1) + "/ws?room=" + r.room + "&pos=" + strconv.FormatUint(pos, 10)
	conn, _, err := newDialer().DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer conn.Close()
	var types []string
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for len(types) < 20 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		var f frame
		if json.Unmarshal(msg, &f) == nil && f.Event != nil {
			types = append(types, fmt.Sprintf("%d %s", f.Pos, f.Event.Type))
		}
	}
	return strings.Join(types, ", ")
}

// waitPhase waits until the room reaches phase (the scheduler opens
// sign-in at check_in_at).
func (r *runner) waitPhase(ctx context.Context, phase string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var out struct {
			State struct {
				Phase string `json:"phase"`
			} `json:"state"`
		}
		if err := r.rest.Call(ctx, http.MethodGet, "/api/v1/sessions/"+r.room, nil, &out); err != nil {
			return err
		}
		if out.State.Phase == phase {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("room %s still in phase %q after %v, want %q", r.room, out.State.Phase, timeout, phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// opt2 is a generous per-bid decryption allowance: 1 s per MiB.
func opt2(bidBytes int) time.Duration { return time.Duration(bidBytes) * time.Second / (1 << 20) }

// record asks for the opening record (POST /sessions/{id}/record) when
// the server has that endpoint, and waits for it in the log.
func (r *runner) record(ctx context.Context, host *watcher) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.srv.Base+"/api/v1/sessions/"+r.room+"/record", nil)
	req.Header.Set("Authorization", "Bearer "+host.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.note(fmt.Errorf("record: %w", err))
		return "failed"
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
		return "skipped: no POST /record on this server"
	case resp.StatusCode/100 != 2:
		r.note(fmt.Errorf("record: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body)))
		return "failed"
	}
	if err := host.waitUntil(ctx, 30*time.Second, "opening_record_signed", func() bool { return !host.firstTime("opening_record_signed").IsZero() }); err != nil {
		r.note(err)
		return "failed"
	}
	return "recorded"
}

// checkStreams compares every client's stream with the server's head for
// its projection (a fresh connection's snapshot position) and fills in
// the figures from the deadline on.
func (r *runner) checkStreams(ctx context.Context, all []*watcher, deadline time.Time, final string, res *Result) {
	host := all[0]
	d := newDialer()
	heads := make([]uint64, len(all))
	_ = forEach(ctx, len(all), 16, func(i int) error {
		conn, pos, err := dial(ctx, d, r.srv.Base, r.room, all[i].token)
		if err != nil {
			r.note(fmt.Errorf("head of %s: %w", all[i].sub, err))
			return nil
		}
		conn.Close()
		heads[i] = pos
		return nil
	})
	var lat []time.Duration
	var readOutAll, finalAll time.Time
	for i, w := range all {
		_ = w.waitUntil(ctx, 10*time.Second, "catch up", func() bool { return w.pos.Load() >= heads[i] })
		if p := w.pos.Load(); p < heads[i] {
			res.ShortTail += heads[i] - p
		}
		res.Gaps += w.gaps.Load()
		res.Events += w.events.Load()
		if w.lost.Load() {
			res.Dropped++
			r.note(fmt.Errorf("%s %s lost its connection: %v", w.role, w.sub, w.readErr))
		}
		ro, fin := w.firstTime("read_out"), w.firstTime(final)
		if ro.IsZero() {
			res.MissingKey++
		}
		if fin.IsZero() {
			res.MissingKey++
		}
		if ro.After(readOutAll) {
			readOutAll = ro
		}
		if fin.After(finalAll) {
			finalAll = fin
		}
	}
	// The latencies are read after every reader is past the head: the
	// readers append to them, so take them once the last frame is in.
	for _, w := range all {
		w.mu.Lock()
		lat = append(lat, w.lat...)
		w.mu.Unlock()
	}
	res.Latency = summarize(lat)
	res.Lost = res.Gaps + res.ShortTail + uint64(res.MissingKey) + uint64(res.Dropped)
	var head struct {
		Seq uint64 `json:"seq"`
	}
	if err := r.rest.Call(ctx, http.MethodGet, "/api/v1/sessions/"+r.room, nil, &head); err == nil {
		res.HeadSeq = head.Seq
	}
	// A supervisor sees every event, so its position is the room's sequence
	// (the host does not see bid submissions).
	if sup := all[len(all)-1]; sup.role == "supervisor" && res.HeadSeq != 0 {
		if p := sup.pos.Load(); p != res.HeadSeq {
			r.note(fmt.Errorf("supervisor %s's stream ends at %d, room head is %d; the events after it: %s", sup.sub, p, res.HeadSeq, r.tail(ctx, sup.token, p)))
		}
	}
	ev := func(t string) time.Time { return host.eventTime(t) }
	res.OpenedSecs = ev("opened").Sub(deadline).Seconds()
	res.DecryptStart = ev("decryption_started").Sub(deadline).Seconds()
	res.UnlockSecs = host.lastTime("bid_opened").Sub(ev("decryption_started")).Seconds()
	res.ConfirmSecs = host.lastTime("confirmed").Sub(ev("confirmation_started")).Seconds()
	if !readOutAll.IsZero() {
		res.ReadOutSecs = readOutAll.Sub(deadline).Seconds()
	}
	if !finalAll.IsZero() {
		res.TotalSecs = finalAll.Sub(deadline).Seconds()
	}
}

// phases turns the marks into CPU per stretch of the run and overall
// (from the deadline's opening to the end), in % of one core.
func (r *runner) phases(res *Result) {
	pct := func(d time.Duration, wall time.Duration) float64 {
		if wall <= 0 {
			return 0
		}
		return 100 * d.Seconds() / wall.Seconds()
	}
	for i := 1; i < len(r.marks); i++ {
		a, b := r.marks[i-1], r.marks[i]
		wall := b.at.Sub(a.at)
		srv, tool := b.srv-a.srv, b.tool-a.tool
		res.Phases = append(res.Phases, Phase{Name: a.name + " → " + b.name, Secs: wall.Seconds(),
			ServerCPU: pct(srv, wall), ToolCPU: pct(tool, wall), OtherCPU: max(0, pct(b.total-a.total-srv-tool, wall))})
	}
	if len(r.marks) > 1 {
		a, b := r.marks[0], r.marks[len(r.marks)-1]
		wall := b.at.Sub(a.at)
		srv, tool := b.srv-a.srv, b.tool-a.tool
		res.ServerCPU, res.ToolCPU = pct(srv, wall), pct(tool, wall)
		res.OtherCPU = max(0, pct(b.total-a.total-srv-tool, wall))
	}
}

// forEach runs f(0..n-1) with at most par at once and returns the first
// error (the rest still run to the end of their call, none start after).
func forEach(ctx context.Context, n, par int, f func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}
