package placement

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/media"
	"github.com/bidroom/bidroom/rooms"
)

// HeaderForwarded marks a request one instance forwarded to another:
// "<from id> <unix seconds> <signature>", the signature an HMAC-SHA256 of
// those, the method and the request URI under a key derived from the
// secret every instance shares. A request with a valid mark is served
// where it arrives, never forwarded again (no loops); a client cannot
// forge one to be served by an instance that does not hold the room.
const HeaderForwarded = "Bidroom-Media-Forwarded"

// markSkew is how far a mark's time may be from the receiver's clock.
const markSkew = 30 * time.Second

// maxMark bounds the mark header read.
const maxMark = 256

// maxResponseBytes bounds a forwarded answer (an SDP answer, the media
// roster with its stats).
const maxResponseBytes = 1 << 20

// registryTimeout bounds one registry call on a request's path.
const registryTimeout = 3 * time.Second

// Headers passed on to the holder, and back: what WHIP/WHEP and the media
// roster use, nothing else (no cookies, no client addresses, no internal
// headers out).
var (
	requestHeaders  = []string{"Authorization", "Content-Type", "Accept", "If-Match"}
	responseHeaders = []string{"Content-Type", "Location", "ETag", "Link", "Accept-Patch", "Accept-Post",
		"WWW-Authenticate", "Retry-After", "Cache-Control"}
)

// Media is what placement needs of the SFU (media.Server).
type Media interface {
	// RoomPeers counts the room's live sessions here.
	RoomPeers(room string) int
	// CloseRoom ends the room's sessions here.
	CloseRoom(room string) int
}

// Config configures a Placement.
type Config struct {
	Self Instance
	// Lease is the registry's lease; held leases are renewed every third
	// of it.
	Lease time.Duration
	// Secret is shared by every instance (the token secret, >= 32 bytes);
	// forwarded requests are marked with a key derived from it.
	Secret []byte
	// MaxBodyBytes bounds a forwarded request's body (media.max_sdp_bytes);
	// default 64 KiB.
	MaxBodyBytes int64
	// Timeout bounds one forwarded request, the holder's answer included
	// (an offer waits for ICE gathering there); default 20s.
	Timeout time.Duration
}

// Placement routes each room's media to the instance that holds its lease,
// and keeps the leases of the rooms this instance hosts. Create it with
// New, stop it with Close (after the SFU closed its sessions).
type Placement struct {
	cfg    Config
	reg    Registry
	media  Media
	log    *slog.Logger
	key    []byte
	client *http.Client

	forwarded *prometheus.CounterVec
	lost      prometheus.Counter
	leases    prometheus.GaugeFunc

	mu    sync.Mutex // guards rooms and draining; held across a release so no offer slips in between
	rooms map[string]*hold
	// draining: the instance is shutting down (Drain); no offer takes a
	// lease here any more.
	draining bool

	cancel    context.CancelFunc
	done      chan struct{} // closed when the renewal loop has ended
	closeOnce sync.Once
}

// hold is this instance's interest in a room's lease.
type hold struct {
	mine    bool // this instance holds the lease and renews it
	pending int  // offers for the room being served or placed now
}

// New starts the renewal loop of this instance's leases in reg.
func New(cfg Config, reg Registry, m Media, logger *slog.Logger) (*Placement, error) {
	cfg.Self.URL = strings.TrimSuffix(cfg.Self.URL, "/")
	if err := cfg.Self.Check(); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("placement: the shared secret must be at least 32 bytes")
	}
	if cfg.Lease < 100*time.Millisecond {
		return nil, fmt.Errorf("placement: lease %s is shorter than 100ms", cfg.Lease)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	mac := hmac.New(sha256.New, cfg.Secret)
	mac.Write([]byte("bidroom media placement: forwarded request mark v1"))
	p := &Placement{
		cfg: cfg, reg: reg, media: m, log: logger, key: mac.Sum(nil), rooms: make(map[string]*hold), done: make(chan struct{}),
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:                 nil, // instance to instance, never through a proxy from the environment
				DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   3 * time.Second,
				ResponseHeaderTimeout: cfg.Timeout,
				MaxIdleConnsPerHost:   16,
				IdleConnTimeout:       60 * time.Second,
			},
			// A redirect from the holder goes back to the client as it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bidroom_media_forwarded_total",
			Help: "WHIP/WHEP and media roster requests forwarded to the instance holding the room's media, by method and result (answered, unreachable).",
		}, []string{"method", "result"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bidroom_media_leases_lost_total",
			Help: "Rooms whose media lease another instance took while this one hosted them (their sessions here were closed).",
		}),
	}
	p.leases = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bidroom_media_leases",
		Help: "Rooms whose media this instance holds the lease of.",
	}, p.held)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
	return p, nil
}

