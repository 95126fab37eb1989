package main

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"
)

// demoPDF writes a small, valid PDF of one A4 page per entry of pages, each
// a list of lines, for the demo's sample bid documents, so the evaluation
// shows a real PDF in the page. Chinese text uses the PDF's predefined CJK
// font STSong-Light (UniGB-UCS2-H, not embedded): viewers substitute a
// system font, so the file stays a few kilobytes.
func demoPDF(title string, pages [][]string) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) int {
		offsets = append(offsets, b.Len())
		n := len(offsets)
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
		return n
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	// Objects 1–4 are fixed: catalog, page tree, font, its descendant; the
	// page tree names the pages that follow (2 objects each).
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 6+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	obj("<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [4 0 R] >>")
	obj("<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light " +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 5 0 R /DW 1000 /W [1 95 500] >>")
	obj("<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] " +
		"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>")
	for i, lines := range pages {
		var c bytes.Buffer
		c.WriteString("BT\n/F1 18 Tf\n1 0 0 1 56 780 Tm\n")
		fmt.Fprintf(&c, "<%s> Tj\n/F1 11 Tf\n18 TL\n0 -16 Td\n", ucs2Hex(title))
		for _, l := range lines {
			fmt.Fprintf(&c, "T* <%s> Tj\n", ucs2Hex(l))
		}
		fmt.Fprintf(&c, "ET\nBT /F1 9 Tf 1 0 0 1 280 40 Tm <%s> Tj ET\n", ucs2Hex(fmt.Sprintf("第 %d 页 / 共 %d 页", i+1, len(pages))))
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 7+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", c.Len(), c.String()))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// ucs2Hex is s in UTF-16BE as a PDF hex string body (UniGB-UCS2-H).
func ucs2Hex(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	return b.String()
}
