package recorder

import (
	"fmt"

	"github.com/pion/rtp/codecs"
)

// h264 depacketizes RFC 6184 payloads (single NAL, STAP-A, FU-A) into Annex-B.
// pion's h264writer wraps the same codecs.H264Packet but writes NAL units as
// they arrive, so a loss mid-frame would leave a broken access unit on disk.
type h264 struct {
	pkt codecs.H264Packet
	// params is set once SPS and PPS reached the file: a decoder needs them
	// before the first IDR slice.
	params bool
}

const (
	naluIDR  = 5
	naluSPS  = 7
	naluPPS  = 8
	naluFUA  = 28
	naluSTAP = 24
)

func (d *h264) unmarshal(payload []byte) ([]byte, bool, error) {
	start := len(payload) > 0 && (payload[0]&0x1f != naluFUA || len(payload) > 1 && payload[1]&0x80 != 0)
	data, err := d.pkt.Unmarshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("H264 payload: %w", err)
	}
	return data, start, nil
}

// reset drops a half-assembled FU-A.
func (d *h264) reset() { d.pkt = codecs.H264Packet{} }

// keyframe reports whether the access unit has an IDR slice and the parameter
// sets are in it or already in the file.
func (d *h264) keyframe(au []byte) bool {
	var idr, sps, pps bool
	forEachNAL(au, func(typ byte) {
		switch typ {
		case naluSPS:
			sps = true
		case naluPPS:
			pps = true
		case naluIDR:
			idr = true
		}
	})
	// A keyframe is always written, so its parameter sets reach the file.
	d.params = d.params || idr && sps && pps
	return idr && d.params
}

// forEachNAL calls fn with the type of each NAL unit in an Annex-B buffer that
// uses 4-byte start codes, as codecs.H264Packet produces.
func forEachNAL(b []byte, fn func(typ byte)) {
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 0 && b[i+3] == 1 {
			fn(b[i+4] & 0x1f)
			i += 4
		}
	}
}

// annexB writes H.264 access units as a raw Annex-B byte stream.
type annexB struct{ out *output }

func (a annexB) writeFrame(au []byte, _ uint32) error {
	if _, err := a.out.Write(au); err != nil {
		return fmt.Errorf("write H264 access unit: %w", err)
	}
	return nil
}

func (a annexB) finish() error { return nil }
