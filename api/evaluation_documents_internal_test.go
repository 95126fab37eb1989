package api

import "testing"

func TestDocumentType(t *testing.T) {
	cut := []byte("标书正文")[:5] // a character cut off at the end of the sniffed bytes
	for _, c := range []struct {
		head []byte
		want string
	}{
		{[]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf"},
		{[]byte("投标文件正文\r\n\t第一章"), "text/plain; charset=utf-8"},
		{cut, "text/plain; charset=utf-8"},
		{[]byte("PK\x03\x04\x14\x00"), "application/octet-stream"},
		{[]byte("text\x00with a NUL"), "application/octet-stream"},
		{[]byte{0xff, 0xfe, 'a', 0}, "application/octet-stream"},
		{[]byte("<html><script>alert(1)</script>"), "text/plain; charset=utf-8"},
		{nil, "application/octet-stream"},
	} {
		if got, _ := documentType(c.head); got != c.want {
			t.Errorf("%q: %s, want %s", c.head, got, c.want)
		}
	}
}
