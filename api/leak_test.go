package api_test

// The leak test of issue 17: whatever a bidder can fetch before the
// read-out must not depend on the sealed terms (标底, budget, deviation)
// or, before the deadline, on anyone else's participation. Two worlds run
// the same script and differ only in those secrets; every answer the
// bidder, an unregistered sub and a bidder of another session get is
// compared byte for byte between the worlds, so a new field carrying a
// secret fails the test without the test knowing its name. On top, the
// secret values are searched for in every answer, the static pages and the
// server's logs.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
	"github.com/bidroom/bidroom/web"
)

const (
	leakRoom  = "leak-1"
	otherRoom = "leak-2"
	bidderA   = "bidder-a-4471"
)

// leakOther is a bidder other than A.
type leakOther struct {
	ID, Name   string
	Submit     bool
	SignIn     bool
	Digest     string // of the sealed bid
	Price      string // on the opening sheet
	FailFirst  bool   // the first unlock attempt fails
	PublicKeyP bool   // registered with a key
}

// leakWorld is one run of the script: the secrets it holds.
type leakWorld struct {
	Reserve, Budget string
	Deviation       int
	Others          []leakOther
	StopAt          rooms.Phase // the last phase the script reaches
}

// leakEnv is a whole server on a fixed clock: REST, websocket, pages.
type leakEnv struct {
	t      *testing.T
	url    string
	issuer *auth.Issuer
	svc    *rooms.Service
	logs   *syncBuffer
	mu     sync.Mutex
	now    time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var leakStart = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)

