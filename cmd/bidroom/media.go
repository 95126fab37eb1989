package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/media"
	"github.com/bidroom/bidroom/media/turnsrv"
	"github.com/bidroom/bidroom/rooms"
)

// mediaStack is the SFU with its TURN server and recorders, started and
// stopped together.
type mediaStack struct {
	sfu  *media.Server
	turn *turnsrv.Server
	rec  *media.Recorders
	once sync.Once
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
		st.rec, err = media.NewRecorders(recordDir(cfg), logger, func(r media.Recorded) { logRecording(svc, logger, r) })
		if err != nil {
			st.close()
			return nil, err
		}
		hooks.TrackStarted = st.rec.Hook
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
// archive file is bound to the hash chain by its SM3 digest.
func logRecording(svc *rooms.Service, logger *slog.Logger, r media.Recorded) {
	data, _ := json.Marshal(rooms.Recording{
		Hall: string(r.Track.Space.Hall), Feed: r.Track.Feed, Publisher: r.Track.Publisher, Kind: r.Track.Kind,
		Codec: r.Track.Codec.MimeType, File: filepath.Base(r.Result.Path), Bytes: r.Result.Bytes, SM3: r.Result.SM3,
		Packets: r.Result.Packets, Started: r.Track.Started.UTC(), Ended: r.Ended.UTC(), Dropped: r.Dropped,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := rooms.Command{ID: "record:" + filepath.Base(r.Result.Path), Type: rooms.CmdRecordMedia, Data: data}
	if _, err := svc.Execute(ctx, r.Track.Space.Room, rooms.SystemActor, cmd); err != nil {
		logger.Error("media: recording not logged", "room", r.Track.Space.Room, "file", r.Result.Path, "err", err)
	}
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
		if st.rec != nil {
			st.rec.Wait()
		}
		if st.turn != nil {
			_ = st.turn.Close()
		}
	})
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
