package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/push"
	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
	redisstore "github.com/bidroom/bidroom/store/redis"
	"github.com/bidroom/bidroom/web"
)

// loadConfig reads --config (or BIDROOM_CONFIG) and the environment.
func loadConfig(fs *flag.FlagSet, args []string) (configs.Config, error) {
	path := fs.String("config", os.Getenv(configs.EnvConfigPath), "YAML config file")
	if err := fs.Parse(args); err != nil {
		return configs.Config{}, err
	}
	if fs.NArg() > 0 {
		return configs.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return configs.Load(*path, os.Environ())
}

func newLogger(cfg configs.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// secret returns the configured value, or one generated once and kept in
// the data directory (mode 0600) so tokens survive restarts.
func secret(configured, dataDir, file string, size int) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, file)
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, size)
	_, _ = rand.Read(raw)
	s := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

// loadPlatformKey reads the SM2 key that signs receipts, generating and
// keeping one (mode 0600) on first start when none is configured.
func loadPlatformKey(cfg configs.Config) (*decrypt.PrivateKey, error) {
	path := cfg.Bids.PlatformKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "platform.key.pem")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && cfg.Bids.PlatformKeyFile == "" {
		k, err := decrypt.GenerateKey()
		if err != nil {
			return nil, err
		}
		pemKey, err := k.MarshalPEM(nil)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pemKey, 0o600); err != nil {
			return nil, fmt.Errorf("write platform key %s: %w", path, err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read platform key (bids.platform_key_file) %s: %w", path, err)
	}
	k, err := decrypt.ParsePrivateKeyPEM(b, nil)
	if err != nil {
		return nil, fmt.Errorf("platform key %s (bids.platform_key_file): %w", path, err)
	}
	return k, nil
}

// eventLog is the store as the server uses it.
type eventLog interface {
	rooms.Log
	Close() error
}

