package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGCCommand: `bidroom gc` asks the running server for a collection and
// prints what it removed. The demo's files (sealed bids, decrypted files,
// the signed record), made a month old, all stay: their logs name them.
// A file no log names and an upload left halfway, as old, go — not in the
// dry run, in the real one — and the metrics count them.
func TestGCCommand(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir, "BIDROOM_DEMO_ENABLED=true", "BIDROOM_SERVER_METRICS_TOKEN=metrics-token-0123456789")
	base := "http://" + srv.addr
	blobDir := filepath.Join(dir, "blobs")
	month := time.Now().Add(-30 * 24 * time.Hour)

	orphan := strings.Repeat("ab", 32)
	stale := strings.Repeat("cd", 16)
	files := map[string][]byte{
		filepath.Join(blobDir, "sm3", orphan[:2], orphan): []byte("a bid whose command was refused"),
		filepath.Join(blobDir, "uploads", stale):          []byte("half"),
		filepath.Join(blobDir, "uploads", stale+".max"):   []byte("100\ns1/a"),
	}
	for p, b := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var named []string
	_ = filepath.WalkDir(filepath.Join(blobDir, "sm3"), func(p string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			if err := os.Chtimes(p, month, month); err != nil {
				t.Fatal(err)
			}
			if filepath.Base(p) != orphan {
				named = append(named, p)
			}
		}
		return nil
	})
	for p := range files {
		if err := os.Chtimes(p, month, month); err != nil {
			t.Fatal(err)
		}
	}
	if len(named) < 4 {
		t.Fatalf("the demo stored %d files, want its bids, decrypted files and record", len(named))
	}

	gcAs := func(token string, args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"gc", "--server", base, "--token", token}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	gc := func(args ...string) (string, string, error) { return gcAs(testAdminKey, args...) }
	out, progress, err := gc("--dry-run")
	if err != nil || !strings.Contains(out, "would remove (dry run) 1 idle uploads (4 bytes) and 1 orphan blobs (31 bytes)") || !strings.Contains(progress, "removing idle uploads") {
		t.Fatalf("dry run: %v\n%s%s", err, out, progress)
	}
	for p := range files {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the dry run removed %s", p)
		}
	}
	out, _, err = gc()
	if err != nil || !strings.HasPrefix(out, "removed 1 idle uploads (4 bytes) and 1 orphan blobs (31 bytes)") {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	for p := range files {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range named {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a file the demo's logs name was removed: %s", p)
		}
	}
	if _, _, err := gcAs(""); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("gc without a token: %v", err)
	}
	if _, _, err := gcAs("wrong-key-0123456789"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("gc with a wrong key: %v", err)
	}

	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer metrics-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bidroom_blob_gc_removed_total{kind="blob"} 1`, `bidroom_blob_gc_removed_bytes_total{kind="upload"} 4`, `bidroom_blob_gc_runs_total{result="ok"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
