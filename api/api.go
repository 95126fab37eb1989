package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// Deps is what the router serves.
type Deps struct {
	Svc          *rooms.Service
	Issuer       *auth.Issuer
	AdminKey     string
	TokenTTL     time.Duration // default lifetime of minted tokens
	CheckInLead  time.Duration // default sign-in opening before the deadline
	MaxBodyBytes int64
	WS           http.Handler                    // the websocket endpoint
	Web          http.Handler                    // the UI (nil for none)
	Metrics      http.Handler                    // Prometheus exposition
	MetricsToken string                          // bearer that unlocks /metrics on this router; "" = not served here
	Ready        func(ctx context.Context) error // readiness: the store answers
	Demo         func() *Demo                    // the demo session, nil when off
	Logger       *slog.Logger
	Blobs        *blobs.Store        // sealed bid files
	Platform     *decrypt.PrivateKey // signs receipts
	MaxBidBytes  int64               // largest sealed bid accepted
	MediaHTTP    http.Handler        // WHIP/WHEP (nil: media off)
	Media        MediaInfo           // the SFU's roster and stats (nil: media off)
	// MediaElsewhere answers a media roster request from the instance that
	// holds the room's media when that is another one, and reports whether
	// it did (media/placement.Placement.Elsewhere); nil with one instance.
	MediaElsewhere func(w http.ResponseWriter, r *http.Request, room string) bool
	// AdvanceClock moves the server's clock forward and returns the new
	// time (testing.movable_clock); nil on every real server.
	AdvanceClock func(d time.Duration) time.Time
	// Bonds is the center's bond system, asked for auction deposits; nil
	// when none is configured (the admin enters them by hand).
	Bonds bond.Checker
	// RecordDir is where the media recorder keeps its files, for the
	// archive.
	RecordDir string
	// ArchiveDir keeps each archived session's verified tar; Retention is
	// how long a finished session's live files stay before a prune (0:
	// never).
	ArchiveDir string
	Retention  time.Duration
	// Centers are the trading centers (the main one first); empty means
	// one main center, "city".
	Centers []Center
	// SignIns keeps the key sign-in challenges where every instance sees
	// them (Redis); nil keeps them in this instance's memory.
	SignIns ChallengeStore
	// GC collects the blob store's garbage on POST /api/v1/blobs/gc (the
	// admin key); nil answers 503.
	GC *blobgc.Collector
	// Commands is told of every room command sent over REST (POST
	// .../commands): its type, its outcome and how long it took, for the
	// same metrics as the websocket's (signaling.Server.ObserveCommand);
	// nil for none.
	Commands func(command string, err error, took time.Duration)
}

// Demo describes the demo session and hands out its tokens and its
// bidders' private keys (throwaway keys made at start, for the demo only).
type Demo struct {
	Room       string            `json:"room"`
	People     []DemoToken       `json:"people"`
	Evaluation *DemoEvaluation   `json:"evaluation,omitempty"`
	Auction    *DemoAuction      `json:"auction,omitempty"`
	Keys       map[string][]byte `json:"-"` // bidder or expert sub → private key PEM, served by GET /api/v1/demo/keys/:sub
}

// DemoEvaluation is the demo's second part: yesterday's finished opening
// and its evaluation, with the members a newcomer plays, a supervisor and
// the opening's bidders; Played names the members the demo plays itself.
type DemoEvaluation struct {
	Room    string      `json:"room"`    // the evaluation
	Opening string      `json:"opening"` // the finished opening it scores
	People  []DemoToken `json:"people"`
	Played  []string    `json:"played"`
}

// DemoToken is one clickable identity of the demo.
type DemoToken struct {
	Role   rooms.Role `json:"role"`
	Sub    string     `json:"sub"`
	Name   string     `json:"name"`
	Token  string     `json:"token"`
	Room   string     `json:"room,omitempty"`    // the room the token is for, when not the demo session's
	KeyURL string     `json:"key_url,omitempty"` // bidders and experts: where their demo private key is downloaded
}

