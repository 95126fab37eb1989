package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/media"
	"github.com/bidroom/bidroom/media/placement"
	"github.com/bidroom/bidroom/media/turnsrv"
	"github.com/bidroom/bidroom/rooms"
	redisstore "github.com/bidroom/bidroom/store/redis"
)

// mediaStack is the SFU with its TURN server and recorders, started and
// stopped together.
type mediaStack struct {
	sfu  *media.Server
	turn *turnsrv.Server
	rec  *media.Recorders
	// placer keeps each room's media on one instance of a cluster
	// (cluster.advertise_url); nil with one instance.
	placer *placement.Placement
	// recovery files what the last run left unfiled (media.Recorders.Recover);
	// close stops and waits for it.
	recovery     sync.WaitGroup
	stopRecovery context.CancelFunc
	once         sync.Once
}

// startMedia builds the media stack from the configuration; nil when media
// is off. Finished recordings are appended to their session's log.
func startMedia(cfg configs.Config, svc *rooms.Service, logger *slog.Logger, reg prometheus.Registerer) (*mediaStack, error) {
	m := cfg.Media
	if !m.Enabled {
		return nil, nil
	}
	st := &mediaStack{}
	mc := media.Config{
		UDPListen: m.UDPListen, PortMin: uint16(m.UDPPortMin), PortMax: uint16(m.UDPPortMax), NoGSO: !m.UDPGSO,
		PublicIPs: m.PublicIPs, Interfaces: m.Interfaces, IncludeLoopback: m.IncludeLoopback,
		MaxSDPBytes: m.MaxSDPBytes, MaxViewers: m.MaxViewers, MaxLag: m.MaxLag, PLIInterval: m.PLIInterval,
	}
	if m.TURN.Enabled {
		sec, err := secret(m.TURN.Secret, cfg.DataDir, "turn.secret", 32)
		if err != nil {
			return nil, err
		}
		st.turn, err = turnsrv.New(turnsrv.Config{
			Listen: m.TURN.Listen, Realm: m.TURN.Realm, RelayIP: m.TURN.RelayIP,
			PortMin: uint16(m.TURN.PortMin), PortMax: uint16(m.TURN.PortMax), Secret: []byte(sec), TTL: m.TURN.TTL,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("start TURN server (media.turn): %w", err)
		}
		mc.ICEServers = func(user string) []turnsrv.ICEServer {
			return []turnsrv.ICEServer{st.turn.Credentials(user, time.Now())}
		}
	}
	var hooks media.Hooks
	if m.Record {
		var err error
		st.rec, err = media.NewRecorders(recordDir(cfg), logger, func(r media.Recorded) error { return logRecording(svc, r) })
		if err != nil {
			st.close()
			return nil, err
		}
		hooks.TrackStarted = st.rec.Hook
		// Recordings the last run left unfiled (it died mid-recording, or
		// the log refused them) are completed and filed meanwhile.
		ctx, cancel := context.WithCancel(context.Background())
		st.stopRecovery = cancel
		st.recovery.Add(1)
		go func() {
			defer st.recovery.Done()
			if n, err := st.rec.Recover(ctx); err != nil {
				logger.Error("media: recovering recordings", "filed", n, "err", err)
			} else if n > 0 {
				logger.Info("media: recovered recordings filed", "count", n)
			}
		}()
	}
	sfu, err := media.New(mc, logger, hooks)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("start media (media.udp_listen): %w", err)
	}
	st.sfu = sfu
	if err := reg.Register(sfu); err != nil {
		st.close()
		return nil, err
	}
	if a := sfu.LocalUDPAddr(); a != nil {
		logger.Info("media: WebRTC on one muxed UDP port", "addr", a.String())
	}
	return st, nil
}

