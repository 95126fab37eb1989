package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/bidroom/bidroom/rooms"
)

// drawVerify re-runs a recorded expert draw (专家抽取) from the pool's log,
// from a file or fetched from a server, and prints the names in the order
// drawn when they come out the same. A supervisor runs it offline.
func drawVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("draw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("verify", false, "re-run the recorded draw and compare (the only mode)")
	evaluation := fs.String("evaluation", "", "the evaluation whose draw to check")
	logFile := fs.String("log", "", "the pool's log as GET /api/v1/sessions/"+rooms.PoolRoom+"/log returns it (JSON lines)")
	server := fs.String("server", "", "fetch the pool's log from this server instead")
	tok := fs.String("token", "", "with --server: a supervisor token for the pool, or the admin API key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*check || *evaluation == "" {
		return fmt.Errorf("usage: bidroom draw --verify --evaluation E (--log FILE | --server URL --token T)")
	}
	var raw []byte
	var err error
	switch {
	case *server != "" && *logFile == "":
		c := fetcher{base: strings.TrimRight(*server, "/"), token: *tok}
		raw, err = c.get(ctx, "/api/v1/sessions/"+url.PathEscape(rooms.PoolRoom)+"/log")
	case *logFile != "" && *server == "":
		raw, err = readLimited(*logFile)
	default:
		return fmt.Errorf("give --log FILE or --server URL, one of them")
	}
	if err != nil {
		return err
	}
	events, err := rooms.ParseLog(raw)
	if err != nil {
		return err
	}
	rec, err := rooms.VerifyDraw(events, *evaluation)
	if err != nil {
		return fmt.Errorf("the draw for %s does not verify: %w", *evaluation, err)
	}
	fmt.Fprintf(stdout, "draw for %s verified: pool at #%d, %d eligible (digest %s), seed %s\n", *evaluation, rec.PoolSeq, rec.Eligible, rec.EligibleDigest, rec.Seed)
	fmt.Fprintf(stdout, "专家抽取复核通过：%d 名符合条件，抽取结果与记录一致\n", rec.Eligible)
	for i, s := range rec.Drawn {
		what := "member 成员"
		if s.Reserve {
			what = "reserve 备选"
		}
		fmt.Fprintf(stdout, "%2d. %-12s %-8s %s %s\n", i+1, what, s.Specialty, s.Expert, s.Name)
	}
	return nil
}
