// Package bidclient is a bidder's client of the Bidroom REST API: upload a
// sealed bid (resumable), sign in with the key, unlock the bid in the
// decryption window and confirm the read-out with a signature. The private
// key never leaves the process. It holds no files, flags or progress bars:
// bidtool and the load tools (bench/openload) wrap it; the browser does the
// same steps in room.js with unlock.wasm.
package bidclient

import (
	"bytes"
	"context"
	"encoding/base64"
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
	signinclient "github.com/bidroom/bidroom/signin/client"
)

// Client is one bidder's connection to one session.
type Client struct {
	Server  string       // base URL, e.g. https://hall.example.cn
	Session string       // the session id
	Token   string       // the bidder's access token
	HTTP    *http.Client // nil: http.DefaultClient (no overall timeout: uploads may be large; bound calls with ctx)
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

// ErrWrongKey is an unlock with a key that does not unwrap the bid's data key.
var ErrWrongKey = errors.New("this key does not unwrap the bid's data key")

// DefaultPartSize is how much one PATCH of an upload carries.
const DefaultPartSize = 8 << 20

// UploadOptions tune Upload; the zero value is fine.
type UploadOptions struct {
	PartSize    int64 // default DefaultPartSize
	MaxFailures int   // consecutive failed parts before giving up; default 5
	// Part, if set, wraps each part's reader (bidtool draws progress); done
	// is called once the part was sent, whatever the outcome.
	Part func(part io.Reader, off, n, size int64) (r io.Reader, done func())
	// Retrying, if set, hears of each interrupted part before it is resumed.
	Retrying func(off int64, err error)
	// Backoff is the wait before resuming after the nth failure in a row;
	// default n seconds.
	Backoff func(n int) time.Duration
}

// Upload sends a sealed bid of size bytes in parts, resuming from the
// server's offset after an interruption, and returns the platform's signed
// receipt (回执) as the server sent it.
func (c *Client) Upload(ctx context.Context, bid io.ReaderAt, size int64, opt *UploadOptions) (json.RawMessage, error) {
	var o UploadOptions
	if opt != nil {
		o = *opt
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.Backoff == nil {
		o.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Second }
	}
	var up struct {
		UploadID string `json:"upload_id"`
		Offset   int64  `json:"offset"`
	}
	if err := c.do(ctx, http.MethodPost, "/bids/uploads", jsonBody(map[string]int64{"size": size}), nil, &up); err != nil {
		return nil, err
	}
	off, failures := up.Offset, 0
	for off < size {
		n := min(o.PartSize, size-off)
		var part io.Reader = io.NewSectionReader(bid, off, n)
		done := func() {}
		if o.Part != nil {
			part, done = o.Part(part, off, n, size)
		}
		var res struct {
			Offset int64 `json:"offset"`
		}
		err := c.do(ctx, http.MethodPatch, "/bids/uploads/"+up.UploadID, part, map[string]string{"Upload-Offset": fmt.Sprint(off)}, &res)
		done()
		if err == nil {
			off, failures = res.Offset, 0
			continue
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if code := Code(err); code != "" && code != "interrupted" && code != "offset_mismatch" {
			return nil, err // refused for good (deadline passed, too large …)
		}
		if failures++; failures > o.MaxFailures {
			return nil, fmt.Errorf("upload keeps failing at byte %d: %w", off, err)
		}
		if o.Retrying != nil {
			o.Retrying(off, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Backoff(failures)):
		}
		if err := c.do(ctx, http.MethodGet, "/bids/uploads/"+up.UploadID, nil, nil, &res); err != nil {
			return nil, err
		}
		off = res.Offset
	}
	var receipt json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/bids/uploads/"+up.UploadID+"/complete", nil, nil, &receipt); err != nil {
		return nil, err
	}
	return receipt, nil
}

// SignIn signs the bidder in to the opening room with key (签到): the
// server's challenge is signed here (signin/client does the exchange).
func (c *Client) SignIn(ctx context.Context, key *decrypt.PrivateKey) (*signin.Result, error) {
	b := signinclient.Bidder{Server: c.Server, Session: c.Session, Token: c.Token, HTTP: c.HTTP}
	res, err := b.SignIn(ctx, key)
	var se *signinclient.Error
	if errors.As(err, &se) {
		return nil, &Error{Status: se.Status, Code: se.Code, Message: se.Message}
	}
	return res, err
}

// Unlocked is the server's answer to a successful unlock.
type Unlocked struct {
	Opened          bool              `json:"opened"`
	Sheet           map[string]string `json:"sheet"` // the opening sheet as sealed
	PlaintextDigest string            `json:"plaintext_digest"`
	PlaintextSize   int64             `json:"plaintext_size"`
	Duplicate       bool              `json:"duplicate,omitempty"` // it was unlocked before
}

// Unlock answers the server's unlock challenge in the decryption window:
// the data key is unwrapped here with key and sent back encrypted to the
// session's platform key; the server then decrypts and verifies the bid.
func (c *Client) Unlock(ctx context.Context, key *decrypt.PrivateKey) (*Unlocked, error) {
	var ch struct {
		WrappedKey  string `json:"wrapped_key"`
		PlatformKey string `json:"platform_key"`
	}
	if err := c.do(ctx, http.MethodGet, "/bids/mine/unlock", nil, nil, &ch); err != nil {
		return nil, err
	}
	wrapped, err := base64.StdEncoding.DecodeString(ch.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("server sent a malformed wrapped key: %w", err)
	}
	dk, err := key.Decrypt(wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w (%v): use the key the bid was sealed to", ErrWrongKey, err)
	}
	platform, err := decrypt.ParsePublicKeyPEM([]byte(ch.PlatformKey))
	if err != nil {
		return nil, fmt.Errorf("server sent a malformed platform key: %w", err)
	}
	ct, err := platform.Encrypt(dk)
	if err != nil {
		return nil, err
	}
	var res Unlocked
	body := jsonBody(map[string]string{"encrypted_key": base64.StdEncoding.EncodeToString(ct)})
	if err := c.do(ctx, http.MethodPost, "/bids/mine/unlock", body, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Confirmed is the server's answer to a signed confirmation.
type Confirmed struct {
	Confirmed bool   `json:"confirmed"`
	Digest    string `json:"digest"` // the read-out's SM3 that was signed
}

// Confirm confirms the read-out (R14): it fetches the text naming the
// session, the bidder and the read-out's digest, signs it with key and
// posts the signature.
func (c *Client) Confirm(ctx context.Context, key *decrypt.PrivateKey) (*Confirmed, error) {
	var ch struct {
		Message string `json:"message"`
		Digest  string `json:"digest"`
	}
	if err := c.do(ctx, http.MethodGet, "/confirm/challenge", nil, nil, &ch); err != nil {
		return nil, err
	}
	if !strings.Contains(ch.Message, c.Session) || !strings.Contains(ch.Message, ch.Digest) {
		return nil, fmt.Errorf("the server's confirmation text %q does not name session %s and digest %s", ch.Message, c.Session, ch.Digest)
	}
	sig, err := key.Sign([]byte(ch.Message))
	if err != nil {
		return nil, err
	}
	var res Confirmed
	body := jsonBody(map[string]string{"signature": base64.StdEncoding.EncodeToString(sig)})
	if err := c.do(ctx, http.MethodPost, "/confirm", body, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// do sends a request under /api/v1/sessions/{session}/ and decodes a 2xx
// JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string, out any) error {
	u := strings.TrimRight(c.Server, "/") + "/api/v1/sessions/" + url.PathEscape(c.Session) + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if method == http.MethodPost && body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
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
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
		}
	}
	return nil
}
