package media

import (
	"iter"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The codecs Bidroom forwards. H.264 is registered in several profiles and
// both packetization modes because OBS offers what its encoder produces
// (often Main or High) and browsers offer Constrained Baseline.
var (
	videoFeedback = []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
	}
	h264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f", "64001f", "640032"}
)

// registerCodecs fills a media engine; twcc adds transport-wide congestion
// control feedback (publishers: the browser's bandwidth estimate needs it).
func registerCodecs(m *webrtc.MediaEngine, twcc bool) error {
	fb := videoFeedback
	if twcc {
		fb = append(fb[:len(fb):len(fb)], webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
	}
	pt := webrtc.PayloadType(96)
	add := func(c webrtc.RTPCodecCapability, kind webrtc.RTPCodecType) error {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, kind)
		pt++
		return err
	}
	if err := add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, webrtc.RTPCodecTypeVideo); err != nil {
		return err
	}
	for _, mode := range []string{"1", "0"} {
		for _, prof := range h264Profiles {
			c := webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=" + prof,
			}
			if err := add(c, webrtc.RTPCodecTypeVideo); err != nil {
				return err
			}
		}
	}
	pt = 111
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	if twcc {
		opus.RTCPFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	}
	return add(opus, webrtc.RTPCodecTypeAudio)
}

// fmtpValue returns the value of key in an fmtp line.
func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// codecFits reports whether a viewer's negotiated codec can carry packets of
// the source codec unchanged. For H.264 the packetization mode must match
// and the viewer must decode the profile (the level is ignored: decoders
// take a higher level than they advertise in practice, and OBS states odd
// levels).
func codecFits(viewer, source webrtc.RTPCodecCapability) bool {
	if !strings.EqualFold(viewer.MimeType, source.MimeType) {
		return false
	}
	if !strings.EqualFold(source.MimeType, webrtc.MimeTypeH264) {
		return true
	}
	mode := func(c webrtc.RTPCodecCapability) string {
		if m := fmtpValue(c.SDPFmtpLine, "packetization-mode"); m != "" {
			return m
		}
		return "0"
	}
	if mode(viewer) != mode(source) {
		return false
	}
	vp, sp := fmtpValue(viewer.SDPFmtpLine, "profile-level-id"), fmtpValue(source.SDPFmtpLine, "profile-level-id")
	if len(vp) < 4 || len(sp) < 4 {
		return true
	}
	return h264Rank(vp) >= h264Rank(sp)
}

// h264Rank orders H.264 profiles by what a decoder of that profile can also
// decode: Constrained Baseline < Baseline < Main < High.
func h264Rank(profileLevelID string) int {
	idc, iop := strings.ToLower(profileLevelID[:2]), strings.ToLower(profileLevelID[2:4])
	switch idc {
	case "42":
		if iop == "e0" || iop == "c0" {
			return 0
		}
		return 1
	case "4d":
		return 2
	case "64":
		return 3
	}
	return 1
}

// isKeyframe reports whether an RTP payload of the codec starts or carries a
// keyframe.
func isKeyframe(mime string, payload []byte) bool {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return h264Keyframe(payload)
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return vp8Keyframe(payload)
	}
	return true // audio: every packet is a starting point
}

// h264Keyframe finds an IDR or SPS NAL unit in a single NAL, STAP-A or the
// first fragment of an FU-A.
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24:
		for nal := range stapUnits(p) {
			if t := nal[0] & 0x1f; t == 5 || t == 7 {
				return true
			}
		}
	case 28: // FU-A: start bit and the fragmented NAL type
		if len(p) >= 2 && p[1]&0x80 != 0 {
			t := p[1] & 0x1f
			return t == 5 || t == 7
		}
	}
	return false
}

// h264ParamSets returns the SPS and PPS NAL units carried whole in an RTP
// payload (a single NAL unit or a STAP-A), if any. The slices alias p.
func h264ParamSets(p []byte) (sps, pps []byte) {
	if len(p) < 1 {
		return nil, nil
	}
	take := func(nal []byte) {
		switch nal[0] & 0x1f {
		case 7:
			sps = nal
		case 8:
			pps = nal
		}
	}
	switch p[0] & 0x1f {
	case 7, 8:
		take(p)
	case 24:
		for nal := range stapUnits(p) {
			take(nal)
		}
	}
	return sps, pps
}

// stapUnits yields the NAL units of a STAP-A payload (2-byte sizes, then
// the units), up to the first size that is zero or runs past the end.
func stapUnits(p []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) || !yield(p[i:i+size]) {
				return
			}
			i += size
		}
	}
}

// h264ParamsPacket builds a STAP-A payload carrying an SPS and a PPS, sent
// ahead of a keyframe whose own frame had none.
func h264ParamsPacket(sps, pps []byte) []byte {
	nri := max(sps[0], pps[0]) & 0x60
	out := make([]byte, 0, 5+len(sps)+len(pps))
	out = append(out, 24|nri, byte(len(sps)>>8), byte(len(sps)))
	out = append(out, sps...)
	out = append(out, byte(len(pps)>>8), byte(len(pps)))
	return append(out, pps...)
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741) and checks the
// inverse key frame flag of the first partition's start.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i++
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}
