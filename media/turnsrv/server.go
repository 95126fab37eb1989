package turnsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// Defaults and limits of the TURN server.
const (
	// DefaultTTL is the credential lifetime when Config.TTL is zero.
	DefaultTTL = 12 * time.Hour
	// MinSecretBytes is the shortest Config.Secret New accepts.
	MinSecretBytes = 32
	// MaxAllocationsPerUser bounds the relays one user holds at a time, across all of that
	// user's credentials; a browser needs one per local interface and ICE server.
	MaxAllocationsPerUser = 8

	closeTimeout = 5 * time.Second
)

// Config of the TURN server.
type Config struct {
	Listen    string        // UDP listen address, e.g. "0.0.0.0:3478"
	Realm     string        // e.g. "bidroom"
	RelayIP   string        // public IP advertised for relayed addresses (required)
	RelayBind string        // local IP to bind relay sockets on (default "0.0.0.0", or "::" for an IPv6 RelayIP)
	PortMin   uint16        // lowest relay port (PortMin and PortMax both 0 = any port)
	PortMax   uint16        // highest relay port, inclusive
	Secret    []byte        // shared secret for time-limited credentials (>= MinSecretBytes)
	TTL       time.Duration // credential lifetime (default DefaultTTL)
	URLs      []string      // public URLs handed to clients, default "turn:<RelayIP>:<port>?transport=udp"
}

// Server is a running TURN server. It relays UDP only, admits only unexpired credentials signed
// with Config.Secret, holds at most MaxAllocationsPerUser relays per user, and will not relay to
// loopback, link-local, multicast or broadcast peers other than RelayIP. An allocation outlives its
// credential by at most one refresh period (10 minutes): pion re-checks the username on Refresh.
type Server struct {
	ttl     time.Duration
	urls    []string
	secret  []byte
	relayIP net.IP
	log     *slog.Logger

	conn   *watchedConn
	turn   *turn.Server
	allocs *allocations

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, listens on cfg.Listen and starts serving TURN. The caller must Close it.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "turn")

	relayIP, network, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
		if relayIP.To4() == nil {
			cfg.RelayBind = "::"
		}
	}

	var gen turn.RelayAddressGenerator = &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: cfg.RelayBind}
	if cfg.PortMin != 0 {
		gen = &turn.RelayAddressGeneratorPortRange{
			RelayAddress: relayIP, Address: cfg.RelayBind, MinPort: cfg.PortMin, MaxPort: cfg.PortMax,
		}
	}

	pc, err := (&net.ListenConfig{}).ListenPacket(context.Background(), network, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn: listen on %s (Listen): %w", cfg.Listen, err)
	}
	s := &Server{
		ttl:     cfg.TTL,
		urls:    slices.Clone(cfg.URLs),
		secret:  slices.Clone(cfg.Secret),
		relayIP: relayIP,
		log:     logger,
		conn:    &watchedConn{PacketConn: pc, done: make(chan struct{})},
		allocs:  &allocations{limit: MaxAllocationsPerUser, perUser: map[string]int{}},
	}
	if len(s.urls) == 0 {
		port := pc.LocalAddr().(*net.UDPAddr).Port
		s.urls = []string{"turn:" + net.JoinHostPort(cfg.RelayIP, strconv.Itoa(port)) + "?transport=udp"}
	}

	auth := authenticator{secret: s.secret, realm: cfg.Realm}
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: pionLoggerFactory{log: logger},
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			user, key, err := auth.key(ra.Username, ra.Realm, time.Now())
			if err != nil {
				logger.Debug("turn credential refused", "src", ra.SrcAddr, "method", ra.Method.String(),
					"username", truncate(ra.Username), "reason", err)
				return "", nil, false
			}
			return user, key, true
		},
		QuotaHandler: s.allocs.admit,
		EventHandler: turn.EventHandler{
			OnAuth: func(src, _ net.Addr, _, username, _, method string, ok bool) {
				if !ok {
					logger.Debug("turn credential refused", "src", src, "method", method,
						"username", truncate(username), "reason", "message integrity check failed")
				}
			},
			OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, relay net.Addr, _ int) {
				s.allocs.created(user)
				logger.Debug("turn allocation created", "src", src, "user", user, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) {
				s.allocs.deleted(user)
				logger.Debug("turn allocation deleted", "src", src, "user", user)
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            s.conn,
			RelayAddressGenerator: udpOnly{gen},
			PermissionHandler:     s.permitPeer,
		}},
	})
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("turn: start server: %w", err)
	}
	logger.Info("turn server listening", "addr", pc.LocalAddr().String(), "relay_ip", cfg.RelayIP, "urls", s.urls)
	return s, nil
}

