package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testClip is a short clip made once per test binary with ffmpeg.
var testClip = sync.OnceValues(func() ([]frame, error) {
	dir, err := os.MkdirTemp("", "mediaload-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c := defaultClip
	c.Seconds = 4
	path, err := ensureClip(context.Background(), "ffmpeg", dir, c)
	if err != nil {
		return nil, err
	}
	return loadClip(path)
})

func clipFrames(t *testing.T) []frame {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("no ffmpeg on PATH (scripts/test.sh installs it)")
	}
	frames, err := testClip()
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func TestClipFrames(t *testing.T) {
	frames := clipFrames(t)
	if got, want := len(frames), 4*30; got != want {
		t.Fatalf("got %d frames, want %d", got, want)
	}
	for i, f := range frames {
		if got, want := f.key, i%60 == 0; got != want {
			t.Errorf("frame %d: key %v, want %v", i, got, want)
		}
		if f.key {
			// Every IDR must carry SPS and PPS in-band.
			var types []byte
			for _, n := range splitNALs(f.data) {
				types = append(types, n[0]&nalTypeOf)
			}
			if !bytes.Contains(types, []byte{nalSPS, nalPPS}) {
				t.Errorf("frame %d: NAL types %v, want SPS and PPS before the IDR", i, types)
			}
		}
	}
}

func TestParseAnnexB(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x42}
	pps := []byte{0, 0, 1, 0x68, 0xce}
	aud := []byte{0, 0, 0, 1, 0x09, 0xf0}
	idr1 := []byte{0, 0, 1, 0x65, 0x88, 1}  // first_mb_in_slice 0
	idr2 := []byte{0, 0, 1, 0x65, 0x40, 2}  // a second slice of the same frame
	p1 := []byte{0, 0, 0, 1, 0x41, 0x9a, 3} // next frame
	stream := bytes.Join([][]byte{aud, sps, pps, idr1, idr2, p1, aud, p1}, nil)
	frames, err := parseAnnexB(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("got %d frames, want 3", len(frames))
	}
	if got := len(splitNALs(frames[0].data)); got != 4 {
		t.Errorf("frame 0: got %d NAL units, want 4 (SPS, PPS, two slices)", got)
	}
	if !frames[0].key || frames[1].key || frames[2].key {
		t.Errorf("keys: got %v %v %v, want true false false", frames[0].key, frames[1].key, frames[2].key)
	}
	if _, err := parseAnnexB(p1); err == nil {
		t.Error("a stream starting with a P frame: got no error")
	}
	if _, err := parseAnnexB([]byte{1, 2, 3}); !errors.Is(err, errNoFrames) {
		t.Errorf("garbage: got %v, want %v", err, errNoFrames)
	}
}

func TestIsKeyPayload(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"empty", nil, false},
		{"IDR", []byte{0x65, 0x88}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"P slice", []byte{0x41, 0x9a}, false},
		{"STAP-A with SPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true},
		{"STAP-A without", []byte{0x78, 0, 2, 0x06, 0x05, 0, 2, 0x68, 0xce}, false},
		{"STAP-A truncated", []byte{0x78, 0, 9, 0x67}, false},
		{"FU-A IDR start", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A IDR middle", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A P start", []byte{0x7c, 0x81, 0x9a}, false},
	}
	for _, tt := range tests {
		if got := isKeyPayload(tt.p); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSeqWindow(t *testing.T) {
	var w seqWindow
	steps := []struct {
		seq  uint16
		want bool
	}{
		{65530, true}, {65531, true}, {65531, false}, {65535, true}, {2, true},
		{65533, true}, {65533, false}, {1, true}, {2, false}, {30000, true}, {2, false},
	}
	for i, s := range steps {
		if got := w.add(s.seq); got != s.want {
			t.Errorf("step %d: add(%d) = %v, want %v", i, s.seq, got, s.want)
		}
	}
}

func FuzzParseAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88})
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := parseAnnexB(b)
		if err == nil && (len(frames) == 0 || !frames[0].key) {
			t.Fatalf("no error but %d frames", len(frames))
		}
		_ = isKeyPayload(b)
	})
}

// TestMeasureRelay runs the whole measurement against the test relay: the
// tool's publisher and viewers, no bidroom server.
func TestMeasureRelay(t *testing.T) {
	frames := clipFrames(t)
	for _, shared := range []bool{true, false} {
		t.Run(map[bool]string{true: "shared", false: "own"}[shared], func(t *testing.T) {
			base := startTestRelay(t)
			opt := Options{
				N: 3, Duration: 4 * time.Second, Settle: 500 * time.Millisecond, Ramp: 2, LateJoiners: 2,
				SharedMux: shared, KeyTimeout: 10 * time.Second, FPS: 30, Frames: frames,
			}
			res, err := measure(context.Background(), opt, target{
				base: base, room: "r", pubToken: "p", viewerTokens: []string{"1", "2", "3", "4", "5"}, pid: os.Getpid(),
			})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, opt)
		})
	}
}

func checkResult(t *testing.T, res Result, opt Options) {
	t.Helper()
	t.Logf("%+v", res)
	if len(res.Failures) > 0 {
		t.Errorf("failures: %v", res.Failures)
	}
	if res.Viewers != opt.N {
		t.Errorf("got %d viewers receiving, want %d", res.Viewers, opt.N)
	}
	if res.Delivery < 90 || res.Delivery > 100 {
		t.Errorf("frame delivery %.1f%%, want over 90%% (%d of %d)", res.Delivery, res.FramesDelivered, res.FramesExpected)
	}
	if min := int(opt.Duration.Seconds()) * opt.FPS * opt.N * 8 / 10; res.Latency.Count < min {
		t.Errorf("latency measured for %d frames, want at least %d", res.Latency.Count, min)
	}
	if res.Latency.P50 <= 0 || res.Latency.P99 > 500 {
		t.Errorf("latency p50 %.2f ms, p99 %.2f ms: want measured and under 500 ms", res.Latency.P50, res.Latency.P99)
	}
	if res.LateJoin.Count != opt.LateJoiners || res.LateJoin.P50 <= 0 {
		t.Errorf("late joiners: got %+v, want %d measured", res.LateJoin, opt.LateJoiners)
	}
	if res.EgressPktsPerSec <= 0 {
		t.Errorf("egress %.0f pkt/s, want some", res.EgressPktsPerSec)
	}
}

// TestEndToEnd builds bidroom and runs the tool against it with three
// viewers for 5 s.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	clipFrames(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bidroom")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bidroom/bidroom/cmd/bidroom").CombinedOutput(); err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-server", bin, "-n", "3", "-d", "5s", "-settle", "1s", "-late", "2", "-json", "-cache", filepath.Join(dir, "cache"),
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep Report
	if err := jsonDecode(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode the report: %v\n%s", err, stdout.String())
	}
	if len(rep.Results) != 1 {
		t.Fatalf("got %d results, want 1", len(rep.Results))
	}
	checkResult(t, rep.Results[0], Options{N: 3, Duration: 5 * time.Second, FPS: 30, LateJoiners: 2})
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
