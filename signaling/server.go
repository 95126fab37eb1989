package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// Config tunes the transport; zero fields take the defaults in brackets.
type Config struct {
	MaxMessageBytes int64         // largest client frame [65536]
	SendQueue       int           // frames queued per client before it is dropped as slow [256]
	PingInterval    time.Duration // [20s]
	PongTimeout     time.Duration // a connection silent this long is closed [45s]
	WriteTimeout    time.Duration // [10s]
	MaxReplay       int           // a resume missing more events gets a snapshot [1000]
	AllowedOrigins  []string      // browser origins besides the server's own host
	CommandRate     float64       // commands per second per connection [20]
}

func (c *Config) setDefaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 45 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxReplay <= 0 {
		c.MaxReplay = 1000
	}
	if c.CommandRate <= 0 {
		c.CommandRate = 20
	}
}

// Server accepts websocket connections at /ws and keeps one hub per active
// room. Close stops it and waits for every goroutine it started.
type Server struct {
	svc      *rooms.Service
	issuer   *auth.Issuer
	cfg      Config
	logger   *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader

	ctx    context.Context // ends on Close; parent of every hub and presence update
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server and its hubs start

	mu     sync.Mutex      // guards hubs, conns and closed
	hubs   map[string]*hub // active rooms
	conns  map[*client]struct{}
	closed bool
}

// New returns a Server; reg receives its metrics (nil for none).
func New(svc *rooms.Service, issuer *auth.Issuer, cfg Config, logger *slog.Logger, reg prometheus.Registerer) *Server {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		svc: svc, issuer: issuer, cfg: cfg, logger: logger, metrics: newMetrics(reg),
		ctx: ctx, cancel: cancel, hubs: map[string]*hub{}, conns: map[*client]struct{}{},
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{}, // idle connections hold no write buffer
		CheckOrigin:      s.checkOrigin,
		HandshakeTimeout: 10 * time.Second,
	}
	return s
}

// checkOrigin admits non-browser clients (no Origin), the server's own
// host, and configured origins; anything else is a cross-site attempt.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(s.cfg.AllowedOrigins, func(o string) bool { return strings.EqualFold(o, origin) })
}

// tokenFrom takes the bearer token from the Authorization header or, for
// browsers that cannot set headers on a websocket, the access_token query
// parameter. URLs are never logged, so the token stays out of logs.
func tokenFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return r.URL.Query().Get("access_token")
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(map[string]any{"error": map[string]string{"code": code, "message": msg}}))
}

// ServeHTTP upgrades GET /ws?room=R[&pos=N] to a websocket for the token's
// bearer. Without pos the client gets a snapshot; with pos it gets exactly
// the events after that position (or a snapshot if too far behind).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosed() {
		// Draining: answered before the upgrade, so the client (and a load
		// balancer) sees at once that it should go to another instance.
		s.metrics.connects.WithLabelValues("closing").Inc()
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "draining", "this server is shutting down; connect again (another server will answer)")
		return
	}
	claims, err := s.issuer.Verify(tokenFrom(r))
	if err != nil {
		s.metrics.connects.WithLabelValues("unauthorized").Inc()
		httpError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	room := r.URL.Query().Get("room")
	if room == "" && claims.Room != auth.AnyRoom {
		room = claims.Room
	}
	if !rooms.ValidID(room) || !claims.Allows(room, s.svc.CenterOf(r.Context(), room)) {
		s.metrics.connects.WithLabelValues("forbidden").Inc()
		httpError(w, http.StatusForbidden, "forbidden", "this token is not valid for room "+strconv.Quote(room))
		return
	}
	var resume *uint64
	if p := r.URL.Query().Get("pos"); p != "" {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, "invalid", "pos must be a non-negative integer")
			return
		}
		resume = &n
	}
	if err := s.svc.Admit(r.Context(), room, claims.Actor()); err != nil {
		switch code := rooms.RefusalCode(err); code {
		case rooms.CodeNotFound:
			httpError(w, http.StatusNotFound, code, err.Error())
		case rooms.CodeForbidden:
			s.metrics.connects.WithLabelValues("forbidden").Inc()
			httpError(w, http.StatusForbidden, code, err.Error())
		default:
			s.logger.Error("ws: load room", "room", room, "err", err)
			httpError(w, http.StatusServiceUnavailable, "unavailable", "the room cannot be loaded right now; try again")
		}
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.metrics.connects.WithLabelValues("bad_handshake").Inc()
		return // the upgrader has answered the client
	}
	s.metrics.connects.WithLabelValues("ok").Inc()
	c := newClient(s, conn, room, claims)
	if !s.track(c, true) {
		_ = conn.Close()
		return
	}
	// Serve on a goroutine of our own and return, so net/http's buffers,
	// the request and the handler's stack are freed for the connection's life.
	go func() {
		defer s.track(c, false)
		c.run(resume)
	}()
}

// isClosed reports whether Close has begun.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track adds or removes a live connection; it refuses new ones after Close
// (one upgraded while Close began).
func (s *Server) track(c *client, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
		s.metrics.connections.Inc()
		s.wg.Add(1) // the connection's reader goroutine: Close waits for it
		return true
	}
	delete(s.conns, c)
	s.metrics.connections.Dec()
	s.wg.Done()
	return true
}

// acquire returns the room's hub, starting it if needed, with one more
// reference held by the caller.
func (s *Server) acquire(room string) *hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hubs[room]
	if h == nil {
		h = newHub(s, room)
		s.hubs[room] = h
		s.metrics.rooms.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			h.run()
		}()
	}
	h.refs++
	return h
}

// release drops a reference; the last one stops the hub.
func (s *Server) release(h *hub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.refs--; h.refs == 0 {
		delete(s.hubs, h.room)
		s.metrics.rooms.Dec()
		h.cancel()
	}
}

// goBackground runs f on a goroutine the server owns, unless closing.
func (s *Server) goBackground(f func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

// Connections returns the number of open websocket connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close disconnects every client (code 1001, going away: they reconnect
// to another instance or after a restart) and waits for all goroutines,
// or until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*client, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	s.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("signaling: shutdown timed out with goroutines still running")
	}
}
