package loadtool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// REST talks to the server's API with the admin key (or, from As, a token).
type REST struct {
	base   string
	bearer string // the admin key, or a token
	http   *http.Client
}

// NewREST returns a client of s's admin API.
func NewREST(s *Server) *REST {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16}
	return &REST{base: s.Base, bearer: s.AdminKey, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// As is a client of the same server, sharing r's connections, that
// authenticates with token instead of the admin key.
func (r *REST) As(token string) *REST {
	c := *r
	c.bearer = token
	return &c
}

// Close drops idle connections.
func (r *REST) Close() { r.http.CloseIdleConnections() }

// Call sends body as JSON and decodes a 2xx answer into out.
func (r *REST) Call(ctx context.Context, method, path string, body, out any) error {
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
	req.Header.Set("Authorization", "Bearer "+r.bearer)
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

// MintTokens mints one token per sub in role with the grants, a few
// requests at a time.
func (r *REST) MintTokens(ctx context.Context, room, role string, subs []string, grants ...string) ([]string, error) {
	tokens := make([]string, len(subs))
	errs := make([]error, len(subs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tokens[i], errs[i] = r.MintToken(ctx, room, role, subs[i], grants...)
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

// MintToken mints one token for sub in role with the grants.
func (r *REST) MintToken(ctx context.Context, room, role, sub string, grants ...string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	req := map[string]any{"room": room, "role": role, "sub": sub, "ttl": "3h"}
	if len(grants) > 0 {
		req["grants"] = grants
	}
	if err := r.Call(ctx, http.MethodPost, "/api/v1/tokens", req, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}