// NewRouter builds the HTTP handler of the whole server.
func NewRouter(d Deps) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), requestLog(d.Logger), bodyLimit(d.MaxBodyBytes))
	a := &handlers{Deps: d}

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", a.ready)
	r.GET("/metrics", a.metrics)
	r.GET("/ws", gin.WrapH(d.WS))

	v1 := r.Group("/api/v1")
	v1.GET("/time", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"server_time": d.Svc.Now()}) })
	v1.POST("/tokens", a.admin, a.mintToken)
	v1.GET("/sessions", a.listSessions)
	v1.GET("/centers", a.listCenters)
	v1.GET("/credit", a.creditRecords)
	v1.POST("/sessions", a.admin, a.createSession)
	v1.GET("/sessions/:id", a.getSession)
	v1.POST("/sessions/:id/bidders", a.admin, a.registerBidder)
	v1.POST("/sessions/:id/commands", a.command)
	v1.POST("/pool/experts", a.admin, a.importExperts)
	v1.GET("/pool/experts", a.listExperts)
	v1.GET("/pool/experts/:id", a.getExpert)
	v1.PUT("/pool/experts/:id", a.admin, a.updateExpert)
	v1.POST("/pool/experts/:id/suspend", a.suspendExpert)
	v1.POST("/pool/experts/:id/reinstate", a.reinstateExpert)
	v1.POST("/pool/experts/:id/credit", a.adjustCredit)
	v1.GET("/pool/specialties", a.listSpecialties)
	v1.POST("/evaluations", a.admin, a.createEvaluation)
	v1.POST("/evaluations/:id/draw", a.admin, a.drawCommittee)
	v1.POST("/evaluations/:id/report", a.signReport)
	v1.GET("/evaluations/:id/report.html", a.evaluationReportHTML)
	v1.GET("/evaluations/:id/report", a.evaluationReportJSON)
	v1.GET("/evaluations/:id/documents/:bidder", a.evaluationDocument)
	v1.GET("/sessions/:id/clarifications", a.listClarifications)
	v1.POST("/sessions/:id/clarifications/:evaluation/:question", a.answerClarification)
	v1.GET("/evaluations/:id/publicity", a.publicity)
	v1.POST("/evaluations/:id/notices", a.admin, a.issueNotices)
	v1.GET("/sessions/:id/results", a.openingResults)
	v1.POST("/sessions/:id/results/:evaluation/objections", a.raiseObjection)
	v1.GET("/sessions/:id/ratings", a.hostRatingsAll)
	v1.GET("/sessions/:id/results/:evaluation/ratings", a.hostRatings)
	v1.POST("/sessions/:id/results/:evaluation/ratings", a.rateAsHost)
	v1.POST("/auctions", a.admin, a.createAuction)
	v1.POST("/auctions/:id/bidders", a.admin, a.registerAuctionBidder)
	v1.POST("/auctions/:id/deposits", a.admin, a.recordDeposit)
	v1.GET("/auctions/:id/ticker", a.auctionTicker)
	v1.GET("/demo", a.demo)
	v1.POST("/testing/clock", a.admin, a.advanceClock)
	v1.GET("/demo/keys/:sub", a.demoKey)
	v1.GET("/platform-key", a.platformKey)
	v1.POST("/sessions/:id/bids/uploads", a.createUpload)
	v1.GET("/sessions/:id/bids/uploads/:upload", a.uploadStatus)
	v1.PATCH("/sessions/:id/bids/uploads/:upload", a.appendUpload)
	v1.POST("/sessions/:id/bids/uploads/:upload/complete", a.completeUpload)
	v1.DELETE("/sessions/:id/bids/mine", a.withdrawBid)
	v1.GET("/sessions/:id/bids/mine/unlock", a.unlockChallenge)
	v1.POST("/sessions/:id/bids/mine/unlock", a.unlock)
	v1.POST("/sessions/:id/bids/mine/unlock/failure", a.reportUnlockFailure)
	v1.POST("/sessions/:id/bids/mine/backup/uploads", a.createBackupUpload)
	v1.PATCH("/sessions/:id/bids/mine/backup/uploads/:upload", a.appendBackupUpload)
	v1.POST("/sessions/:id/bids/mine/backup/uploads/:upload/complete", a.completeBackupUpload)
	v1.GET("/sessions/:id/confirm/challenge", a.confirmChallenge)
	v1.POST("/sessions/:id/confirm", a.confirmSigned)
	v1.GET("/sessions/:id/signin/challenge", a.signInChallenge)
	v1.POST("/sessions/:id/signin", a.signIn)
	v1.POST("/sessions/:id/record", a.makeRecord)
	v1.GET("/sessions/:id/record", a.getRecord)
	v1.GET("/sessions/:id/record.html", a.getRecordHTML)
	v1.GET("/sessions/:id/log", a.getLog)
	v1.GET("/sessions/:id/archive", a.admin, a.exportArchive)
	v1.POST("/sessions/:id/archive", a.admin, a.storeArchive)
	v1.POST("/sessions/:id/prune", a.admin, a.pruneSession)
	v1.GET("/stats", a.stats)
	v1.GET("/stats/export", a.statsExport)
	v1.GET("/outbox", a.admin, a.getOutbox)
	v1.POST("/blobs/gc", a.admin, a.collectBlobs)

	v1.GET("/sessions/:id/media", a.mediaInfo)

	media := func(c *gin.Context) {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "media is off on this server (media.enabled: false)")
	}
	if d.MediaHTTP != nil {
		media = gin.WrapH(d.MediaHTTP)
	}
	for _, p := range []string{"/whip/:room", "/whip/:room/:res", "/whep/:room", "/whep/:room/:res"} {
		r.Any(p, media)
	}

	if d.Web != nil {
		r.NoRoute(gin.WrapH(d.Web))
	}
	return r
}