// Describe implements prometheus.Collector.
func (p *Placement) Describe(ch chan<- *prometheus.Desc) {
	p.forwarded.Describe(ch)
	p.lost.Describe(ch)
	p.leases.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *Placement) Collect(ch chan<- prometheus.Metric) {
	p.forwarded.Collect(ch)
	p.lost.Collect(ch)
	p.leases.Collect(ch)
}

func (p *Placement) held() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, h := range p.rooms {
		if h.mine {
			n++
		}
	}
	return float64(n)
}

// Close stops renewing and releases every lease this instance holds, so
// another instance takes the rooms at once rather than after the lease.
// Call it after the SFU closed its sessions.
func (p *Placement) Close() {
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		for room, h := range p.rooms {
			if h.mine {
				if err := p.reg.Release(ctx, room); err != nil {
					p.log.Warn("media: lease not released at shutdown; it lapses by itself", "room", room, "err", err)
				}
			}
			delete(p.rooms, room)
		}
		p.client.CloseIdleConnections()
	})
}

// Drain hands the rooms hosted here over to other instances before a
// shutdown (a rolling restart). From now on no offer takes a lease here:
// one for a room another instance holds is still forwarded there, any
// other is answered 503 draining with Retry-After, and the client's retry
// (through the load balancer, which no longer picks this instance: its
// readiness fails) places the room on another instance. Every lease held
// here is released, then the rooms' sessions here are closed, in that
// order, so a client that reconnects at once finds its room free. It
// returns how many rooms were handed over and how many sessions closed.
func (p *Placement) Drain(ctx context.Context) (rooms, sessions int) {
	p.mu.Lock()
	p.draining = true
	var released []string
	for room, h := range p.rooms {
		if !h.mine {
			continue
		}
		if err := p.reg.Release(ctx, room); err != nil {
			// Offers for it are forwarded here and refused until it lapses.
			p.log.Warn("media: lease not released at drain; it lapses by itself", "room", room, "err", err)
		}
		h.mine = false // an offer still being served here closes the room again when it ends (unpin)
		if h.pending == 0 {
			delete(p.rooms, room)
		}
		released = append(released, room)
	}
	p.mu.Unlock()
	for _, room := range released {
		sessions += p.media.CloseRoom(room)
	}
	return len(released), sessions
}

func (p *Placement) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining
}

// run renews the held leases every third of the lease until ctx ends.
func (p *Placement) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.renew(ctx)
		}
	}
}

// renew keeps the lease of every room hosted here, releases those of rooms
// whose last peer left, and closes the rooms whose lease another instance
// took (their clients reconnect and land there: a room is never split).
func (p *Placement) renew(ctx context.Context) {
	p.mu.Lock()
	var mine []string
	for room, h := range p.rooms {
		if h.mine {
			mine = append(mine, room)
		}
	}
	p.mu.Unlock()
	for _, room := range mine {
		if ctx.Err() != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, p.cfg.Lease/3)
		if p.releaseIfIdle(rctx, room) {
			cancel()
			continue
		}
		ok, err := p.reg.Renew(rctx, room)
		cancel()
		switch {
		case err != nil:
			p.log.Warn("media: lease not renewed; retrying", "room", room, "err", err)
		case !ok:
			p.mu.Lock()
			if h := p.rooms[room]; h != nil {
				h.mine = false
				if h.pending == 0 {
					delete(p.rooms, room)
				}
			}
			p.mu.Unlock()
			p.lost.Inc()
			n := p.media.CloseRoom(room)
			p.log.Warn("media: another instance took this room's media; its sessions here are closed so they reconnect there",
				"room", room, "closed", n)
		}
	}
}

