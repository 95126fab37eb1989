package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestArchiveExportAndVerify: the demo's finished opening (sealed bids,
// decrypted files, the signed record) with its evaluation and a recording
// is exported by `bidroom archive export` from a running server and
// checked offline by `bidroom verify --archive`; one byte of the
// recording, one event of a log and the manifest changed are each refused
// with the reason.
func TestArchiveExportAndVerify(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir, "BIDROOM_DEMO_ENABLED=true")
	base := "http://" + srv.addr
	_, raw, _ := get(t, base+"/api/v1/demo")
	var demo struct {
		Evaluation struct {
			Room    string `json:"room"`
			Opening string `json:"opening"`
		} `json:"evaluation"`
	}
	if err := json.Unmarshal(raw, &demo); err != nil || demo.Evaluation.Opening == "" {
		t.Fatalf("demo: %s", raw)
	}
	opening := demo.Evaluation.Opening

	// A recording of the opening, as the recorder leaves it: a file in the
	// recordings directory and its media_recorded event (the server is
	// stopped meanwhile: the embedded store has one writer).
	srv.stop()
	video := bytes.Repeat([]byte("IVF-frame-"), 5000)
	if err := os.MkdirAll(filepath.Join(dir, "recordings"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recordings", opening+"-host-video.ivf"), video, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(rooms.Recording{Hall: opening, Feed: "host", Kind: "video", Codec: "VP8", File: opening + "-host-video.ivf",
		Bytes: int64(len(video)), SM3: hex.EncodeToString(sm3.Sm3Sum(video))})
	if _, err := rooms.NewService(log, time.Now).Execute(context.Background(), opening, rooms.SystemActor, rooms.Command{ID: "rec-1", Type: rooms.CmdRecordMedia, Data: rec}); err != nil {
		t.Fatal(err)
	}
	log.Close()
	srv.env = append(srv.env, "BIDROOM_DEMO_ENABLED=false") // no second demo: its room ids are the same second's
	srv.start()

	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "opening.tar")
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"archive", "export", "--server", base, "--token", testAdminKey, "--session", opening, "--out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("archive export: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	text := stdout.String()
	for _, want := range []string{"核验通过 / OK", "清单签名有效", "opening " + opening + ": hash chain", "evaluation " + demo.Evaluation.Room + ": hash chain",
		"文件与日志一致", "the signed opening record (开标记录):", "archive written: " + out} {
		if !strings.Contains(text, want) {
			t.Fatalf("archive export does not say %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("the .part file is left: %v", err)
	}
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, good)
	for _, want := range []string{archive.LogPath(opening), archive.LogPath(demo.Evaluation.Room), archive.RecordingPath(opening + "-host-video.ivf"), archive.ManifestName, archive.SignatureName, archive.KeyName} {
		if !names[want] {
			t.Fatalf("the archive lacks %s: %v", want, names)
		}
	}
	blobs := 0
	for n := range names {
		if strings.HasPrefix(n, "blobs/") {
			blobs++
		}
	}
	if blobs < 7 { // three sealed bids, three decrypted files, the record
		t.Fatalf("%d blobs in the archive", blobs)
	}

	// Offline, with the platform key fetched once and saved, and with the
	// archive's own key (which the output tells to compare).
	pem, err := fetcher{base: base}.get(ctx, "/api/v1/platform-key")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeTestFile(t, t.TempDir(), "platform.pem", pem)
	verify := func(b []byte, args ...string) (string, error) {
		f := writeTestFile(t, t.TempDir(), "a.tar", b)
		var o bytes.Buffer
		err := run(ctx, append([]string{"verify", "--archive", f}, args...), &o, &o)
		return o.String(), err
	}
	if o, err := verify(good, "--platform-key", keyFile); err != nil {
		t.Fatalf("verify --archive: %v\n%s", err, o)
	}
	if o, err := verify(good); err != nil || !strings.Contains(o, "请核对平台公钥标识") {
		t.Fatalf("verify --archive with its own key: %v\n%s", err, o)
	}

	for name, c := range map[string]struct {
		edit func(path string, b []byte) []byte
		want string
	}{
		"one byte of the recording": {func(p string, b []byte) []byte {
			if p == archive.RecordingPath(opening+"-host-video.ivf") {
				b[100] ^= 1
			}
			return b
		}, "was changed"},
		"one event of the log": {func(p string, b []byte) []byte {
			if p == archive.LogPath(opening) {
				return bytes.Replace(b, []byte(`"type":"opened"`), []byte(`"type":"opened" `), 1)
			}
			return b
		}, archive.LogPath(opening)},
		"the manifest": {func(p string, b []byte) []byte {
			if p == archive.ManifestName {
				return bytes.Replace(b, []byte(`"session": "`+opening), []byte(`"session": "X`+opening[1:]), 1)
			}
			return b
		}, "清单签名无效"},
		"a file added": {func(p string, b []byte) []byte { return b }, "not in the manifest"},
	} {
		forged := rewriteTar(t, good, c.edit, name == "a file added")
		if o, err := verify(forged, "--platform-key", keyFile); err == nil || !strings.Contains(o, c.want) || !strings.Contains(o, "核验失败 / FAILED") {
			t.Errorf("%s: %v, want a failure naming %q:\n%s", name, err, c.want, o)
		}
	}
	if o, err := verify(good[:len(good)/2], "--platform-key", keyFile); err == nil {
		t.Fatalf("a cut archive passes:\n%s", o)
	}
}