// logRecording appends a finished recording to its session's log, so the
// archive file is bound to the hash chain by its SM3 digest. The command
// id is the file's name, so filing one twice (a recovery after a crash
// that came after the append) appends it once.
func logRecording(svc *rooms.Service, r media.Recorded) error {
	data, err := json.Marshal(rooms.Recording{
		Hall: string(r.Track.Space.Hall), Feed: r.Track.Feed, Publisher: r.Track.Publisher, Kind: r.Track.Kind,
		Codec: r.Track.Codec.MimeType, File: filepath.Base(r.Result.Path), Bytes: r.Result.Bytes, SM3: r.Result.SM3,
		Packets: r.Result.Packets, Started: r.Track.Started.UTC(), Ended: r.Ended.UTC(), Dropped: r.Dropped,
		Recovered: r.Recovered,
	})
	if err != nil {
		return fmt.Errorf("encode the recording: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := rooms.Command{ID: "record:" + filepath.Base(r.Result.Path), Type: rooms.CmdRecordMedia, Data: data}
	if _, err := svc.Execute(ctx, r.Track.Space.Room, rooms.SystemActor, cmd); err != nil {
		var refusal *rooms.Refusal
		if errors.As(err, &refusal) { // a decision: trying again at the next start changes nothing
			return fmt.Errorf("%w: session %s: %w", media.ErrRefused, r.Track.Space.Room, err)
		}
		return fmt.Errorf("log it in session %s: %w", r.Track.Space.Room, err)
	}
	return nil
}

// close stops the SFU, then waits for recordings to be finalized (and
// logged), then stops TURN.
func (st *mediaStack) close() {
	if st == nil {
		return
	}
	st.once.Do(func() {
		if st.sfu != nil {
			_ = st.sfu.Close()
		}
		if st.placer != nil {
			st.placer.Close() // after the SFU: its rooms have no peers left, their leases go
		}
		if st.stopRecovery != nil {
			st.stopRecovery()
		}
		st.recovery.Wait()
		if st.rec != nil {
			st.rec.Wait()
		}
		if st.turn != nil {
			_ = st.turn.Close()
		}
	})
}

// drain hands the media over before a shutdown: with placement the
// leases go first (placement.Placement.Drain: the rooms' clients retry,
// through the load balancer, at another instance, which takes them), then
// the SFU closes every session left and answers new offers 503. It returns
// how many rooms were handed over. Recordings are finalized by close.
func (st *mediaStack) drain(ctx context.Context) (rooms, sessions int) {
	if st == nil || st.sfu == nil {
		return 0, 0
	}
	if st.placer != nil {
		rooms, sessions = st.placer.Drain(ctx)
	}
	_ = st.sfu.Close()
	return rooms, sessions
}

// recordDir is where recordings are kept (media.record_dir, by default
// <data_dir>/recordings), for the recorder and the archive.
func recordDir(cfg configs.Config) string {
	if cfg.Media.RecordDir != "" {
		return cfg.Media.RecordDir
	}
	return filepath.Join(cfg.DataDir, "recordings")
}

// archiveDir is where the server keeps archives (archive.dir, by default
// <data_dir>/archive).
func archiveDir(cfg configs.Config) string {
	if cfg.Archive.Dir != "" {
		return cfg.Archive.Dir
	}
	return filepath.Join(cfg.DataDir, "archive")
}

// place turns media placement on when several instances share Redis
// (cluster.advertise_url set): the WHIP/WHEP handler h is wrapped so each
// room's media lives on the instance holding its lease, and the returned
// function forwards the media roster (api.Deps.MediaElsewhere). With one
// instance it returns h and nil. Forwarded requests are marked with a key
// derived from the token secret, which every instance shares.
func (st *mediaStack) place(cfg configs.Config, log eventLog, secret string, h http.Handler, auth media.Authenticator,
	logger *slog.Logger, reg prometheus.Registerer) (http.Handler, func(http.ResponseWriter, *http.Request, string) bool, error) {
	if cfg.Cluster.AdvertiseURL == "" {
		return h, nil, nil
	}
	rl, ok := log.(*redisstore.Log)
	if !ok {
		return nil, nil, fmt.Errorf("cluster.advertise_url needs store.backend: redis")
	}
	self := placement.Instance{ID: cfg.Cluster.InstanceID, URL: cfg.Cluster.AdvertiseURL}
	if self.ID == "" {
		self.ID = defaultInstanceID()
	}
	registry, err := placement.NewRedis(rl.Client(), rl.Prefix(), self, cfg.Cluster.MediaLease)
	if err != nil {
		return nil, nil, fmt.Errorf("media placement (cluster.*): %w", err)
	}
	p, err := placement.New(placement.Config{
		Self: self, Lease: cfg.Cluster.MediaLease, Secret: []byte(secret), MaxBodyBytes: int64(cfg.Media.MaxSDPBytes),
	}, registry, st.sfu, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("media placement (cluster.*): %w", err)
	}
	st.placer = p
	if err := reg.Register(p); err != nil {
		return nil, nil, fmt.Errorf("media placement metrics: %w", err)
	}
	logger.Info("media: placed per room across instances", "instance", self.ID, "advertise_url", self.URL, "lease", cfg.Cluster.MediaLease)
	return p.Handler(h, auth), p.Elsewhere, nil
}

// defaultInstanceID is the host name (what fits an instance id of it) and
// a random suffix: two runs on one host, or one after another, differ.
func defaultInstanceID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return r
		}
		return -1
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		return "bidroom-" + hex.EncodeToString(b[:])
	}
	return host + "-" + hex.EncodeToString(b[:])
}