func newLeakEnv(t *testing.T, platform *decrypt.PrivateKey) *leakEnv {
	t.Helper()
	dir := t.TempDir()
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	e := &leakEnv{t: t, now: leakStart, logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = rooms.NewService(log, func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.now
	})
	e.issuer, _ = auth.NewIssuer([]byte(strings.Repeat("k", 32)), func() time.Time { return time.Now() })
	bs, err := blobs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ws := signaling.New(e.svc, e.issuer, signaling.Config{}, logger, prometheus.NewRegistry())
	t.Cleanup(func() { _ = ws.Close(context.Background()) })
	r := api.NewRouter(api.Deps{
		Svc: e.svc, Issuer: e.issuer, AdminKey: adminKey, TokenTTL: time.Hour, CheckInLead: time.Hour,
		MaxBodyBytes: 1 << 20, WS: ws, Web: web.Handler(), Logger: logger,
		Metrics: http.NotFoundHandler(), MetricsToken: "",
		Ready: func(ctx context.Context) error { _, err := log.Rooms(ctx); return err },
		Blobs: bs, Platform: platform, MaxBidBytes: 1 << 30,
	})
	hs := httptest.NewServer(r)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

func (e *leakEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *leakEnv) token(room string, role rooms.Role, sub string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: room, Role: role, Sub: sub, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *leakEnv) exec(room string, actor rooms.Actor, typ string, data any) {
	e.t.Helper()
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	id := fmt.Sprintf("%s-%s-%s-%d", typ, actor.Role, actor.Sub, e.svc.Head(room))
	if _, err := e.svc.Execute(context.Background(), room, actor, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
		e.t.Fatalf("%s by %s:%s: %v", typ, actor.Role, actor.Sub, err)
	}
}

// get answers status and body of a request, as bytes.
func (e *leakEnv) get(method, path, bearer string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// dial opens the websocket; on a refused handshake it answers the
// response's status and body instead.
func (e *leakEnv) dial(query, token string) (*websocket.Conn, int, []byte) {
	e.t.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/ws?"+query, hdr)
	if err != nil {
		if resp == nil {
			e.t.Fatalf("dial %s: %v", query, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, b
	}
	e.t.Cleanup(func() { c.Close() })
	return c, http.StatusSwitchingProtocols, nil
}

func readFrame(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return b
}

func frameType(b []byte) (string, uint64) {
	var f struct {
		Type string `json:"type"`
		Pos  uint64 `json:"pos"`
	}
	_ = json.Unmarshal(b, &f)
	return f.Type, f.Pos
}

// observe collects every answer viewer (a token) can get at this point:
// name → bytes. Answers that hold fresh randomness (challenges) go to
// scanOnly: searched for secrets, not compared between worlds.
func (e *leakEnv) observe(token string, scanOnly map[string][]byte) map[string][]byte {
	t := e.t
	t.Helper()
	obs := map[string][]byte{}
	put := func(name string, status int, b []byte) { obs[name] = append([]byte(fmt.Sprintf("%d ", status)), b...) }
	base := "/api/v1/sessions/" + leakRoom
	for _, p := range []string{"", "/record", "/record.html", "/log", "/media?hall=opening", "/media?hall=evaluation",
		"/bids/uploads/nope", "/confirm/challenge"} {
		st, b := e.get("GET", base+p, token, nil)
		put("GET "+p, st, b)
	}
	for _, p := range []string{"/signin/challenge", "/bids/mine/unlock"} {
		st, b := e.get("GET", base+p, token, nil)
		scanOnly["GET "+p+" "+time.Now().String()] = b
		put("GET "+p+" status", st, nil)
	}
	// Commands a bidder may not give, and ones that fit no phase: the
	// refusals must not quote anything sealed.
	for _, typ := range []string{rooms.CmdStartReadOut, rooms.CmdAnnounce, rooms.CmdCreateSession, rooms.CmdRegisterBidder,
		rooms.CmdRecordUnlock, rooms.CmdClassify, rooms.CmdObject, "no_such_command"} {
		st, b := e.get("POST", base+"/commands", token, map[string]any{"id": "probe-" + typ, "type": typ, "data": map[string]string{}})
		put("POST command "+typ, st, b)
	}
	st, b := e.get("POST", base+"/record", token, nil)
	put("POST /record", st, b)

	// The websocket: a fresh snapshot, then a replay of the whole stream.
	c, status, body := e.dial("room="+leakRoom, token)
	if c == nil {
		put("ws", status, body)
		return obs
	}
	welcome, snap := readFrame(t, c), readFrame(t, c)
	c.Close()
	put("ws welcome", status, welcome)
	put("ws snapshot", status, snap)
	typ, pos := frameType(snap)
	if typ != "snapshot" {
		t.Fatalf("second frame is %s, not the snapshot: %s", typ, snap)
	}
	c, status, body = e.dial("room="+leakRoom+"&pos=0", token)
	if c == nil {
		t.Fatalf("resume refused after a snapshot was given: %d %s", status, body)
	}
	var replay [][]byte
	for range pos + 2 { // welcome, resumed, the events
		replay = append(replay, readFrame(t, c))
	}
	c.Close()
	put("ws replay", status, bytes.Join(replay, []byte("\n")))
	return obs
}

// leakViewers are the three who must learn nothing sealed.
type leakViewers struct{ bidder, stranger, otherSession string }

// runLeakWorld drives one world through the script, observing at every
// phase before the read-out, and answers the observations by phase, the
// scan-only answers, the live websocket stream of A, and the env.
func runLeakWorld(t *testing.T, platform *decrypt.PrivateKey, w leakWorld) (map[rooms.Phase]map[string][]byte, map[string][]byte, *leakEnv) {
	e := newLeakEnv(t, platform)
	admin := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	host := rooms.Actor{Sub: "host-1", Role: rooms.RoleHost}
	bidder := func(id string) rooms.Actor { return rooms.Actor{Sub: id, Role: rooms.RoleBidder} }
	spec := func(reserve, budget string, dev int) rooms.SessionSpec {
		return rooms.SessionSpec{
			Title: "泄密检查工程施工", Section: "LK-2026-001", Category: "construction",
			Deadline: leakStart.Add(time.Hour), CheckInAt: leakStart.Add(10 * time.Minute), ControlPrice: "99999999.00",
			SealedTerms:          rooms.SealedTerms{ReservePrice: reserve, Budget: budget, BudgetDeviationPct: dev},
			DecryptWindowMinutes: 30, ConfirmWindowMinutes: 5,
		}
	}
	e.exec(leakRoom, admin, rooms.CmdCreateSession, spec(w.Reserve, w.Budget, w.Deviation))
	e.exec(leakRoom, admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: bidderA, Name: "甲泄密测试建设有限公司"})
	for _, o := range w.Others {
		bs := rooms.BidderSpec{ID: o.ID, Name: o.Name}
		if o.PublicKeyP {
			k, err := decrypt.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			pem, _ := k.Public().MarshalPEM()
			bs.PublicKey = string(pem)
		}
		e.exec(leakRoom, admin, rooms.CmdRegisterBidder, bs)
	}
	// Another session, with its own sealed terms and bidder.
	e.exec(otherRoom, admin, rooms.CmdCreateSession, spec(w.Reserve, w.Budget, w.Deviation))
	e.exec(otherRoom, admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: "bidder-other-room", Name: "另一项目投标人有限公司"})

	v := leakViewers{
		bidder:       e.token(leakRoom, rooms.RoleBidder, bidderA),
		stranger:     e.token(leakRoom, rooms.RoleBidder, "unregistered-sub-9"),
		otherSession: e.token(otherRoom, rooms.RoleBidder, "bidder-other-room"),
	}
	// A's live websocket, open for the whole run.
	live, status, body := e.dial("room="+leakRoom, v.bidder)
	if live == nil {
		t.Fatalf("A's websocket refused: %d %s", status, body)
	}
	// The welcome and the snapshot first: the snapshot is taken when the
	// connection joins, which must not race the script.
	liveStart := [][]byte{readFrame(t, live), readFrame(t, live)}

	obs := map[rooms.Phase]map[string][]byte{}
	scan := map[string][]byte{}
	checkpoint := func(p rooms.Phase) {
		t.Helper()
		snap, err := e.svc.Snapshot(context.Background(), leakRoom, host)
		if want, _, _ := strings.Cut(string(p), "+"); err != nil || string(snap.View.(rooms.OpeningView).Phase) != want {
			t.Fatalf("checkpoint %s: the session is in %s (%v)", p, snap.View.(rooms.OpeningView).Phase, err)
		}
		all := map[string][]byte{}
		for name, tok := range map[string]string{"bidder": v.bidder, "stranger": v.stranger, "other-session": v.otherSession} {
			for k, b := range e.observe(tok, scan) {
				all[name+" "+k] = b
			}
		}
		obs[p] = all
	}
	bid := func(id, digest string) rooms.Bid {
		return rooms.Bid{Bidder: id, Digest: digest, Size: 1 << 20, HeaderDigest: strings.Repeat("f", 64)}
	}

	e.exec(leakRoom, bidder(bidderA), rooms.CmdSubmitBid, bid(bidderA, strings.Repeat("a1", 32)))
	for _, o := range w.Others {
		if o.Submit {
			e.exec(leakRoom, bidder(o.ID), rooms.CmdSubmitBid, bid(o.ID, o.Digest))
		}
	}
	checkpoint(rooms.PhaseScheduled)

	e.advance(10 * time.Minute)
	e.exec(leakRoom, rooms.SystemActor, rooms.CmdOpenCheckIn, nil)
	e.exec(leakRoom, bidder(bidderA), rooms.CmdSignIn, nil)
	e.exec(leakRoom, host, rooms.CmdSignIn, nil)
	for _, o := range w.Others {
		if o.SignIn {
			e.exec(leakRoom, bidder(o.ID), rooms.CmdSignIn, nil)
		}
	}
	checkpoint(rooms.PhaseCheckIn)
	if w.StopAt == rooms.PhaseCheckIn {
		return obs, scan, e.finish(t, live, liveStart, obs)
	}

	e.advance(50 * time.Minute)
	e.exec(leakRoom, rooms.SystemActor, rooms.CmdDeadline, nil)
	var bonds []rooms.BondStatus
	for _, id := range append([]string{bidderA}, otherIDs(w.Others)...) {
		bonds = append(bonds, rooms.BondStatus{Bidder: id, Status: "paid", Amount: "20000"})
	}
	e.exec(leakRoom, rooms.SystemActor, rooms.CmdRecordBonds, rooms.Bonds{Bonds: bonds})
	if w.StopAt == rooms.PhaseFailed {
		checkpoint(rooms.PhaseFailed)
		// The record of a failed opening is public: it keeps the terms sealed too.
		if st, b := e.get("POST", "/api/v1/sessions/"+leakRoom+"/record", e.token(leakRoom, rooms.RoleHost, host.Sub), nil); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("make the record of the failed opening: %d %s", st, b)
		}
		checkpoint(rooms.PhaseRecord + "+record")
		return obs, scan, e.finish(t, live, liveStart, obs)
	}
	checkpoint(rooms.PhaseOpened)

	e.advance(time.Minute)
	e.exec(leakRoom, host, rooms.CmdStartDecryption, nil)
	sheet := func(price string) map[string]string { return map[string]string{"price": price} }
	e.exec(leakRoom, bidder(bidderA), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: bidderA, OK: true, Sheet: sheet("1000000.00"), PlaintextSHA: strings.Repeat("1", 64)})
	for _, o := range w.Others {
		if !o.Submit {
			continue
		}
		if o.FailFirst {
			e.exec(leakRoom, bidder(o.ID), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: o.ID, Code: "wrong_key", Message: "the data key does not unwrap with key " + o.ID})
		}
		e.exec(leakRoom, bidder(o.ID), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: o.ID, OK: true, Sheet: sheet(o.Price), PlaintextSHA: o.Digest})
	}
	checkpoint(rooms.PhaseDecrypting)

	e.advance(31 * time.Minute)
	e.exec(leakRoom, rooms.SystemActor, rooms.CmdCloseDecryption, nil)
	checkpoint(rooms.PhaseDecryptionClosed)

	e.finish(t, live, liveStart, obs)
	e.exec(leakRoom, host, rooms.CmdStartReadOut, nil)
	return obs, scan, e
}