// releaseIfIdle releases the room's lease when no peer of it is here and
// no offer for it is on its way, and reports whether it did. The lock is
// held across the release, so an offer waits for it and then finds the
// room free.
func (p *Placement) releaseIfIdle(ctx context.Context, room string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.rooms[room]
	if h == nil || !h.mine || h.pending > 0 || p.media.RoomPeers(room) > 0 {
		return false
	}
	delete(p.rooms, room)
	if err := p.reg.Release(ctx, room); err != nil {
		p.log.Warn("media: lease not released; it lapses by itself", "room", room, "err", err)
	} else {
		p.log.Info("media: room's last peer left; lease released", "room", room)
	}
	return true
}

// pin marks an offer for the room under way here: its lease is not
// released meanwhile.
func (p *Placement) pin(room string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.rooms[room]
	if h == nil {
		h = &hold{}
		p.rooms[room] = h
	}
	h.pending++
}

// take records that this instance holds the room's lease. It reports
// false when the instance began draining since the offer arrived: the
// lease is given back then, and the offer is not served here.
func (p *Placement) take(ctx context.Context, room string) bool {
	p.mu.Lock()
	if p.draining {
		// Under the lock, as Drain releases: no renewal or offer in between.
		if err := p.reg.Release(ctx, room); err != nil {
			p.log.Warn("media: lease not released at drain; it lapses by itself", "room", room, "err", err)
		}
		p.mu.Unlock()
		return false
	}
	h := p.rooms[room]
	if h == nil { // closed meanwhile: nothing renews it, the lease lapses by itself
		p.mu.Unlock()
		return true
	}
	newly := !h.mine
	h.mine = true
	p.mu.Unlock()
	if newly {
		p.log.Info("media: room's media placed on this instance", "room", room, "instance", p.cfg.Self.ID)
	}
	return true
}

// unpin ends an offer. One served here while the lease went to another
// instance may have left a session behind: the room is closed again.
func (p *Placement) unpin(room string, served bool) {
	p.mu.Lock()
	h := p.rooms[room]
	if h == nil { // Close forgot it meanwhile
		p.mu.Unlock()
		return
	}
	h.pending--
	lost := served && !h.mine
	if h.pending == 0 && !h.mine {
		delete(p.rooms, room)
	}
	p.mu.Unlock()
	if lost {
		p.media.CloseRoom(room)
	}
}

// self reports whether the lease holder is this instance (or a former run
// of it at the same address).
func (p *Placement) self(in Instance) bool {
	return in.ID == p.cfg.Self.ID || in.URL == p.cfg.Self.URL
}

// Handler wraps the SFU's WHIP/WHEP handler: an offer takes the room's
// lease when nobody holds it, and any request for a room another instance
// holds is forwarded there. auth refuses early what the holder would
// refuse anyway (the holder authenticates again).
func (p *Placement) Handler(next http.Handler, auth media.Authenticator) http.Handler {
	mux := http.NewServeMux()
	for _, kind := range []string{"whip", "whep"} {
		mux.HandleFunc("POST /"+kind+"/{room}", func(w http.ResponseWriter, r *http.Request) { p.serveOffer(w, r, next, auth) })
		mux.HandleFunc("OPTIONS /"+kind+"/{room}", func(w http.ResponseWriter, r *http.Request) { p.serveOther(w, r, next, nil) })
		mux.HandleFunc("PATCH /"+kind+"/{room}/{id}", func(w http.ResponseWriter, r *http.Request) { p.serveOther(w, r, next, auth) })
		mux.HandleFunc("DELETE /"+kind+"/{room}/{id}", func(w http.ResponseWriter, r *http.Request) { p.serveOther(w, r, next, auth) })
	}
	mux.Handle("/", next)
	return mux
}