func tarNames(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

// rewriteTar copies an archive with edit applied to each file's bytes,
// and with one more file when extra.
func rewriteTar(t *testing.T, b []byte, edit func(string, []byte) []byte, extra bool) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	write := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		write(h.Name, edit(h.Name, data))
	}
	if extra {
		write("blobs/extra", []byte("slipped in"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestArchiveKeptAndPruned: the server keeps a verified archive of the
// demo's finished opening; a prune is refused until the opening is
// closed, the retention has passed and the archive is current; then the
// live files go (the sealed and decrypted bids leave the blob store), the
// report is kept and answered again, and the stored archive still serves
// and verifies.
func TestArchiveKeptAndPruned(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "BIDROOM_DATA_DIR="+dir, "BIDROOM_DEMO_ENABLED=true", "BIDROOM_TESTING_MOVABLE_CLOCK=true", "BIDROOM_ARCHIVE_RETENTION=720h")
	base := "http://" + srv.addr
	_, raw, _ := get(t, base+"/api/v1/demo")
	var demo struct {
		Evaluation struct{ Opening string } `json:"evaluation"`
	}
	if err := json.Unmarshal(raw, &demo); err != nil || demo.Evaluation.Opening == "" {
		t.Fatalf("demo: %s", raw)
	}
	opening := demo.Evaluation.Opening
	// The rest runs without the demo's bot, whose moves in the demo's
	// evaluation (archived with the opening) would make the archive stale
	// at any moment.
	srv.stop()
	srv.env = append(srv.env, "BIDROOM_DEMO_ENABLED=false")
	srv.start()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	prune := func(want int, why string) map[string]any {
		t.Helper()
		st, body := call("POST", "/api/v1/sessions/"+opening+"/prune", "")
		if st != want || want != 200 && !strings.Contains(fmt.Sprint(body), why) {
			t.Fatalf("prune: %d %v, want %d %q", st, body, want, why)
		}
		return body
	}
	blobCount := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(dir, "blobs", "sm3"), func(_ string, d fs.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	prune(409, "only a closed opening")
	if st, body := call("POST", "/api/v1/sessions/"+opening+"/commands", `{"id":"close-1","type":"close_session"}`); st != 200 {
		t.Fatalf("close: %d %v", st, body)
	}
	prune(409, "no stored archive")
	if st, body := call("POST", "/api/v1/sessions/"+opening+"/archive", ""); st != 201 || body["sm3"] != fileSM3(t, filepath.Join(dir, "archive", opening+".tar")) {
		t.Fatalf("store the archive: %d %v", st, body)
	}
	prune(409, "kept until")
	if st, _ := call("POST", "/api/v1/testing/clock", `{"advance":"800h"}`); st != 200 {
		t.Fatal("move the clock")
	}
	before := blobCount()
	// Anything appended since (the demo's timers) makes the archive stale:
	// archive again when the prune says so.
	if st, body := call("POST", "/api/v1/sessions/"+opening+"/prune", ""); st == 409 && strings.Contains(fmt.Sprint(body), "changed after") {
		if st, body := call("POST", "/api/v1/sessions/"+opening+"/archive", ""); st != 201 {
			t.Fatalf("archive again: %d %v", st, body)
		}
	} else if st != 200 {
		t.Fatalf("prune after the retention: %d %v", st, body)
	}
	report := prune(200, "")
	removed := report["removed"].([]any)
	if report["archive_sm3"] != fileSM3(t, filepath.Join(dir, "archive", opening+".tar")) {
		t.Fatalf("the report's archive_sm3 %v is not the stored archive's", report["archive_sm3"])
	}
	if len(removed) < 6 || report["bytes"].(float64) <= 0 {
		t.Fatalf("the report: %v", report)
	}
	if after := blobCount(); after > before-6 {
		t.Fatalf("blobs before %d, after %d: the bids were not removed", before, after)
	}
	if again := prune(200, ""); fmt.Sprint(again["removed"]) != fmt.Sprint(removed) {
		t.Fatalf("a second prune: %v", again)
	}
	if _, err := os.Stat(filepath.Join(dir, "archive", opening+".pruned.json")); err != nil {
		t.Fatal(err)
	}
	// The stored archive still serves, whole, and verifies offline.
	out := filepath.Join(t.TempDir(), "a.tar")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"archive", "export", "--server", base, "--token", testAdminKey, "--session", opening, "--out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("export after the prune: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}

// fileSM3 is a file's SM3, hex.
func fileSM3(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sm3.Sm3Sum(b))
}
