package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rest talks to the server's admin API.
type rest struct {
	base     string
	adminKey string
	http     *http.Client
}

func newREST(s *server) *rest {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16}
	return &rest{base: s.base, adminKey: s.adminKey, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (r *rest) close() { r.http.CloseIdleConnections() }

// call sends body as JSON and decodes a 2xx answer into out.
func (r *rest) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

type bidderSpec struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// maxBiddersPerCreate is the server's limit on bidders in one create request.
const maxBiddersPerCreate = 5000

// createSession creates the benchmark's room: sign-in open now, the
// deadline an hour away so nothing time-driven happens during the run. In
// bidder mode it registers the viewers as bidders.
func (r *rest) createSession(ctx context.Context, subs []string, bidders bool) (string, error) {
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
	if err := r.call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	for _, s := range rest {
		if err := r.call(ctx, http.MethodPost, "/api/v1/sessions/"+room+"/bidders", bidderSpec{ID: s, Name: "Bidder " + s}, nil); err != nil {
			return "", fmt.Errorf("register bidder %s: %w", s, err)
		}
	}
	return room, nil
}

// waitPhase waits until the room reaches phase (the scheduler opens
// sign-in right after creation).
func (r *rest) waitPhase(ctx context.Context, room, phase string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var out struct {
			State struct {
				Phase string `json:"phase"`
			} `json:"state"`
		}
		if err := r.call(ctx, http.MethodGet, "/api/v1/sessions/"+room, nil, &out); err != nil {
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

// mintTokens mints one token per sub in role, a few requests at a time.
func (r *rest) mintTokens(ctx context.Context, room, role string, subs []string) ([]string, error) {
	tokens := make([]string, len(subs))
	errs := make([]error, len(subs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tokens[i], errs[i] = r.mintToken(ctx, room, role, subs[i])
			}
		}()
	}
	var err error
feed:
	for i := range subs {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for i, e := range errs {
		if e != nil {
			return nil, fmt.Errorf("mint token for %s: %w", subs[i], e)
		}
	}
	return tokens, nil
}

func (r *rest) mintToken(ctx context.Context, room, role, sub string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	req := map[string]string{"room": room, "role": role, "sub": sub, "ttl": "3h"}
	if err := r.call(ctx, http.MethodPost, "/api/v1/tokens", req, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}