func openStore(ctx context.Context, cfg configs.Config) (eventLog, error) {
	if cfg.Store.Backend == configs.BackendRedis {
		l, err := redisstore.OpenMode(ctx, cfg.Store.RedisMode, cfg.Store.RedisURL, cfg.Store.RedisPrefix,
			redisstore.WithMinReplicas(cfg.Store.RedisMinReplicas, cfg.Store.RedisReplicaTimeout))
		if err != nil {
			return nil, fmt.Errorf("connect to redis (store.redis_url): %w", err)
		}
		return l, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	l, err := embedded.Open(filepath.Join(cfg.DataDir, "events.db"))
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return l, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	tokenSecret, err := secret(cfg.Auth.TokenSecret, cfg.DataDir, "token.secret", 32)
	if err != nil {
		return err
	}
	adminKey, err := secret(cfg.Auth.AdminKey, cfg.DataDir, "admin.key", 24)
	if err != nil {
		return err
	}
	issuer, err := auth.NewIssuer([]byte(tokenSecret), nil)
	if err != nil {
		return err
	}
	log, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer log.Close()
	blobStore, err := blobs.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return err
	}
	platformKey, err := loadPlatformKey(cfg)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var clock *movableClock
	var advance func(time.Duration) time.Time
	var now func() time.Time
	if cfg.Testing.MovableClock {
		clock = &movableClock{}
		now, advance = clock.now, clock.advance
		logger.Warn("testing.movable_clock is on: the admin can move this server's clock forward; never use it in production")
	}
	svc := rooms.NewService(log, now)
	svc.SetMaxCachedRooms(cfg.Rooms.MaxCached)
	ws := signaling.New(svc, issuer, signaling.Config{
		MaxMessageBytes: cfg.Signaling.MaxMessageBytes, SendQueue: cfg.Signaling.SendQueue,
		PingInterval: cfg.Signaling.PingInterval, PongTimeout: cfg.Signaling.PongTimeout,
		WriteTimeout: cfg.Signaling.WriteTimeout, MaxReplay: cfg.Signaling.MaxReplay,
		AllowedOrigins: cfg.Server.AllowedOrigins, CommandRate: cfg.Signaling.CommandRate,
	}, logger, reg)

	mediaSt, err := startMedia(cfg, svc, logger, reg)
	if err != nil {
		return err
	}
	defer mediaSt.close() // before the store closes: recordings are logged
	var mediaHTTP http.Handler
	var mediaInfo api.MediaInfo
	var mediaElsewhere func(http.ResponseWriter, *http.Request, string) bool
	if mediaSt != nil {
		mediaAuth := api.MediaAuthenticator(issuer, svc)
		mediaHTTP = mediaSt.sfu.Handler(mediaAuth)
		mediaInfo = mediaSt.sfu
		// Several instances (cluster.advertise_url): a room's media on one of them.
		if mediaHTTP, mediaElsewhere, err = mediaSt.place(cfg, log, tokenSecret, mediaHTTP, mediaAuth, logger, reg); err != nil {
			return err
		}
	}

	var demo demoSession
	if cfg.DemoActive() {
		if err := demo.create(ctx, svc, log, issuer, blobStore, platformKey, cfg, logger); err != nil {
			return fmt.Errorf("create demo session: %w", err)
		}
		logger.Warn("demo mode: anyone who can reach this address can join the demo session; set demo.enabled=false in production",
			"room", demo.room)
	}

	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	bonds, err := newBondChecker(cfg, func() string {
		if d := demo.get(); d != nil {
			return d.Room
		}
		return ""
	}, logger)
	if err != nil {
		return fmt.Errorf("bond system (bond.*): %w", err)
	}
	// The blob store's garbage collection (bids.upload_ttl, bids.orphan_grace): periodic below
	// (bids.gc_interval), and on an admin's POST /api/v1/blobs/gc.
	blobGC, err := blobgc.New(blobStore, log, blobgc.Config{UploadTTL: cfg.Bids.UploadTTL, OrphanGrace: cfg.Bids.OrphanGrace}, logger, reg)
	if err != nil {
		return err
	}
	// draining: SIGTERM came; GET /readyz answers 503 so load balancers send
	// new requests elsewhere (a rolling restart, docs/operations.md).
	var draining atomic.Bool
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return api.ErrDraining
		}
		_, err := log.Rooms(ctx)
		return err
	}
	router := api.NewRouter(api.Deps{
		Svc: svc, Issuer: issuer, AdminKey: adminKey, TokenTTL: cfg.Auth.TokenTTL,
		CheckInLead: cfg.Rooms.CheckInLead, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		WS: ws, Web: web.Handler(record.StyleSources()...), Metrics: metricsHandler, MetricsToken: cfg.Server.MetricsToken,
		Ready: ready,
		Demo:  demo.get, Logger: logger,
		Blobs: blobStore, Platform: platformKey, MaxBidBytes: cfg.Bids.MaxBytes,
		MediaHTTP: mediaHTTP, Media: mediaInfo, MediaElsewhere: mediaElsewhere, AdvanceClock: advance,
		Bonds: depositBonds(cfg, bonds), RecordDir: recordDir(cfg), Centers: apiCenters(cfg),
		SignIns: signInStore(log), ArchiveDir: archiveDir(cfg), Retention: cfg.Archive.Retention,
		GC: blobGC, Commands: ws.ObserveCommand,
	})

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	httpSrv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	metricsSrv, metricsLn, err := listenMetrics(cfg.Server.MetricsListen, metricsHandler)
	if err != nil {
		_ = ln.Close()
		return err
	}

	sched := rooms.NewScheduler(svc, logger)
	sched.Fill = map[string]func(context.Context, string) (json.RawMessage, error){
		rooms.CmdRecordBonds:     bondFill(svc, bonds),
		rooms.CmdRecordSanctions: svc.SanctionsFill(rooms.PoolRoom), // an evaluation's violations and poor ratings, carried to the pool
		// a sold auction's 成交确认书, signed with the platform's key
		rooms.CmdRecordConfirmationLetter: svc.ConfirmationFill(platformKey),
	}

	var wg sync.WaitGroup
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	wg.Add(1)
	go func() {
		defer wg.Done()
		sched.Run(runCtx)
	}()
	if cfg.Push.Enabled() { // push.* (docs/push.md): documents to the provincial platform, price alerts
		dispatcher := push.New(svc, platformKey, push.FromConfig(cfg.Push), logger)
		wg.Add(1)
		go func() {
			defer wg.Done()
			dispatcher.Run(runCtx)
		}()
	}
	if demo.bot != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			demo.bot.run(runCtx)
		}()
	}
	if demo.auctionBot != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			demo.auctionBot.run(runCtx)
		}()
	}
	if cfg.Bids.GCInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The first collection comes a little after the start (not during it, when every
			// room is folded once), so that a server restarted more often than the interval
			// still collects.
			blobGC.Loop(runCtx, min(10*time.Minute, cfg.Bids.GCInterval), cfg.Bids.GCInterval)
		}()
	}
	serveErr := make(chan error, 2) // the main and the metrics listener
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if metricsSrv != nil {
		go func() {
			if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
		defer metricsSrv.Close()
		logger.Info("metrics serving", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}

	addr := "http://" + ln.Addr().String()
	logger.Info("bidroom serving", "addr", addr, "store", cfg.Store.Backend, "data_dir", cfg.DataDir)
	fmt.Fprintf(stdout, "Bidroom is running at %s\n", addr)
	if demo.room != "" {
		fmt.Fprintf(stdout, "Demo session %s: open %s/ in a browser and pick a role.\n", demo.room, addr)
	}
	if cfg.Auth.AdminKey == "" {
		fmt.Fprintf(stdout, "Admin API key: in %s\n", filepath.Join(cfg.DataDir, "admin.key"))
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Drain, so that a rolling restart costs clients a reconnect, not an
	// error: each step hands one kind of client over to the other instances.
	logger.Info("shutting down: draining", "timeout", cfg.Server.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	runShutdown(shutCtx, logger, []shutdownStep{
		// Everything is served as before meanwhile: a load balancer that
		// polls /readyz stops sending new clients here before the ones
		// here are sent away (server.drain_delay).
		{"not ready: GET /readyz answers 503", func(ctx context.Context) ([]any, error) {
			draining.Store(true)
			select {
			case <-time.After(cfg.Server.DrainDelay):
			case <-ctx.Done():
			}
			return []any{"drain_delay", cfg.Server.DrainDelay}, nil
		}},
		// Media first: its reconnect (ICE, then a keyframe) is the slowest
		// of the clients', so it starts soonest.
		{"media handed over", func(ctx context.Context) ([]any, error) {
			handed, closed := mediaSt.drain(ctx)
			return []any{"rooms", handed, "sessions", closed}, nil
		}},
		{"websockets closed (1001: clients resume elsewhere)", func(ctx context.Context) ([]any, error) {
			n := ws.Connections()
			return []any{"connections", n}, ws.Close(ctx)
		}},
		// Hijacked websockets are not waited for here: closed above.
		{"HTTP requests finished (uploads included)", func(ctx context.Context) ([]any, error) {
			if err := httpSrv.Shutdown(ctx); err != nil {
				// Out of time: cut the rest. An upload keeps what arrived.
				return nil, errors.Join(err, httpSrv.Close())
			}
			return nil, nil
		}},
		{"media stopped, recordings finalized", func(context.Context) ([]any, error) {
			mediaSt.close()
			return nil, nil
		}},
		{"timers and background work stopped", func(context.Context) ([]any, error) {
			cancelRun()
			wg.Wait()
			return nil, nil
		}},
		{"store closed", func(context.Context) ([]any, error) { return nil, log.Close() }},
	})
	return nil
}

// demoSession is the session a fresh server shows a newcomer.
type demoSession struct {
	mu   sync.Mutex // guards info
	room string
	info *api.Demo
	bot  *demoBot // plays the evaluation's members nobody clicks as; serve runs it
	// auctionBot bids for the demo auction's bidders nobody clicks as;
	// serve runs it.
	auctionBot *demoAuctionBot
	stamp      string // the demo rooms' ids end in it: the start's second, made unique
}

// demoStamp is the start's second as the demo rooms' ids carry it, with a
// suffix when a demo of the same second exists already (a server
// restarted within the second it started).
func demoStamp(ctx context.Context, svc *rooms.Service, now time.Time) (string, error) {
	base := now.Format("20060102-150405")
	stamp := base
	for i := 2; ; i++ {
		taken, err := svc.Exists(ctx, "demo-"+stamp)
		if err != nil {
			return "", err
		}
		if !taken {
			return stamp, nil
		}
		stamp = fmt.Sprintf("%s-%d", base, i)
	}
}

func (d *demoSession) get() *api.Demo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// demoPeople are the demo opening's identities: a host, a supervisor and
// three bidders (registered with throwaway keys made at start, see create).
// Experts are not at the opening (R21): the demo's evaluation has its own
// people (demoEvaluationPeople), who enter the evaluation room.
var demoPeople = []api.DemoToken{
	{Role: rooms.RoleHost, Sub: "host-1", Name: "主持人 王芳"},
	{Role: rooms.RoleSupervisor, Sub: "supervisor-1", Name: "监督人 李强"},
	{Role: rooms.RoleBidder, Sub: "bidder-a", Name: "江苏恒达建设工程有限公司"},
	{Role: rooms.RoleBidder, Sub: "bidder-b", Name: "南京市政路桥集团有限公司"},
	{Role: rooms.RoleBidder, Sub: "bidder-c", Name: "苏州华建工程咨询有限公司"},
}

// create opens a new demo session: sign-in open now, the deadline a few
// minutes away, so a newcomer sees the countdown and the opening.
func (d *demoSession) create(ctx context.Context, svc *rooms.Service, log rooms.Log, issuer *auth.Issuer, blobStore *blobs.Store,
	platform *decrypt.PrivateKey, cfg configs.Config, logger *slog.Logger) error {
	now := svc.Now()
	stamp, err := demoStamp(ctx, svc, now)
	if err != nil {
		return err
	}
	d.stamp = stamp
	room := "demo-" + stamp
	admin := rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}
	spec, _ := json.Marshal(rooms.SessionSpec{
		Title: "示范项目：城东污水处理厂提标改造工程施工", Section: "CD-2026-001", Category: "construction",
		Deadline: now.Add(5 * time.Minute).Truncate(time.Second), CheckInAt: now, ControlPrice: "12800000.00",
		SealedTerms:          rooms.SealedTerms{Budget: "11500000.00", BudgetDeviationPct: 10, ReservePrice: "11860000.00"},
		DecryptWindowMinutes: 15, ConfirmWindowMinutes: 5, BackupAllowed: true,
		ReadOutFields: []rooms.ReadOutField{
			{Key: decrypt.FieldPrice, Label: "投标报价（元）"}, {Key: decrypt.FieldDuration, Label: "工期"},
			{Key: decrypt.FieldQuality, Label: "质量标准"}, {Key: decrypt.FieldProjectManager, Label: "项目经理"},
		},
	})
	if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: spec}); err != nil {
		return err
	}
	info := &api.Demo{Room: room, Keys: map[string][]byte{}}
	keys := map[string]*decrypt.PrivateKey{}
	var bidders []api.DemoToken
	for _, p := range demoPeople {
		if p.Role == rooms.RoleBidder {
			// Each demo bidder gets a throwaway key pair, registered like a
			// real bidder's, so the key sign-in can be tried: the private
			// key is offered for download on the landing page.
			key, err := decrypt.GenerateKey()
			if err != nil {
				return err
			}
			priv, err := key.MarshalPEM(nil)
			if err != nil {
				return err
			}
			pub, err := key.Public().MarshalPEM()
			if err != nil {
				return err
			}
			data, _ := json.Marshal(rooms.BidderSpec{ID: p.Sub, Name: p.Name, PublicKey: string(pub)})
			if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: "register:" + p.Sub, Type: rooms.CmdRegisterBidder, Data: data}); err != nil {
				return err
			}
			info.Keys[p.Sub], keys[p.Sub] = priv, key
			p.KeyURL = "/api/v1/demo/keys/" + p.Sub
			bidders = append(bidders, p)
			// A sample bid, sealed with that key before the deadline, so the
			// newcomer unlocks it in the browser at the opening.
			if err := submitDemoBid(ctx, svc, blobStore, room, p.Sub, key); err != nil {
				return fmt.Errorf("demo bid of %s: %w", p.Sub, err)
			}
		}
		grants := []string{auth.GrantView}
		if p.Role == rooms.RoleHost {
			grants = append(grants, auth.GrantPublish)
		}
		tok, _, err := issuer.Mint(auth.Request{Room: room, Role: p.Role, Sub: p.Sub, Name: p.Name, Grants: grants, TTL: cfg.Auth.TokenTTL})
		if err != nil {
			return err
		}
		p.Token = tok
		info.People = append(info.People, p)
	}
	ev, err := d.createEvaluation(ctx, svc, log, issuer, blobStore, platform, cfg, now, bidders, keys, info.Keys)
	if err != nil {
		return fmt.Errorf("the demo's evaluation: %w", err)
	}
	info.Evaluation = ev
	d.bot.logger = logger
	auctionRoom := "demo-auction-" + d.stamp
	au, played, err := createDemoAuction(ctx, log, issuer, cfg.Auth.TokenTTL, auctionRoom, now, now.Add(demoAuctionLead))
	if err != nil {
		return fmt.Errorf("the demo's auction: %w", err)
	}
	info.Auction = au
	d.auctionBot = &demoAuctionBot{svc: svc, room: auctionRoom, bidders: played, max: demoAuctionBotBids, pause: demoAuctionPause, logger: logger}
	d.mu.Lock()
	d.room, d.info = room, info
	d.mu.Unlock()
	return nil
}

