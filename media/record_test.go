package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/bidroom/bidroom/media/recorder"
)

// filings collects what a Recorders' done is given; refuse makes it fail.
type filings struct {
	mu     sync.Mutex
	got    []Recorded
	refuse bool
}

func (f *filings) done(r Recorded) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse {
		return errors.New("the log is unreachable")
	}
	f.got = append(f.got, r)
	return nil
}

func (f *filings) files() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.got {
		out = append(out, filepath.Base(r.Result.Path))
	}
	slices.Sort(out)
	return out
}

func testTrack(room string) TrackInfo {
	return TrackInfo{Space: Space{Room: room, Hall: "main"}, Feed: "host-camera", Publisher: "h1", Kind: "video",
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, Started: time.Now().UTC()}
}

// recordKeyframe is an RTP payload holding a whole (tiny) VP8 keyframe: the
// payload descriptor with S=1, then the frame tag, start code and size.
var recordKeyframe = []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00, 0x00}

// record runs a track through the Recorders' hook: n keyframes, then the
// end of the track; it waits until the recording is finalized.
func record(t *testing.T, rs *Recorders, tr TrackInfo, n int) {
	t.Helper()
	write := rs.Hook(tr)
	if write == nil {
		t.Fatal("the hook refused the track")
	}
	for i := range n {
		write(&Packet{SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, Marker: true, Payload: recordKeyframe})
	}
	write(nil)
	rs.Wait()
}

// TestRecordersFileAndRecover: a finished recording is filed and its
// sidecar removed; one the log refuses keeps its sidecar, and Recover files
// it later. A .part left by a dead process is completed and filed, marked
// recovered; one still being written (locked) is left alone.
func TestRecordersFileAndRecover(t *testing.T) {
	dir := t.TempDir()
	var f filings
	rs, err := NewRecorders(dir, slog.New(slog.DiscardHandler), f.done)
	if err != nil {
		t.Fatal(err)
	}
	sidecars := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+sidecarSuffix))
		return m
	}

	record(t, rs, testTrack("filed"), 5)
	if got := f.files(); len(got) != 1 || len(sidecars()) != 0 {
		t.Fatalf("after a recording: filed %v, sidecars %v; want one filed, none left", got, sidecars())
	}
	if f.got[0].Recovered || f.got[0].Result.Frames != 5 {
		t.Errorf("filed %+v; want 5 frames, not recovered", f.got[0])
	}

	f.refuse = true
	record(t, rs, testTrack("refused"), 3)
	f.refuse = false
	if len(f.got) != 1 || len(sidecars()) != 1 {
		t.Fatalf("after a refused filing: filed %d, sidecars %v; want the sidecar kept", len(f.got), sidecars())
	}

	// A dead process's recording: a finished file put back as .part, with
	// a frame cut short after it, and its sidecar.
	crashed := testTrack("crashed")
	record(t, rs, crashed, 4)
	deadName := filepath.Base(f.got[len(f.got)-1].Result.Path)
	f.got = f.got[:len(f.got)-1]
	dead := filepath.Join(dir, deadName)
	if err := os.Rename(dead, dead+".part"); err != nil {
		t.Fatal(err)
	}
	appendBytes(t, dead+".part", []byte{0xff, 0, 0, 0, 1, 2})
	if err := writeSidecar(dead[:len(dead)-len(".ivf")]+sidecarSuffix, crashed); err != nil {
		t.Fatal(err)
	}

	// A live recording by another process: locked, so left alone.
	live, err := recorder.Create(recorder.Track{Dir: dir, Name: "live", MimeType: webrtc.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := writeSidecar(filepath.Join(dir, "live"+sidecarSuffix), testTrack("live")); err != nil {
		t.Fatal(err)
	}

	n, err := rs.Recover(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2 filed", n, err)
	}
	got := f.got[1:]
	if len(got) != 2 {
		t.Fatalf("filed by Recover: %d", len(got))
	}
	for _, r := range got {
		if !r.Recovered {
			t.Errorf("%s filed by Recover without Recovered", r.Result.Path)
		}
		b, err := os.ReadFile(r.Result.Path)
		if err != nil || int64(len(b)) != r.Result.Bytes || len(r.Result.SM3) != 64 {
			t.Errorf("%s: %d bytes read (%v), Result says %d bytes, SM3 %q", r.Result.Path, len(b), err, r.Result.Bytes, r.Result.SM3)
		}
		switch r.Track.Space.Room {
		case "crashed":
			if r.Result.Frames != 4 || filepath.Base(r.Result.Path) != deadName {
				t.Errorf("the crashed recording came back as %s with %d frames; want %s with 4", r.Result.Path, r.Result.Frames, deadName)
			}
		case "refused":
		default:
			t.Errorf("Recover filed a recording of room %q", r.Track.Space.Room)
		}
	}
	if left := sidecars(); len(left) != 1 || filepath.Base(left[0]) != "live"+sidecarSuffix {
		t.Errorf("sidecars left: %v; want only the live recording's", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "live.ivf.part")); err != nil {
		t.Errorf("the live recording's .part: %v", err)
	}
}

// TestRecoverKeepsWhatItCannotFile: a filing refused during Recover leaves
// the sidecar and counts in the error.
func TestRecoverKeepsWhatItCannotFile(t *testing.T) {
	dir := t.TempDir()
	var f filings
	rs, err := NewRecorders(dir, slog.New(slog.DiscardHandler), f.done)
	if err != nil {
		t.Fatal(err)
	}
	f.refuse = true
	record(t, rs, testTrack("r"), 2)
	n, err := rs.Recover(context.Background())
	if n != 0 || err == nil {
		t.Errorf("Recover with the log refusing = %d, %v; want 0 and an error", n, err)
	}
	f.refuse = false
	if n, err := rs.Recover(context.Background()); n != 1 || err != nil {
		t.Errorf("Recover once the log takes it = %d, %v; want 1", n, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+sidecarSuffix)); len(m) != 0 {
		t.Errorf("sidecars left: %v", m)
	}
}

// TestRecordingRefusedForGood: a recording the log refuses for good
// (ErrRefused) keeps its file but not its sidecar: it is not offered again
// at every start.
func TestRecordingRefusedForGood(t *testing.T) {
	dir := t.TempDir()
	offered := 0
	rs, err := NewRecorders(dir, slog.New(slog.DiscardHandler), func(Recorded) error {
		offered++
		return fmt.Errorf("%w: session gone: not found", ErrRefused)
	})
	if err != nil {
		t.Fatal(err)
	}
	record(t, rs, testTrack("gone"), 2)
	if n, err := rs.Recover(context.Background()); n != 0 || err != nil || offered != 1 {
		t.Errorf("Recover after a refusal for good = %d, %v, offered %d times; want nothing left to offer", n, err, offered)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.ivf")); len(m) != 1 {
		t.Errorf("recordings on disk: %v; want the refused one kept", m)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
