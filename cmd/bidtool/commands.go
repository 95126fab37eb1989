package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bidroom/bidroom/decrypt"
)

// newFlags returns a flag set that reports errors to stderr and does not exit.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bidtool "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// required returns an error naming the first empty flag.
func required(flags map[string]string) error {
	for _, name := range []string{"in", "out", "key", "sheet", "session", "bidder", "signer"} {
		if v, ok := flags[name]; ok && v == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	return nil
}

func readPassword(file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("password file %s is empty", file)
	}
	return b, nil
}

func loadPrivate(file, passFile string) (*decrypt.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(passFile)
	if err != nil {
		return nil, err
	}
	k, err := decrypt.ParsePrivateKeyPEM(b, pw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

func loadPublic(file string) (*decrypt.PublicKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k, err := decrypt.ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

// writeAtomic writes to a temporary file next to path and renames it into
// place only if write succeeds, so a failed seal or open leaves nothing
// (in particular no unverified plaintext) under path. A path that exists and
// is not a regular file (a device, a pipe) is written directly: whatever
// reached it is valid only if the command succeeds.
func writeAtomic(path string, mode os.FileMode, write func(io.Writer) error) error {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", stderr)
	out := fs.String("out", "", "path prefix: writes PREFIX.key.pem and PREFIX.pub.pem")
	passFile := fs.String("pass-file", "", "encrypt the private key with the password in this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"out": *out}); err != nil {
		return err
	}
	pw, err := readPassword(*passFile)
	if err != nil {
		return err
	}
	k, err := decrypt.GenerateKey()
	if err != nil {
		return err
	}
	priv, err := k.MarshalPEM(pw)
	if err != nil {
		return err
	}
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		return err
	}
	for _, p := range []string{*out + ".key.pem", *out + ".pub.pem"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; not overwriting a key", p)
		}
	}
	if err := writeAtomic(*out+".key.pem", 0o600, func(w io.Writer) error { _, err := w.Write(priv); return err }); err != nil {
		return err
	}
	if err := writeAtomic(*out+".pub.pem", 0o644, func(w io.Writer) error { _, err := w.Write(pub); return err }); err != nil {
		return err
	}
	id := k.Public().ID()
	fmt.Fprintf(stdout, "wrote %s.key.pem and %s.pub.pem (key id %s)\n", *out, *out, hex.EncodeToString(id[:]))
	return nil
}

func sealCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("seal", stderr)
	in := fs.String("in", "", "bid file to seal")
	sheetFile := fs.String("sheet", "", "opening sheet, a flat JSON object of strings")
	keyFile := fs.String("key", "", "bidder's SM2 private key (PEM)")
	passFile := fs.String("pass-file", "", "password of an encrypted private key")
	recipient := fs.String("recipient", "", "wrap the data key to this public key or certificate instead of --key's")
	session := fs.String("session", "", "opening session id")
	bidder := fs.String("bidder", "", "bidder id")
	chunk := fs.Int("chunk", decrypt.DefaultChunkSize, "chunk size in bytes")
	out := fs.String("out", "", "sealed bid to write")
	backup := fs.String("backup", "", "also seal a separate backup copy here (R10: its SM3 is committed with the bid)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *backup != "" && *backup == *out {
		return errors.New("--backup must be another file than --out")
	}
	if err := required(map[string]string{"in": *in, "sheet": *sheetFile, "key": *keyFile,
		"session": *session, "bidder": *bidder, "out": *out}); err != nil {
		return err
	}
	key, err := loadPrivate(*keyFile, *passFile)
	if err != nil {
		return err
	}
	opts := decrypt.SealOptions{SessionID: *session, BidderID: *bidder, Signer: key, ChunkSize: *chunk}
	if *recipient != "" {
		if opts.Recipient, err = loadPublic(*recipient); err != nil {
			return err
		}
	}
	sb, err := os.ReadFile(*sheetFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(sb, &opts.Sheet); err != nil {
		return fmt.Errorf("%s: %w", *sheetFile, err)
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
	opts.Size = st.Size()
	for _, dest := range []string{*out, *backup} {
		if dest == "" {
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var sum *decrypt.Summary
		err = writeAtomic(dest, 0o644, func(w io.Writer) error {
			r := newProgress(f, opts.Size, "sealing "+dest, stderr, *quiet)
			var err error
			sum, err = decrypt.Seal(w, r, opts) // a fresh data key each time: the backup is its own file
			r.done()
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sealed %s → %s (%d bytes)\ndigest SM3 %s\n", *in, dest, sum.Length, hex.EncodeToString(sum.Digest[:]))
	}
	return nil
}

// inspectJSON is the --json output of inspect: every header field.
type inspectJSON struct {
	Version           int       `json:"version"`
	SessionID         string    `json:"session_id"`
	BidderID          string    `json:"bidder_id"`
	Created           time.Time `json:"created"`
	ChunkSize         int       `json:"chunk_size"`
	Size              int64     `json:"size"`
	Chunks            int64     `json:"chunks"`
	SheetSize         int       `json:"sheet_size"`
	SignerKeyID       string    `json:"signer_key_id"`
	RecipientKeyID    string    `json:"recipient_key_id"`
	WrappedKey        string    `json:"wrapped_key"`
	KeyCommitment     string    `json:"key_commitment"`
	NoncePrefix       string    `json:"nonce_prefix"`
	HeaderDigest      string    `json:"header_digest"`
	Digest            string    `json:"digest,omitempty"`
	Signature         string    `json:"signature,omitempty"`
	Length            int64     `json:"length,omitempty"`
	SignatureVerified bool      `json:"signature_verified"`
}

func inspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", stderr)
	in := fs.String("in", "", "sealed bid")
	signerFile := fs.String("signer", "", "bidder's public key or certificate: check the signature")
	asJSON := fs.Bool("json", false, "print every field as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"in": *in}); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()

	var h *decrypt.Header
	var sum *decrypt.Summary
	if *signerFile != "" {
		signer, err := loadPublic(*signerFile)
		if err != nil {
			return err
		}
		if sum, err = decrypt.Inspect(f, signer); err != nil {
			return err
		}
		h = sum.Header
	} else if h, err = decrypt.ReadHeader(f); err != nil {
		return err
	}

	hd := h.Digest()
	j := inspectJSON{
		Version: decrypt.Version, SessionID: h.SessionID, BidderID: h.BidderID, Created: h.Created,
		ChunkSize: h.ChunkSize, Size: h.Size, Chunks: h.Chunks(), SheetSize: h.SheetSize,
		SignerKeyID: hex.EncodeToString(h.SignerKey[:]), RecipientKeyID: hex.EncodeToString(h.RecipientKey[:]),
		WrappedKey:    base64.StdEncoding.EncodeToString(h.WrappedKey),
		KeyCommitment: hex.EncodeToString(h.KeyCommit[:]), NoncePrefix: hex.EncodeToString(h.NoncePrefix[:]),
		HeaderDigest: hex.EncodeToString(hd[:]),
	}
	if sum != nil {
		j.Digest = hex.EncodeToString(sum.Digest[:])
		j.Signature = base64.StdEncoding.EncodeToString(sum.Signature)
		j.Length = sum.Length
		j.SignatureVerified = true
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	fmt.Fprintf(stdout, "session     %s\nbidder      %s\ncreated     %s\nsize        %d bytes in %d chunks of %d\n",
		j.SessionID, j.BidderID, j.Created.Format(time.RFC3339), j.Size, j.Chunks, j.ChunkSize)
	fmt.Fprintf(stdout, "signer key  %s\nrecipient   %s\n", j.SignerKeyID, j.RecipientKeyID)
	if sum == nil {
		fmt.Fprintln(stdout, "signature   not checked (no --signer)")
		return nil
	}
	fmt.Fprintf(stdout, "digest SM3  %s\nsignature   valid (%d bytes total)\n", j.Digest, j.Length)
	return nil
}

func openCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("open", stderr)
	in := fs.String("in", "", "sealed bid")
	keyFile := fs.String("key", "", "recipient's SM2 private key (PEM)")
	passFile := fs.String("pass-file", "", "password of an encrypted private key")
	signerFile := fs.String("signer", "", "bidder's public key or certificate")
	out := fs.String("out", "", "where to write the decrypted file")
	sheetOut := fs.String("sheet-out", "", "also write the opening sheet as JSON here")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"in": *in, "key": *keyFile, "signer": *signerFile, "out": *out}); err != nil {
		return err
	}
	key, err := loadPrivate(*keyFile, *passFile)
	if err != nil {
		return err
	}
	signer, err := loadPublic(*signerFile)
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
	var sheet *decrypt.Sheet
	var sum *decrypt.Summary
	err = writeAtomic(*out, 0o600, func(w io.Writer) error {
		r := newProgress(f, st.Size(), "opening", stderr, *quiet)
		var err error
		sheet, sum, err = decrypt.Open(w, r, key, signer)
		r.done()
		return err
	})
	if err != nil {
		return err
	}
	sj, err := json.MarshalIndent(sheet, "", "  ")
	if err != nil {
		return err
	}
	if *sheetOut != "" {
		if err := writeAtomic(*sheetOut, 0o600, func(w io.Writer) error { _, err := w.Write(append(sj, '\n')); return err }); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "opened %s → %s (%d bytes), signature valid, digest SM3 %s\nopening sheet:\n%s\n",
		*in, *out, sum.Header.Size, hex.EncodeToString(sum.Digest[:]), sj)
	return nil
}

// progressThreshold is the input size from which progress is shown.
const progressThreshold = 32 << 20

// progress reports how much of a large input has been read, on one stderr
// line, at most once per percent.
type progress struct {
	r     io.Reader
	w     io.Writer
	what  string
	total int64
	n     int64
	shown int64 // last percentage printed, -1 before the first
	on    bool
}

func newProgress(r io.Reader, total int64, what string, w io.Writer, quiet bool) *progress {
	return &progress{r: r, w: w, what: what, total: total, shown: -1, on: !quiet && total >= progressThreshold}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.on {
		if pct := p.n * 100 / p.total; pct != p.shown {
			p.shown = pct
			fmt.Fprintf(p.w, "\r%s: %3d%% (%d of %d MiB)", p.what, pct, p.n>>20, p.total>>20)
		}
	}
	return n, err
}

func (p *progress) done() {
	if p.on && p.shown >= 0 {
		fmt.Fprintln(p.w)
	}
}
