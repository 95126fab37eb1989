package recorder

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// maxFill bounds the silence inserted for one timestamp gap (lost packets, or
// DTX); a longer gap, or a timestamp jump backwards, is not filled.
const maxFill = 10 * time.Minute

// opus writes Opus packets to Ogg with pion's oggwriter, which sets granule
// positions from each packet's TOC. Its multi-track Writer is used because it
// streams: Close appends an end-of-stream page instead of seeking back.
//
// RTP timestamps that jump ahead (lost packets, DTX) are filled with
// zero-length Opus frames, which decoders conceal, so granule positions keep
// following the RTP clock and audio stays in sync with video.
type opus struct {
	ogg       *oggwriter.Writer
	track     *oggwriter.Track
	stats     stats
	clockRate uint32

	haveTS bool
	nextTS uint32 // expected timestamp of the next packet
	toc    byte   // TOC byte of the last packet written
}

func newOpus(out io.Writer, clockRate uint32, channels uint16, s stats) (*opus, error) {
	ogg, err := oggwriter.NewWriter(out, oggwriter.WithSampleRate(48000), oggwriter.WithChannelCount(channels))
	if err != nil {
		return nil, fmt.Errorf("start Ogg: %w", err)
	}
	track, err := ogg.NewTrack(0)
	if err != nil {
		return nil, fmt.Errorf("start Ogg track: %w", err)
	}
	return &opus{ogg: ogg, track: track, stats: s, clockRate: clockRate}, nil
}

func (o *opus) writeRTP(p *rtp.Packet, now time.Time) error {
	samples, err := opusSamples(p.Payload)
	if err != nil {
		o.stats.skipped(1)
		return fmt.Errorf("%w: seq %d: %w", ErrBadPacket, p.SequenceNumber, err)
	}
	if o.haveTS {
		if err := o.fill(int64(int32(p.Timestamp - o.nextTS))); err != nil {
			return err
		}
	}
	if err := o.write(p.Payload); err != nil {
		return err
	}
	o.haveTS, o.toc = true, p.Payload[0]
	o.nextTS = p.Timestamp + uint32(uint64(samples)*uint64(o.clockRate)/48000)
	o.stats.wrote(1, p.Timestamp, now, now)
	return nil
}

// fill writes concealment frames for gap RTP ticks, in frames as long as the
// last packet's.
func (o *opus) fill(gap int64) error {
	if gap <= 0 || gap > int64(maxFill.Seconds())*int64(o.clockRate) {
		return nil
	}
	filler := []byte{o.toc &^ 3} // code 0: one frame, here of length zero
	frame := int64(opusFrameSamples(o.toc)) * int64(o.clockRate) / 48000
	for ; gap >= frame && frame > 0; gap -= frame {
		if err := o.write(filler); err != nil {
			return err
		}
	}
	return nil
}

func (o *opus) write(payload []byte) error {
	// The track was registered with SSRC 0; the packet's own SSRC may change.
	if err := o.track.WriteRTP(&rtp.Packet{Payload: payload}); err != nil {
		return fmt.Errorf("write Ogg page: %w", err)
	}
	return nil
}

func (o *opus) finish() error {
	if err := o.ogg.Close(); err != nil {
		return fmt.Errorf("end Ogg stream: %w", err)
	}
	return nil
}

var errOpusPacket = errors.New("malformed Opus packet")

// opusSamples returns the duration of an Opus packet at 48 kHz (RFC 6716
// section 3.1), rejecting packets the Ogg writer would refuse.
func opusSamples(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty", errOpusPacket)
	}
	frames := 1
	switch b[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(b) < 2 || b[1]&0x3f == 0 {
			return 0, fmt.Errorf("%w: bad frame count", errOpusPacket)
		}
		frames = int(b[1] & 0x3f)
	}
	n := frames * opusFrameSamples(b[0])
	if n > 48000*120/1000 {
		return 0, fmt.Errorf("%w: %d samples, over 120 ms", errOpusPacket, n)
	}
	return n, nil
}

// opusFrameSamples returns the samples at 48 kHz of one frame for a TOC byte.
func opusFrameSamples(toc byte) int {
	config := toc >> 3
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		return []int{480, 960, 1920, 2880}[config&3]
	case config < 16: // Hybrid: 10, 20 ms
		return []int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		return []int{120, 240, 480, 960}[config&3]
	}
}