// validate checks cfg, naming the offending key, and returns the relay IP and the listen network.
func (cfg Config) validate() (net.IP, string, error) {
	relayIP := net.ParseIP(cfg.RelayIP)
	switch {
	case cfg.RelayIP == "":
		return nil, "", errors.New("turn: RelayIP is required")
	case relayIP == nil:
		return nil, "", fmt.Errorf("turn: RelayIP %q is not an IP address", cfg.RelayIP)
	case relayIP.IsUnspecified():
		return nil, "", fmt.Errorf("turn: RelayIP %q must be an address clients can reach", cfg.RelayIP)
	case cfg.Realm == "":
		return nil, "", errors.New("turn: Realm is required")
	case len(cfg.Secret) < MinSecretBytes:
		return nil, "", fmt.Errorf("turn: Secret is %d bytes, want at least %d", len(cfg.Secret), MinSecretBytes)
	case cfg.TTL < 0:
		return nil, "", fmt.Errorf("turn: TTL %s is negative", cfg.TTL)
	case (cfg.PortMin == 0) != (cfg.PortMax == 0):
		return nil, "", fmt.Errorf("turn: PortMin %d and PortMax %d must both be set or both be 0", cfg.PortMin, cfg.PortMax)
	case cfg.PortMin > cfg.PortMax:
		return nil, "", fmt.Errorf("turn: PortMin %d is above PortMax %d", cfg.PortMin, cfg.PortMax)
	case cfg.RelayBind != "" && net.ParseIP(cfg.RelayBind) == nil:
		return nil, "", fmt.Errorf("turn: RelayBind %q is not an IP address", cfg.RelayBind)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("turn: Listen %q: %w", cfg.Listen, err)
	}
	// A literal address fixes the family; pion picks the default relay family from the listener's.
	network := "udp"
	if ip := net.ParseIP(host); ip != nil {
		network = "udp6"
		if ip.To4() != nil {
			network = "udp4"
		}
	}
	return relayIP, network, nil
}

// Credentials returns the ICE server entry for user, valid from now for the configured TTL. user
// is the allocation owner for quotas; it should be a plain identifier (no control characters).
func (s *Server) Credentials(user string, now time.Time) ICEServer {
	username, password := Credential(s.secret, user, now.Add(s.ttl))
	return ICEServer{URLs: slices.Clone(s.urls), Username: username, Credential: password}
}

// Addr returns the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Close stops the server: it closes the listening socket and every relay socket and returns once
// pion's read loop has stopped and every allocation's relay goroutine has reported its end, or
// with an error after 5 seconds if they have not. Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.turn.Close()
		if err != nil {
			err = fmt.Errorf("turn: close listener: %w", err)
		}
		deadline := time.NewTimer(closeTimeout)
		defer deadline.Stop()
		// pion's read loop closes every allocation once its read fails; each allocation's relay
		// goroutine reports its deletion on the way out.
		select {
		case <-s.conn.done:
			if !s.allocs.waitDrained(deadline.C) {
				err = errors.Join(err, fmt.Errorf("turn: %d allocations still open after %s", s.allocs.count(), closeTimeout))
			}
		case <-deadline.C:
			err = errors.Join(err, fmt.Errorf("turn: read loop still running after %s", closeTimeout))
		}
		s.closeErr = err
		s.log.Info("turn server stopped")
	})
	return s.closeErr
}

// permitPeer refuses to relay to addresses on the server's own host or link (loopback,
// link-local such as cloud metadata, multicast, broadcast, unspecified), except the relay IP
// itself, which is where two relayed bidders meet.
func (s *Server) permitPeer(client net.Addr, peer net.IP) bool {
	if peer.Equal(s.relayIP) {
		return true
	}
	if peer.IsLoopback() || peer.IsUnspecified() || peer.IsMulticast() || peer.IsLinkLocalUnicast() ||
		peer.IsLinkLocalMulticast() || peer.IsInterfaceLocalMulticast() || peer.Equal(net.IPv4bcast) {
		s.log.Debug("turn peer refused", "src", client, "peer", peer)
		return false
	}
	return true
}

// allocations counts live allocations per user to enforce a quota. pion asks admit and reports
// created from the single read loop of the listener, so admit-then-create cannot race past limit.
type allocations struct {
	limit int

	mu      sync.Mutex     // guards perUser and total
	perUser map[string]int // live allocations by user
	total   int
}

func (a *allocations) admit(user, _ string, _ net.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perUser[user] < a.limit
}

func (a *allocations) created(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.perUser[user]++
	a.total++
}

func (a *allocations) deleted(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.perUser[user]--; a.perUser[user] <= 0 {
		delete(a.perUser, user)
	}
	a.total--
}

func (a *allocations) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// waitDrained polls until no allocation is live; false if deadline fires first.
func (a *allocations) waitDrained(deadline <-chan time.Time) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for a.count() > 0 {
		select {
		case <-tick.C:
		case <-deadline:
			return false
		}
	}
	return true
}

// watchedConn closes done when a read fails, which is when pion's read loop returns.
type watchedConn struct {
	net.PacketConn
	once sync.Once
	done chan struct{}
}

func (c *watchedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.once.Do(func() { close(c.done) })
	}
	return n, addr, err
}

var errTCPRelay = errors.New("TCP relays (RFC 6062) are not offered")

// udpOnly refuses TCP allocations, which a client may request even over a UDP listener; the
// server relays UDP media only.
type udpOnly struct{ turn.RelayAddressGenerator }

func (udpOnly) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (udpOnly) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// truncate shortens an untrusted username for a log line.
func truncate(s string) string {
	const maxLogged = 80
	if len(s) <= maxLogged {
		return s
	}
	return s[:maxLogged] + "…"
}
