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
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/rooms"
)

// maxFetchBytes bounds what verify reads from a server or a file.
const maxFetchBytes = 256 << 20

// verify checks a signed opening record against its room's log: from files,
// or fetched from a server. It prints what it checked and fails on the
// first check that does not pass.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	recordFile := fs.String("record", "", "the record as GET /api/v1/sessions/S/record returns it ({\"record\":…,\"signature\":…}), or the bare record JSON with --signature")
	sigFile := fs.String("signature", "", "the platform signature (base64 or DER) when --record is the bare record JSON")
	logFile := fs.String("log", "", "the session's log as GET /api/v1/sessions/S/log returns it (JSON lines)")
	platformFile := fs.String("platform-key", "", "the platform's SM2 public key (PEM)")
	server := fs.String("server", "", "fetch record, log and platform key from this server (e.g. https://bidroom.example.cn)")
	session := fs.String("session", "", "with --server: the session id")
	tok := fs.String("token", "", "with --server: a host, supervisor or admin token for the session, or the admin API key (the log is staff-only)")
	evalReport := fs.Bool("report", false, "check an evaluation report (评标报告) instead: --log (the evaluation's log) and --platform-key, or --server, --session and --token")
	noticeFile := fs.String("notice", "", "check an award or result notice (中标通知书 / 中标结果通知书) instead: the notice as GET /api/v1/sessions/S/results gives it (or that whole answer, or POST /api/v1/evaluations/E/notices's), with --platform-key (or --server to fetch the key)")
	auctionFile := fs.String("auction", "", "check an online auction (网上竞价) instead: its log as GET /api/v1/sessions/S/log exports it (every bid, the result, the 成交确认书), or the winner's saved 成交确认书 alone, with --platform-key (or --server to fetch the key)")
	archiveFile := fs.String("archive", "", "check an electronic archive (电子档案) made by `bidroom archive export`, offline, with --platform-key (or --server to fetch the key; without either, the archive's own key, whose id you compare with the center's)")
	var bidderKeys stringList
	fs.Var(&bidderKeys, "bidder-key", "ID=FILE: check bidder ID's SM2 confirmation with this public key (PEM) instead of the key registered in the log (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys := map[string]*decrypt.PublicKey{}
	for _, kv := range bidderKeys {
		id, file, ok := strings.Cut(kv, "=")
		if !ok || id == "" || file == "" {
			return fmt.Errorf("--bidder-key wants ID=FILE, got %q", kv)
		}
		k, err := readPublicKey(file)
		if err != nil {
			return fmt.Errorf("--bidder-key %s: %w", id, err)
		}
		keys[id] = k
	}

	if *evalReport {
		return verifyEvalReport(ctx, *server, *session, *tok, *logFile, *platformFile, stdout)
	}
	if *noticeFile != "" {
		return verifyNoticeFile(ctx, *noticeFile, *platformFile, *server, stdout)
	}
	if *archiveFile != "" {
		return verifyArchiveFile(ctx, *archiveFile, *platformFile, *server, stdout)
	}
	if *auctionFile != "" {
		return verifyAuctionFile(ctx, *auctionFile, *platformFile, *server, stdout)
	}
	var (
		recordRaw, logRaw, platformPEM []byte
		err                            error
		keySource                      string
	)
	switch {
	case *server != "":
		if *session == "" || *tok == "" {
			return fmt.Errorf("--server needs --session and --token")
		}
		if *recordFile != "" || *logFile != "" {
			return fmt.Errorf("give either --server or --record and --log, not both")
		}
		c := fetcher{base: strings.TrimRight(*server, "/"), token: *tok}
		base := "/api/v1/sessions/" + url.PathEscape(*session)
		if recordRaw, err = c.get(ctx, base+"/record"); err != nil {
			return err
		}
		if logRaw, err = c.get(ctx, base+"/log"); err != nil {
			return err
		}
		if *platformFile == "" {
			if platformPEM, err = c.get(ctx, "/api/v1/platform-key"); err != nil {
				return err
			}
			keySource = "fetched from " + c.base + " (compare its key id with the one the center publishes)"
		}
	case *recordFile != "" && *logFile != "":
		if recordRaw, err = readLimited(*recordFile); err != nil {
			return err
		}
		if logRaw, err = readLimited(*logFile); err != nil {
			return err
		}
		if *platformFile == "" {
			return fmt.Errorf("--platform-key is required with --record and --log")
		}
	default:
		return fmt.Errorf("give --record, --log and --platform-key, or --server, --session and --token")
	}
	if *platformFile != "" {
		if platformPEM, err = readLimited(*platformFile); err != nil {
			return err
		}
		keySource = *platformFile
	}
	platform, err := decrypt.ParsePublicKeyPEM(platformPEM)
	if err != nil {
		return fmt.Errorf("platform key: %w", err)
	}
	recordJSON, sig, err := splitRecord(recordRaw, *sigFile)
	if err != nil {
		return err
	}
	events, err := rooms.ParseLog(logRaw)
	if err != nil {
		return err
	}

	rep, verr := record.VerifyReport(recordJSON, sig, platform, events, keys)
	fmt.Fprintf(stdout, "开标记录核验 / opening record verification\n  session %s, record SM3 %s\n  platform key %s (%s)\n  log: %d events; the record covers up to #%d\n",
		orDash(rep.Session), rep.Digest, rep.KeyID, keySource, rep.LogLen, rep.LogHead.Seq)
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "  bidder keys: those registered in the log (no --bidder-key given; the server has no endpoint that publishes them separately)")
	}
	printChecks(stdout, "  ", rep.Checks)
	for _, w := range rep.Warnings {
		fmt.Fprintln(stdout, "  !", w)
	}
	return verdict(stdout, "  ", verr)
}