// createEvaluation runs yesterday's opening to its signed record, seeds
// the pool and convenes the evaluation of that opening; it mints the
// tokens of the evaluation's people and prepares the bot.
func (d *demoSession) createEvaluation(ctx context.Context, svc *rooms.Service, log rooms.Log, issuer *auth.Issuer, blobStore *blobs.Store,
	platform *decrypt.PrivateKey, cfg configs.Config, now time.Time, bidders []api.DemoToken, keys map[string]*decrypt.PrivateKey,
	pems map[string][]byte) (*api.DemoEvaluation, error) {
	opening, evalRoom := "demo-opened-"+d.stamp, "demo-eval-"+d.stamp
	if err := runDemoOpening(ctx, log, issuer, blobStore, platform, cfg, opening, bidders, keys); err != nil {
		return nil, fmt.Errorf("yesterday's opening: %w", err)
	}
	for _, x := range demoExperts {
		key, err := decrypt.GenerateKey()
		if err != nil {
			return nil, err
		}
		if pems[x.ID], err = key.MarshalPEM(nil); err != nil {
			return nil, err
		}
		keys[x.ID] = key
	}
	if err := seedDemoPool(ctx, svc, keys); err != nil {
		return nil, fmt.Errorf("the pool: %w", err)
	}
	members, err := createDemoEvaluation(ctx, svc, evalRoom, opening)
	if err != nil {
		return nil, err
	}
	people, played := demoEvaluationPeople(members, bidders)
	ev := &api.DemoEvaluation{Room: evalRoom, Opening: opening}
	for _, p := range people {
		p.Room, p.KeyURL = evalRoom, ""
		grants := []string{auth.GrantView}
		switch p.Role {
		case rooms.RoleExpert:
			grants = append(grants, auth.GrantPublish)
			p.KeyURL = "/api/v1/demo/keys/" + p.Sub
		case rooms.RoleBidder:
			p.Room, p.KeyURL = opening, "/api/v1/demo/keys/"+p.Sub
		}
		tok, _, err := issuer.Mint(auth.Request{Room: p.Room, Role: p.Role, Sub: p.Sub, Name: p.Name, Grants: grants, TTL: cfg.Auth.TokenTTL})
		if err != nil {
			return nil, err
		}
		p.Token = tok
		ev.People = append(ev.People, p)
	}
	d.bot = &demoBot{svc: svc, room: evalRoom, keys: map[string]*decrypt.PrivateKey{}}
	for _, id := range played {
		d.bot.keys[id] = keys[id]
	}
	for _, m := range members {
		if d.bot.keys[m.Expert] != nil {
			ev.Played = append(ev.Played, m.Name)
		}
	}
	return ev, nil
}

// listenMetrics opens server.metrics_listen, a listener of its own that
// serves only /metrics, for Prometheus to scrape from the private network.
// It returns nils when no address is configured.
func listenMetrics(addr string, h http.Handler) (*http.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s (server.metrics_listen): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// movableClock is the wall clock plus an offset that only grows: the
// server's clock with testing.movable_clock, for end-to-end tests.
type movableClock struct {
	mu     sync.Mutex // guards offset
	offset time.Duration
}

func (c *movableClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *movableClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	return c.now()
}

// apiCenters is the configured centers as the API knows them (the config
// was validated at load).
func apiCenters(cfg configs.Config) []api.Center {
	list, _ := cfg.CenterList()
	out := make([]api.Center, 0, len(list))
	for _, c := range list {
		out = append(out, api.Center{ID: c.ID, Name: c.Name, Main: c.Main})
	}
	return out
}
