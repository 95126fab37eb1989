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

// createSession creates the benchmark's room: sign-in open now, the
// deadline an hour away so nothing time-driven happens during the run.
func (r *rest) createSession(ctx context.Context) (string, error) {
	now := time.Now().UTC().Truncate(time.Second)
	room := "mediaload-" + strconv.FormatInt(now.UnixNano(), 36)
	req := map[string]any{
		"id": room, "title": "mediaload benchmark", "category": "construction",
		"deadline": now.Add(time.Hour), "check_in_at": now,
	}
	if err := r.call(ctx, http.MethodPost, "/api/v1/sessions", req, nil); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return room, nil
}

// mintTokens mints one token per sub in role with grant, a few requests
// at a time.
func (r *rest) mintTokens(ctx context.Context, room, role, grant string, subs []string) ([]string, error) {
	tokens := make([]string, len(subs))
	errs := make([]error, len(subs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tokens[i], errs[i] = r.mintToken(ctx, room, role, grant, subs[i])
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

func (r *rest) mintToken(ctx context.Context, room, role, grant, sub string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	req := map[string]any{"room": room, "role": role, "sub": sub, "grants": []string{grant}, "ttl": "3h"}
	if err := r.call(ctx, http.MethodPost, "/api/v1/tokens", req, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}
