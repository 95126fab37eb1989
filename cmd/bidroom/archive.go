package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/decrypt"
)

// archiveCmd runs `bidroom archive export`: the server's archive of one
// project section downloaded to a file, with progress, then checked with
// the platform key before it takes its name — an archive that does not
// verify is never left behind as if it were good.
func archiveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return fmt.Errorf("usage: bidroom archive export --server URL --token ADMIN_KEY --session S [--out FILE] [--platform-key FILE]")
	}
	fs := flag.NewFlagSet("archive export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the Bidroom server (e.g. https://bidroom.example.cn)")
	tok := fs.String("token", "", "the admin API key")
	session := fs.String("session", "", "the opening (its evaluations come with it) or the auction")
	out := fs.String("out", "", "the archive file to write (default <session>-archive.tar)")
	platformFile := fs.String("platform-key", "", "the platform's SM2 public key (PEM) to check the archive with (default: fetched from --server)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *server == "" || *tok == "" || *session == "" {
		return fmt.Errorf("archive export needs --server, --token and --session")
	}
	if *out == "" {
		*out = *session + "-archive.tar"
	}
	base := strings.TrimRight(*server, "/")
	platform, keySource, err := platformKeyFor(ctx, *platformFile, base, "archive export")
	if err != nil {
		return err
	}
	part := *out + ".part"
	n, err := download(ctx, base+"/api/v1/sessions/"+url.PathEscape(*session)+"/archive", *tok, part, stderr)
	if err != nil {
		os.Remove(part)
		return err
	}
	fmt.Fprintf(stdout, "downloaded %s (%s); checking it\n", part, byteCount(n))
	if err := verifyArchive(part, platform, keySource, stdout); err != nil {
		return fmt.Errorf("the archive does not verify; left as %s for inspection: %w", part, err)
	}
	if err := os.Rename(part, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "archive written: %s\n", *out)
	return nil
}

// download streams url to file, printing progress to progress every few
// seconds; it returns the bytes written.
func download(ctx context.Context, u, tok, file string, progress io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	pw := &progressWriter{w: f, out: progress, every: 2 * time.Second, last: time.Now()}
	n, err := io.Copy(pw, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("download the archive: %w", err)
	}
	fmt.Fprintf(progress, "received %s\n", byteCount(n))
	return n, nil
}

// progressWriter counts bytes and says how far it got now and then.
type progressWriter struct {
	w     io.Writer
	out   io.Writer
	n     int64
	every time.Duration
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.out, "received %s…\n", byteCount(p.n))
	}
	return n, err
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// verifyArchiveFile is `bidroom verify --archive FILE`: with the platform
// key given or fetched, or else the one inside the archive, whose id the
// reader must compare with the one the center publishes.
func verifyArchiveFile(ctx context.Context, file, platformFile, server string, stdout io.Writer) error {
	if platformFile != "" || server != "" {
		platform, source, err := platformKeyFor(ctx, platformFile, server, "--archive")
		if err != nil {
			return err
		}
		return verifyArchive(file, platform, source, stdout)
	}
	return verifyArchive(file, nil, "", stdout)
}

// verifyArchive reads and checks an archive file, printing every check.
// With no platform key it uses the archive's own and says so.
func verifyArchive(file string, platform *decrypt.PublicKey, keySource string, stdout io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	contents, err := archive.Read(f)
	if err != nil {
		fmt.Fprintln(stdout, "电子档案核验 / archive verification")
		return verdict(stdout, "  ", fmt.Errorf("%s: %w", file, err))
	}
	if platform == nil {
		k := contents.Files[archive.KeyName]
		if k == nil || k.Data == nil {
			return fmt.Errorf("give --platform-key (or --server): the archive holds no platform key")
		}
		if platform, err = decrypt.ParsePublicKeyPEM(k.Data); err != nil {
			return fmt.Errorf("the archive's platform key: %w", err)
		}
		id := platform.ID()
		keySource = "the archive's own " + archive.KeyName + ", id " + hex.EncodeToString(id[:]) +
			" — compare it with the key id the center publishes, or give --platform-key (请核对平台公钥标识)"
	}
	fmt.Fprintf(stdout, "电子档案核验 / archive verification\n  %s\n  platform key: %s\n", file, keySource)
	m, checks, verr := archive.Verify(contents, platform)
	if m != nil {
		fmt.Fprintf(stdout, "  session %s, made %s, %d rooms, %d files\n", m.Session, m.CreatedAt.Format(time.RFC3339), len(m.Rooms), len(m.Entries))
	}
	printChecks(stdout, "  ", checks)
	return verdict(stdout, "  ", verr)
}
