package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bidroom/bidroom/bidclient"
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

// client is the bidder's REST client for this server and session.
func (s *server) client() *bidclient.Client {
	return &bidclient.Client{Server: s.base, Session: s.session, Token: s.token, HTTP: s.http}
}

// submit uploads a sealed bid, resuming after interruptions, and prints
// the platform's signed receipt. With --backup it commits the backup copy's
// SM3 with the bid (R10).
func submit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("submit", stderr)
	connect := serverFlags(fs)
	in := fs.String("in", "", "sealed bid")
	backup := fs.String("backup", "", "the backup copy sealed with the bid (seal --backup): commit its SM3 with the bid")
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
	opts := uploadOptions(stderr, *quiet)
	if *backup != "" {
		if opts.BackupDigest, err = fileDigest(*backup); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	receipt, err := srv.client().Upload(context.Background(), f, st.Size(), opts)
	if err != nil {
		return err
	}
	if *backup != "" {
		fmt.Fprintf(stderr, "backup %s committed with the bid (SM3 %s): keep it unchanged; only this file is accepted as the backup\n", *backup, opts.BackupDigest)
	}
	if *receiptOut != "" {
		if err := os.WriteFile(*receiptOut, receipt, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s\n", receipt)
	return nil
}

// uploadOptions shows progress of large parts and interruptions on stderr.
func uploadOptions(stderr io.Writer, quiet bool) *bidclient.UploadOptions {
	return &bidclient.UploadOptions{
		Part: func(part io.Reader, off, n, size int64) (io.Reader, func()) {
			p := newProgress(part, n, fmt.Sprintf("uploading %d–%d of %d bytes", off, off+n, size), stderr, quiet)
			return p, p.done
		},
		Retrying: func(_ int64, err error) { fmt.Fprintf(stderr, "upload interrupted (%v); resuming\n", err) },
	}
}

// fileDigest is the SM3 of the file at path, hex.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return bidclient.Digest(f)
}

// backupCmd uploads the backup copy of the bid in the decryption window,
// after an unlock of the bid failed (R10), resuming after interruptions.
func backupCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	connect := serverFlags(fs)
	in := fs.String("in", "", "the backup copy sealed with the bid (seal --backup)")
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
	res, err := srv.client().UploadBackup(context.Background(), f, st.Size(), uploadOptions(stderr, *quiet))
	switch bidclient.Code(err) {
	case "backup_mismatch":
		return fmt.Errorf("%w\n(%s is not the backup whose SM3 was committed with the bid: upload the file seal --backup wrote)", err, *in)
	case "wrong_state":
		return fmt.Errorf("%w\n(the backup is taken only in the decryption window, after an unlock of the bid failed)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup accepted: SM3 %s (%d bytes); now run bidtool unlock --backup\n", res.Digest, res.Size)
	return nil
}

// unlock answers the server's unlock challenge: the data key is unwrapped
// here with the private key, which never leaves this machine, and sent
// back encrypted to the platform key. With --backup it unlocks the backup
// copy uploaded with bidtool backup.
func unlock(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unlock", stderr)
	connect := serverFlags(fs)
	keyFile := fs.String("key", "", "your SM2 private key (PEM) the bid was sealed to")
	passFile := fs.String("pass-file", "", "file holding the key's password")
	backup := fs.Bool("backup", false, "unlock the backup copy uploaded with bidtool backup (R10)")
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
	unlockFn, what := srv.client().Unlock, "bid"
	if *backup {
		unlockFn, what = srv.client().UnlockBackup, "backup copy of the bid"
	}
	res, err := unlockFn(context.Background(), key)
	if bidclient.Code(err) == "no_backup" {
		return fmt.Errorf("%w\n(upload it first: bidtool backup --in FILE)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s unlocked; the opening sheet as sealed:\n", what)
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
	res, err := srv.client().SignIn(ctx, key)
	if bidclient.Code(err) == "bad_signature" {
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
