package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bidroom/bidroom/decrypt"
)

// bidtool runs the command in-process and returns stdout.
func bidtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(args, &stdout, &stderr)
	return stdout.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := bidtool(t, args...)
	if err != nil {
		t.Fatalf("bidtool %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const sheetJSON = `{"price":"998000.00","duration":"90 日历天","quality":"合格","project_manager":"李四","bond":"已缴"}`

// setup makes a key pair, a bid file and a sheet in a temp dir and seals them.
func setup(t *testing.T, pass bool) (dir string, data []byte, keyArgs []string) {
	t.Helper()
	dir = t.TempDir()
	args := []string{"keygen", "--out", filepath.Join(dir, "bidder")}
	keyArgs = []string{"--key", filepath.Join(dir, "bidder.key.pem")}
	if pass {
		pf := write(t, filepath.Join(dir, "pass"), []byte("s3cret\n"))
		args = append(args, "--pass-file", pf)
		keyArgs = append(keyArgs, "--pass-file", pf)
	}
	if out := mustRun(t, args...); !strings.Contains(out, "key id") {
		t.Errorf("keygen output %q", out)
	}
	data = make([]byte, 200<<10+3)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "bid.pdf"), data)
	write(t, filepath.Join(dir, "sheet.json"), []byte(sheetJSON))
	mustRun(t, append([]string{"seal", "--in", filepath.Join(dir, "bid.pdf"), "--sheet", filepath.Join(dir, "sheet.json"),
		"--session", "S-001", "--bidder", "B-7", "--out", filepath.Join(dir, "bid.sealed")}, keyArgs...)...)
	return dir, data, keyArgs
}

func TestKeygen(t *testing.T) {
	for _, pass := range []bool{false, true} {
		dir, _, _ := setup(t, pass)
		st, err := os.Stat(filepath.Join(dir, "bidder.key.pem"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("private key mode %v, err %v; want 0600", st.Mode().Perm(), err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "bidder.key.pem"))
		if got := bytes.Contains(b, []byte("ENCRYPTED PRIVATE KEY")); got != pass {
			t.Errorf("password %v: encrypted PEM %v", pass, got)
		}
		if _, err := bidtool(t, "keygen", "--out", filepath.Join(dir, "bidder")); err == nil {
			t.Error("keygen overwrote an existing key")
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, pass := range []bool{false, true} {
		dir, data, keyArgs := setup(t, pass)
		out := mustRun(t, append([]string{"open", "--in", filepath.Join(dir, "bid.sealed"), "--signer", filepath.Join(dir, "bidder.pub.pem"),
			"--out", filepath.Join(dir, "opened.pdf"), "--sheet-out", filepath.Join(dir, "sheet.out.json")}, keyArgs...)...)
		if !strings.Contains(out, "998000.00") {
			t.Errorf("open output lacks the price: %s", out)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "opened.pdf"))
		if !bytes.Equal(got, data) {
			t.Fatalf("opened file differs from the sealed one")
		}
		var sheet, want map[string]string
		sb, _ := os.ReadFile(filepath.Join(dir, "sheet.out.json"))
		if err := json.Unmarshal(sb, &sheet); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(sheetJSON), &want)
		if len(sheet) != len(want) || sheet["price"] != want["price"] || sheet["bond"] != want["bond"] {
			t.Errorf("sheet %v, want %v", sheet, want)
		}
	}
}

func TestOpenFailureWritesNothing(t *testing.T) {
	dir, _, keyArgs := setup(t, false)
	sealed := filepath.Join(dir, "bid.sealed")
	b, _ := os.ReadFile(sealed)
	b[len(b)/2] ^= 1
	write(t, sealed, b)
	_, err := bidtool(t, append([]string{"open", "--in", sealed, "--signer", filepath.Join(dir, "bidder.pub.pem"),
		"--out", filepath.Join(dir, "opened.pdf")}, keyArgs...)...)
	if !errors.Is(err, decrypt.ErrTampered) {
		t.Errorf("open of a tampered bid: %v, want ErrTampered", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "opened") {
			t.Errorf("failed open left %s behind", e.Name())
		}
	}

	// Another bidder's key.
	mustRun(t, "keygen", "--out", filepath.Join(dir, "other"))
	dir2, _, _ := setup(t, false)
	_, err = bidtool(t, "open", "--in", filepath.Join(dir2, "bid.sealed"), "--key", filepath.Join(dir, "other.key.pem"),
		"--signer", filepath.Join(dir2, "bidder.pub.pem"), "--out", filepath.Join(dir, "x"))
	if !errors.Is(err, decrypt.ErrWrongKey) {
		t.Errorf("open with another key: %v, want ErrWrongKey", err)
	}
}

func TestInspect(t *testing.T) {
	dir, data, _ := setup(t, false)
	sealed := filepath.Join(dir, "bid.sealed")
	pub := filepath.Join(dir, "bidder.pub.pem")

	out := mustRun(t, "inspect", "--in", sealed)
	if !strings.Contains(out, "S-001") || !strings.Contains(out, "not checked") {
		t.Errorf("inspect without signer: %s", out)
	}
	out = mustRun(t, "inspect", "--in", sealed, "--signer", pub)
	if !strings.Contains(out, "signature   valid") {
		t.Errorf("inspect with signer: %s", out)
	}

	var j inspectJSON
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "--in", sealed, "--signer", pub, "--json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.SessionID != "S-001" || j.BidderID != "B-7" || j.Size != int64(len(data)) || !j.SignatureVerified || j.Chunks != 4 {
		t.Errorf("inspect --json = %+v", j)
	}

	// A third party checks the JSON's signature and wrapped key with openssl.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	sig, _ := base64.StdEncoding.DecodeString(j.Signature)
	digest, _ := hex.DecodeString(j.Digest)
	wrapped, _ := base64.StdEncoding.DecodeString(j.WrappedKey)
	write(t, filepath.Join(dir, "sig.der"), sig)
	write(t, filepath.Join(dir, "digest"), digest)
	write(t, filepath.Join(dir, "wrapped.der"), wrapped)
	cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:"+decrypt.DefaultUserID, "-in", "digest", "-sigfile", "sig.der")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("Verified Successfully")) {
		t.Errorf("openssl verify: %v %s", err, b)
	}
	cmd = exec.Command("openssl", "pkeyutl", "-decrypt", "-inkey", "bidder.key.pem", "-in", "wrapped.der")
	cmd.Dir = dir
	if b, err := cmd.Output(); err != nil || len(b) != 16 {
		t.Errorf("openssl unwrap: %v, %d bytes", err, len(b))
	}

	// Tampered: inspect with a signer fails.
	b, _ := os.ReadFile(sealed)
	b[len(b)-10] ^= 1
	write(t, sealed, b)
	if _, err := bidtool(t, "inspect", "--in", sealed, "--signer", pub); !errors.Is(err, decrypt.ErrSignature) {
		t.Errorf("inspect of a tampered bid: %v, want ErrSignature", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"frobnicate"}, {"seal"}, {"open", "--in", "x"}, {"inspect"}, {"keygen"},
	} {
		if _, err := bidtool(t, args...); err == nil {
			t.Errorf("bidtool %v succeeded", args)
		}
	}
	if out := mustRun(t, "help"); !strings.Contains(out, "bidtool seal") {
		t.Errorf("help: %s", out)
	}
}

