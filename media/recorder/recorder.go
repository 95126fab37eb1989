package recorder

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/tjfoc/gmsm/sm3"
)

var (
	// ErrUnsupportedCodec is returned by Create for a MIME type it cannot record.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrBadPacket wraps WriteRTP errors for a packet that was skipped because its
	// payload could not be parsed; the Writer stays usable.
	ErrBadPacket = errors.New("bad RTP packet")
	// ErrClosed is returned by WriteRTP and Close after Close.
	ErrClosed = errors.New("recorder closed")
)

const (
	// syncInterval and syncPackets bound what a crash can lose: buffered bytes
	// are written and fsynced at least this often while packets flow.
	syncInterval = time.Second
	syncPackets  = 64
	// partSuffix marks a file still being written.
	partSuffix = ".part"
)

// Track describes what is recorded.
type Track struct {
	// Dir is the existing directory the file is created in.
	Dir string
	// Name is the file name without extension.
	Name string
	// MimeType is webrtc.MimeTypeVP8, MimeTypeVP9, MimeTypeH264 or MimeTypeOpus (case-insensitive).
	MimeType string
	// ClockRate is the RTP clock rate; 0 means 90000 for video and 48000 for Opus.
	ClockRate uint32
	// Channels is the Opus channel count (1 or 2); 0 means 2.
	Channels uint16
}

// Result describes a finished recording.
type Result struct {
	// Path is the final file name.
	Path string
	// Bytes is the size of the final file.
	Bytes int64
	// SM3 is the lower-case hex SM3 digest of the final file.
	SM3 string
	// Packets counts RTP packets whose payload reached the file.
	Packets uint64
	// Frames counts video frames (access units) or Opus packets written.
	Frames uint64
	// Skipped counts packets that were dropped: bad payloads, incomplete frames,
	// and frames that could not be decoded after a loss (before the next keyframe).
	Skipped uint64
	// First and Last are the wall-clock arrival times of the first and last packet written.
	First, Last time.Time
	// Duration is the span between the first and last frame written, from RTP timestamps.
	Duration time.Duration
}

// Writer records one RTP track. It is not safe for concurrent use: one
// goroutine (the track's reader) owns it.
type Writer struct {
	path, part string
	clockRate  uint32
	out        *output
	rec        recorder

	res      Result
	lastTS   uint32
	span     int64 // RTP ticks from the first to the last frame written
	unsynced int   // packets since the last sync
	lastSync time.Time
	err      error // first I/O error; the file is unusable after it
	closed   bool
}

// recorder turns RTP packets into container bytes for one codec.
type recorder interface {
	// writeRTP consumes one packet that arrived at now.
	writeRTP(p *rtp.Packet, now time.Time) error
	// finish drops partial state and completes the container.
	finish() error
}

// extension returns the file extension for t's codec, checking its name.
func extension(t Track) (string, error) {
	ext := map[string]string{
		strings.ToLower(webrtc.MimeTypeVP8):  "ivf",
		strings.ToLower(webrtc.MimeTypeVP9):  "ivf",
		strings.ToLower(webrtc.MimeTypeH264): "h264",
		strings.ToLower(webrtc.MimeTypeOpus): "ogg",
	}[strings.ToLower(t.MimeType)]
	if ext == "" {
		return "", fmt.Errorf("%w: %q", ErrUnsupportedCodec, t.MimeType)
	}
	if t.Name == "" || t.Name != filepath.Base(t.Name) {
		return "", errors.New("name must be a plain file name")
	}
	return ext, nil
}

// Create opens <Dir>/<Name>.<ext>.part for the track's codec: .ivf for VP8 and
// VP9, .h264 (Annex-B) for H.264, .ogg for Opus.
func Create(t Track) (*Writer, error) {
	path, part, err := Paths(t)
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", t.Name, err)
	}
	mime, ext := strings.ToLower(t.MimeType), filepath.Ext(path)
	clock := t.ClockRate
	if clock == 0 {
		clock = 90000
		if ext == ".ogg" {
			clock = 48000
		}
	}
	channels := t.Channels
	if channels == 0 {
		channels = 2
	}
	if ext == ".ogg" && channels > 2 {
		return nil, fmt.Errorf("record %q: %d Opus channels: only mono and stereo are supported", t.Name, channels)
	}

	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", t.Name, err)
	}
	// Held until the file is closed, or the process dies: Recover leaves
	// a locked .part alone.
	if err := tryLock(f); err != nil {
		return nil, fmt.Errorf("record %q: %w", t.Name, errors.Join(err, f.Close(), os.Remove(part)))
	}
	w := &Writer{path: path, part: part, clockRate: clock, out: newOutput(f), lastSync: time.Now()}
	w.res.Path = path

	switch ext {
	case ".ivf":
		if mime == strings.ToLower(webrtc.MimeTypeVP8) {
			w.rec = newVideo(&vp8{}, newIVF(w.out, "VP80", vp8Size, clock), w)
		} else {
			w.rec = newVideo(&vp9{}, newIVF(w.out, "VP90", vp9Size, clock), w)
		}
	case ".h264":
		w.rec = newVideo(&h264{}, annexB{w.out}, w)
	case ".ogg":
		w.rec, err = newOpus(w.out, clock, channels, w)
	}
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", t.Name, errors.Join(err, f.Close(), os.Remove(part)))
	}
	return w, nil
}

