package recorder

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/tjfoc/gmsm/sm3"
)

// ErrInUse is returned by Recover for a .part file a live Writer holds.
var ErrInUse = errors.New("recording in progress")

// Paths returns the final and the .part file names Create uses for t, or
// an error for a codec it cannot record or a name that is not plain.
func Paths(t Track) (final, part string, err error) {
	ext, err := extension(t)
	if err != nil {
		return "", "", err
	}
	final = filepath.Join(t.Dir, t.Name+"."+ext)
	return final, final + partSuffix, nil
}

// Recover completes a recording that a process left as .part when it died
// while writing it (Create locks the file, so a live one is refused with
// ErrInUse). It cuts off what the crash left half written — an IVF frame,
// an Ogg page failing its length or checksum; H.264 Annex-B has no frame
// lengths, so a cut last NAL unit stays for the decoder to drop — and
// completes the container as Close does (IVF's length field, Ogg's
// end-of-stream page), fsyncs, renames the file to its final name and
// returns its size, SM3 digest and duration. Frames counts IVF frames, Ogg
// packets and H.264 access units; packets and arrival times are not in
// the file, so Packets, First and Last stay zero.
func Recover(t Track) (Result, error) {
	final, part, err := Paths(t)
	if err != nil {
		return Result{}, fmt.Errorf("recover %q: %w", t.Name, err)
	}
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return Result{}, fmt.Errorf("recover %q: %w", t.Name, err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", part, err)
	}
	res := Result{Path: final}
	clock := t.ClockRate
	switch filepath.Ext(final) {
	case ".ivf":
		if clock == 0 {
			clock = 90000
		}
		err = recoverIVF(f, t.MimeType, clock, &res)
	case ".ogg":
		err = recoverOgg(f, t.Channels, &res)
	case ".h264":
		err = recoverH264(f, &res)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		res.Bytes, res.SM3, err = digest(f)
	}
	if err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", part, err)
	}
	if err := os.Rename(part, final); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", part, err)
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return res, nil
}

// recoverIVF keeps the whole frames after the header, writes a header if
// the crash came before the first frame, and sets the length field as
// ivf.finish does.
func recoverIVF(f *os.File, mime string, clock uint32, res *Result) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if err := checkMagic(f, size, "DKIF"); err != nil {
		return err
	}
	if size < ivfHeaderSize {
		fourcc := "VP80"
		if strings.EqualFold(mime, webrtc.MimeTypeVP9) {
			fourcc = "VP90"
		}
		// No frame reached the file: leave a valid, empty IVF, as Close would.
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.WriteAt((&ivf{fourcc: fourcc, clockRate: clock}).header(0, 0), 0)
		return err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, ivfHeaderSize, size-ivfHeaderSize), 1<<16)
	end := int64(ivfHeaderSize)
	var hdr [12]byte
	var frames uint64
	var lastPTS int64
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if end+12+n > size {
			break
		}
		if _, err := r.Discard(int(n)); err != nil {
			break
		}
		lastPTS = int64(binary.LittleEndian.Uint64(hdr[4:]))
		frames++
		end += 12 + n
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], ivfLength(lastPTS, frames))
	if _, err := f.WriteAt(b[:], 24); err != nil {
		return fmt.Errorf("fix up IVF length: %w", err)
	}
	res.Frames = frames
	res.Duration = ticks(lastPTS, clock)
	return nil
}

// errNotRecording: a .part that does not start as the recorder starts its
// files. Recover leaves it as it is, for a person to look at, rather than
// cut it down to nothing.
var errNotRecording = errors.New("not a recording's start: left as it is")

// checkMagic checks that a file of size bytes starts with magic, or with
// as much of it as it holds (a crash can come before the first write ends).
func checkMagic(f *os.File, size int64, magic string) error {
	b := make([]byte, min(size, int64(len(magic))))
	if _, err := f.ReadAt(b, 0); err != nil {
		return err
	}
	if string(b) != magic[:len(b)] {
		return fmt.Errorf("%w: it starts %q, not %q", errNotRecording, b, magic)
	}
	return nil
}

// Ogg page layout (RFC 3533 section 6).
const (
	oggHeaderSize = 27
	oggEOS        = 0x04
)

