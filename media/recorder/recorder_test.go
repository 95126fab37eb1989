package recorder

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/tjfoc/gmsm/sm3"
)

// source is test media made by ffmpeg and packetized like a WebRTC sender would.
type source struct {
	mime    string
	ext     string // recorded file extension
	format  string // ffmpeg demuxer for the recorded file
	codec   string // ffprobe codec_name
	packets []*rtp.Packet
	frames  int // frames (or Opus packets) packetized
}

var sources = []struct {
	name string
	mime string
	make func(t *testing.T) source
}{
	{"VP8", webrtc.MimeTypeVP8, func(t *testing.T) source {
		src := ffmpeg(t, "src.ivf", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
			"-c:v", "libvpx", "-g", "30", "-f", "ivf")
		return packetizeIVF(t, src, webrtc.MimeTypeVP8, "vp8", &codecs.VP8Payloader{EnablePictureID: true})
	}},
	{"VP9", webrtc.MimeTypeVP9, func(t *testing.T) source {
		src := ffmpeg(t, "src.ivf", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
			"-c:v", "libvpx-vp9", "-g", "30", "-deadline", "realtime", "-f", "ivf")
		return packetizeIVF(t, src, webrtc.MimeTypeVP9, "vp9", &codecs.VP9Payloader{})
	}},
	{"H264", webrtc.MimeTypeH264, func(t *testing.T) source {
		src := ffmpeg(t, "src.h264", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
			"-c:v", "libx264", "-profile:v", "baseline", "-g", "30", "-f", "h264")
		return packetizeH264(t, src)
	}},
	{"Opus", webrtc.MimeTypeOpus, func(t *testing.T) source {
		src := ffmpeg(t, "src.ogg", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000", "-t", "2",
			"-c:a", "libopus", "-page_duration", "20000", "-f", "ogg")
		return packetizeOgg(t, src)
	}},
}

func TestRecord(t *testing.T) {
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			w := create(t, src.mime)
			start := time.Now()
			for _, p := range src.packets {
				if err := w.WriteRTP(p); err != nil {
					t.Fatalf("WriteRTP(seq %d) = %v, want nil", p.SequenceNumber, err)
				}
			}
			res, err := w.Close()
			if err != nil {
				t.Fatalf("Close() = %v", err)
			}
			t.Logf("%+v", res)
			checkResult(t, res, src)
			if res.Packets != uint64(len(src.packets)) || res.Skipped != 0 {
				t.Errorf("Packets, Skipped = %d, %d; want %d, 0", res.Packets, res.Skipped, len(src.packets))
			}
			if res.Frames != uint64(src.frames) {
				t.Errorf("Frames = %d, want %d", res.Frames, src.frames)
			}
			if res.First.Before(start) || res.Last.Before(res.First) || time.Since(res.Last) < 0 {
				t.Errorf("First, Last = %v, %v; want in order after %v", res.First, res.Last, start)
			}
			if d := res.Duration; d < 1900*time.Millisecond || d > 2*time.Second {
				t.Errorf("Duration = %v, want about 2s", d)
			}
			if got := probeFrames(t, res.Path, ""); abs(got-src.frames) > frameSlack {
				t.Errorf("ffprobe frames = %d, want about %d", got, src.frames)
			}
			if src.format == "h264" {
				return // a raw H.264 stream has no timing
			}
			if got, want := probeDuration(t, res.Path), 2.0; got < want-0.15 || got > want+0.1 {
				t.Errorf("ffprobe duration = %.3fs, want about %.1fs", got, want)
			}
		})
	}
}

