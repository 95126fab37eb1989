package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/store/blobs"
)

// gcCmd runs `bidroom gc`: one garbage collection of the blob store, asked
// of the running server (POST /api/v1/blobs/gc) rather than done here: the
// server holds the uploads' locks, and the embedded store's file is the
// server's alone while it runs. Progress goes to stderr, what was removed
// to stdout.
func gcCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the Bidroom server (e.g. https://bidroom.example.cn)")
	tok := fs.String("token", "", "the admin API key")
	dry := fs.Bool("dry-run", false, "report what would be removed, and remove nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || *tok == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: bidroom gc --server URL --token ADMIN_KEY [--dry-run]")
	}
	u := strings.TrimRight(*server, "/") + "/api/v1/blobs/gc"
	if *dry {
		u += "?dry_run=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("POST %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Progress *blobgc.Progress `json:"progress"`
			Report   *blobgc.Report   `json:"report"`
			Error    *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("the server's answer: %w", err)
		}
		switch {
		case line.Error != nil:
			if line.Report != nil {
				fmt.Fprintln(stdout, "before it stopped: "+gcSummary(*line.Report))
			}
			return fmt.Errorf("the garbage collection failed: %s", line.Error.Message)
		case line.Report != nil:
			fmt.Fprintln(stdout, gcSummary(*line.Report))
			return nil
		case line.Progress != nil:
			fmt.Fprintln(stderr, gcProgress(*line.Progress))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	return errors.New("the server's answer ended before its report: the collection may have stopped (see the server's log)")
}

// gcProgress says in one line how far a collection has got.
func gcProgress(p blobgc.Progress) string {
	done := fmt.Sprintf("; removed %d (%s)", p.Removed, byteCount(p.Bytes))
	switch p.Phase {
	case "uploads":
		return "removing idle uploads…" + done
	case "blobs":
		return fmt.Sprintf("listing blobs: shard %d of %d, %d old so far", p.Shards, blobs.Shards, p.Candidates) + done
	case "logs":
		return fmt.Sprintf("pass %d: reading the logs: room %d of %d, %d events, %d old blobs not named yet", p.Pass, p.RoomsRead, p.Rooms, p.Events, p.Candidates) + done
	}
	return fmt.Sprintf("pass %d: removing orphans", p.Pass) + done
}

// gcSummary says what a collection removed (or, in a dry run, would).
func gcSummary(r blobgc.Report) string {
	verb := "removed"
	if r.DryRun {
		verb = "would remove (dry run)"
	}
	return fmt.Sprintf("%s %d idle uploads (%s) and %d orphan blobs (%s); kept %d uploads in progress; "+
		"%d blobs in the store (%d younger than the grace), %d rooms and %d events read in %d passes, %.1f s",
		verb, r.UploadsRemoved, byteCount(r.UploadBytes), r.BlobsRemoved, byteCount(r.BlobBytes),
		r.UploadsKept+r.UploadsBusy, r.Blobs, r.BlobsYoung, r.Rooms, r.Events, r.Passes, r.Seconds)
}
