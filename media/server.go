package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/bidroom/bidroom/media/turnsrv"
)

// Config is what the SFU needs from the server's configuration.
type Config struct {
	// UDPListen is the single muxed UDP socket every peer connection shares,
	// host:port. Empty: each connection gets its own port from PortMin..PortMax.
	UDPListen        string
	PortMin, PortMax uint16
	// PublicIPs replace the host candidates' addresses (1:1 NAT).
	PublicIPs []string
	// Interfaces limits ICE to these network interfaces; empty allows all.
	Interfaces []string
	// IncludeLoopback offers 127.0.0.1 candidates (single machine, tests).
	IncludeLoopback bool
	MaxSDPBytes     int           // largest offer accepted
	MaxViewers      int           // per room and hall
	MaxLag          time.Duration // a viewer further behind skips to the next keyframe
	PLIInterval     time.Duration // at most one keyframe request per source per interval
	GatherTimeout   time.Duration // bound on ICE gathering before answering
	Workers         int           // forwarding goroutines; 0 = GOMAXPROCS
	// NoGSO turns off segmentation offload on the muxed socket (Linux sends
	// a frame's packets to one viewer as one segmented message otherwise).
	NoGSO bool
	// ICEServers returns the STUN/TURN servers handed to a client (TURN
	// credentials are per user and time-limited). Nil: none.
	ICEServers func(user string) []turnsrv.ICEServer
}

// defaults fills unset fields.
func (c *Config) defaults() {
	if c.MaxSDPBytes == 0 {
		c.MaxSDPBytes = 64 << 10
	}
	if c.MaxViewers == 0 {
		c.MaxViewers = 1000
	}
	if c.MaxLag == 0 {
		c.MaxLag = 300 * time.Millisecond
	}
	if c.PLIInterval == 0 {
		c.PLIInterval = 500 * time.Millisecond
	}
	if c.GatherTimeout == 0 {
		c.GatherTimeout = 5 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// Errors callers branch on (the HTTP layer maps them to statuses).
var (
	ErrBadOffer      = errors.New("malformed offer")
	ErrUnsupported   = errors.New("no supported codec")
	ErrTooMany       = errors.New("too many")
	ErrNotFound      = errors.New("no such media session")
	ErrClosed        = errors.New("media server closed")
	ErrRoomFull      = errors.New("room full")
	ErrRestart       = errors.New("ICE restart is not supported; start a new session")
	errGatherTimeout = errors.New("ICE gathering timed out")
)

// Hall names the two kinds of media space a session has.
type Hall string

// The halls: the opening (a host or OBS to everyone) and the sealed
// evaluation call (experts to each other, supervisors watching).
const (
	HallOpening    Hall = "opening"
	HallEvaluation Hall = "evaluation"
)

// Space is one media space: a session's hall.
type Space struct {
	Room string
	Hall Hall
}

func (s Space) String() string { return s.Room + "/" + string(s.Hall) }

// Server is the SFU. Create it with New and stop it with Close.
type Server struct {
	cfg     Config
	log     *slog.Logger
	conn    *batchConn // nil with per-connection ports
	udpMux  ice.UDPMux
	pubAPI  *webrtc.API
	viewAPI *webrtc.API
	workers []*worker
	epoch   time.Time
	done    chan struct{}
	wg      sync.WaitGroup
	// OnTrackEnded is called (on its own goroutine) when a published track
	// ends, e.g. to finalize its recording. Set before use.
	hooks Hooks

	mu       sync.Mutex // guards spaces, sessions, closed
	spaces   map[Space]*space
	sessions map[string]*session
	closed   bool
}

// Hooks let the caller observe published tracks (the recorder uses them).
type Hooks struct {
	// TrackStarted is called when a publisher's track starts; the returned
	// function, if not nil, receives every packet in order (on the track's
	// reader goroutine) and is called with nil when the track ends.
	TrackStarted func(t TrackInfo) func(p *Packet)
}

// TrackInfo describes a published track.
type TrackInfo struct {
	Space     Space
	Feed      string
	Publisher string // subject of the publisher's token
	Kind      string // audio or video
	Codec     webrtc.RTPCodecCapability
	Started   time.Time
}

// Packet is a published RTP packet handed to a hook. It must not be kept
// after the call returns unless copied.
type Packet struct {
	SequenceNumber uint16
	Timestamp      uint32
	Marker         bool
	Payload        []byte
}

// space is a session's hall: its feeds and who is in it.
type space struct {
	key     Space
	feeds   map[string]*feed
	viewers int
	gone    totals // counters of tracks and viewers that have ended
	rate    rate   // egress to viewers, for the host's stats
}

// feed is one publisher's picture and sound (the opening's "main" program,
// or one expert in the evaluation call).
type feed struct {
	name      string
	video     *slot
	audio     *slot
	publisher *session
}

func (f *feed) slot(kind webrtc.RTPCodecType) *slot {
	if kind == webrtc.RTPCodecTypeAudio {
		return f.audio
	}
	return f.video
}

// New starts the SFU.
func New(cfg Config, logger *slog.Logger, hooks Hooks) (*Server, error) {
	cfg.defaults()
	s := &Server{
		cfg: cfg, log: logger, epoch: time.Now(), done: make(chan struct{}), hooks: hooks,
		spaces: make(map[Space]*space), sessions: make(map[string]*session),
	}
	se := webrtc.SettingEngine{}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("media: public_ips: %w", err)
		}
	}
	if len(cfg.Interfaces) > 0 {
		allowed := cfg.Interfaces
		se.SetInterfaceFilter(func(name string) bool {
			for _, a := range allowed {
				if a == name {
					return true
				}
			}
			return false
		})
	}
	if cfg.UDPListen != "" {
		addr, err := net.ResolveUDPAddr("udp", cfg.UDPListen)
		if err != nil {
			return nil, fmt.Errorf("media: udp_listen %q: %w", cfg.UDPListen, err)
		}
		uc, err := net.ListenUDP("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("media: listen on UDP %s: %w", cfg.UDPListen, err)
		}
		_ = uc.SetWriteBuffer(4 << 20)
		_ = uc.SetReadBuffer(4 << 20)
		s.conn = newBatchConn(uc, !cfg.NoGSO)
		s.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: s.conn, Logger: lf.NewLogger("ice")})
		se.SetICEUDPMux(s.udpMux)
	} else if cfg.PortMin != 0 || cfg.PortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("media: UDP port range %d-%d: %w", cfg.PortMin, cfg.PortMax, err)
		}
	}

	pubME, pubReg := &webrtc.MediaEngine{}, &interceptor.Registry{}
	if err := registerCodecs(pubME, false); err != nil {
		return nil, fmt.Errorf("media: codecs: %w", err)
	}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("media: nack generator: %w", err)
	}
	pubReg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, fmt.Errorf("media: receiver reports: %w", err)
	}
	pubReg.Add(rr)
	if err := webrtc.ConfigureTWCCSender(pubME, pubReg); err != nil {
		return nil, fmt.Errorf("media: twcc: %w", err)
	}
	s.pubAPI = webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubReg), webrtc.WithSettingEngine(se))

	// Viewers get no interceptors: NACKs, reports and keyframe requests are
	// answered from the shared history by the forwarding code itself, so
	// no per-viewer packet buffer exists.
	viewME := &webrtc.MediaEngine{}
	if err := registerCodecs(viewME, false); err != nil {
		return nil, fmt.Errorf("media: codecs: %w", err)
	}
	s.viewAPI = webrtc.NewAPI(webrtc.WithMediaEngine(viewME), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))

	conn := s.conn
	if conn == nil {
		conn = &batchConn{} // Flush on a zero batchConn is a no-op
	}
	for range cfg.Workers {
		w := newWorker(conn)
		s.workers = append(s.workers, w)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run(s.done, s.clock)
		}()
	}
	return s, nil
}

