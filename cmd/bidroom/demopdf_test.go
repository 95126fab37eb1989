package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bidroom/bidroom/decrypt"
)

// TestDemoPDF: the demo's bid documents are PDFs an independent reader
// (poppler's pdftotext) opens, with the Chinese text and the sealed
// figures in them, and a valid cross-reference table.
func TestDemoPDF(t *testing.T) {
	doc := demoBidDocument("江苏恒达建设工程有限公司", decrypt.Sheet{Price: "8436000.00", Duration: "240日历天", Quality: "合格", ProjectManager: "张建国"})
	if !bytes.HasPrefix(doc, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(doc, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF: %.40q … %q", doc, doc[len(doc)-10:])
	}
	f := filepath.Join(t.TempDir(), "bid.pdf")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext (apt-get install poppler-utils): %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"江苏恒达建设工程有限公司", "投标报价：8436000.00", "240日历天", "张建国", "三、施工组织设计", "第 2 页 / 共 2 页"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, text)
		}
	}
	info, err := exec.Command("pdfinfo", f).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^Pages:\s+2$`).MatchString(string(info)) {
		t.Errorf("pdfinfo: %v\n%s", err, info)
	}
	if strings.Contains(string(info), "Syntax Error") || strings.Contains(string(out), "Syntax Error") {
		t.Errorf("poppler reports syntax errors:\n%s%s", info, out)
	}
}
