package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/signin/client"
)

// server talks to a Bidroom server's REST API with a bidder's token.
type server struct {
	base, session, token string
	http                 *http.Client
}

// serverFlags adds --server, --session and --token-file to fs and returns
// the function that connects with them once fs is parsed.
func serverFlags(fs *flag.FlagSet) func() (*server, error) {
	base := fs.String("server", "", "Bidroom server URL, e.g. https://hall.example.cn")
	session := fs.String("session", "", "opening session id")
	tokenFile := fs.String("token-file", "", "file holding your access token (or set BIDROOM_TOKEN)")
	return func() (*server, error) { return newServer(*base, *session, *tokenFile) }
}

func newServer(base, session, tokenFile string) (*server, error) {
	if base == "" || session == "" {
		return nil, errors.New("--server and --session are required")
	}
	tok := os.Getenv("BIDROOM_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		return nil, errors.New("give the access token with --token-file or BIDROOM_TOKEN")
	}
	return &server{base: strings.TrimRight(base, "/"), session: session, token: tok, http: &http.Client{Timeout: 0}}, nil
}

// apiError is the server's {"error":{"code","message"}}.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("server: %s (%s)", e.Message, e.Code) }

// do sends a request under /api/v1/sessions/{session}/ and decodes the JSON answer into out.
func (s *server) do(method, path string, body io.Reader, hdr map[string]string, out any) error {
	req, err := http.NewRequest(method, s.base+"/api/v1/sessions/"+s.session+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
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
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return &apiError{Status: resp.StatusCode, Code: "http", Message: resp.Status}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// submitPart is how much one PATCH carries; an interrupted part is resumed
// from the server's offset.
const submitPart = 8 << 20

// submit uploads a sealed bid, resuming after interruptions, and prints
// the platform's signed receipt.
func submit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("submit", stderr)
	connect := serverFlags(fs)
	in := fs.String("in", "", "sealed bid")
	receiptOut := fs.String("receipt-out", "", "also write the receipt to this file")
	quiet := fs.Bool("quiet", false, "no progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"in": *in}); err != nil {
		return err
	}
	srv, err := connect()
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var up struct {
		UploadID string `json:"upload_id"`
		Offset   int64  `json:"offset"`
	}
	if err := srv.do("POST", "/bids/uploads", jsonBody(map[string]int64{"size": st.Size()}), nil, &up); err != nil {
		return err
	}
	off, failures := int64(0), 0
	for off < st.Size() {
		n := min(submitPart, st.Size()-off)
		part := newProgress(io.NewSectionReader(f, off, n), n, fmt.Sprintf("uploading %d–%d of %d bytes", off, off+n, st.Size()), stderr, *quiet)
		var res struct {
			Offset int64 `json:"offset"`
		}
		err := srv.do("PATCH", "/bids/uploads/"+up.UploadID, part, map[string]string{"Upload-Offset": fmt.Sprint(off)}, &res)
		part.done()
		if err == nil {
			off, failures = res.Offset, 0
			continue
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Code != "interrupted" && ae.Code != "offset_mismatch" {
			return err // refused for good (deadline passed, too large …)
		}
		if failures++; failures > 5 {
			return fmt.Errorf("upload keeps failing at byte %d: %w", off, err)
		}
		fmt.Fprintf(stderr, "upload interrupted (%v); resuming\n", err)
		time.Sleep(time.Duration(failures) * time.Second)
		if err := srv.do("GET", "/bids/uploads/"+up.UploadID, nil, nil, &res); err != nil {
			return err
		}
		off = res.Offset
	}
	var receipt json.RawMessage
	if err := srv.do("POST", "/bids/uploads/"+up.UploadID+"/complete", nil, nil, &receipt); err != nil {
		return err
	}
	if *receiptOut != "" {
		if err := os.WriteFile(*receiptOut, receipt, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s\n", receipt)
	return nil
}

// unlock answers the server's unlock challenge: the data key is unwrapped
// here with the private key, which never leaves this machine, and sent
// back encrypted to the platform key.
func unlock(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unlock", stderr)
	connect := serverFlags(fs)
	keyFile := fs.String("key", "", "your SM2 private key (PEM) the bid was sealed to")
	passFile := fs.String("pass-file", "", "file holding the key's password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"key": *keyFile}); err != nil {
		return err
	}
	srv, err := connect()
	if err != nil {
		return err
	}
	key, err := loadPrivate(*keyFile, *passFile)
	if err != nil {
		return err
	}
	var ch struct {
		WrappedKey  string `json:"wrapped_key"`
		PlatformKey string `json:"platform_key"`
	}
	if err := srv.do("GET", "/bids/mine/unlock", nil, nil, &ch); err != nil {
		return err
	}
	wrapped, err := base64.StdEncoding.DecodeString(ch.WrappedKey)
	if err != nil {
		return fmt.Errorf("server sent a malformed wrapped key: %w", err)
	}
	dk, err := key.Decrypt(wrapped)
	if err != nil {
		return fmt.Errorf("this key does not unwrap the bid's data key (%w): use the key the bid was sealed to", err)
	}
	platform, err := decrypt.ParsePublicKeyPEM([]byte(ch.PlatformKey))
	if err != nil {
		return fmt.Errorf("server sent a malformed platform key: %w", err)
	}
	ct, err := platform.Encrypt(dk)
	if err != nil {
		return err
	}
	var res struct {
		Sheet map[string]string `json:"sheet"`
	}
	if err := srv.do("POST", "/bids/mine/unlock", jsonBody(map[string]string{"encrypted_key": base64.StdEncoding.EncodeToString(ct)}), nil, &res); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "bid unlocked; the opening sheet as sealed:")
	out, _ := json.MarshalIndent(res.Sheet, "", "  ")
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}

// signIn signs the bidder in with their key: the server's challenge is
// signed here, so the private key never leaves this machine.
func signIn(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("signin", stderr)
	connect := serverFlags(fs)
	keyFile := fs.String("key", "", "your SM2 private key (PEM) whose public key the center registered")
	passFile := fs.String("pass-file", "", "file holding the key's password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"key": *keyFile}); err != nil {
		return err
	}
	srv, err := connect()
	if err != nil {
		return err
	}
	key, err := loadPrivate(*keyFile, *passFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := client.Bidder{Server: srv.base, Session: srv.session, Token: srv.token}
	res, err := b.SignIn(ctx, key)
	if client.Code(err) == "bad_signature" {
		return fmt.Errorf("%w\n(%s is not the key registered for you: use the one whose public key the center has)", err, *keyFile)
	}
	if err != nil {
		return err
	}
	if res.Duplicate {
		fmt.Fprintf(stdout, "already signed in to %s (key %s)\n", srv.session, res.KeyID)
		return nil
	}
	fmt.Fprintf(stdout, "signed in to %s with key %s at %s\n", srv.session, res.KeyID, res.SignedAt.Format(time.RFC3339))
	return nil
}