// serveOffer places a WHIP/WHEP offer: served here when this instance holds
// the room's lease or takes it now, forwarded to the holder otherwise.
func (p *Placement) serveOffer(w http.ResponseWriter, r *http.Request, next http.Handler, auth media.Authenticator) {
	room := r.PathValue("room")
	marked := p.verify(r)
	if !marked {
		// Before a lease is taken for it: a refused request places nothing.
		if _, err := auth(r, room); err != nil {
			p.refuse(w, room, err)
			return
		}
	}
	if p.isDraining() {
		p.serveDraining(w, r, room, marked)
		return
	}
	p.pin(room)
	served := false
	defer func() { p.unpin(room, served) }()
	ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
	lease, err := p.reg.Acquire(ctx, room)
	cancel()
	if err != nil {
		p.log.Warn("media: placement registry unavailable", "room", room, "err", err)
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "unavailable", "the server could not tell where this session's media is; retry")
		return
	}
	if p.self(lease.Holder) {
		ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
		took := p.take(ctx, room)
		cancel()
		if !took {
			refuseDraining(w)
			return
		}
		served = true
		next.ServeHTTP(w, r)
		return
	}
	if marked {
		// The forwarding instance took this one for the holder, and another
		// took the room since: forwarding on could bounce it back and forth.
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "media_moved", "this session's media moved to another server; retry")
		return
	}
	body, ok := readBody(w, r, p.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	if err := p.forward(w, r, room, lease, body); err != nil {
		unreachable(w, lease)
	}
}

// serveDraining answers an offer that reaches an instance that is
// draining: one for a room another instance holds is forwarded there (the
// load balancer may still send a request or two here); any other is
// refused with Retry-After, and the client's retry lands elsewhere.
func (p *Placement) serveDraining(w http.ResponseWriter, r *http.Request, room string, marked bool) {
	if !marked {
		ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
		lease, held, err := p.reg.Lookup(ctx, room)
		cancel()
		if err == nil && held && !p.self(lease.Holder) {
			body, ok := readBody(w, r, p.cfg.MaxBodyBytes)
			if !ok {
				return
			}
			if err := p.forward(w, r, room, lease, body); err != nil {
				unreachable(w, lease)
			}
			return
		}
	}
	refuseDraining(w)
}

// refuseDraining answers an offer this instance no longer takes.
func refuseDraining(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	httpError(w, http.StatusServiceUnavailable, "draining", "this server is shutting down; retry, and another server takes this session's media")
}

// serveOther serves OPTIONS, PATCH and DELETE here unless another instance
// holds the room: a session's Location works through any instance. auth,
// if not nil, refuses early.
func (p *Placement) serveOther(w http.ResponseWriter, r *http.Request, next http.Handler, auth media.Authenticator) {
	room := r.PathValue("room")
	if p.verify(r) || !rooms.ValidID(room) {
		next.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
	lease, held, err := p.reg.Lookup(ctx, room)
	cancel()
	if err != nil {
		// The session may well be here; if not, the answer is a 404.
		p.log.Warn("media: placement registry unavailable; serving here", "room", room, "err", err)
	}
	if err != nil || !held || p.self(lease.Holder) {
		next.ServeHTTP(w, r)
		return
	}
	if auth != nil {
		if _, err := auth(r, room); err != nil {
			p.refuse(w, room, err)
			return
		}
	}
	body, ok := readBody(w, r, p.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	if err := p.forward(w, r, room, lease, body); err != nil {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r) // the generic answer, without the holder's ICE servers
			return
		}
		unreachable(w, lease)
	}
}

