// Package client is the bidder's side of the key sign-in over HTTP: fetch
// a challenge, sign it with the private key (which stays in the process),
// post the signature. bidtool signin and Go load tests use it; the browser
// does the same in room.js with the WebAssembly signer.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/signin"
)

// Bidder signs a bidder in to one session over the REST API (GET then POST
// /api/v1/sessions/{id}/signin…).
type Bidder struct {
	Server  string       // base URL, e.g. https://hall.example.cn
	Session string       // the session id
	Token   string       // the bidder's access token
	HTTP    *http.Client // nil: a client with a 30 s timeout
}

// Error is a refusal from the server: {"error":{"code","message"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("server refused (%s): %s", e.Code, e.Message) }

// Code returns the server's error code of err ("" when err is not a refusal).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// SignIn fetches a fresh challenge, checks it is a sign-in challenge for
// c.Session, signs it with key and posts the signature. A challenge that
// expired on the way (a slow link) is replaced once.
func (c *Bidder) SignIn(ctx context.Context, key *decrypt.PrivateKey) (*signin.Result, error) {
	for attempt := 0; ; attempt++ {
		var ch signin.Issued
		if err := c.do(ctx, http.MethodGet, "/signin/challenge", nil, &ch); err != nil {
			return nil, err
		}
		sig, err := signin.Sign(key, ch.Challenge, c.Session, "")
		if err != nil {
			return nil, fmt.Errorf("the server's challenge: %w", err)
		}
		var res signin.Result
		err = c.do(ctx, http.MethodPost, "/signin", map[string]string{"challenge": ch.Challenge, "signature": sig}, &res)
		if Code(err) == "expired_challenge" && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &res, nil
	}
}

func (c *Bidder) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := strings.TrimRight(c.Server, "/") + "/api/v1/sessions/" + url.PathEscape(c.Session) + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: "http", Message: resp.Status}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
	}
	return nil
}