type handlers struct {
	Deps
	unlocks unlockLocks
	signIns challenges
}

// apiError writes {"error":{"code","message"}} with a status that fits.
func apiError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}

// fail maps an error from the domain to a response; anything else is a
// server error whose detail goes to the log, not the client.
func (a *handlers) fail(c *gin.Context, err error) {
	code := rooms.RefusalCode(err)
	status := map[string]int{
		rooms.CodeForbidden: http.StatusForbidden, rooms.CodeNotFound: http.StatusNotFound,
		rooms.CodeInvalid: http.StatusBadRequest, rooms.CodeUnknownCommand: http.StatusBadRequest,
		rooms.CodeWrongState: http.StatusConflict, rooms.CodeTooEarly: http.StatusConflict,
		rooms.CodeConflict: http.StatusConflict,
	}[code]
	if code == "" && errors.Is(err, blobs.ErrNotFound) {
		code, status = "not_found", http.StatusNotFound
	}
	if status == 0 {
		a.Logger.Error("api: request failed", "path", c.FullPath(), "err", err)
		apiError(c, http.StatusInternalServerError, "server_error", "the server could not complete the request; retry")
		return
	}
	apiError(c, status, code, err.Error())
}

func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return ""
	}
	return strings.TrimPrefix(h, "Bearer ")
}

// adminActor is who a request made with the admin API key acts as.
var adminActor = rooms.Actor{Sub: "admin-api", Role: rooms.RoleAdmin}

// bearerActor authenticates the bearer token: the admin API key acts as
// the admin (with nil claims); any other must be a token the issuer
// signed, whose claims the caller checks against what is asked. It
// answers a 401 itself.
func (a *handlers) bearerActor(c *gin.Context) (rooms.Actor, *auth.Claims, bool) {
	tok := bearer(c)
	if auth.KeyMatches(tok, a.AdminKey) {
		return adminActor, nil, true
	}
	claims, err := a.Issuer.Verify(tok)
	if err != nil {
		apiError(c, http.StatusUnauthorized, "unauthorized", err.Error())
		return rooms.Actor{}, nil, false
	}
	if claims.ReadOnly() && c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the oversight reads only: it changes nothing")
		return rooms.Actor{}, nil, false
	}
	return claims.Actor(), claims, true
}

// actorFor authenticates a request for room: the admin key, or a token
// valid for that room.
func (a *handlers) actorFor(c *gin.Context, room string) (rooms.Actor, bool) {
	actor, claims, ok := a.bearerActor(c)
	if !ok || claims == nil {
		return actor, ok
	}
	if !claims.Allows(room, a.Svc.CenterOf(c.Request.Context(), room)) {
		if claims.Room == auth.AnyRoom { // another center's room, or none: the same answer
			apiError(c, http.StatusNotFound, rooms.CodeNotFound, "session "+room+" does not exist in your center")
			return rooms.Actor{}, false
		}
		apiError(c, http.StatusForbidden, "forbidden", "this token is not valid for session "+room)
		return rooms.Actor{}, false
	}
	// A bidder token for a sub the session never registered gets a refusal,
	// not an outsider's view. A missing session is the handler's to report.
	if err := a.Svc.Admit(c.Request.Context(), room, actor); err != nil && rooms.RefusalCode(err) != rooms.CodeNotFound {
		a.fail(c, err)
		return rooms.Actor{}, false
	}
	return actor, true
}

