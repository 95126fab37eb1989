package api

import (
	"bytes"
	"testing"
)

// FuzzParseExpertsCSV: an uploaded CSV of experts, whatever its bytes,
// parses or is refused in words; nothing panics, and every row it gives
// back is accounted for by a line number.
func FuzzParseExpertsCSV(f *testing.F) {
	f.Add([]byte("id,name,employer,specialties,center,phone,credit,public_key\nx01,专家,设计院,A01;B02,市中心,138,,\"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\"\n"))
	f.Add([]byte("\xef\xbb\xbfid,name\n\"unterminated"))
	f.Add([]byte("id,name,employer,specialties,center,phone,credit,public_key\n,,,,,,-5,\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		experts, lines, bad, err := parseExpertsCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(lines) != len(experts) {
			t.Fatalf("%d experts, %d line numbers", len(experts), len(lines))
		}
		for _, b := range bad {
			if b.Message == "" {
				t.Fatalf("a refused row without a reason: %+v", b)
			}
		}
	})
}
