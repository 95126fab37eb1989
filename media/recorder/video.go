package recorder

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// maxFrameBytes bounds one assembled video frame, so garbage cannot grow memory.
const maxFrameBytes = 16 << 20

// depacketizer extracts a codec's bitstream from RTP payloads.
type depacketizer interface {
	// unmarshal returns the bitstream in payload and whether payload starts a frame.
	unmarshal(payload []byte) (data []byte, start bool, err error)
	// reset forgets state carried between packets, after a loss.
	reset()
	// keyframe reports whether frame decodes without earlier frames.
	keyframe(frame []byte) bool
}

// frameWriter stores complete frames in a container.
type frameWriter interface {
	writeFrame(frame []byte, ts uint32) error
	finish() error
}

// video assembles frames from packets and writes the complete ones. After any
// loss it drops frames until the next keyframe, so the file always decodes.
type video struct {
	d     depacketizer
	c     frameWriter
	stats stats

	haveSeq bool
	lastSeq uint16
	needKey bool

	// the frame being assembled
	open    bool
	broken  bool // a packet of this frame was lost or bad
	ts      uint32
	packets int
	first   time.Time
	frame   []byte
}

func newVideo(d depacketizer, c frameWriter, s stats) *video {
	return &video{d: d, c: c, stats: s, needKey: true}
}

func (v *video) writeRTP(p *rtp.Packet, now time.Time) error {
	gap := v.haveSeq && p.SequenceNumber != v.lastSeq+1
	v.haveSeq, v.lastSeq = true, p.SequenceNumber
	if v.open && (gap || p.Timestamp != v.ts) {
		// The frame ended without its marker: complete only if nothing was lost.
		v.broken = v.broken || gap
		if err := v.flush(now); err != nil {
			return err
		}
	}
	if gap {
		v.lost()
	}
	if !v.open {
		v.open, v.broken, v.ts, v.packets, v.first, v.frame = true, false, p.Timestamp, 0, now, v.frame[:0]
	}
	v.packets++

	data, start, err := v.d.unmarshal(p.Payload)
	switch {
	case err != nil:
		v.broken = true
		v.d.reset()
		err = fmt.Errorf("%w: seq %d: %w", ErrBadPacket, p.SequenceNumber, err)
	case v.packets == 1 && !start:
		v.broken = true // the frame's first packet is missing
	case len(v.frame)+len(data) > maxFrameBytes:
		v.broken = true
		err = fmt.Errorf("%w: seq %d: frame over %d bytes", ErrBadPacket, p.SequenceNumber, maxFrameBytes)
	case !v.broken:
		v.frame = append(v.frame, data...)
	}
	if p.Marker {
		if ferr := v.flush(now); ferr != nil {
			return ferr
		}
	}
	return err
}

// lost notes that packets are missing: wait for a keyframe.
func (v *video) lost() {
	v.needKey = true
	v.d.reset()
}

// flush ends the open frame, writing it if it is complete and decodable.
func (v *video) flush(now time.Time) error {
	v.open = false
	if v.broken || len(v.frame) == 0 || (v.needKey && !v.d.keyframe(v.frame)) {
		if v.broken {
			v.lost()
		}
		v.stats.skipped(v.packets)
		return nil
	}
	if err := v.c.writeFrame(v.frame, v.ts); err != nil {
		return err
	}
	v.needKey = false
	v.stats.wrote(v.packets, v.ts, v.first, now)
	return nil
}

func (v *video) finish() error {
	if v.open {
		// No marker: the last frame may be incomplete, so it is not written.
		v.open = false
		v.stats.skipped(v.packets)
	}
	return v.c.finish()
}