// bind decodes a JSON body strictly.
func bind(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
			return false
		}
		apiError(c, http.StatusBadRequest, "invalid", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// metrics serves Prometheus metrics on the main listener only to a caller
// with the metrics token: per-command and per-room figures would tell a
// bidder how busy a session is before its deadline.
func (a *handlers) metrics(c *gin.Context) {
	if a.Metrics == nil || a.MetricsToken == "" {
		apiError(c, http.StatusNotFound, "not_found", "metrics are not served on this address; the operator sets server.metrics_listen or server.metrics_token")
		return
	}
	if !auth.KeyMatches(bearer(c), a.MetricsToken) {
		apiError(c, http.StatusUnauthorized, "unauthorized", "/metrics needs server.metrics_token as a bearer token")
		return
	}
	a.Metrics.ServeHTTP(c.Writer, c.Request)
}

// ErrDraining is what Deps.Ready returns once the instance is shutting
// down: GET /readyz answers 503 draining, so a load balancer sends new
// requests to another instance (GET /healthz, liveness, still answers 200).
var ErrDraining = errors.New("this instance is shutting down")

func (a *handlers) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		if errors.Is(err, ErrDraining) { // expected while it lasts: no log line per probe
			apiError(c, http.StatusServiceUnavailable, "draining", "this instance is shutting down; use another")
			return
		}
		a.Logger.Warn("not ready", "err", err)
		apiError(c, http.StatusServiceUnavailable, "unavailable", "the event store is not reachable")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

type tokenRequest struct {
	Room   string     `json:"room"`
	Role   rooms.Role `json:"role"`
	Sub    string     `json:"sub"`
	Name   string     `json:"name,omitempty"`
	Grants []string   `json:"grants,omitempty"`
	TTL    string     `json:"ttl,omitempty"` // Go duration, e.g. "2h"
	// Center is a wildcard admin or supervisor token's center (an id;
	// default the caller's, or the main center for the admin key).
	Center string `json:"center,omitempty"`
}

func (a *handlers) mintToken(c *gin.Context) {
	var req tokenRequest
	if !bind(c, &req) {
		return
	}
	ttl := a.TokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			apiError(c, http.StatusBadRequest, "invalid", "ttl must be a duration such as 90m or 12h")
			return
		}
		ttl = d
	}
	if req.Role == rooms.RoleExpert && req.Room != "*" {
		// A token the room would refuse at every door helps nobody: say so now.
		if sum, err := a.Svc.Summary(c.Request.Context(), req.Room); err == nil && sum.Kind == rooms.KindOpening {
			apiError(c, http.StatusBadRequest, "invalid", "evaluation experts do not attend the opening (R21): mint the expert's token for the evaluation room")
			return
		}
	}
	center, err := a.tokenCenter(c, req)
	if err != nil {
		a.fail(c, err)
		return
	}
	tok, exp, err := a.Issuer.Mint(auth.Request{Room: req.Room, Role: req.Role, Sub: req.Sub, Name: req.Name, Grants: req.Grants, Center: center, TTL: ttl})
	if err != nil {
		apiError(c, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": exp})
}

// tokenCenter checks that the caller may mint req and returns the token's
// center key: a center admin mints for its own center's rooms and
// wildcard admin and supervisor tokens of its own center, never the
// oversight's; the admin key mints anything.
func (a *handlers) tokenCenter(c *gin.Context, req tokenRequest) (string, error) {
	sc := adminScope(c)
	if req.Room != auth.AnyRoom {
		if req.Center != "" {
			return "", &rooms.Refusal{Code: rooms.CodeInvalid, Msg: "center is for wildcard (room \"*\") tokens; a room's token works in that room"}
		}
		if !a.roomIn(c.Request.Context(), sc, req.Room) {
			return "", &rooms.Refusal{Code: rooms.CodeNotFound, Msg: "session " + req.Room + " does not exist in your center"}
		}
		return "", nil
	}
	if req.Role == auth.RoleOversight {
		if !sc.Root {
			return "", &rooms.Refusal{Code: rooms.CodeForbidden, Msg: "only the platform's admin key mints the oversight's token"}
		}
		if req.Center != "" {
			return "", &rooms.Refusal{Code: rooms.CodeInvalid, Msg: "the oversight reads every center: leave center out"}
		}
		return "", nil
	}
	key, err := a.centerKey(req.Center)
	if err != nil {
		return "", err
	}
	if req.Center == "" && !sc.All {
		key = sc.Centers[0]
	}
	if !sc.Sees(key) {
		return "", &rooms.Refusal{Code: rooms.CodeForbidden, Msg: "you mint tokens for your own center, not " + a.centerID(key)}
	}
	return key, nil
}

// SessionSummary is one row of the session list.
type SessionSummary struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Category string    `json:"category"`
	Kind     string    `json:"kind"`
	Phase    string    `json:"phase"`
	Deadline time.Time `json:"deadline,omitzero"`
	Center   string    `json:"center,omitempty"` // the center's id; none for the shared pool
}

