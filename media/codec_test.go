package media

import (
	"bytes"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestH264ParamSets(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xe0, 0x1f}, []byte{0x68, 0xce}
	stap := h264ParamsPacket(sps, pps)
	if want := []byte{0x78, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 2, 0x68, 0xce}; !bytes.Equal(stap, want) {
		t.Fatalf("h264ParamsPacket = % x; want % x", stap, want)
	}
	tests := []struct {
		name     string
		payload  []byte
		sps, pps []byte
	}{
		{"stap-a", stap, sps, pps},
		{"sps alone", sps, sps, nil},
		{"pps alone", pps, nil, pps},
		{"idr", []byte{0x65, 1, 2}, nil, nil},
		{"empty", nil, nil, nil},
		{"stap-a with a size past the end", []byte{24, 0, 9, 0x67, 1}, nil, nil},
		{"stap-a with a zero size", []byte{24, 0, 0, 0, 2, 0x68, 0xce}, nil, nil},
		{"stap-a: sps whole, pps cut", []byte{24, 0, 2, 0x67, 1, 0, 5, 0x68}, []byte{0x67, 1}, nil},
		{"fu-a start of an sps", []byte{28, 0x87, 1, 2}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs, gp := h264ParamSets(tc.payload)
			if !bytes.Equal(gs, tc.sps) || !bytes.Equal(gp, tc.pps) {
				t.Errorf("got sps % x pps % x; want % x, % x", gs, gp, tc.sps, tc.pps)
			}
		})
	}
}

// FuzzPayloadParsers feeds publishers' RTP payloads (untrusted bytes) to
// the keyframe and parameter-set parsers: they must never panic, and
// parameter sets found are NAL units of the right type within the payload.
func FuzzPayloadParsers(f *testing.F) {
	f.Add([]byte{24, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 2, 0x68, 0xce})
	f.Add([]byte{28, 0x85, 0})
	f.Add([]byte{0x90, 0x80, 0x01, 0x00})
	f.Add([]byte{24, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		isKeyframe(webrtc.MimeTypeH264, p)
		isKeyframe(webrtc.MimeTypeVP8, p)
		sps, pps := h264ParamSets(p)
		if sps != nil && (len(sps) == 0 || sps[0]&0x1f != 7 || len(sps) > len(p)) {
			t.Fatalf("sps % x from % x", sps, p)
		}
		if pps != nil && (len(pps) == 0 || pps[0]&0x1f != 8 || len(pps) > len(p)) {
			t.Fatalf("pps % x from % x", pps, p)
		}
		if sps != nil && pps != nil {
			a, b := h264ParamSets(h264ParamsPacket(sps, pps))
			if !bytes.Equal(a, sps) || !bytes.Equal(b, pps) {
				t.Fatalf("round trip: % x % x; want % x % x", a, b, sps, pps)
			}
		}
	})
}