// clock is monotonic nanoseconds since the server started.
func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) }

// LocalUDPAddr is the muxed UDP socket's address (nil without one).
func (s *Server) LocalUDPAddr() net.Addr {
	if s.conn == nil {
		return nil
	}
	return s.conn.LocalAddr()
}

// leastLoaded picks the worker with the fewest viewer tracks.
func (s *Server) leastLoaded() *worker {
	best := s.workers[0]
	bestLoad := int(^uint(0) >> 1)
	for _, w := range s.workers {
		w.mu.Lock()
		l := w.load
		w.mu.Unlock()
		if l < bestLoad {
			best, bestLoad = w, l
		}
	}
	return best
}

// spaceLocked returns the space, creating it.
func (s *Server) spaceLocked(key Space) *space {
	sp := s.spaces[key]
	if sp == nil {
		sp = &space{key: key, feeds: make(map[string]*feed)}
		s.spaces[key] = sp
	}
	return sp
}

func (sp *space) feed(name string) *feed {
	f := sp.feeds[name]
	if f == nil {
		f = &feed{name: name, video: &slot{kind: webrtc.RTPCodecTypeVideo}, audio: &slot{kind: webrtc.RTPCodecTypeAudio}}
		sp.feeds[name] = f
	}
	return f
}

// newID returns a random resource id for a session URL.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close ends every session and stops the SFU.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.close()
	}
	close(s.done)
	s.wg.Wait()
	var err error
	if s.udpMux != nil {
		err = s.udpMux.Close()
	}
	if s.conn != nil {
		if cerr := s.conn.Close(); cerr != nil && !strings.Contains(cerr.Error(), "use of closed") {
			err = errors.Join(err, cerr)
		}
	}
	return err
}