func (a *handlers) listSessions(c *gin.Context) {
	sc, ok := a.scope(c)
	if !ok {
		return
	}
	ids, err := a.Svc.Rooms(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]SessionSummary, 0, len(ids))
	for _, id := range ids {
		sum, err := a.Svc.Summary(c.Request.Context(), id)
		if err != nil {
			if rooms.RefusalCode(err) == rooms.CodeNotFound {
				continue
			}
			a.fail(c, err)
			return
		}
		if !sc.Sees(sum.Center) || sum.Center == rooms.SharedCenter && !sc.All && !sc.Sees("") {
			continue // another center's; the shared pool is listed to the main center
		}
		center := ""
		if sum.Center != rooms.SharedCenter {
			center = a.centerID(sum.Center)
		}
		out = append(out, SessionSummary{ID: id, Title: sum.Title, Category: sum.Category, Kind: sum.Kind, Phase: sum.Phase, Deadline: sum.Deadline, Center: center})
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

type createRequest struct {
	ID string `json:"id,omitempty"`
	rooms.SessionSpec
	Bidders []rooms.BidderSpec `json:"bidders,omitempty"`
}

func newSessionID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "s-" + hex.EncodeToString(b[:])
}

func (a *handlers) createSession(c *gin.Context) {
	var req createRequest
	if !bind(c, &req) {
		return
	}
	if req.ID == "" {
		req.ID = newSessionID()
	}
	if !rooms.ValidID(req.ID) {
		apiError(c, http.StatusBadRequest, "invalid", "id must be 1-64 letters, digits, '.', '_' or '-'")
		return
	}
	if req.CheckInAt.IsZero() && !req.Deadline.IsZero() {
		req.CheckInAt = req.Deadline.Add(-a.CheckInLead)
		if now := a.Svc.Now(); req.CheckInAt.Before(now) {
			req.CheckInAt = now
		}
	}
	if len(req.Bidders) > 5000 {
		apiError(c, http.StatusBadRequest, "invalid", "at most 5000 bidders per request")
		return
	}
	actor := c.MustGet("actor").(rooms.Actor)
	ctx := c.Request.Context()
	center, err := a.checkCreate(adminScope(c), req.Center)
	if err != nil {
		a.fail(c, err)
		return
	}
	req.Center = center
	key := idempotencyKey(c)
	spec, _ := json.Marshal(req.SessionSpec)
	if _, err := a.Svc.Execute(ctx, req.ID, actor, rooms.Command{ID: "create:" + key, Type: rooms.CmdCreateSession, Data: spec}); err != nil {
		a.fail(c, err)
		return
	}
	for _, b := range req.Bidders {
		if err := a.register(ctx, req.ID, actor, b, key); err != nil {
			a.fail(c, fmt.Errorf("session %s created, but bidder %q: %w", req.ID, b.ID, err))
			return
		}
	}
	a.respondSession(c, req.ID, actor, http.StatusCreated)
}

func (a *handlers) register(ctx context.Context, room string, actor rooms.Actor, b rooms.BidderSpec, key string) error {
	data, _ := json.Marshal(b)
	_, err := a.Svc.Execute(ctx, room, actor, rooms.Command{ID: "register:" + b.ID + ":" + key, Type: rooms.CmdRegisterBidder, Data: data})
	return err
}

// idempotencyKey is the request's Idempotency-Key header, so a client that
// retries after a timeout gets the original result; without one every
// request is new (and creating an existing session is refused).
func idempotencyKey(c *gin.Context) string {
	if k := c.GetHeader("Idempotency-Key"); k != "" && len(k) <= 64 {
		return k
	}
	return uuid.NewString()
}

