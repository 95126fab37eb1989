package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// verifyAuctionFile checks an auction offline: file is either the
// auction's whole log (JSON lines, as GET /api/v1/sessions/{id}/log
// exports it) — every bid against the rules, the result and the
// 成交确认书 — or the winner's saved letter alone (the confirmation as the
// auction page saves it, or a session answer holding it), checked
// against its digest and the platform's signature.
func verifyAuctionFile(ctx context.Context, file, platformFile, server string, stdout io.Writer) error {
	raw, err := readLimited(file)
	if err != nil {
		return err
	}
	platform, keySource, err := platformKeyFor(ctx, platformFile, server, "--auction")
	if err != nil {
		return err
	}
	if letter, ok := parseLetter(raw); ok {
		fmt.Fprintf(stdout, "成交确认书核验 / confirmation letter verification\n  platform key (%s)\n", keySource)
		l, checks, verr := rooms.VerifyLetter(letter, platform)
		if verr == nil {
			fmt.Fprintf(stdout, "  auction %s, lot %s %s: 竞买号 %s %s, price %s yuan, ended %s\n",
				l.Auction, l.Lot, l.Title, l.Number, l.WinnerName, l.Price, l.EndedAt.Format("2006-01-02 15:04:05Z07:00"))
		}
		printChecks(stdout, "  ", checks)
		if verr == nil {
			fmt.Fprintln(stdout, "  (the letter alone: give the auction's log to check it against every bid)")
		}
		return verdict(stdout, "  ", verr)
	}
	events, err := rooms.ParseLog(raw)
	if err != nil {
		return fmt.Errorf("%s is neither a confirmation letter nor an auction's log: %w", file, err)
	}
	fmt.Fprintf(stdout, "网上竞价核验 / auction verification\n  platform key (%s)\n", keySource)
	checks, verr := rooms.VerifyAuction(events, platform)
	printChecks(stdout, "  ", checks)
	return verdict(stdout, "  ", verr)
}

// parseLetter finds a confirmation letter in raw: the letter itself
// ({json, digest, signature, key_id}), {"confirmation": …}, or a session
// answer {"state": {"confirmation": …}}.
func parseLetter(raw []byte) (rooms.ConfirmationIssued, bool) {
	var doc struct {
		rooms.ConfirmationIssued
		Confirmation *rooms.ConfirmationIssued `json:"confirmation"`
		State        struct {
			Confirmation *rooms.ConfirmationIssued `json:"confirmation"`
		} `json:"state"`
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) || json.Unmarshal(raw, &doc) != nil {
		return rooms.ConfirmationIssued{}, false
	}
	switch {
	case doc.JSON != "":
		return doc.ConfirmationIssued, true
	case doc.Confirmation != nil:
		return *doc.Confirmation, true
	case doc.State.Confirmation != nil:
		return *doc.State.Confirmation, true
	}
	return rooms.ConfirmationIssued{}, false
}

// platformKeyFor reads the platform key from a file, or fetches it from
// server; it says where it came from.
func platformKeyFor(ctx context.Context, platformFile, server, what string) (*decrypt.PublicKey, string, error) {
	var pem []byte
	var err error
	source := platformFile
	switch {
	case platformFile != "":
		pem, err = readLimited(platformFile)
	case server != "":
		c := fetcher{base: strings.TrimRight(server, "/")}
		pem, err = c.get(ctx, "/api/v1/platform-key")
		source = "fetched from " + c.base + " (compare its key id with the one the center publishes)"
	default:
		return nil, "", fmt.Errorf("%s needs --platform-key (or --server to fetch the key)", what)
	}
	if err != nil {
		return nil, "", err
	}
	k, err := decrypt.ParsePublicKeyPEM(pem)
	if err != nil {
		return nil, "", fmt.Errorf("platform key: %w", err)
	}
	return k, source, nil
}
