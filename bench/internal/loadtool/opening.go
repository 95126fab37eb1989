package loadtool

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bidroom/bidroom/bidclient"
	"github.com/bidroom/bidroom/decrypt"
)

// OpeningOptions are the settings of one opening run by RunOpening.
type OpeningOptions struct {
	Bidders     int           // registered bidders, each with a key and a sealed bid
	Viewers     int           // supervisors watching the room
	BidBytes    int           // plaintext bytes of each bid
	Lead        time.Duration // deadline after the session is created; 0: EstimateLead
	Concurrency int           // seal+upload, connects and sign-ins at once; 0: 8
	Tool        string        // the tool's name, on progress lines
	Progress    io.Writer     // progress lines; nil for none
}

// OpeningResult is what one opening measured. Times from the deadline are
// on the server's clock where the server stamped them (its events), else
// on this machine's (receipts; the same clock).
type OpeningResult struct {
	Room      string   `json:"room"`
	BidderIDs []string `json:"-"` // the bidders, in registration order
	Bidders   int      `json:"bidders"`
	Viewers   int      `json:"viewers"`
	Viewer    string   `json:"viewer_role"`
	BidBytes  int      `json:"bid_bytes"`
	Record    string   `json:"record"` // what happened to the opening record step

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

// Held says the opening did everything the day needs: every bid
// unlocked, read out to everyone and confirmed, nothing lost, nothing
// failed.
func (r OpeningResult) Held() bool {
	return len(r.Failures) == 0 && r.Unlocked == r.Bidders && r.Confirmed == r.Bidders &&
		r.UnlockFails == 0 && r.ConfirmFails == 0 && r.SignInFails == 0 && r.Lost == 0
}

// EstimateLead is how far ahead the deadline is set when Lead is not
// given: key generation, sealing and uploading every bid, connecting every
// client and signing the bidders in, with room to spare on a busy box.
func EstimateLead(o OpeningOptions) time.Duration {
	perBid := 30*time.Millisecond + time.Duration(float64(o.BidBytes)/10e6*float64(time.Second)) // seal at ~50 MB/s, upload, SM2
	return 10*time.Second + time.Duration(o.Bidders)*perBid + time.Duration(o.Bidders+o.Viewers)*10*time.Millisecond
}

// openingBidder is one scripted bidder: key, REST client and websocket.
type openingBidder struct {
	id      string
	key     *decrypt.PrivateKey
	client  *bidclient.Client
	w       *Watcher
	unlock  time.Duration // decryption_started received → unlock answered
	confirm time.Duration // confirmation_started received → confirmation answered
}

// opening holds one opening run's state.
type opening struct {
	opt     OpeningOptions
	srv     *Server
	rest    *REST
	room    string
	cpu     *CPUMarks
	errs    Errors
	unlockF atomic.Int64
	confF   atomic.Int64
	signF   atomic.Int64
}

// RunOpening runs one opening session end to end on srv, the way it runs
// on the day: N bidders, each with an SM2 key registered with the
// session, seal (decrypt.Seal) and upload (bidclient, resumable upload) a
// bid before the deadline, a few at a time. Then every bidder, the viewers
// (supervisors, the staff projection: they see every event) and the host
// hold a websocket; the bidders sign in with their keys. The deadline
// fires on the server's clock; the scripted host starts the decryption as
// soon as the room is opened, and every bidder's client unlocks at once
// when its page shows the window open. The host closes the window once all
// are unlocked, reads out, opens the confirmation, the bidders confirm by
// signing the read-out, the host closes it and asks for the opening
// record. Errors that do not stop the run are in the result's Failures.
func RunOpening(ctx context.Context, srv *Server, rest *REST, opt OpeningOptions) (OpeningResult, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Lead <= 0 {
		opt.Lead = EstimateLead(opt)
	}
	if opt.Tool == "" {
		opt.Tool = "opening"
	}
	res := OpeningResult{Bidders: opt.Bidders, Viewers: opt.Viewers, Viewer: "supervisor", BidBytes: opt.BidBytes}
	o := &opening{opt: opt, srv: srv, rest: rest, cpu: NewCPUMarks(srv.PID())}
	o.cpu.Mark("start")
	err := o.run(ctx, &res)
	res.Failures = append(res.Failures, o.errs.List()...)
	return res, err
}

func (o *opening) logf(format string, args ...any) {
	if o.opt.Progress != nil {
		fmt.Fprintf(o.opt.Progress, o.opt.Tool+": "+format+"\n", args...)
	}
}

// run is the opening proper: setup, the opening, and the checks.
func (o *opening) run(ctx context.Context, res *OpeningResult) error {
	opt := o.opt
	t0 := time.Now()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opt.Bidders + 16, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()

	// Keys and the session, with every bidder registered with their key.
	bidders := make([]*openingBidder, opt.Bidders)
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
		bidders[i] = &openingBidder{id: id, key: k}
		specs[i] = map[string]string{"id": id, "name": "投标人" + id + "建设工程有限公司", "public_key": string(pub)}
		res.BidderIDs = append(res.BidderIDs, id)
	}
	now := time.Now().UTC()
	o.room = opt.Tool + "-" + strconv.FormatInt(now.UnixNano(), 36)
	res.Room = o.room
	deadline := now.Add(opt.Lead).Truncate(time.Millisecond)
	req := map[string]any{
		"id": o.room, "title": opt.Tool + " benchmark", "section": o.room, "category": "construction",
		"deadline": deadline, "check_in_at": now, "control_price": "12800000.00", "budget": "11000000.00",
		"bidders": specs,
		"read_out_fields": []map[string]string{{"key": "price", "label": "投标报价（元）"}, {"key": "duration", "label": "工期"},
			{"key": "quality", "label": "质量"}, {"key": "project_manager", "label": "项目经理"}},
	}
	if err := o.rest.Call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	bTokens, err := o.rest.MintTokens(ctx, o.room, "bidder", res.BidderIDs)
	if err != nil {
		return err
	}
	vTokens, err := o.rest.MintTokens(ctx, o.room, "supervisor", Subs("V", opt.Viewers))
	if err != nil {
		return err
	}
	hostToken, err := o.rest.MintToken(ctx, o.room, "host", "host-1")
	if err != nil {
		return err
	}
	for i, b := range bidders {
		b.client = &bidclient.Client{Server: o.srv.Base, Session: o.room, Token: bTokens[i], HTTP: hc}
	}

	// Seal and upload every bid, a few at a time, as the bidders would
	// before the deadline.
	plain := make([]byte, opt.BidBytes)
	_, _ = rand.Read(plain)
	if err := ForEach(ctx, len(bidders), opt.Concurrency, func(i int) error {
		b := bidders[i]
		var sealed bytes.Buffer
		_, err := decrypt.Seal(&sealed, bytes.NewReader(plain), decrypt.SealOptions{
			SessionID: o.room, BidderID: b.id, Size: int64(len(plain)), Signer: b.key,
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
	o.cpu.Mark("uploaded")
	o.logf("%d bids sealed and uploaded in %.1fs; the deadline is in %.1fs", len(bidders), res.SetupSecs, time.Until(deadline).Seconds())

	// Every participant joins the room; the bidders sign in with their keys.
	host := NewWatcher("host-1", "host", hostToken)
	all := []*Watcher{host}
	for i, b := range bidders {
		b.w = NewWatcher(b.id, "bidder", bTokens[i])
		all = append(all, b.w)
	}
	for i, tok := range vTokens {
		all = append(all, NewWatcher(fmt.Sprintf("V%03d", i+1), "supervisor", tok))
	}
	stop, err := ConnectAll(ctx, o.srv.Base, o.room, all, 4*opt.Concurrency)
	defer stop()
	if err != nil {
		return err
	}
	if err := o.waitPhase(ctx, "check_in", 30*time.Second); err != nil {
		return err
	}
	if _, err := host.Command(ctx, CommandID(o.room, "host-sign-in"), "sign_in", nil); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	_ = ForEach(ctx, len(bidders), 2*opt.Concurrency, func(i int) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := bidders[i].client.SignIn(sctx, bidders[i].key); err != nil {
			o.signF.Add(1)
			o.errs.Note(fmt.Errorf("sign-in %s: %w", bidders[i].id, err))
		}
		return nil
	})
	res.SignInFails = int(o.signF.Load())
	res.ConnectSecs = time.Since(t0).Seconds() - res.SetupSecs
	res.SlackSecs = time.Until(deadline).Seconds()
	o.cpu.Mark("ready")
	if res.SlackSecs < 0 {
		return fmt.Errorf("setup ended %.1fs after the deadline: give a longer -lead", -res.SlackSecs)
	}
	o.logf("%d clients joined, %d bidders signed in in %.1fs; waiting %.1fs for the deadline", len(all), len(bidders)-res.SignInFails, res.ConnectSecs, res.SlackSecs)

	// Each bidder's client unlocks as soon as its page shows the window
	// open, and confirms as soon as the confirmation opens: all at once.
	var actors sync.WaitGroup
	actx, stopActors := context.WithCancel(ctx)
	defer func() { stopActors(); actors.Wait() }()
	for _, b := range bidders {
		actors.Add(1)
		go func() { defer actors.Done(); o.bidderScript(actx, b) }()
	}

	// The scripted host.
	if err := o.hostScript(ctx, host, bidders, deadline, res); err != nil {
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
		if err := w.WaitUntil(ctx, 30*time.Second, w.Sub+" receives "+final, func() bool { return !w.FirstTime(final).IsZero() }); err != nil {
			o.errs.Note(err)
		}
	}
	o.cpu.Mark("closed")
	res.UnlockFails, res.ConfirmFails = int(o.unlockF.Load()), int(o.confF.Load())
	var unlockTimes, confirmTimes []time.Duration
	for _, b := range bidders {
		if b.unlock > 0 {
			unlockTimes = append(unlockTimes, b.unlock)
		}
		if b.confirm > 0 {
			confirmTimes = append(confirmTimes, b.confirm)
		}
	}
	u, c := Summarize(unlockTimes), Summarize(confirmTimes)
	res.UnlockP50Ms, res.UnlockMaxMs = u.P50Ms, u.MaxMs
	res.ConfirmP50Ms, res.ConfirmMaxMs = c.P50Ms, c.MaxMs
	o.checkStreams(ctx, all, deadline, final, res)

	mem, _ := ReadProcMem(o.srv.PID())
	res.ServerPeakRSS, res.ServerRSS = mem.Peak, mem.RSS
	var whole Phase
	res.Phases, whole = o.cpu.Phases()
	res.ServerCPU, res.ToolCPU, res.OtherCPU = whole.ServerCPU, whole.ToolCPU, whole.OtherCPU
	o.logf("opening done: %d unlocked, %d lost, p99 %.1f ms", res.Unlocked, res.Lost, res.Latency.P99Ms)
	return nil
}

// ConnectAll connects every watcher to room, par at a time, and starts
// its reader; stop closes them all and waits for the readers (call it
// even after an error).
func ConnectAll(ctx context.Context, base, room string, all []*Watcher, par int) (stop func(), err error) {
	dialer := NewDialer()
	var readers sync.WaitGroup
	var mu sync.Mutex // guards started
	var started []*Watcher
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range started {
			w.Close()
		}
		readers.Wait()
		started = nil
	}
	err = ForEach(ctx, len(all), par, func(i int) error {
		if err := all[i].Connect(ctx, dialer, base, room); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		started = append(started, all[i])
		readers.Add(1)
		go func() { defer readers.Done(); all[i].Run() }()
		return nil
	})
	return stop, err
}

// bidderScript is one bidder's client in the opening: unlock when the
// window opens (retrying a failure a few times, as the page lets one),
// confirm by signature when the confirmation opens.
func (o *opening) bidderScript(ctx context.Context, b *openingBidder) {
	select {
	case <-ctx.Done():
		return
	case <-b.w.FirstCh("decryption_started"):
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
		o.unlockF.Add(1)
		o.errs.Note(fmt.Errorf("unlock %s (attempt %d): %v", b.id, attempt, err))
		if attempt == 3 || ctx.Err() != nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	select {
	case <-ctx.Done():
		return
	case <-b.w.FirstCh("confirmation_started"):
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
		o.confF.Add(1)
		o.errs.Note(fmt.Errorf("confirm %s (attempt %d): %v", b.id, attempt, err))
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
func (o *opening) hostScript(ctx context.Context, host *Watcher, bidders []*openingBidder, deadline time.Time, res *OpeningResult) error {
	n := len(bidders)
	seen := func(t string) func() bool { return func() bool { return !host.FirstTime(t).IsZero() } }
	step := func(what, cmd, want string, wait time.Duration) error {
		if _, err := host.Command(ctx, CommandID(o.room, what), cmd, nil); err != nil {
			return err
		}
		return host.WaitUntil(ctx, wait, want, seen(want))
	}
	if err := host.WaitUntil(ctx, time.Until(deadline)+30*time.Second, "the room opens at the deadline", seen("opened")); err != nil {
		return err
	}
	o.cpu.Mark("opened")
	if err := step("start-decryption", "start_decryption", "decryption_started", 10*time.Second); err != nil {
		return err
	}
	o.cpu.Mark("decrypting")
	unlockWait := 2*time.Minute + time.Duration(n)*time.Duration(opt2(o.opt.BidBytes))
	if err := host.WaitUntil(ctx, unlockWait, "every bid unlocked", func() bool { return host.Count("bid_opened") >= n }); err != nil {
		o.errs.Note(err)
	}
	o.cpu.Mark("unlocked")
	res.Unlocked = host.Count("bid_opened")
	if err := step("close-decryption", "close_decryption", "decryption_closed", 10*time.Second); err != nil {
		return err
	}
	if err := step("start-read-out", "start_read_out", "read_out", 10*time.Second); err != nil {
		return err
	}
	o.cpu.Mark("read out")
	if _, err := host.Command(ctx, CommandID(o.room, "start-confirmation"), "start_confirmation", nil); err != nil {
		return err
	}
	if err := host.WaitUntil(ctx, 2*time.Minute, "every bidder confirmed", func() bool { return host.Count("confirmed") >= res.Unlocked }); err != nil {
		o.errs.Note(err)
	}
	res.Confirmed = host.Count("confirmed")
	o.cpu.Mark("confirmed")
	if err := step("close-confirmation", "close_confirmation", "confirmation_closed", 10*time.Second); err != nil {
		return err
	}
	res.Record = o.record(ctx, host)
	return nil
}

// waitPhase waits until the room reaches phase (the scheduler opens
// sign-in at check_in_at).
func (o *opening) waitPhase(ctx context.Context, phase string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var out struct {
			State struct {
				Phase string `json:"phase"`
			} `json:"state"`
		}
		if err := o.rest.Call(ctx, http.MethodGet, "/api/v1/sessions/"+o.room, nil, &out); err != nil {
			return err
		}
		if out.State.Phase == phase {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("room %s still in phase %q after %v, want %q", o.room, out.State.Phase, timeout, phase)
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
func (o *opening) record(ctx context.Context, host *Watcher) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.srv.Base+"/api/v1/sessions/"+o.room+"/record", nil)
	req.Header.Set("Authorization", "Bearer "+host.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.errs.Note(fmt.Errorf("record: %w", err))
		return "failed"
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
		return "skipped: no POST /record on this server"
	case resp.StatusCode/100 != 2:
		o.errs.Note(fmt.Errorf("record: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body)))
		return "failed"
	}
	if err := host.WaitUntil(ctx, 30*time.Second, "opening_record_signed", func() bool { return !host.FirstTime("opening_record_signed").IsZero() }); err != nil {
		o.errs.Note(err)
		return "failed"
	}
	return "recorded"
}

// checkStreams compares every client's stream with the server's head for
// its projection and fills in the figures from the deadline on.
func (o *opening) checkStreams(ctx context.Context, all []*Watcher, deadline time.Time, final string, res *OpeningResult) {
	host := all[0]
	st := CheckStreams(ctx, o.srv.Base, o.room, all, &o.errs)
	res.Gaps, res.ShortTail, res.Events, res.Dropped = st.Gaps, st.ShortTail, st.Events, st.Dropped
	var readOutAll, finalAll time.Time
	for _, w := range all {
		ro, fin := w.FirstTime("read_out"), w.FirstTime(final)
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
	var lat []time.Duration
	for _, w := range all {
		lat = append(lat, w.Latencies()...)
	}
	res.Latency = Summarize(lat)
	res.Lost = res.Gaps + res.ShortTail + uint64(res.MissingKey) + uint64(res.Dropped)
	var head struct {
		Seq uint64 `json:"seq"`
	}
	if err := o.rest.Call(ctx, http.MethodGet, "/api/v1/sessions/"+o.room, nil, &head); err == nil {
		res.HeadSeq = head.Seq
	}
	// A supervisor sees every event, so its position is the room's sequence
	// (the host does not see bid submissions).
	if sup := all[len(all)-1]; sup.Role == "supervisor" && res.HeadSeq != 0 {
		if p := sup.Pos(); p != res.HeadSeq {
			o.errs.Note(fmt.Errorf("supervisor %s's stream ends at %d, room head is %d; the events after it: %s", sup.Sub, p, res.HeadSeq, Tail(ctx, o.srv.Base, o.room, sup.Token, p)))
		}
	}
	ev := func(t string) time.Time { return host.EventTime(t) }
	res.OpenedSecs = ev("opened").Sub(deadline).Seconds()
	res.DecryptStart = ev("decryption_started").Sub(deadline).Seconds()
	res.UnlockSecs = host.LastTime("bid_opened").Sub(ev("decryption_started")).Seconds()
	res.ConfirmSecs = host.LastTime("confirmed").Sub(ev("confirmation_started")).Seconds()
	if !readOutAll.IsZero() {
		res.ReadOutSecs = readOutAll.Sub(deadline).Seconds()
	}
	if !finalAll.IsZero() {
		res.TotalSecs = finalAll.Sub(deadline).Seconds()
	}
}

// Streams is what CheckStreams found over a set of connections.
type Streams struct {
	Events    uint64 // event frames received
	Gaps      uint64 // positions skipped
	ShortTail uint64 // events short of the head of the client's projection
	Dropped   int    // connections lost before they were closed
}

// CheckStreams compares every watcher's stream with the server's head for
// its projection (a fresh connection's snapshot position), after giving
// each up to 10 s to catch up; what it cannot check is noted in errs.
func CheckStreams(ctx context.Context, base, room string, all []*Watcher, errs *Errors) Streams {
	d := NewDialer()
	heads := make([]uint64, len(all))
	_ = ForEach(ctx, len(all), 16, func(i int) error {
		conn, snap, err := Dial(ctx, d, base, room, all[i].Token)
		if err != nil {
			errs.Note(fmt.Errorf("head of %s: %w", all[i].Sub, err))
			return nil
		}
		conn.Close()
		heads[i] = snap.Pos
		return nil
	})
	var st Streams
	for i, w := range all {
		_ = w.WaitUntil(ctx, 10*time.Second, "catch up", func() bool { return w.Pos() >= heads[i] })
		if p := w.Pos(); p < heads[i] {
			st.ShortTail += heads[i] - p
		}
		st.Gaps += w.Gaps()
		st.Events += w.Events()
		if lost, why := w.Lost(); lost {
			st.Dropped++
			errs.Note(fmt.Errorf("%s %s lost its connection: %v", w.Role, w.Sub, why))
		}
	}
	return st
}

// Subs is n subjects prefix001, prefix002, …
func Subs(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%03d", prefix, i+1)
	}
	return s
}

// CommandID makes a command id unique to this run.
func CommandID(run, what string) string {
	return run + "-" + what + "-" + strconv.Itoa(int(time.Now().UnixNano()%1e6))
}
