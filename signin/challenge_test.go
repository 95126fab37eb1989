package signin

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
)

func TestTextRoundTrip(t *testing.T) {
	c, err := New("S-001", "B-7", time.Date(2026, 11, 25, 17, 30, 0, 500, time.FixedZone("CST", 8*3600)))
	if err != nil {
		t.Fatal(err)
	}
	text := c.Text()
	want := "bidroom sign-in\nsession: S-001\nbidder: B-7\nnonce: " + c.Nonce + "\ntime: 2026-11-25T09:30:00Z\n"
	if text != want {
		t.Fatalf("Text() = %q, want %q", text, want)
	}
	got, err := Parse(text)
	if err != nil || got != c {
		t.Fatalf("Parse(Text()) = %+v, %v; want %+v", got, err, c)
	}
}

func TestParseRefuses(t *testing.T) {
	good := Challenge{Session: "s", Bidder: "b", Nonce: strings.Repeat("0a", 32), Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}.Text()
	tests := map[string]string{
		"empty":              "",
		"other purpose":      strings.Replace(good, "bidroom sign-in", "bidroom sign-out", 1),
		"no final newline":   strings.TrimSuffix(good, "\n"),
		"extra line":         good + "x\n",
		"CRLF":               strings.ReplaceAll(good, "\n", "\r\n"),
		"short nonce":        strings.Replace(good, strings.Repeat("0a", 32), "0a", 1),
		"uppercase nonce":    strings.Replace(good, strings.Repeat("0a", 32), strings.Repeat("0A", 32), 1),
		"local time":         strings.Replace(good, "03:04:05Z", "11:04:05+08:00", 1),
		"fractional seconds": strings.Replace(good, "03:04:05Z", "03:04:05.5Z", 1),
		"empty session":      strings.Replace(good, "session: s", "session: ", 1),
		"fields swapped":     strings.Replace(strings.Replace(good, "session: s\n", "", 1), "bidder: b\n", "bidder: b\nsession: s\n", 1),
		"too long":           strings.Replace(good, "session: s", "session: "+strings.Repeat("s", MaxText), 1),
	}
	for name, text := range tests {
		if _, err := Parse(text); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %v, want ErrMalformed", name, err)
		}
	}
}

func TestSign(t *testing.T) {
	k, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New("s1", "a", time.Now())
	sig, err := Sign(k, c.Text(), "s1", "a")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(sig)
	if err := k.Public().Verify([]byte(c.Text()), der); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	// The key signs nothing but a sign-in challenge for the session expected.
	for name, args := range map[string][3]string{
		"another session": {c.Text(), "s2", "a"},
		"another bidder":  {c.Text(), "s1", "b"},
		"anything else":   {"transfer 1000000 yuan", "s1", ""},
	} {
		if _, err := Sign(k, args[0], args[1], args[2]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Sign = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzParse: untrusted text never panics, and what parses prints back as itself.
func FuzzParse(f *testing.F) {
	c, _ := New("S-001", "B-7", time.Now())
	f.Add(c.Text())
	f.Add("bidroom sign-in\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err == nil && c.Text() != text {
			t.Fatalf("Parse accepted %q but prints %q", text, c.Text())
		}
	})
}