func TestProgress(t *testing.T) {
	var stderr bytes.Buffer
	total := int64(progressThreshold)
	p := newProgress(bytes.NewReader(make([]byte, total)), total, "sealing", &stderr, false)
	buf := make([]byte, 1<<20)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	p.done()
	if s := stderr.String(); !strings.Contains(s, "sealing: 100%") || !strings.HasSuffix(s, "\n") {
		t.Errorf("progress output %q", s)
	}
	stderr.Reset()
	p = newProgress(bytes.NewReader(make([]byte, 10)), 10, "sealing", &stderr, false)
	p.Read(buf)
	p.done()
	if stderr.Len() != 0 {
		t.Errorf("progress shown for a small file: %q", stderr.String())
	}
}

// TestOpenToPipe: an output that is not a regular file (a pipe, a device)
// is written in place, never replaced by a renamed temporary file.
func TestOpenToPipe(t *testing.T) {
	dir, data, keyArgs := setup(t, false)
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	mustRun(t, append([]string{"open", "--in", filepath.Join(dir, "bid.sealed"), "--signer", filepath.Join(dir, "bidder.pub.pem"),
		"--out", fifo}, keyArgs...)...)
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("read %d bytes from the pipe, want the %d sealed", len(b), len(data))
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("output pipe replaced: mode %v, err %v", st.Mode(), err)
	}
}

// TestSealBackup: --backup writes a second, separately sealed copy (its own
// data key, so its own digest) that opens to the same file.
func TestSealBackup(t *testing.T) {
	dir, data, keyArgs := setup(t, false)
	out := mustRun(t, append([]string{"seal", "--in", filepath.Join(dir, "bid.pdf"), "--sheet", filepath.Join(dir, "sheet.json"),
		"--session", "S-001", "--bidder", "B-7", "--out", filepath.Join(dir, "main.sealed"), "--backup", filepath.Join(dir, "backup.sealed")}, keyArgs...)...)
	if strings.Count(out, "digest SM3") != 2 {
		t.Fatalf("seal --backup output %q; want two digests", out)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "main.sealed"))
	b, _ := os.ReadFile(filepath.Join(dir, "backup.sealed"))
	if len(a) == 0 || bytes.Equal(a, b) {
		t.Fatal("the backup is missing or the same bytes as the bid")
	}
	mustRun(t, append([]string{"open", "--in", filepath.Join(dir, "backup.sealed"), "--signer", filepath.Join(dir, "bidder.pub.pem"),
		"--out", filepath.Join(dir, "from-backup.pdf")}, keyArgs...)...)
	if got, _ := os.ReadFile(filepath.Join(dir, "from-backup.pdf")); !bytes.Equal(got, data) {
		t.Fatal("the backup does not open to the bid file")
	}
	if _, err := bidtool(t, append([]string{"seal", "--in", filepath.Join(dir, "bid.pdf"), "--sheet", filepath.Join(dir, "sheet.json"),
		"--session", "S-001", "--bidder", "B-7", "--out", filepath.Join(dir, "x.sealed"), "--backup", filepath.Join(dir, "x.sealed")}, keyArgs...)...); err == nil {
		t.Fatal("--backup equal to --out was accepted")
	}
}