// TestRecordLoss drops a run of packets: the file still decodes cleanly, video
// resumes at the next keyframe and Opus keeps its length.
func TestRecordLoss(t *testing.T) {
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			w := create(t, src.mime)
			n := len(src.packets)
			lost := map[int]bool{}
			for i := n * 4 / 10; i < n*45/100; i++ {
				lost[i] = true
			}
			lost[n*7/10] = true
			for i, p := range src.packets {
				if lost[i] {
					continue
				}
				if err := w.WriteRTP(p); err != nil {
					t.Fatalf("WriteRTP(seq %d) = %v, want nil", p.SequenceNumber, err)
				}
			}
			res, err := w.Close()
			if err != nil {
				t.Fatalf("Close() = %v", err)
			}
			t.Logf("%+v", res)
			checkResult(t, res, src)
			if res.Packets+res.Skipped != uint64(n-len(lost)) {
				t.Errorf("Packets+Skipped = %d+%d, want %d", res.Packets, res.Skipped, n-len(lost))
			}
			if res.Frames == 0 || res.Frames >= uint64(src.frames) {
				t.Errorf("Frames = %d, want between 0 and %d", res.Frames, src.frames)
			}
			if src.mime == webrtc.MimeTypeOpus {
				if got := probeDuration(t, res.Path); got < 1.85 || got > 2.1 {
					t.Errorf("ffprobe duration = %.3fs, want about 2s: gaps are filled", got)
				}
			} else if res.Skipped == 0 {
				t.Errorf("Skipped = 0, want frames dropped until the next keyframe")
			}
		})
	}
}

// TestPartDecodable checks crash safety: the .part file on disk, without Close,
// decodes up to the last sync.
func TestPartDecodable(t *testing.T) {
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			w := create(t, src.mime)
			t.Cleanup(func() { _, _ = w.Close() })
			i := 0
			for ; i < len(src.packets) && (i < len(src.packets)/2 || w.out.bw.Buffered() > 0); i++ {
				if err := w.WriteRTP(src.packets[i]); err != nil {
					t.Fatalf("WriteRTP(seq %d) = %v, want nil", src.packets[i].SequenceNumber, err)
				}
			}
			if i == len(src.packets) {
				t.Fatalf("no sync point after half the packets")
			}
			crashed := filepath.Join(t.TempDir(), "crashed")
			copyFile(t, w.part, crashed)
			decode(t, crashed, src.format)
			frames := probeFrames(t, crashed, src.format)
			if want := int(w.res.Frames); frames < want-frameSlack || frames == 0 {
				t.Errorf("ffprobe frames in .part = %d, want about %d", frames, want)
			}
			if _, err := os.Stat(w.path); !os.IsNotExist(err) {
				t.Errorf("final file exists before Close: %v", err)
			}
		})
	}
}

// TestGarbage feeds malformed payloads between real packets: no panic, only
// ErrBadPacket errors, and Close still produces a file.
func TestGarbage(t *testing.T) {
	garbage := [][]byte{
		nil, {0}, {0xff}, {0x90}, {0x80, 0x80}, {0x90, 0x80, 0x80},
		{24, 0xff, 0xff, 7}, {24, 0, 1}, {28}, {28, 0x45, 1, 2}, {28, 0x85}, {25, 1, 2}, {31, 0},
		{0x3}, {0x3, 0}, {0xfb, 0xff}, bytes.Repeat([]byte{0xff}, 1500),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, rng.IntN(1400))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		garbage = append(garbage, b)
	}
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			w := create(t, src.mime)
			seq := uint16(0)
			for i, p := range src.packets {
				q := *p
				if i%3 == 1 {
					g := garbage[i%len(garbage)]
					q.Payload, q.Marker = g, i%2 == 0
				}
				q.SequenceNumber = seq
				seq++
				if err := w.WriteRTP(&q); err != nil && !errors.Is(err, ErrBadPacket) {
					t.Fatalf("WriteRTP(garbage %d) = %v, want nil or ErrBadPacket", i, err)
				}
			}
			for _, g := range garbage {
				err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Marker: true}, Payload: g})
				if err != nil && !errors.Is(err, ErrBadPacket) {
					t.Fatalf("WriteRTP(%x) = %v, want nil or ErrBadPacket", g, err)
				}
				seq++
			}
			if err := w.WriteRTP(nil); !errors.Is(err, ErrBadPacket) {
				t.Errorf("WriteRTP(nil) = %v, want ErrBadPacket", err)
			}
			res, err := w.Close()
			if err != nil {
				t.Fatalf("Close() = %v", err)
			}
			if res.Skipped == 0 {
				t.Errorf("Skipped = 0, want garbage counted")
			}
			checkDigest(t, res)
		})
	}
}

