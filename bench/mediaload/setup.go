package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
)

// mediaEnv puts the child's media on a fresh loopback UDP port and turns
// recording off: the disk is not what this measures.
func mediaEnv() (env []string, port int, err error) {
	port, err = loadtool.FreeUDPPort()
	if err != nil {
		return nil, 0, err
	}
	return []string{
		"BIDROOM_MEDIA_ENABLED=true", "BIDROOM_MEDIA_INCLUDE_LOOPBACK=true",
		"BIDROOM_MEDIA_UDP_LISTEN=127.0.0.1:" + strconv.Itoa(port), "BIDROOM_MEDIA_INTERFACES=lo",
		"BIDROOM_MEDIA_RECORD=false",
	}, port, nil
}

// createSession creates the benchmark's room: sign-in open now, the
// deadline an hour away so nothing time-driven happens during the run.
func createSession(ctx context.Context, r *loadtool.REST) (string, error) {
	now := time.Now().UTC().Truncate(time.Second)
	room := "mediaload-" + strconv.FormatInt(now.UnixNano(), 36)
	req := map[string]any{
		"id": room, "title": "mediaload benchmark", "category": "construction",
		"deadline": now.Add(time.Hour), "check_in_at": now,
	}
	if err := r.Call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return room, nil
}
