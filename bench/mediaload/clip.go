package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// clipSpec is the test video: what ffmpeg is asked to make.
type clipSpec struct {
	Width, Height int
	FPS           int
	Seconds       int
	Bitrate       string // ffmpeg -b:v, e.g. "2M"
	GOP           int    // frames between IDRs
}

// defaultClip is the publisher: 720p30 at 2 Mbit/s, a 2 s GOP.
var defaultClip = clipSpec{Width: 1280, Height: 720, FPS: 30, Seconds: 20, Bitrate: "2M", GOP: 60}

func (c clipSpec) fileName() string {
	return fmt.Sprintf("testsrc2-%dx%d-%dfps-%ds-%s-g%d.h264", c.Width, c.Height, c.FPS, c.Seconds, c.Bitrate, c.GOP)
}

// ffmpegArgs encodes testsrc2 with libx264, constrained baseline (no B
// frames), a fixed GOP with no scene-cut IDRs, SPS/PPS repeated before
// every IDR, as a raw Annex-B stream.
func (c clipSpec) ffmpegArgs(out string) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", c.Width, c.Height, c.FPS),
		"-t", fmt.Sprint(c.Seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", c.Bitrate, "-maxrate", c.Bitrate, "-bufsize", c.Bitrate,
		"-g", fmt.Sprint(c.GOP), "-keyint_min", fmt.Sprint(c.GOP), "-sc_threshold", "0",
		"-x264-params", "repeat-headers=1",
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-y", out,
	}
}

// ensureClip returns the path of the clip in cacheDir, making it with
// ffmpeg the first time.
func ensureClip(ctx context.Context, ffmpeg, cacheDir string, c clipSpec) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create clip cache %s: %w", cacheDir, err)
	}
	path := filepath.Join(cacheDir, c.fileName())
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	tmp := path + ".tmp"
	cmd := exec.CommandContext(ctx, ffmpeg, c.ffmpegArgs(tmp)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("make the test clip with %s: %w: %s", ffmpeg, err, bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("store the test clip: %w", err)
	}
	return path, nil
}

// frame is one access unit of the clip, in Annex-B form (start codes
// kept, access unit delimiters dropped), ready for the H.264 payloader.
type frame struct {
	data []byte
	key  bool // holds an IDR slice
}

// H.264 NAL unit types used here.
const (
	nalSlice  = 1
	nalIDR    = 5
	nalSEI    = 6
	nalSPS    = 7
	nalPPS    = 8
	nalAUD    = 9
	nalSTAPA  = 24
	nalFUA    = 28
	nalTypeOf = 0x1f
)

var errNoFrames = errors.New("no H.264 frames in the stream")

// loadClip reads an Annex-B file into frames.
func loadClip(path string) ([]frame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	frames, err := parseAnnexB(b)
	if err != nil {
		return nil, fmt.Errorf("parse clip %s: %w", path, err)
	}
	return frames, nil
}

// splitNALs returns the NAL units of an Annex-B stream, without start codes.
func splitNALs(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 { // 4-byte start code
					end--
				}
				nals = append(nals, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	out := nals[:0]
	for _, n := range nals {
		if len(n) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// parseAnnexB groups NAL units into access units (H.264 7.4.1.2.3): a new
// one starts at an AUD, SPS, PPS or SEI after a slice, or at a slice whose
// first_mb_in_slice is 0 (x264 with sliced threads writes several slices a
// frame).
func parseAnnexB(b []byte) ([]frame, error) {
	var (
		frames []frame
		cur    []byte
		curKey bool
		hasVCL bool
	)
	flush := func() {
		if hasVCL {
			frames = append(frames, frame{data: cur, key: curKey})
		}
		cur, curKey, hasVCL = nil, false, false
	}
	for _, n := range splitNALs(b) {
		t := n[0] & nalTypeOf
		switch {
		case t == nalAUD:
			flush()
			continue
		case t == nalSPS || t == nalPPS || t == nalSEI || (t >= 14 && t <= 18):
			if hasVCL {
				flush()
			}
		case t == nalSlice || t == nalIDR:
			if hasVCL && len(n) > 1 && n[1]&0x80 != 0 { // first_mb_in_slice == 0
				flush()
			}
			hasVCL = true
			curKey = curKey || t == nalIDR
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, n...)
	}
	flush()
	if len(frames) == 0 {
		return nil, errNoFrames
	}
	if !frames[0].key {
		return nil, errors.New("the stream does not start with an IDR frame")
	}
	return frames, nil
}

// isKeyPayload reports whether an RTP H.264 payload (RFC 6184) starts or
// holds an IDR slice or an SPS: a single NAL unit, any unit in a STAP-A,
// or the first fragment of an FU-A.
func isKeyPayload(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & nalTypeOf; t {
	case nalIDR, nalSPS:
		return true
	case nalSTAPA:
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if nt := p[i] & nalTypeOf; nt == nalIDR || nt == nalSPS {
				return true
			}
			i += size
		}
		return false
	case nalFUA:
		if len(p) < 2 || p[1]&0x80 == 0 { // not the start fragment
			return false
		}
		nt := p[1] & nalTypeOf
		return nt == nalIDR || nt == nalSPS
	default:
		return false
	}
}
