package record

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// StyleSources are the CSP sources ('sha256-…') of the printable pages'
// inline styles. The browser UI opens these pages from a blob of the
// fetched HTML (a plain link cannot carry the token), and such a document
// inherits the UI's Content-Security-Policy: the UI allows exactly these
// styles and no other inline style.
func StyleSources() []string {
	var out []string
	for _, src := range []string{pageSource, evalReportSource} {
		_, rest, ok := strings.Cut(src, "<style>")
		style, _, ok2 := strings.Cut(rest, "</style>")
		if !ok || !ok2 {
			continue
		}
		sum := sha256.Sum256([]byte(style))
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return out
}