// finish reads A's live stream up to the snapshot position and files it
// as the observation "live".
func (e *leakEnv) finish(t *testing.T, live *websocket.Conn, frames [][]byte, obs map[rooms.Phase]map[string][]byte) *leakEnv {
	t.Helper()
	snap, err := e.svc.Snapshot(context.Background(), leakRoom, rooms.Actor{Sub: bidderA, Role: rooms.RoleBidder})
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := frameType(frames[len(frames)-1]); pos < snap.Pos; _, pos = frameType(frames[len(frames)-1]) {
		frames = append(frames, readFrame(t, live))
	}
	obs["live"] = map[string][]byte{"bidder live ws": bytes.Join(frames, []byte("\n"))}
	return e
}

func otherIDs(others []leakOther) []string {
	var ids []string
	for _, o := range others {
		ids = append(ids, o.ID)
	}
	return ids
}

// secretForms are the ways an amount may be written on a page or in JSON.
func secretForms(amount string) []string {
	whole, frac, _ := strings.Cut(amount, ".")
	var grouped []string
	for i := len(whole); i > 0; i -= 3 {
		grouped = append([]string{whole[max(0, i-3):i]}, grouped...)
	}
	g := strings.Join(grouped, ",")
	forms := []string{amount, whole, g}
	if frac != "" {
		forms = append(forms, g+"."+frac, whole+"."+strings.TrimRight(frac, "0"))
	}
	return forms
}

