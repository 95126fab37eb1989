package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bidroom/bidroom/rooms"
)

// verifyNoticeFile checks the award and result notices in file (one
// notice as a bidder fetched it, a whole GET …/results answer, or POST
// …/notices's) against the platform key: each one's canonical text, its
// SM3 digest and the platform's signature. It prints every check in
// Chinese and English and fails on the first that does not pass.
func verifyNoticeFile(ctx context.Context, file, platformFile, server string, stdout io.Writer) error {
	raw, err := readLimited(file)
	if err != nil {
		return err
	}
	notices, err := parseNotices(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	platform, keySource, err := platformKeyFor(ctx, platformFile, server, "--notice")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "通知书核验 / notice verification\n  platform key (%s)\n", keySource)
	for _, e := range notices {
		n, checks, verr := rooms.VerifyNotice(e, platform)
		what := "中标结果通知书 / result notice"
		if n.Kind == rooms.NoticeAward {
			what = "中标通知书 / award notice"
		}
		fmt.Fprintf(stdout, "  %s to %s %s — evaluation %s, winner %s %s, price %s, issued %s\n",
			what, orDash(n.Bidder), n.BidderName, orDash(n.Evaluation), orDash(n.Winner), n.WinnerName, orDash(n.Price), n.IssuedAt.Format("2006-01-02 15:04:05Z07:00"))
		printChecks(stdout, "    ", checks)
		if verr != nil {
			return verdict(stdout, "    ", verr)
		}
	}
	return verdict(stdout, "", nil)
}

// parseNotices finds the notices in a file: a single notice object, a
// GET /api/v1/sessions/{opening}/results answer (a bidder's "notice", or
// staff's "notices"), or a POST /api/v1/evaluations/{id}/notices answer.
func parseNotices(raw []byte) ([]rooms.NoticeEntry, error) {
	var one rooms.NoticeEntry
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if one.JSON != "" {
		return []rooms.NoticeEntry{one}, nil
	}
	var doc struct {
		Notices     []rooms.NoticeEntry `json:"notices"`
		Evaluations []struct {
			Notice  *rooms.NoticeEntry  `json:"notice"`
			Notices []rooms.NoticeEntry `json:"notices"`
		} `json:"evaluations"`
	}
	_ = json.Unmarshal(raw, &doc)
	out := doc.Notices
	for _, ev := range doc.Evaluations {
		if ev.Notice != nil {
			out = append(out, *ev.Notice)
		}
		out = append(out, ev.Notices...)
	}
	if len(out) == 0 {
		return nil, errors.New("holds no notice (want a notice with json, digest and signature, as GET /api/v1/sessions/S/results gives it)")
	}
	return out, nil
}