// WriteRTP adds the next packet of the track. Packets must arrive in sequence
// order; missing sequence numbers are treated as lost. A packet whose payload
// cannot be parsed is skipped with an error wrapping ErrBadPacket; any other
// error means the file can no longer be written.
func (w *Writer) WriteRTP(p *rtp.Packet) error {
	switch {
	case w.closed:
		return fmt.Errorf("write RTP to %s: %w", w.part, ErrClosed)
	case w.err != nil:
		return w.err
	case p == nil:
		w.res.Skipped++
		return fmt.Errorf("write RTP to %s: %w: nil packet", w.part, ErrBadPacket)
	}
	now := time.Now()
	err := w.rec.writeRTP(p, now)
	if err != nil && !errors.Is(err, ErrBadPacket) {
		w.err = fmt.Errorf("write RTP to %s: %w", w.part, err)
		return w.err
	}
	w.unsynced++
	if w.unsynced >= syncPackets || now.Sub(w.lastSync) >= syncInterval {
		if serr := w.Sync(); serr != nil {
			return serr
		}
	}
	if err != nil {
		return fmt.Errorf("write RTP to %s: %w", w.part, err)
	}
	return nil
}

// Sync writes buffered bytes to the .part file and fsyncs it. WriteRTP calls it
// at least every second while packets flow; call it when a track goes quiet.
func (w *Writer) Sync() error {
	if w.closed {
		return fmt.Errorf("sync %s: %w", w.part, ErrClosed)
	}
	if w.err != nil {
		return w.err
	}
	w.unsynced, w.lastSync = 0, time.Now()
	if err := w.out.sync(); err != nil {
		w.err = fmt.Errorf("sync %s: %w", w.part, err)
		return w.err
	}
	return nil
}

// Close completes the container, fsyncs the file, renames it from .part to its
// final name and returns what was recorded. A second Close returns ErrClosed.
// After a write error Close still closes the file but leaves it as .part.
func (w *Writer) Close() (Result, error) {
	if w.closed {
		return Result{}, fmt.Errorf("close %s: %w", w.part, ErrClosed)
	}
	w.closed = true
	if w.err != nil {
		return Result{}, errors.Join(w.err, w.out.f.Close())
	}
	if err := w.finish(); err != nil {
		return Result{}, fmt.Errorf("close %s: %w", w.part, errors.Join(err, w.out.f.Close()))
	}
	if err := w.out.f.Close(); err != nil {
		return Result{}, fmt.Errorf("close %s: %w", w.part, err)
	}
	if err := os.Rename(w.part, w.path); err != nil {
		return Result{}, fmt.Errorf("close %s: %w", w.part, err)
	}
	// Make the rename durable too; a failure here does not lose the file.
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	w.res.Duration = ticks(w.span, w.clockRate)
	return w.res, nil
}

// finish completes the container and computes size and digest.
func (w *Writer) finish() error {
	if err := w.rec.finish(); err != nil {
		return err
	}
	if err := w.out.sync(); err != nil {
		return err
	}
	w.res.Bytes = w.out.n
	if !w.out.rewritten {
		w.res.SM3 = hex.EncodeToString(w.out.sum.Sum(nil))
		return nil
	}
	// The container rewrote bytes already hashed: hash the file again.
	_, sum, err := digest(w.out.f)
	w.res.SM3 = sum
	return err
}

// wrote records a frame of n packets that reached the file.
func (w *Writer) wrote(n int, ts uint32, first, last time.Time) {
	if w.res.Frames == 0 {
		w.res.First = first
	} else {
		w.span += int64(int32(ts - w.lastTS))
	}
	w.lastTS = ts
	w.res.Last = last
	w.res.Frames++
	w.res.Packets += uint64(n)
}

// skipped records n packets that did not reach the file.
func (w *Writer) skipped(n int) { w.res.Skipped += uint64(n) }

// stats is what codec recorders report to.
type stats interface {
	wrote(n int, ts uint32, first, last time.Time)
	skipped(n int)
}

// output is the .part file behind a buffer; bytes are hashed as they reach the file.
type output struct {
	f         *os.File
	bw        *bufio.Writer
	sum       hash.Hash
	n         int64 // bytes written to the file, end offset
	rewritten bool  // bytes were rewritten in place, sum is stale
}

func newOutput(f *os.File) *output {
	o := &output{f: f, sum: sm3.New()}
	o.bw = bufio.NewWriterSize(fileSink{o}, 1<<16)
	return o
}

// Write buffers p for the file.
func (o *output) Write(p []byte) (int, error) { return o.bw.Write(p) }

// sync writes buffered bytes to the file and fsyncs it.
func (o *output) sync() error {
	if err := o.bw.Flush(); err != nil {
		return err
	}
	return o.f.Sync()
}

// writeAt flushes, then overwrites bytes at off (which must lie before the end).
func (o *output) writeAt(p []byte, off int64) error {
	if err := o.bw.Flush(); err != nil {
		return err
	}
	o.rewritten = true
	_, err := o.f.WriteAt(p, off)
	return err
}

// fileSink is what the buffer flushes into: the file, then the hash.
type fileSink struct{ o *output }

func (s fileSink) Write(p []byte) (int, error) {
	n, err := s.o.f.Write(p)
	s.o.n += int64(n)
	s.o.sum.Write(p[:n])
	return n, err
}
