package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/evaltest"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

// TestVerifyReportCommand: an evaluation driven to a report every member
// signed; the platform signs it through POST /evaluations/{id}/report;
// `bidroom verify --report` passes against the server and fails with
// another platform key.
func TestVerifyReportCommand(t *testing.T) {
	e := newEvaluationServer(t, map[string]string{"a": "1000000", "b": "980000"})
	dir, hs, issuer, platform := e.dir, e.hs, e.issuer, e.platform
	if st, b := e.post("/api/v1/evaluations/ev1/report"); st != http.StatusCreated {
		t.Fatalf("POST report: %d %s", st, b)
	}
	if st, _ := e.post("/api/v1/evaluations/ev1/report"); st != http.StatusOK {
		t.Fatalf("POST report again: %d, want 200 with the same signature", st)
	}
	sup, _, err := issuer.Mint(auth.Request{Room: "ev1", Role: rooms.RoleSupervisor, Sub: "s1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"verify", "--report", "--server", hs.URL, "--session", "ev1", "--token", sup}, &out, &out); err != nil {
		t.Fatalf("verify --report: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "核验通过 / OK") || strings.Count(s, "成员签名有效") != 5 || !strings.Contains(s, "有不同意见") {
		t.Fatalf("verify --report printed:\n%s", s)
	}

	// The same log, checked offline with another platform key, fails.
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/v1/sessions/ev1/log", nil)
	req.Header.Set("Authorization", "Bearer "+sup)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	logRaw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	other, _ := decrypt.GenerateKey()
	otherPEM, _ := other.Public().MarshalPEM()
	logFile := writeTestFile(t, dir, "ev1.jsonl", logRaw)
	out.Reset()
	err = run(ctx, []string{"verify", "--report", "--log", logFile, "--platform-key", writeTestFile(t, dir, "other.pem", otherPEM)}, &out, &out)
	if err == nil || !strings.Contains(out.String(), "核验失败 / FAILED") {
		t.Fatalf("verified with another platform key: %v\n%s", err, out.String())
	}
	platformPEM, _ := platform.Public().MarshalPEM()
	out.Reset()
	if err := run(ctx, []string{"verify", "--report", "--log", logFile, "--platform-key", writeTestFile(t, dir, "platform.pem", platformPEM)}, &out, &out); err != nil {
		t.Fatalf("offline verify --report: %v\n%s", err, out.String())
	}
}

// evaluationServer is the API over an evaluation evaltest drove to a
// report every member signed, on a clock the test moves.
type evaluationServer struct {
	dir      string
	svc      *rooms.Service
	clock    *demoClock
	hs       *httptest.Server
	issuer   *auth.Issuer
	platform *decrypt.PrivateKey
}

func newEvaluationServer(t *testing.T, bids map[string]string) *evaluationServer {
	t.Helper()
	e := &evaluationServer{dir: t.TempDir(), clock: &demoClock{t: time.Now().UTC()}}
	log, err := embedded.Open(filepath.Join(e.dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	e.svc = rooms.NewService(log, e.clock.now)
	bs, err := blobs.Open(filepath.Join(e.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e.platform, _ = decrypt.GenerateKey()
	e.issuer, _ = auth.NewIssuer([]byte(strings.Repeat("s", 32)), nil)
	e.hs = httptest.NewServer(api.NewRouter(api.Deps{
		Svc: e.svc, Issuer: e.issuer, AdminKey: testAdminKey, WS: http.NotFoundHandler(), Blobs: bs, Platform: e.platform,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
	}))
	t.Cleanup(e.hs.Close)
	evaltest.Run(t, e.svc, "ev1", "op1", bids)
	return e
}

// post sends an admin POST without a body.
func (e *evaluationServer) post(path string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, e.hs.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
