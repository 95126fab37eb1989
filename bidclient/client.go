// Package bidclient is a bidder's client of the Bidroom REST API: upload a
// sealed bid (resumable, optionally committing a backup copy's digest), sign
// in with the key, unlock the bid in the decryption window (or, after a
// failure, upload and unlock the backup copy: R10) and confirm the read-out
// with a signature. The private
// key never leaves the process. It holds no files, flags or progress bars:
// bidtool and the load tools (bench/openload) wrap it; the browser does the
// same steps in room.js with unlock.wasm.
package bidclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm3"

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
	// BackupDigest, if set, commits the SM3 (hex) of the separately sealed
	// backup copy with the bid (R10): only a file with this digest is
	// accepted later as the backup. Digest computes it. Upload only.
	BackupDigest string
}

// Digest returns the SM3 of r in hex, as the server names files.
func Digest(r io.Reader) (string, error) {
	h := sm3.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Upload sends a sealed bid of size bytes in parts, resuming from the
// server's offset after an interruption, and returns the platform's signed
// receipt (回执) as the server sent it.
func (c *Client) Upload(ctx context.Context, bid io.ReaderAt, size int64, opt *UploadOptions) (json.RawMessage, error) {
	var complete io.Reader
	if opt != nil && opt.BackupDigest != "" {
		complete = jsonBody(map[string]string{"backup_digest": opt.BackupDigest})
	}
	offset := func(ctx context.Context, id string, _ int64) (int64, error) {
		var res struct {
			Offset int64 `json:"offset"`
		}
		err := c.do(ctx, http.MethodGet, "/bids/uploads/"+id, nil, nil, &res)
		return res.Offset, err
	}
	var receipt json.RawMessage
	if err := c.upload(ctx, "/bids/uploads", bid, size, opt, offset, complete, &receipt); err != nil {
		return nil, err
	}
	return receipt, nil
}

// BackupAccepted is the server's answer to a completed backup upload.
type BackupAccepted struct {
	Accepted bool   `json:"accepted"`
	Digest   string `json:"digest"` // SM3 of the file, the one committed with the bid
	Size     int64  `json:"size"`
}

// UploadBackup sends the backup copy of the bid (R10) in the decryption
// window, after an unlock of the bid failed, resuming like Upload. The
// server accepts it only if its SM3 is the digest committed with the bid
// (code backup_mismatch otherwise); UnlockBackup then unlocks it.
func (c *Client) UploadBackup(ctx context.Context, backup io.ReaderAt, size int64, opt *UploadOptions) (*BackupAccepted, error) {
	const base = "/bids/mine/backup/uploads"
	// The backup channel has no GET for an upload's offset: an empty part
	// at the offset the client holds answers it (200 when it is right,
	// offset_mismatch naming the server's offset otherwise).
	offset := func(ctx context.Context, id string, off int64) (int64, error) {
		var res struct {
			Offset int64 `json:"offset"`
		}
		err := c.do(ctx, http.MethodPatch, base+"/"+id, http.NoBody, map[string]string{"Upload-Offset": fmt.Sprint(off)}, &res)
		if err == nil {
			return res.Offset, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Code == "offset_mismatch" {
			var n int64
			if _, serr := fmt.Sscanf(e.Message, "the server has %d bytes", &n); serr == nil {
				return n, nil
			}
		}
		return 0, err
	}
	var res BackupAccepted
	if err := c.upload(ctx, base, backup, size, opt, offset, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// upload runs the resumable upload protocol under base: create with the
// size, PATCH parts at Upload-Offset, ask offset where to resume after an
// interruption, and complete (with complete as the body, if any) into out.
func (c *Client) upload(ctx context.Context, base string, file io.ReaderAt, size int64, opt *UploadOptions,
	offset func(ctx context.Context, id string, off int64) (int64, error), complete io.Reader, out any) error {
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
	if err := c.do(ctx, http.MethodPost, base, jsonBody(map[string]int64{"size": size}), nil, &up); err != nil {
		return err
	}
	off, failures := up.Offset, 0
	for off < size {
		n := min(o.PartSize, size-off)
		var part io.Reader = io.NewSectionReader(file, off, n)
		done := func() {}
		if o.Part != nil {
			part, done = o.Part(part, off, n, size)
		}
		var res struct {
			Offset int64 `json:"offset"`
		}
		err := c.do(ctx, http.MethodPatch, base+"/"+up.UploadID, part, map[string]string{"Upload-Offset": fmt.Sprint(off)}, &res)
		done()
		if err == nil {
			off, failures = res.Offset, 0
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		if code := Code(err); code != "" && code != "interrupted" && code != "offset_mismatch" {
			return err // refused for good (deadline passed, too large …)
		}
		if failures++; failures > o.MaxFailures {
			return fmt.Errorf("upload keeps failing at byte %d: %w", off, err)
		}
		if o.Retrying != nil {
			o.Retrying(off, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Backoff(failures)):
		}
		if off, err = offset(ctx, up.UploadID, off); err != nil {
			return err
		}
	}
	return c.do(ctx, http.MethodPost, base+"/"+up.UploadID+"/complete", complete, nil, out)
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
// A key that does not unwrap the data key (ErrWrongKey) is reported to the
// server, as the bidder's page does, so the attempt is on record (R9) and
// the backup channel opens where the session allows it (R10).
func (c *Client) Unlock(ctx context.Context, key *decrypt.PrivateKey) (*Unlocked, error) {
	return c.unlock(ctx, key, false)
}

// UnlockBackup unlocks the backup copy uploaded with UploadBackup, the same
// way as Unlock; the attempt is recorded as a backup unlock.
func (c *Client) UnlockBackup(ctx context.Context, key *decrypt.PrivateKey) (*Unlocked, error) {
	return c.unlock(ctx, key, true)
}

func (c *Client) unlock(ctx context.Context, key *decrypt.PrivateKey, backup bool) (*Unlocked, error) {
	path := "/bids/mine/unlock"
	query := ""
	if backup {
		query = "?backup=1"
	}
	var ch struct {
		WrappedKey  string `json:"wrapped_key"`
		PlatformKey string `json:"platform_key"`
		Opened      bool   `json:"opened"`
	}
	if err := c.do(ctx, http.MethodGet, path+query, nil, nil, &ch); err != nil {
		return nil, err
	}
	wrapped, err := base64.StdEncoding.DecodeString(ch.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("server sent a malformed wrapped key: %w", err)
	}
	dk, err := key.Decrypt(wrapped)
	if err != nil {
		if !ch.Opened {
			// Best effort: the bidder's answer does not depend on it.
			_ = c.ReportUnlockFailure(ctx, "wrong_key", err.Error())
		}
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
	req := map[string]any{"encrypted_key": base64.StdEncoding.EncodeToString(ct)}
	if backup {
		req["backup"] = true
	}
	if err := c.do(ctx, http.MethodPost, path, jsonBody(req), nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ReportUnlockFailure records a failed unlock that happened here, before
// anything reached the server (code: wrong_key, bad_key, wrong_password,
// timeout or client_error), as evidence for classifying the bid (R9).
func (c *Client) ReportUnlockFailure(ctx context.Context, code, message string) error {
	if m := []rune(message); len(m) > 300 {
		message = string(m[:300])
	}
	return c.do(ctx, http.MethodPost, "/bids/mine/unlock/failure", jsonBody(map[string]string{"code": code, "message": message}), nil, nil)
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