// Elsewhere answers a read about a room's media (GET
// /api/v1/sessions/{id}/media: the roster, ICE servers and stats) from the
// instance that holds the room's media, when that is another one; the
// caller has authenticated the request. It reports whether it answered;
// if not, the caller serves the request here (the room's media is here or
// nowhere, or its holder does not answer: nothing is published then).
func (p *Placement) Elsewhere(w http.ResponseWriter, r *http.Request, room string) bool {
	if p.verify(r) || !rooms.ValidID(room) {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
	lease, held, err := p.reg.Lookup(ctx, room)
	cancel()
	if err != nil {
		p.log.Warn("media: placement registry unavailable; serving here", "room", room, "err", err)
		return false
	}
	if !held || p.self(lease.Holder) {
		return false
	}
	return p.forward(w, r, room, lease, nil) == nil
}

// errUnreachable is a forward the holder did not answer; nothing was
// written to the client.
var errUnreachable = errors.New("the instance holding the room's media did not answer")

// forward sends the request to the holder and its answer back. On
// errUnreachable nothing has been written.
func (p *Placement) forward(w http.ResponseWriter, r *http.Request, room string, lease Lease, body []byte) error {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	uri := r.URL.RequestURI()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(lease.Holder.URL, "/")+uri, rd)
	if err != nil {
		p.log.Error("media: cannot build the forwarded request", "room", room, "holder", lease.Holder.ID, "err", urlless(err))
		return errUnreachable
	}
	for _, h := range requestHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			out.Header[h] = v
		}
	}
	out.Header.Set(HeaderForwarded, p.mark(r.Method, uri, time.Now()))
	resp, err := p.client.Do(out)
	if err != nil {
		p.forwarded.WithLabelValues(r.Method, "unreachable").Inc()
		p.log.Warn("media: the instance holding the room's media does not answer", "room", room, "method", r.Method,
			"holder", lease.Holder.ID, "lease_left", lease.TTL.Round(time.Millisecond), "err", urlless(err))
		return errUnreachable
	}
	defer resp.Body.Close()
	p.forwarded.WithLabelValues(r.Method, "answered").Inc()
	for _, h := range responseHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			w.Header()[h] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, io.LimitReader(resp.Body, maxResponseBytes)); err != nil {
		p.log.Warn("media: forwarded answer cut short", "room", room, "holder", lease.Holder.ID, "err", urlless(err))
	}
	p.log.Debug("media: forwarded", "room", room, "method", r.Method, "holder", lease.Holder.ID, "status", resp.StatusCode)
	return nil
}

// urlless drops the URL net/http puts in its errors: its query may carry
// what must not be logged.
func urlless(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// mark is the HeaderForwarded value of a request this instance forwards.
func (p *Placement) mark(method, uri string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return p.cfg.Self.ID + " " + ts + " " + p.sign(p.cfg.Self.ID, ts, method, uri)
}

func (p *Placement) sign(from, ts, method, uri string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(from + "\n" + ts + "\n" + method + "\n" + uri))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify reports whether the request carries a valid, fresh mark of
// another instance's forwarding.
func (p *Placement) verify(r *http.Request) bool {
	v := r.Header.Get(HeaderForwarded)
	if v == "" || len(v) > maxMark {
		return false
	}
	parts := strings.Split(v, " ")
	if len(parts) != 3 {
		return false
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return false
	}
	if d := time.Since(time.Unix(sec, 0)); d > markSkew || d < -markSkew {
		return false
	}
	return hmac.Equal([]byte(parts[2]), []byte(p.sign(parts[0], parts[1], r.Method, r.URL.RequestURI())))
}

// readBody reads a request body of at most limit bytes, answering 413
// itself when it is larger.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "could not read the request body")
		return nil, false
	}
	if int64(len(b)) > limit {
		httpError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", limit))
		return nil, false
	}
	return b, true
}

// unreachable answers a request whose room's holder does not answer: it
// may have died, and its lease lapses within lease.TTL; then the next
// offer takes the room wherever it arrives.
func unreachable(w http.ResponseWriter, lease Lease) {
	secs := int((lease.TTL + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	httpError(w, http.StatusServiceUnavailable, "media_unavailable",
		"the server holding this session's media does not answer; retry (the session moves to another server once its lease lapses)")
}

// refuse answers an authentication failure as the media handler does.
func (p *Placement) refuse(w http.ResponseWriter, room string, err error) {
	switch {
	case errors.Is(err, media.ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="bidroom"`)
		httpError(w, http.StatusUnauthorized, "unauthorized", err.Error())
	case errors.Is(err, media.ErrForbidden):
		httpError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, media.ErrNoRoom):
		httpError(w, http.StatusNotFound, "not_found", "session "+room+" does not exist")
	default:
		p.log.Error("media: authenticate", "err", err)
		httpError(w, http.StatusInternalServerError, "server_error", "the server could not check the token; retry")
	}
}

// httpError writes the JSON error shape of the REST API.
func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