func (a *handlers) respondSession(c *gin.Context, room string, actor rooms.Actor, status int) {
	snap, err := a.Svc.Snapshot(c.Request.Context(), room, actor)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(status, gin.H{"id": room, "seq": seqFor(actor, snap), "state": snap.View})
}

// seqFor hides the room sequence from non-staff, like the websocket does.
func seqFor(actor rooms.Actor, snap rooms.Snapshot) *uint64 {
	if actor.Role.IsStaff() {
		return &snap.Seq
	}
	return nil
}

func (a *handlers) getSession(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	a.respondSession(c, room, actor, http.StatusOK)
}

func (a *handlers) registerBidder(c *gin.Context) {
	room := c.Param("id")
	var b rooms.BidderSpec
	if !bind(c, &b) {
		return
	}
	if err := a.register(c.Request.Context(), room, c.MustGet("actor").(rooms.Actor), b, idempotencyKey(c)); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": b.ID, "name": b.Name})
}

// command runs a room command over REST, for clients without a websocket.
func (a *handlers) command(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	var cmd rooms.Command
	if !bind(c, &cmd) {
		return
	}
	start := time.Now()
	err := rooms.CheckClientCommand(cmd.Type)
	var res rooms.Result
	if err == nil {
		res, err = a.Svc.Execute(c.Request.Context(), room, actor, cmd)
	}
	if a.Commands != nil {
		a.Commands(cmd.Type, err, time.Since(start))
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	out := gin.H{"id": cmd.ID, "duplicate": res.Duplicate}
	if actor.Role.IsStaff() {
		out["first"], out["last"] = res.First, res.Last
	}
	c.JSON(http.StatusOK, out)
}

func (a *handlers) demo(c *gin.Context) {
	var d *Demo
	if a.Demo != nil {
		d = a.Demo()
	}
	if d == nil {
		apiError(c, http.StatusNotFound, "not_found", "this server runs no demo session")
		return
	}
	c.JSON(http.StatusOK, d)
}

// demoKey serves a demo bidder's private key file: the demo's keys are made
// at start for the demo session only, so a newcomer can try the key
// sign-in. No other session's key is ever held by the server.
func (a *handlers) demoKey(c *gin.Context) {
	var d *Demo
	if a.Demo != nil {
		d = a.Demo()
	}
	if d == nil {
		apiError(c, http.StatusNotFound, "not_found", "this server runs no demo session")
		return
	}
	sub := c.Param("sub")
	key, ok := d.Keys[sub]
	if !ok {
		apiError(c, http.StatusNotFound, "not_found", "the demo has no key for "+sub)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="`+sub+`.key.pem"`)
	c.Data(http.StatusOK, "application/x-pem-file", key)
}

// bodyLimit bounds every request body except bid upload parts, which are
// streamed to disk and bounded by the size the upload was created with.
func bodyLimit(n int64) gin.HandlerFunc {
	if n <= 0 {
		n = 1 << 20
	}
	return func(c *gin.Context) {
		upload := c.Request.Method == http.MethodPatch && (c.FullPath() == "/api/v1/sessions/:id/bids/uploads/:upload" ||
			c.FullPath() == "/api/v1/sessions/:id/bids/mine/backup/uploads/:upload")
		// WHIP/WHEP bound their SDP bodies themselves (media.max_sdp_bytes).
		sdp := strings.HasPrefix(c.Request.URL.Path, "/whip/") || strings.HasPrefix(c.Request.URL.Path, "/whep/")
		// An expert import bounds its own body (maxImportBytes).
		imports := c.FullPath() == "/api/v1/pool/experts"
		if upload || sdp || imports {
			c.Next()
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

// requestLog logs each request's method, route (never the query, which may
// hold a token), status and duration.
func requestLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(static)"
		}
		logger.Debug("http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(),
			"ms", time.Since(start).Milliseconds())
	}
}

// openingView is actor's view of an opening room, or false after answering
// the request itself (no such room, not admitted, or not an opening).
func (a *handlers) openingView(c *gin.Context, room string, actor rooms.Actor) (rooms.OpeningView, bool) {
	snap, err := a.Svc.Snapshot(c.Request.Context(), room, actor)
	if err != nil {
		a.fail(c, err)
		return rooms.OpeningView{}, false
	}
	v, ok := snap.Opening()
	if !ok {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, fmt.Sprintf("%s is not an opening session", room))
	}
	return v, ok
}
