package main

import (
	"context"
	"fmt"
	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"net/http"
	"strconv"
	"time"
)

type bidderSpec struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// maxBiddersPerCreate is the server's limit on bidders in one create request.
const maxBiddersPerCreate = 5000

// createSession creates the benchmark's room: sign-in open now, the
// deadline an hour away so nothing time-driven happens during the run. In
// bidder mode it registers the viewers as bidders.
func createSession(ctx context.Context, r *loadtool.REST, subs []string, bidders bool) (string, error) {
	now := time.Now().UTC().Truncate(time.Second)
	room := "wsload-" + strconv.FormatInt(now.Unix(), 10)
	req := map[string]any{
		"id": room, "title": "wsload benchmark", "category": "construction",
		"deadline": now.Add(time.Hour), "check_in_at": now,
	}
	var rest []string
	if bidders {
		first := subs[:min(len(subs), maxBiddersPerCreate)]
		rest = subs[len(first):]
		specs := make([]bidderSpec, len(first))
		for i, s := range first {
			specs[i] = bidderSpec{ID: s, Name: "Bidder " + s}
		}
		req["bidders"] = specs
	}
	// The answer carries the whole state (every bidder): discard it.
	if err := r.Call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	for _, s := range rest {
		if err := r.Call(ctx, http.MethodPost, "/api/v1/sessions/"+room+"/bidders", bidderSpec{ID: s, Name: "Bidder " + s}, nil); err != nil {
			return "", fmt.Errorf("register bidder %s: %w", s, err)
		}
	}
	return room, nil
}

// waitPhase waits until the room reaches phase (the scheduler opens
// sign-in right after creation).
func waitPhase(ctx context.Context, r *loadtool.REST, room, phase string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var out struct {
			State struct {
				Phase string `json:"phase"`
			} `json:"state"`
		}
		if err := r.Call(ctx, http.MethodGet, "/api/v1/sessions/"+room, nil, &out); err != nil {
			return err
		}
		if out.State.Phase == phase {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("room %s still in phase %q after %v, want %q", room, out.State.Phase, timeout, phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