// scanFor fails on any secret found in any answer.
func scanFor(t *testing.T, where string, answers map[string][]byte, secrets []string) {
	t.Helper()
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range answers {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		for _, s := range secrets {
			if i := bytes.Index(answers[name], []byte(s)); i >= 0 {
				b := answers[name]
				t.Errorf("%s: %q leaks %q: …%s…", where, name, s, b[max(0, i-120):min(len(b), i+len(s)+40)])
			}
		}
	}
}

// normalise blanks what differs between worlds by construction, not by
// secret: the platform's randomised SM2 signature over the record and,
// after a failed opening, the hashes that cover the whole log.
var (
	signatureRE = regexp.MustCompile(`"signature":"[^"]*"`)
	hashRE      = regexp.MustCompile(`[0-9a-f]{64}`)
	base64RE    = regexp.MustCompile(`(?:[A-Za-z0-9/=]|\+|&#43;){64,}`) // the signature on the printable page
)

// normalise: once a record is signed, its digest and log head hash cover
// the staff-only session_terms event, so they differ between the worlds
// (the sealed values themselves are searched for separately).
func normalise(phase rooms.Phase, recorded bool, b []byte) []byte {
	b = signatureRE.ReplaceAll(b, []byte(`"signature":"…"`))
	if recorded && (strings.HasSuffix(string(phase), "+record") || phase == "live") {
		b = hashRE.ReplaceAll(b, []byte(`…`))
		b = base64RE.ReplaceAll(b, []byte(`…`))
	}
	return b
}

func compareWorlds(t *testing.T, recorded bool, a, b map[rooms.Phase]map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("the worlds reached different checkpoints: %d and %d", len(a), len(b))
	}
	for phase, oa := range a {
		ob := b[phase]
		for name, va := range oa {
			na, nb := normalise(phase, recorded, va), normalise(phase, recorded, ob[name])
			if !bytes.Equal(na, nb) {
				i := 0
				for i < len(na) && i < len(nb) && na[i] == nb[i] {
					i++
				}
				t.Errorf("%s / %s differs between worlds that differ only in secrets, from byte %d:\n  one: …%s…\n  two: …%s…",
					phase, name, i, na[max(0, i-80):min(len(na), i+80)], nb[max(0, i-80):min(len(nb), i+80)])
			}
		}
		if len(ob) != len(oa) {
			t.Errorf("%s: %d answers in one world, %d in the other", phase, len(oa), len(ob))
		}
	}
}

