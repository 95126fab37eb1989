// Command bidtool is the bidder's offline tool for sealed bids (format:
// docs/bid-format.md):
//
//	bidtool keygen  --out PREFIX [--pass-file F]
//	bidtool seal    --in FILE --sheet SHEET.json --key KEY.pem --session ID --bidder ID --out SEALED
//	bidtool inspect --in SEALED [--signer PUB.pem] [--json]
//	bidtool open    --in SEALED --key KEY.pem --signer PUB.pem --out FILE [--sheet-out SHEET.json]
//	bidtool submit  --server URL --session ID --in SEALED [--backup BACKUP]
//	bidtool signin  --server URL --session ID --key KEY.pem
//	bidtool unlock  --server URL --session ID --key KEY.pem [--backup]
//	bidtool backup  --server URL --session ID --in BACKUP
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bidtool:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  bidtool keygen --out PREFIX [--pass-file F]
      Write a new SM2 key pair: PREFIX.key.pem (PKCS#8, encrypted with the
      password in F if given, mode 0600) and PREFIX.pub.pem. OpenSSL reads both.
  bidtool seal --in FILE --sheet SHEET.json --key KEY.pem [--pass-file F]
               --session ID --bidder ID [--recipient PUB.pem] [--chunk BYTES] --out SEALED
               [--backup COPY]
      Seal FILE and its opening sheet (a flat JSON object: price, duration,
      quality, project_manager, other named fields) for the opening SESSION,
      signed with KEY; the data key is wrapped to KEY's public key, or to
      --recipient (an encryption key or certificate). --backup also seals a
      separate backup copy (R10; commit it with submit --backup).
  bidtool inspect --in SEALED [--signer PUB.pem] [--json]
      Print the header and digest; with --signer, check the signature over
      the whole file. No key is needed and nothing is decrypted. --json
      prints every field, the wrapped key and signature as base64 DER.
  bidtool open --in SEALED --key KEY.pem [--pass-file F] --signer PUB.pem --out FILE [--sheet-out SHEET.json]
      Decrypt and verify a sealed bid (the bidder's own check). FILE is
      written only if everything verifies.
  bidtool submit --server URL --session ID [--token-file F] --in SEALED [--backup BACKUP]
                 [--receipt-out R.json]
      Upload a sealed bid before the deadline (resuming after interruptions)
      and print the platform's signed receipt (回执). --backup commits the SM3
      of the backup copy written by seal --backup (R10): only that file is
      accepted later as the backup.
  bidtool signin --server URL --session ID [--token-file F] --key KEY.pem [--pass-file F]
      Sign in to the opening room (签到) by signing the server's challenge
      with the private key registered for you; the key never leaves this
      machine. Signing in again is harmless.
  bidtool unlock --server URL --session ID [--token-file F] --key KEY.pem [--pass-file F]
      During the decryption window: unwrap your bid's data key locally (the
      private key never leaves this machine), send it to the server encrypted
      to the platform key, and print the opening sheet the server read.
      --backup unlocks the backup copy uploaded with bidtool backup.
  bidtool backup --server URL --session ID [--token-file F] --in BACKUP
      During the decryption window, after an unlock of the bid failed and if
      the session allows backups (R10): upload the backup copy (resuming
      after interruptions); the server takes it only if its SM3 is the one
      committed with the bid. Then run bidtool unlock --backup.
The access token comes from --token-file or BIDROOM_TOKEN.
Large files show progress on stderr (--quiet to silence). Keys are PEM:
PKCS#8 private keys, SPKI public keys or SM2 X.509 certificates.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("missing command")
	}
	switch args[0] {
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	case "seal":
		return sealCmd(args[1:], stdout, stderr)
	case "inspect":
		return inspect(args[1:], stdout, stderr)
	case "open":
		return openCmd(args[1:], stdout, stderr)
	case "submit":
		return submit(args[1:], stdout, stderr)
	case "unlock":
		return unlock(args[1:], stdout, stderr)
	case "backup":
		return backupCmd(args[1:], stdout, stderr)
	case "signin":
		return signIn(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
