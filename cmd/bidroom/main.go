// Command bidroom is the Bidroom server and its admin tools:
//
//	bidroom serve [--config FILE]      run the server
//	bidroom token --room R --role ROLE --sub ID [--ttl D] [--name N] [--grant G]
//	                                   print a signed access token
//	bidroom verify --record F --log F --platform-key F [--bidder-key ID=F]...
//	bidroom verify --server URL --session S --token T
//	                                   check a signed opening record against its log
//	bidroom draw --verify --evaluation E --log F
//	                                   re-run a recorded expert draw from the pool's log
//	bidroom gc --server URL --token ADMIN_KEY [--dry-run]
//	                                   collect the blob store's garbage now
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bidroom:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  bidroom serve [--config FILE]
      Run the server. With no config it uses an embedded store under ./data
      and creates a demo session; open the printed address in a browser.
  bidroom token --room R --role ROLE --sub ID [--ttl 12h] [--name NAME] [--grant publish|view]... [--center C] [--config FILE]
      Print an access token signed with the configured secret.
  bidroom verify --record record.json --log log.jsonl --platform-key platform.pub.pem [--bidder-key ID=FILE]...
  bidroom verify --server URL --session S --token T [--platform-key FILE] [--bidder-key ID=FILE]...
      Check a signed opening record (开标记录): the platform signature, the log's hash chain,
      that the log gives the same record, the bidders' SM2 confirmations, the digest in the log.
      Exits non-zero on any failure (see docs/record.md).
  bidroom verify --report --log evaluation.jsonl --platform-key platform.pub.pem
  bidroom verify --report --server URL --session E --token T
      Check an evaluation report (评标报告): the log's chain, that the log gives the same report,
      every member's SM2 signature (with their dissent), the platform's signature.
  bidroom verify --auction auction.jsonl|letter.json --platform-key platform.pub.pem
      Check an online auction (网上竞价) from its exported log — every bid against the rules, the
      result, the 成交确认书 — or the winner's saved 成交确认书 alone.
  bidroom archive export --server URL --token ADMIN_KEY --session S [--out FILE]
      Download the electronic archive (电子档案) of an opening with its evaluations, or of an
      auction, and check it before it takes its name.
  bidroom verify --archive FILE [--platform-key platform.pub.pem | --server URL]
      Check an archive offline: the platform-signed manifest, every file's SM3, each log's chain,
      every file a log names, the opening record, the evaluation report and notices, the auction.
  bidroom draw --verify --evaluation E --log pool.jsonl
  bidroom draw --verify --evaluation E --server URL --token T
      Re-run the expert draw recorded for evaluation E from the expert pool's log (the seed, the
      eligible list's digest) and print the names in the order drawn; fails if anything differs.
  bidroom gc --server URL --token ADMIN_KEY [--dry-run]
      Collect the stored files' garbage now: uploads idle for bids.upload_ttl, and files no
      session's log names older than bids.orphan_grace (the server does it every bids.gc_interval).
Config: --config FILE or BIDROOM_CONFIG; every key can be overridden by BIDROOM_* variables
(see configs/bidroom.example.yaml).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "verify":
		return verify(ctx, args[1:], stdout, stderr)
	case "draw":
		return drawVerify(ctx, args[1:], stdout, stderr)
	case "archive":
		return archiveCmd(ctx, args[1:], stdout, stderr)
	case "gc":
		return gcCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