// recoverOgg keeps the pages that are whole and pass their checksum, then
// ends the stream with an empty end-of-stream page, as pion's oggwriter
// does on Close. A file without a whole page (the headers are written with
// the first packet) becomes the empty stream Close writes.
func recoverOgg(f *os.File, channels uint16, res *Result) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if err := checkMagic(f, size, "OggS"); err != nil {
		return err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<16)
	var end int64
	var last [oggHeaderSize]byte // the last good page's header
	havePage := false
	page := make([]byte, 0, 1<<16)
	for {
		var hdr [oggHeaderSize]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil || !bytes.Equal(hdr[:4], []byte("OggS")) {
			break
		}
		segs := make([]byte, hdr[26])
		if _, err := io.ReadFull(r, segs); err != nil {
			break
		}
		body := 0
		for _, s := range segs {
			body += int(s)
		}
		page = append(append(append(page[:0], hdr[:]...), segs...), make([]byte, body)...)
		if _, err := io.ReadFull(r, page[oggHeaderSize+len(segs):]); err != nil {
			break
		}
		want := binary.LittleEndian.Uint32(hdr[22:])
		binary.LittleEndian.PutUint32(page[22:], 0)
		if oggCRC(page) != want {
			break
		}
		for _, s := range segs {
			if s < 255 {
				res.Frames++
			}
		}
		last, havePage = hdr, true
		end += int64(len(page))
	}
	// The first two pages are Opus's identification and comment headers,
	// one packet each.
	res.Frames = uint64(max(int64(res.Frames)-2, 0))
	if err := f.Truncate(end); err != nil {
		return err
	}
	if !havePage {
		return emptyOgg(f, channels)
	}
	if last[5]&oggEOS != 0 {
		return nil
	}
	granule := binary.LittleEndian.Uint64(last[6:])
	eos := make([]byte, oggHeaderSize)
	copy(eos, "OggS")
	eos[5] = oggEOS
	binary.LittleEndian.PutUint64(eos[6:], granule)
	copy(eos[14:18], last[14:18]) // serial
	binary.LittleEndian.PutUint32(eos[18:], binary.LittleEndian.Uint32(last[18:])+1)
	binary.LittleEndian.PutUint32(eos[22:], oggCRC(eos))
	if _, err := f.WriteAt(eos, end); err != nil {
		return fmt.Errorf("end Ogg stream: %w", err)
	}
	if granule != ^uint64(0) {
		res.Duration = ticks(int64(granule), 48000)
	}
	return nil
}

// emptyOgg writes to f, truncated, the stream Close leaves for a track
// without packets: the Opus headers and the end of the stream.
func emptyOgg(f *os.File, channels uint16) error {
	if channels == 0 {
		channels = 2
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// Only Write: the oggwriter closes an io.Closer it writes to.
	ogg, err := oggwriter.NewWriter(struct{ io.Writer }{f}, oggwriter.WithSampleRate(48000), oggwriter.WithChannelCount(channels))
	if err == nil {
		_, err = ogg.NewTrack(0)
	}
	if err == nil {
		err = ogg.Close()
	}
	if err != nil {
		return fmt.Errorf("write an empty Ogg stream: %w", err)
	}
	return nil
}

// oggCRCTable is Ogg's CRC-32: polynomial 0x04c11db7, no reflection, zero
// initial value and final XOR.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the checksum of a page whose checksum field is zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for _, b := range page {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^b]
	}
	return crc
}

// recoverH264 counts the access units: each starts with a slice whose
// first_mb_in_slice is 0 (its ue(v) code is the single bit 1). It streams
// the file: a recording may be larger than memory.
func recoverH264(f *os.File, res *Result) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var window [6]byte // the last six bytes read, oldest first
	for n := 0; ; n++ {
		b, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		copy(window[:], window[1:])
		window[5] = b
		if n >= 5 && window[0] == 0 && window[1] == 0 && window[2] == 0 && window[3] == 1 {
			if typ := window[4] & 0x1f; (typ == 1 || typ == naluIDR) && window[5]&0x80 != 0 {
				res.Frames++
			}
		}
	}
}

// Digest reads a finished recording's size and SM3 digest again, for one
// completed but not yet filed when its process died.
func Digest(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("digest %s: %w", path, err)
	}
	defer f.Close()
	n, sum, err := digest(f)
	if err != nil {
		return Result{}, fmt.Errorf("digest %s: %w", path, err)
	}
	return Result{Path: path, Bytes: n, SM3: sum}, nil
}

// digest returns f's size and lower-case hex SM3 digest.
func digest(f *os.File) (int64, string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("rewind for SM3: %w", err)
	}
	h := sm3.New()
	n, err := io.Copy(h, bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return 0, "", fmt.Errorf("read back for SM3: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// ivfLength is the IVF header's length field as ffmpeg writes and reads
// it: the stream duration in time-base units (last PTS plus one mean
// frame).
func ivfLength(lastPTS int64, frames uint64) uint32 {
	length := lastPTS
	if frames > 1 {
		length += lastPTS / int64(frames-1)
	}
	return uint32(min(length, 1<<32-1))
}

// ticks converts n ticks of an RTP clock to a duration.
func ticks(n int64, clock uint32) time.Duration {
	c := int64(clock)
	return time.Duration(n/c)*time.Second + time.Duration(n%c)*time.Second/time.Duration(c)
}
