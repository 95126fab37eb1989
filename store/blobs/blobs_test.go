package blobs

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("BIDROOM_TEST_BLOB_CHILD"); dir != "" {
		uploadForever(dir, os.Getenv("BIDROOM_TEST_BLOB_ID"))
		return
	}
	os.Exit(m.Run())
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// opensslSM3 is an independent SM3 of b.
func opensslSM3(t *testing.T, b []byte) string {
	t.Helper()
	cmd := exec.Command("openssl", "dgst", "-sm3", "-r")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl dgst -sm3: %v", err)
	}
	return strings.Fields(string(out))[0]
}

// failAfter yields n bytes of r and then an error, like a dropped network.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestResumableUpload(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 300_000)
	id, err := s.CreateUpload(int64(len(data)), "bidder-a")
	if err != nil {
		t.Fatal(err)
	}
	if owner, err := s.Owner(id); err != nil || owner != "bidder-a" {
		t.Fatalf("owner = %q, %v", owner, err)
	}
	if _, err := s.CreateUpload(10, "two\nlines"); err == nil {
		t.Fatal("multi-line owner accepted")
	}
	// The first attempt dies after 100 KB.
	off, err := s.Append(id, 0, &failAfter{r: bytes.NewReader(data), n: 100_000})
	if err == nil || off != 100_000 {
		t.Fatalf("interrupted append: offset %d, err %v", off, err)
	}
	if got, _ := s.Offset(id); got != 100_000 {
		t.Fatalf("offset after interruption = %d", got)
	}
	// A client that thinks it is elsewhere is told where the server is.
	if got, err := s.Append(id, 50, bytes.NewReader(data[50:])); !errors.Is(err, ErrOffsetMismatch) || got != 100_000 {
		t.Fatalf("wrong offset: %d %v", got, err)
	}
	if off, err = s.Append(id, 100_000, bytes.NewReader(data[100_000:])); err != nil || off != int64(len(data)) {
		t.Fatalf("resume: %d %v", off, err)
	}
	digest, size, err := s.Complete(id)
	if err != nil || size != int64(len(data)) {
		t.Fatalf("complete: %d %v", size, err)
	}
	if want := opensslSM3(t, data); digest != want {
		t.Fatalf("digest %s, openssl says %s", digest, want)
	}
	f, n, err := s.Open(digest)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("open: %d %v", n, err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("blob differs from the upload")
	}
	// The same bytes again are the same blob; the finished upload is gone.
	id2, _ := s.CreateUpload(int64(len(data)), "bidder-a")
	_, _ = s.Append(id2, 0, bytes.NewReader(data))
	if d2, _, err := s.Complete(id2); err != nil || d2 != digest {
		t.Fatalf("second upload: %s %v", d2, err)
	}
	if _, err := s.Offset(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finished upload still there: %v", err)
	}
}

func TestUploadRefusals(t *testing.T) {
	s, _ := Open(t.TempDir())
	id, _ := s.CreateUpload(10, "x")
	if off, err := s.Append(id, 0, strings.NewReader("0123456789X")); !errors.Is(err, ErrTooLarge) || off != 10 {
		t.Fatalf("over the limit: %d %v", off, err)
	}
	id2, _ := s.CreateUpload(10, "x")
	if off, err := s.Append(id2, 0, strings.NewReader("0123456789")); err != nil || off != 10 {
		t.Fatalf("exactly the limit: %d %v", off, err)
	}
	for _, bad := range []string{"", "../../etc/passwd", "ABCDEF", strings.Repeat("0", 32) + "/x"} {
		if _, err := s.Offset(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Offset(%q): %v", bad, err)
		}
		if _, err := s.Append(bad, 0, strings.NewReader("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Append(%q): %v", bad, err)
		}
		if _, _, err := s.Open(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
	if _, _, err := s.Open(strings.Repeat("a", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	if err := s.Abort(id2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offset(id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted upload: %v", err)
	}
	if _, err := s.CreateUpload(0, "x"); err == nil {
		t.Fatal("zero limit accepted")
	}
}

// uploadForever is the child of TestUploadSurvivesKill: it appends 4 KiB
// pieces and prints each acknowledged offset until it is killed.
func uploadForever(dir, id string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	piece := bytes.Repeat([]byte{'b'}, 4096)
	var off int64
	for {
		off, err = s.Append(id, off, bytes.NewReader(piece))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(off)
	}
}

// TestUploadSurvivesKill kills a process mid-upload with SIGKILL: the
// offset after restart covers every acknowledged byte, and the upload
// continues and completes.
func TestUploadSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	id, _ := s.CreateUpload(1<<30, "x")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BIDROOM_TEST_BLOB_CHILD="+dir, "BIDROOM_TEST_BLOB_ID="+id)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked int64
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() && acked < 200*4096 && time.Now().Before(deadline) {
		n, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		acked = n
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if acked == 0 {
		t.Fatal("child acknowledged nothing")
	}
	s2, _ := Open(dir)
	off, err := s2.Offset(id)
	if err != nil || off < acked {
		t.Fatalf("offset after kill = %d (%v), acknowledged %d", off, err, acked)
	}
	// Resume and finish: a kill leaves nothing half-done that blocks the upload.
	if _, err := s2.Append(id, off, strings.NewReader("end")); err != nil {
		t.Fatal(err)
	}
	if _, size, err := s2.Complete(id); err != nil || size != off+3 {
		t.Fatalf("complete after kill: %d %v", size, err)
	}
}
