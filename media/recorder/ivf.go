package recorder

import (
	"encoding/binary"
	"fmt"

	"github.com/pion/rtp/codecs"
)

// ivf writes VP8 or VP9 frames as IVF with a 1/clockRate time base and RTP
// timestamps as PTS. pion's ivfwriter is not used: it assembles frames without
// loss detection, writes a placeholder frame count and needs a seekable writer.
//
// The header is written with the first frame (a keyframe, which carries the
// picture size) and its length field is fixed up at finish; until then it is 0,
// which readers accept, so a .part file plays up to its last complete frame.
type ivf struct {
	out       *output
	fourcc    string
	size      func(keyframe []byte) (w, h uint16)
	clockRate uint32

	started bool
	frames  uint64
	lastTS  uint32
	lastPTS int64
	hdr     [12]byte
}

const ivfHeaderSize = 32

func newIVF(out *output, fourcc string, size func([]byte) (uint16, uint16), clockRate uint32) *ivf {
	return &ivf{out: out, fourcc: fourcc, size: size, clockRate: clockRate}
}

func (c *ivf) header(width, height uint16) []byte {
	h := make([]byte, ivfHeaderSize)
	copy(h[0:], "DKIF")
	binary.LittleEndian.PutUint16(h[4:], 0) // version
	binary.LittleEndian.PutUint16(h[6:], ivfHeaderSize)
	copy(h[8:], c.fourcc)
	binary.LittleEndian.PutUint16(h[12:], width)
	binary.LittleEndian.PutUint16(h[14:], height)
	binary.LittleEndian.PutUint32(h[16:], c.clockRate) // time base denominator
	binary.LittleEndian.PutUint32(h[20:], 1)           // time base numerator
	// h[24:28] length, fixed up at finish; h[28:32] unused.
	return h
}

func (c *ivf) writeFrame(frame []byte, ts uint32) error {
	if !c.started {
		w, h := c.size(frame)
		if _, err := c.out.Write(c.header(w, h)); err != nil {
			return fmt.Errorf("write IVF header: %w", err)
		}
		c.started = true
	}
	// Unwrap the 32-bit RTP timestamp; keep PTS increasing for readers.
	var pts int64
	if c.frames > 0 {
		pts = c.lastPTS + max(int64(int32(ts-c.lastTS)), 1)
	}
	binary.LittleEndian.PutUint32(c.hdr[0:], uint32(len(frame)))
	binary.LittleEndian.PutUint64(c.hdr[4:], uint64(pts))
	if _, err := c.out.Write(c.hdr[:]); err != nil {
		return fmt.Errorf("write IVF frame header: %w", err)
	}
	if _, err := c.out.Write(frame); err != nil {
		return fmt.Errorf("write IVF frame: %w", err)
	}
	c.frames++
	c.lastPTS, c.lastTS = pts, ts
	return nil
}

// finish sets the header's length field (see ivfLength).
func (c *ivf) finish() error {
	if !c.started {
		// Leave a valid, empty IVF rather than an empty file.
		if _, err := c.out.Write(c.header(0, 0)); err != nil {
			return fmt.Errorf("write IVF header: %w", err)
		}
		return nil
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], ivfLength(c.lastPTS, c.frames))
	if err := c.out.writeAt(b[:], 24); err != nil {
		return fmt.Errorf("fix up IVF length: %w", err)
	}
	return nil
}

// vp8 depacketizes RFC 7741 payloads.
type vp8 struct{ pkt codecs.VP8Packet }

func (d *vp8) unmarshal(payload []byte) ([]byte, bool, error) {
	data, err := d.pkt.Unmarshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("VP8 payload: %w", err)
	}
	return data, d.pkt.S == 1 && d.pkt.PID == 0, nil
}

func (d *vp8) reset() {}

// keyframe checks the frame tag and start code (RFC 6386 section 9.1).
func (d *vp8) keyframe(f []byte) bool {
	return len(f) >= 10 && f[0]&1 == 0 && f[3] == 0x9d && f[4] == 0x01 && f[5] == 0x2a
}

func vp8Size(f []byte) (uint16, uint16) {
	if len(f) < 10 {
		return 0, 0
	}
	return binary.LittleEndian.Uint16(f[6:]) & 0x3fff, binary.LittleEndian.Uint16(f[8:]) & 0x3fff
}

// vp9 depacketizes RTP payloads for VP9 (RFC 9628).
type vp9 struct{ pkt codecs.VP9Packet }

func (d *vp9) unmarshal(payload []byte) ([]byte, bool, error) {
	data, err := d.pkt.Unmarshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("VP9 payload: %w", err)
	}
	return data, d.pkt.B, nil
}

func (d *vp9) reset() {}

func (d *vp9) keyframe(f []byte) bool {
	_, _, key := vp9Header(f)
	return key
}

func vp9Size(f []byte) (uint16, uint16) {
	w, h, _ := vp9Header(f)
	return w, h
}

// vp9Header parses a frame's uncompressed header far enough to tell a keyframe
// and its size (VP9 bitstream specification, section 6.2).
func vp9Header(f []byte) (width, height uint16, key bool) {
	r := bitReader{b: f}
	if r.bits(2) != 2 { // frame_marker
		return 0, 0, false
	}
	profile := r.bits(1) | r.bits(1)<<1
	if profile == 3 {
		r.bits(1)
	}
	if r.bits(1) == 1 || r.bits(1) != 0 { // show_existing_frame, frame_type
		return 0, 0, false
	}
	r.bits(2) // show_frame, error_resilient_mode
	if r.bits(24) != 0x498342 {
		return 0, 0, false
	}
	if profile >= 2 {
		r.bits(1) // ten_or_twelve_bit
	}
	if r.bits(3) != 7 { // color_space != CS_RGB
		r.bits(1) // color_range
		if profile == 1 || profile == 3 {
			r.bits(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		r.bits(1)
	}
	w, h := r.bits(16)+1, r.bits(16)+1
	if r.short {
		return 0, 0, false
	}
	return uint16(w), uint16(h), true
}

// bitReader reads big-endian bit fields; past the end it reads zeros and sets short.
type bitReader struct {
	b     []byte
	pos   int
	short bool
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		bit := uint32(0)
		if i := r.pos / 8; i < len(r.b) {
			bit = uint32(r.b[i]>>(7-r.pos%8)) & 1
		} else {
			r.short = true
		}
		v = v<<1 | bit
		r.pos++
	}
	return v
}
