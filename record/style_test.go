package record

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"testing"

	"github.com/bidroom/bidroom/rooms"
)

// TestStyleSources: one CSP source per printable page, each the hash of
// the very style block the rendered page carries.
func TestStyleSources(t *testing.T) {
	got := StyleSources()
	if len(got) != 2 {
		t.Fatalf("%d style sources, want 2 (the record, the report): %v", len(got), got)
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	pages := [][]byte{HTML(&Record{}), EvaluationReportHTML(&rooms.CompletedReport{}, nil, nil, nil)}
	for i, page := range pages {
		m := style.FindSubmatch(page)
		if m == nil {
			t.Fatalf("page %d has no style block", i)
		}
		sum := sha256.Sum256(m[1])
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; got[i] != want {
			t.Errorf("page %d: source %s, its style hashes to %s", i, got[i], want)
		}
	}
}