func FuzzWriteRTP(f *testing.F) {
	f.Add(byte(0), []byte{0x90, 0x80, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	f.Add(byte(1), []byte{0x88, 0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0})
	f.Add(byte(2), []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88})
	f.Add(byte(2), []byte{28, 0x85, 1, 2, 3, 28, 0x45, 4})
	f.Add(byte(3), []byte{0x78, 1, 2, 3, 0xfb, 0xff, 0x03})
	mimes := []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264, webrtc.MimeTypeOpus}
	f.Fuzz(func(t *testing.T, codec byte, data []byte) {
		w, err := Create(Track{Dir: t.TempDir(), Name: "fuzz", MimeType: mimes[int(codec)%len(mimes)]})
		if err != nil {
			t.Fatalf("Create() = %v", err)
		}
		// Split data into packets of 1 to 16 bytes; a size byte's top bits set
		// the marker and the timestamp step, and make a sequence gap.
		seq, ts := uint16(0), uint32(0)
		for len(data) > 0 {
			c := data[0]
			n := min(int(c&0x0f)+1, len(data)-1)
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: c&0x80 != 0}, Payload: data[1 : 1+n]}
			if err := w.WriteRTP(p); err != nil && !errors.Is(err, ErrBadPacket) {
				t.Fatalf("WriteRTP() = %v, want nil or ErrBadPacket", err)
			}
			data = data[1+n:]
			seq += 1 + uint16(c>>6&1)
			ts += uint32(c>>5&1) * 960
		}
		if _, err := w.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	})
}

func TestClose(t *testing.T) {
	w := create(t, webrtc.MimeTypeOpus)
	res, err := w.Close()
	if err != nil {
		t.Fatalf("Close() = %v", err)
	}
	checkDigest(t, res)
	if _, err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close() = %v, want ErrClosed", err)
	}
	if err := w.WriteRTP(&rtp.Packet{Payload: []byte{0x78}}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close = %v, want ErrClosed", err)
	}
	if err := w.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		track Track
		want  error // nil: any error
	}{
		{"AV1", Track{Dir: dir, Name: "a", MimeType: webrtc.MimeTypeAV1}, ErrUnsupportedCodec},
		{"PCMU", Track{Dir: dir, Name: "a", MimeType: webrtc.MimeTypePCMU}, ErrUnsupportedCodec},
		{"no name", Track{Dir: dir, MimeType: webrtc.MimeTypeVP8}, nil},
		{"path in name", Track{Dir: dir, Name: "../a", MimeType: webrtc.MimeTypeVP8}, nil},
		{"no dir", Track{Dir: filepath.Join(dir, "missing"), Name: "a", MimeType: webrtc.MimeTypeVP8}, os.ErrNotExist},
		{"surround", Track{Dir: dir, Name: "a", MimeType: webrtc.MimeTypeOpus, Channels: 6}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Create(tc.track)
			if err == nil {
				_, _ = w.Close()
				t.Fatalf("Create(%+v) = nil error, want %v", tc.track, tc.want)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Create(%+v) = %v, want %v", tc.track, err, tc.want)
			}
		})
	}
	w := create(t, "video/vp8") // MIME types are case-insensitive
	if _, err := Create(Track{Dir: filepath.Dir(w.path), Name: "rec", MimeType: webrtc.MimeTypeVP8}); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create over a recording in progress = %v, want ErrExist", err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

// frameSlack is how many fewer frames ffprobe may count than were written: the
// Ogg writer's 80 ms pre-skip hides the first four 20 ms Opus packets.
const frameSlack = 4

// create starts a recording named "rec" in a new directory.
func create(t *testing.T, mime string) *Writer {
	t.Helper()
	w, err := Create(Track{Dir: t.TempDir(), Name: "rec", MimeType: mime})
	if err != nil {
		t.Fatalf("Create(%s) = %v", mime, err)
	}
	return w
}

// checkResult checks the file, its digest and that ffmpeg decodes it cleanly
// as the right codec.
func checkResult(t *testing.T, res Result, src source) {
	t.Helper()
	if filepath.Ext(res.Path) != "."+src.ext {
		t.Errorf("Path = %s, want extension .%s", res.Path, src.ext)
	}
	if _, err := os.Stat(res.Path + partSuffix); !os.IsNotExist(err) {
		t.Errorf(".part file left behind: %v", err)
	}
	checkDigest(t, res)
	decode(t, res.Path, "")
	if got := probe(t, res.Path, "").Streams[0].CodecName; got != src.codec {
		t.Errorf("ffprobe codec = %q, want %q", got, src.codec)
	}
}

