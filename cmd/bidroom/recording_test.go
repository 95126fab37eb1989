package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestRecordingRecoveredAfterKill: a server recording a host's camera is
// killed with SIGKILL, leaving the recording as .part. Started again on
// the same data directory, it completes the file and files it in the
// session's log, marked recovered, with the size and SM3 digest of the
// file on disk; nothing is left half done.
func TestRecordingRecoveredAfterKill(t *testing.T) {
	dir := t.TempDir()
	udp := freeUDPPort(t)
	s := startServer(t, "BIDROOM_DATA_DIR="+dir, "BIDROOM_MEDIA_RECORD=true",
		"BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:"+strconv.Itoa(udp))
	const room = "recorded"
	s.createSession(room)
	hostTok := roomMinter(t, room)(rooms.RoleHost, "host-1", auth.GrantPublish, auth.GrantView)
	pub := publishVia(t, s, room, hostTok, udp)

	recDir := filepath.Join(dir, "recordings")
	var part string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		parts, _ := filepath.Glob(filepath.Join(recDir, "*.ivf.part"))
		if len(parts) == 1 {
			if fi, err := os.Stat(parts[0]); err == nil && fi.Size() > 32+20*25 { // 20 frames synced
				part = parts[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording growing in %s: %v\n%s", recDir, parts, s.out)
		}
	}
	s.kill9()
	pub.close()
	final := part[:len(part)-len(".part")]

	s.start()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left, _ := filepath.Glob(filepath.Join(recDir, "*.part"))
		sidecars, _ := filepath.Glob(filepath.Join(recDir, "*.track.json"))
		if _, err := os.Stat(final); err == nil && len(left) == 0 && len(sidecars) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording was not recovered: .part %v, sidecars %v\n%s", left, sidecars, s.out)
		}
	}
	s.stop()

	b, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	evs, err := log.Read(context.Background(), room, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var filed []rooms.Recording
	for _, e := range evs {
		var r rooms.Recording
		if e.Type == rooms.EvMediaRecorded && json.Unmarshal(e.Data, &r) == nil {
			filed = append(filed, r)
		}
	}
	if len(filed) != 1 {
		t.Fatalf("the log has %d recordings, want the recovered one: %+v", len(filed), filed)
	}
	r := filed[0]
	if !r.Recovered || r.File != filepath.Base(final) || r.Bytes != int64(len(b)) || r.SM3 != hex.EncodeToString(sm3.Sm3Sum(b)) {
		t.Errorf("filed %+v; want %s recovered, %d bytes, its SM3", r, filepath.Base(final), len(b))
	}
	if r.Feed == "" || r.Kind != "video" || r.Started.IsZero() || r.Ended.Before(r.Started) {
		t.Errorf("filed %+v; want the track's feed, kind and times from before the kill", r)
	}
}