// printChecks lists what a verification checked, one ✓ line each.
func printChecks(stdout io.Writer, indent string, checks []string) {
	for _, c := range checks {
		fmt.Fprintln(stdout, indent+"✓", c)
	}
}

// verdict ends a verification's output: what failed and FAILED, or OK.
func verdict(stdout io.Writer, indent string, verr error) error {
	if verr != nil {
		fmt.Fprintln(stdout, indent+"✗", verr)
		fmt.Fprintln(stdout, "核验失败 / FAILED")
		return verr
	}
	fmt.Fprintln(stdout, "核验通过 / OK")
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// splitRecord takes the envelope GET …/record returns, or the bare record
// with a separate signature file, and returns the signed bytes and the
// signature.
func splitRecord(raw []byte, sigFile string) ([]byte, []byte, error) {
	var env struct {
		Record    json.RawMessage `json:"record"`
		Signature string          `json:"signature"`
	}
	if sigFile == "" {
		if err := json.Unmarshal(raw, &env); err != nil || len(env.Record) == 0 || env.Signature == "" {
			return nil, nil, fmt.Errorf("the record file is not {\"record\":…,\"signature\":…} as the server serves it; for the bare record JSON give --signature")
		}
		sig, err := base64.StdEncoding.DecodeString(env.Signature)
		if err != nil {
			return nil, nil, fmt.Errorf("the record's signature is not base64: %w", err)
		}
		return env.Record, sig, nil
	}
	sig, err := readLimited(sigFile)
	if err != nil {
		return nil, nil, err
	}
	if text := strings.TrimSpace(string(sig)); !bytes.HasPrefix(sig, []byte{0x30}) {
		if sig, err = base64.StdEncoding.DecodeString(text); err != nil {
			return nil, nil, fmt.Errorf("--signature is neither DER nor base64: %w", err)
		}
	}
	return bytes.TrimRight(raw, "\r\n"), sig, nil
}

func readPublicKey(file string) (*decrypt.PublicKey, error) {
	b, err := readLimited(file)
	if err != nil {
		return nil, err
	}
	return decrypt.ParsePublicKeyPEM(b)
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFetchBytes+1))
	if err == nil && len(b) > maxFetchBytes {
		err = fmt.Errorf("%s is larger than %d bytes", file, maxFetchBytes)
	}
	return b, err
}

// fetcher fetches from a Bidroom server with a bearer token.
type fetcher struct {
	base, token string
}

func (c fetcher) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, e.Error.Message)
		}
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if len(b) > maxFetchBytes {
		return nil, errors.New("GET " + path + ": response too large")
	}
	return b, nil
}

// verifyEvalReport checks an evaluation report from the evaluation's log
// (a file or fetched with a supervisor's token) and the platform key.
func verifyEvalReport(ctx context.Context, server, session, tok, logFile, platformFile string, stdout io.Writer) error {
	var logRaw, platformPEM []byte
	var err error
	switch {
	case server != "" && logFile == "":
		if session == "" || tok == "" {
			return fmt.Errorf("--server needs --session and --token (a supervisor's)")
		}
		c := fetcher{base: strings.TrimRight(server, "/"), token: tok}
		if logRaw, err = c.get(ctx, "/api/v1/sessions/"+url.PathEscape(session)+"/log"); err != nil {
			return err
		}
		if platformFile == "" {
			if platformPEM, err = c.get(ctx, "/api/v1/platform-key"); err != nil {
				return err
			}
		}
	case logFile != "" && server == "":
		if logRaw, err = readLimited(logFile); err != nil {
			return err
		}
		if platformFile == "" {
			return fmt.Errorf("--platform-key is required with --log")
		}
	default:
		return fmt.Errorf("give --log and --platform-key, or --server, --session and --token")
	}
	if platformFile != "" {
		if platformPEM, err = readLimited(platformFile); err != nil {
			return err
		}
	}
	platform, err := decrypt.ParsePublicKeyPEM(platformPEM)
	if err != nil {
		return fmt.Errorf("platform key: %w", err)
	}
	events, err := rooms.ParseLog(logRaw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "评标报告核验 / evaluation report verification")
	checks, verr := rooms.VerifyReport(events, platform)
	printChecks(stdout, "  ", checks)
	if verr == nil {
		// The notices, when the log has them (中标通知书与中标结果通知书).
		var nchecks []string
		nchecks, verr = rooms.VerifyNotices(events, platform)
		if len(nchecks) > 0 || verr != nil {
			fmt.Fprintln(stdout, "中标通知书与中标结果通知书 / award and result notices")
		}
		printChecks(stdout, "  ", nchecks)
	}
	return verdict(stdout, "  ", verr)
}