func staticPages(t *testing.T, e *leakEnv) map[string][]byte {
	out := map[string][]byte{}
	for _, p := range []string{"/", "/index.html", "/room.html", "/room.html?room=" + leakRoom, "/admin.html", "/index.js", "/room.js",
		"/flow.js", "/state.js", "/call.js", "/media.js", "/i18n.js", "/admin.js", "/style.css", "/wasm_exec.js", "/api/v1/time", "/metrics", "/api/v1/demo"} {
		st, b := e.get("GET", p, "", nil)
		out["GET "+p] = append([]byte(fmt.Sprintf("%d ", st)), b...)
	}
	return out
}

func TestNothingSealedLeaksBeforeTheReadOut(t *testing.T) {
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	type secrets struct {
		world  leakWorld
		values []string // must appear nowhere a viewer looks before the read-out
	}
	terms := func(reserve, budget string, dev int, others []leakOther, stop rooms.Phase) secrets {
		s := secrets{world: leakWorld{Reserve: reserve, Budget: budget, Deviation: dev, Others: others, StopAt: stop}}
		s.values = append(secretForms(reserve), secretForms(budget)...)
		return s
	}
	withOthers := func(s secrets, hiddenUntilDeadline bool) secrets {
		for _, o := range s.world.Others {
			if hiddenUntilDeadline {
				s.values = append(s.values, o.ID, o.Name)
				if o.Submit {
					s.values = append(s.values, o.Digest)
				}
			}
			if o.Price != "" {
				s.values = append(s.values, secretForms(o.Price)...)
			}
		}
		return s
	}
	sameBidders := func(digest, price string, failFirst bool) []leakOther {
		return []leakOther{
			{ID: "bidder-yi-3301", Name: "乙泄密测试市政工程有限公司", Submit: true, SignIn: true, Digest: strings.Repeat(digest, 32), Price: price, FailFirst: failFirst},
			{ID: "bidder-bing-3302", Name: "丙泄密测试环境股份有限公司", Submit: true, Digest: strings.Repeat(digest[:1]+"7", 32), Price: "7" + price, FailFirst: !failFirst},
		}
	}

	cases := []struct {
		name     string
		one, two secrets
	}{
		{
			// Before the deadline A learns nothing of anyone else: not who,
			// how many, whether they signed in or submitted.
			name: "before the deadline",
			one: withOthers(terms("98765432.10", "87654321.00", 15, []leakOther{
				{ID: "bidder-yi-7731", Name: "乙秘密市政工程有限公司", Submit: true, SignIn: true, Digest: strings.Repeat("b7", 32)},
				{ID: "bidder-bing-7732", Name: "丙秘密环境科技股份有限公司", PublicKeyP: true},
			}, rooms.PhaseCheckIn), true),
			two: withOthers(terms("13579246.80", "24681357.90", 25, []leakOther{
				{ID: "bidder-ding-8841", Name: "丁秘密建工集团有限公司", Submit: true, Digest: strings.Repeat("d8", 32)},
				{ID: "bidder-wu-8842", Name: "戊秘密路桥有限公司", Submit: true, SignIn: true, Digest: strings.Repeat("e9", 32)},
				{ID: "bidder-ji-8843", Name: "己秘密园林有限公司", SignIn: true},
			}, rooms.PhaseCheckIn), true),
		},
		{
			// From the deadline the bidders are public (R6); the terms, the
			// other bids' contents and unlock attempts are not, until the
			// read-out.
			name: "deadline to read-out",
			one:  withOthers(terms("98765432.10", "87654321.00", 15, sameBidders("c3", "3456789.01", true), rooms.PhaseDecryptionClosed), false),
			two:  withOthers(terms("13579246.80", "24681357.90", 25, sameBidders("f5", "4567890.12", false), rooms.PhaseDecryptionClosed), false),
		},
		{
			// A failed opening (流标) never reads out: its terms stay sealed,
			// in the public record as well.
			name: "failed opening and its record",
			one:  terms("98765432.10", "87654321.00", 15, sameBidders("c3", "", true)[:1], rooms.PhaseFailed),
			two:  terms("13579246.80", "24681357.90", 25, sameBidders("c3", "", true)[:1], rooms.PhaseFailed),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obsOne, scanOne, envOne := runLeakWorld(t, platform, tc.one.world)
			obsTwo, scanTwo, envTwo := runLeakWorld(t, platform, tc.two.world)
			compareWorlds(t, tc.one.world.StopAt == rooms.PhaseFailed, obsOne, obsTwo)
			// Outsiders are refused, with a reason, everywhere.
			for phase, o := range obsOne {
				for _, k := range []string{"stranger GET ", "stranger ws", "stranger GET /record", "stranger GET /media?hall=opening"} {
					if b := o[k]; phase != "live" && (!bytes.HasPrefix(b, []byte("403 ")) || !bytes.Contains(b, []byte("unregistered-sub-9 is not a registered bidder of session leak-1"))) {
						t.Errorf("%s: %s answers %.200s, want 403 naming the sub as not registered", phase, k, b)
					}
				}
				for _, k := range []string{"other-session GET ", "other-session ws", "other-session GET /record"} {
					if b := o[k]; phase != "live" && (!bytes.HasPrefix(b, []byte("403 ")) || !bytes.Contains(b, []byte("not valid for"))) {
						t.Errorf("%s: %s answers %.200s, want 403: the token is for another session", phase, k, b)
					}
				}
			}
			for _, w := range []struct {
				s    secrets
				obs  map[rooms.Phase]map[string][]byte
				scan map[string][]byte
				env  *leakEnv
			}{{tc.one, obsOne, scanOne, envOne}, {tc.two, obsTwo, scanTwo, envTwo}} {
				for phase, o := range w.obs {
					scanFor(t, string(phase), o, w.s.values)
					// Field names too: no answer before the read-out names the terms.
					scanFor(t, string(phase), o, []string{`"reserve_price"`, `"budget"`, `"budget_deviation_pct"`, `"reserve"`})
				}
				scanFor(t, "challenges", w.scan, w.s.values)
				scanFor(t, "static pages", staticPages(t, w.env), w.s.values)
				scanFor(t, "server log", map[string][]byte{"log": []byte(w.env.logs.String())}, secretForms(w.s.world.Reserve))
				scanFor(t, "server log", map[string][]byte{"log": []byte(w.env.logs.String())}, secretForms(w.s.world.Budget))
			}
			if tc.one.world.StopAt == rooms.PhaseDecryptionClosed {
				// The read-out has started in both worlds: now A sees the terms.
				checkReadOut(t, envOne, tc.one.world)
				checkReadOut(t, envTwo, tc.two.world)
			}
		})
	}
}