func checkDigest(t *testing.T, res Result) {
	t.Helper()
	b, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != int64(len(b)) {
		t.Errorf("Bytes = %d, want file size %d", res.Bytes, len(b))
	}
	if want := hex.EncodeToString(sm3.Sm3Sum(b)); res.SM3 != want {
		t.Errorf("SM3 = %s, want %s", res.SM3, want)
	}
}

// ffmpeg runs ffmpeg with args and the output file name, returning its path.
func ffmpeg(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	run(t, "ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), out)...)
	return out
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required: %v", name, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s %s: got errors, want none:\n%s", name, strings.Join(args, " "), stderr.Bytes())
	}
	return out
}

// decode decodes the whole file and fails on any error ffmpeg reports.
func decode(t *testing.T, path, format string) {
	t.Helper()
	args := append([]string{"-v", "error", "-nostdin"}, formatArgs(format)...)
	run(t, "ffmpeg", append(args, "-i", path, "-f", "null", "-")...)
}

type probeResult struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func probe(t *testing.T, path, format string) probeResult {
	t.Helper()
	args := append(formatArgs(format), "-count_frames", "-show_entries",
		"stream=nb_read_frames,codec_name:format=duration", "-of", "json", path)
	out := run(t, "ffprobe", append([]string{"-v", "error"}, args...)...)
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v, %d streams, want 1:\n%s", path, err, len(r.Streams), out)
	}
	return r
}

func probeFrames(t *testing.T, path, format string) int {
	t.Helper()
	n, err := strconv.Atoi(probe(t, path, format).Streams[0].NbReadFrames)
	if err != nil {
		t.Fatalf("ffprobe %s frames: %v", path, err)
	}
	return n
}

func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	d, err := strconv.ParseFloat(probe(t, path, "").Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe %s duration: %v", path, err)
	}
	return d
}

func formatArgs(format string) []string {
	if format == "" {
		return nil
	}
	return []string{"-f", format}
}

func packetizer(payloader rtp.Payloader, clockRate uint32) rtp.Packetizer {
	return rtp.NewPacketizer(1200, 96, 0x1234, payloader, rtp.NewRandomSequencer(), clockRate)
}

func packetizeIVF(t *testing.T, path, mime, codec string, payloader rtp.Payloader) source {
	t.Helper()
	f := open(t, path)
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	src := source{mime: mime, ext: "ivf", format: "ivf", codec: codec}
	pz := packetizer(payloader, 90000)
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		src.packets = append(src.packets, pz.Packetize(frame, 3000)...)
		src.frames++
	}
	return src
}

// packetizeH264 groups NAL units into access units (a new one starts at a
// parameter set or at a slice whose first_mb_in_slice is 0) and packetizes each.
func packetizeH264(t *testing.T, path string) source {
	t.Helper()
	r, err := h264reader.NewReader(open(t, path))
	if err != nil {
		t.Fatal(err)
	}
	src := source{mime: webrtc.MimeTypeH264, ext: "h264", format: "h264", codec: "h264"}
	pz := packetizer(&codecs.H264Payloader{}, 90000)
	var au []byte
	hasSlice := false
	emit := func() {
		if hasSlice {
			src.packets = append(src.packets, pz.Packetize(au, 3000)...)
			src.frames++
			au, hasSlice = nil, false
		}
	}
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		slice := nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr
		if !slice || len(nal.Data) > 1 && nal.Data[1]&0x80 != 0 {
			emit()
		}
		hasSlice = hasSlice || slice
		au = append(append(au, 0, 0, 0, 1), nal.Data...)
	}
	emit()
	return src
}

func packetizeOgg(t *testing.T, path string) source {
	t.Helper()
	r, _, err := oggreader.NewWith(open(t, path))
	if err != nil {
		t.Fatal(err)
	}
	src := source{mime: webrtc.MimeTypeOpus, ext: "ogg", format: "ogg", codec: "opus"}
	pz := packetizer(&codecs.OpusPayloader{}, 48000)
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) || len(page) == 0 {
			continue
		}
		samples, err := opusSamples(page)
		if err != nil {
			t.Fatal(err)
		}
		src.packets = append(src.packets, pz.Packetize(page, uint32(samples))...)
		src.frames++
	}
	return src
}

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func abs(x int) int { return max(x, -x) }
