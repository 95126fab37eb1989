package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

// recordServer is the API over a finished opening whose record was made
// through POST …/record; it returns the server's URL, the platform key and
// bidder a's key.
func recordServer(t *testing.T) (string, *decrypt.PrivateKey, *recordtest.Opening) {
	t.Helper()
	dir := t.TempDir()
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	c := &demoClock{t: time.Now().UTC()}
	svc := rooms.NewService(log, c.now)
	bs, err := blobs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := auth.NewIssuer([]byte(strings.Repeat("s", 32)), nil)
	hs := httptest.NewServer(api.NewRouter(api.Deps{
		Svc: svc, Issuer: issuer, AdminKey: testAdminKey, WS: http.NotFoundHandler(), Blobs: bs, Platform: platform,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
	}))
	t.Cleanup(hs.Close)
	op := recordtest.Run(t, svc, "s-verify", c.advance)
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/sessions/s-verify/record", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST record: %s", resp.Status)
	}
	return hs.URL, platform, op
}

func fetch(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b
}

func writeTestFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVerifyCommand runs `bidroom verify` against a server and against the
// files it serves, untouched and tampered with, in-process and as the real
// binary (exit codes 0 and 1).
func TestVerifyCommand(t *testing.T) {
	ctx := context.Background()
	url, platform, op := recordServer(t)
	dir := t.TempDir()
	pubPEM, _ := platform.Public().MarshalPEM()
	bidderPEM, _ := op.BidderKey.Public().MarshalPEM()
	other, _ := decrypt.GenerateKey()
	otherPEM, _ := other.Public().MarshalPEM()
	recordFile := writeTestFile(t, dir, "record.json", fetch(t, url+"/api/v1/sessions/s-verify/record"))
	logBytes := fetch(t, url+"/api/v1/sessions/s-verify/log")
	logFile := writeTestFile(t, dir, "log.jsonl", logBytes)
	keyFile := writeTestFile(t, dir, "platform.pub.pem", pubPEM)
	bidderFile := writeTestFile(t, dir, "a.pub.pem", bidderPEM)
	otherFile := writeTestFile(t, dir, "other.pub.pem", otherPEM)
	lines := bytes.Split(bytes.TrimSpace(logBytes), []byte("\n"))
	truncated := writeTestFile(t, dir, "truncated.jsonl", bytes.Join(lines[:len(lines)-5], []byte("\n")))
	tampered := writeTestFile(t, dir, "tampered.jsonl", bytes.Replace(logBytes, []byte("张三"), []byte("张四"), 1))

	tests := []struct {
		name string
		args []string
		want string // in the output or the error; "" for success
	}{
		{"files", []string{"--record", recordFile, "--log", logFile, "--platform-key", keyFile}, ""},
		{"files with the bidder's key", []string{"--record", recordFile, "--log", logFile, "--platform-key", keyFile, "--bidder-key", "a=" + bidderFile}, ""},
		{"server", []string{"--server", url, "--session", "s-verify", "--token", testAdminKey}, ""},
		{"wrong platform key", []string{"--record", recordFile, "--log", logFile, "--platform-key", otherFile}, "platform signature does not verify"},
		{"another key for bidder a", []string{"--record", recordFile, "--log", logFile, "--platform-key", keyFile, "--bidder-key", "a=" + otherFile}, "bidder a's confirmation names key"},
		{"truncated log", []string{"--record", recordFile, "--log", truncated, "--platform-key", keyFile}, "the log is truncated"},
		{"tampered log", []string{"--record", recordFile, "--log", tampered, "--platform-key", keyFile}, "hash mismatch"},
		{"no platform key", []string{"--record", recordFile, "--log", logFile}, "--platform-key is required"},
		{"server without token", []string{"--server", url, "--session", "s-verify"}, "--server needs --session and --token"},
		{"server, unknown session", []string{"--server", url, "--session", "nope", "--token", testAdminKey}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(ctx, append([]string{"verify"}, tt.args...), &out, &errOut)
			if tt.want == "" {
				if err != nil || !strings.Contains(out.String(), "核验通过 / OK") {
					t.Fatalf("verify: %v\n%s%s", err, out.String(), errOut.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error()+out.String(), tt.want) {
				t.Fatalf("verify = %v, want an error containing %q\n%s", err, tt.want, out.String())
			}
		})
	}

	// The real binary: exit status 0 on a good record, 1 on a bad one.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH to build the binary")
	}
	bin := filepath.Join(t.TempDir(), "bidroom")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		log  string
		code int
	}{{logFile, 0}, {tampered, 1}} {
		cmd := exec.Command(bin, "verify", "--record", recordFile, "--log", tc.log, "--platform-key", keyFile)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("bidroom verify --log %s: exit %d, want %d\n%s", filepath.Base(tc.log), code, tc.code, out)
		}
		if tc.code == 0 {
			t.Logf("bidroom verify:\n%s", out)
		}
	}
}