// checkReadOut: once read out, the 标底 and budget reach the bidder, in
// the REST state and the websocket snapshot alike.
func checkReadOut(t *testing.T, e *leakEnv, w leakWorld) {
	t.Helper()
	tok := e.token(leakRoom, rooms.RoleBidder, bidderA)
	st, b := e.get("GET", "/api/v1/sessions/"+leakRoom, tok, nil)
	var state struct {
		State struct {
			Phase   rooms.Phase `json:"phase"`
			ReadOut struct {
				Reserve      string `json:"reserve"`
				Budget       string `json:"budget"`
				DeviationPct int    `json:"deviation_pct"`
			} `json:"read_out"`
		} `json:"state"`
	}
	if err := json.Unmarshal(b, &state); err != nil || st != http.StatusOK {
		t.Fatalf("state after the read-out: %d %s", st, b)
	}
	if ro := state.State.ReadOut; ro.Reserve != w.Reserve || ro.Budget != w.Budget || ro.DeviationPct != w.Deviation {
		t.Errorf("after the read-out the bidder sees reserve %q budget %q ±%d%%, want %q %q ±%d%% (%s)", ro.Reserve, ro.Budget, ro.DeviationPct, w.Reserve, w.Budget, w.Deviation, b)
	}
	c, status, body := e.dial("room="+leakRoom, tok)
	if c == nil {
		t.Fatalf("ws after the read-out: %d %s", status, body)
	}
	readFrame(t, c)
	if snap := readFrame(t, c); !bytes.Contains(snap, []byte(`"reserve":"`+w.Reserve+`"`)) {
		t.Errorf("the snapshot after the read-out does not carry the reserve %s: %.300s", w.Reserve, snap)
	}
}
