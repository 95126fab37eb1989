//go:build wsprofile

package main

// A heap profile of the server's idle connections, for finding where the
// bytes per connection go (the server has no pprof endpoint). It wires the
// server in-process like `bidroom serve` does, so it is behind a build tag:
// it follows the server's constructors, which change more often than the
// benchmark.
//
//	WSLOAD_PROFILE_N=2000 go test -tags wsprofile -run TestProfileIdleConnections -v ./bench/wsload
//	go tool pprof -sample_index=inuse_space -top -focus='http.\(\*conn\).serve|http.\(\*Server\).Serve' $TMP/wsload-heap.pprof

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
	"github.com/bidroom/bidroom/store/embedded"
)

func TestProfileIdleConnections(t *testing.T) {
	n := 2000
	if s := os.Getenv("WSLOAD_PROFILE_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	runtime.MemProfileRate = 512
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	svc := rooms.NewService(log, nil)
	issuer, err := auth.NewIssuer([]byte("0123456789abcdef0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := signaling.New(svc, issuer, signaling.Config{}, logger, nil)
	router := api.NewRouter(api.Deps{Svc: svc, Issuer: issuer, AdminKey: "admin-key-admin-key", WS: ws, Logger: logger,
		Ready: func(context.Context) error { return nil }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: router}
	go srv.Serve(ln)
	defer srv.Close()
	defer ws.Close(ctx)

	now := time.Now().UTC()
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "profile", Category: "construction", Deadline: now.Add(time.Hour), CheckInAt: now})
	admin := rooms.Actor{Sub: "admin", Role: rooms.RoleAdmin}
	if _, err := svc.Execute(ctx, "prof", admin, rooms.Command{ID: "create", Type: rooms.CmdCreateSession, Data: spec}); err != nil {
		t.Fatal(err)
	}

	r := &runner{ctx: ctx, dialer: newDialer(), wsURLs: []string{"ws://" + ln.Addr().String() + "/ws?room=prof"}}
	r.host = &host{}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range n {
		tok, _, err := issuer.Mint(auth.Request{Room: "prof", Role: rooms.RoleSupervisor, Sub: "v-" + strconv.Itoa(i), TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		v := &viewer{r: r, sub: "v", token: tok}
		r.viewers = append(r.viewers, v)
		r.wg.Add(1)
		go func() { defer r.wg.Done(); v.run(cctx) }()
	}
	for deadline := time.Now().Add(60 * time.Second); r.joined.Load() < int64(n); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connected", r.joined.Load(), n)
		}
	}
	time.Sleep(time.Second)
	runtime.GC()
	runtime.GC()
	path := filepath.Join(os.TempDir(), "wsload-heap.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Logf("%d connections; heap profile in %s", n, path)
	cancel()
	r.closeAll()
	r.wg.Wait()
}
