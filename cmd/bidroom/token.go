package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// token prints a signed access token, like other media servers' token CLIs.
func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	room := fs.String("room", "", "session id (or * for an admin or supervisor token valid in every room of its center, or the oversight's)")
	role := fs.String("role", "", "bidder, host, supervisor, expert, admin or oversight (the city's read-only oversight of every center)")
	center := fs.String("center", "", "with --room '*': the center id the admin or supervisor token works for (default the main center)")
	sub := fs.String("sub", "", "subject: the user's id")
	name := fs.String("name", "", "display name")
	ttl := fs.Duration("ttl", 0, "lifetime (default auth.token_ttl)")
	var grants stringList
	fs.Var(&grants, "grant", "media grant: publish or view (repeatable)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if *room == "" || *role == "" || *sub == "" {
		return fmt.Errorf("--room, --role and --sub are required")
	}
	secretValue, err := secret(cfg.Auth.TokenSecret, cfg.DataDir, "token.secret", 32)
	if err != nil {
		return err
	}
	issuer, err := auth.NewIssuer([]byte(secretValue), nil)
	if err != nil {
		return err
	}
	if *ttl == 0 {
		*ttl = cfg.Auth.TokenTTL
	}
	if *center != "" {
		list, _ := cfg.CenterList()
		known := false
		for i, c := range list {
			if c.ID == *center {
				known = true
				if i == 0 {
					*center = "" // the main center is stored as ""
				}
			}
		}
		if !known {
			return fmt.Errorf("--center %q is not one of the configured centers (centers)", *center)
		}
	}
	tok, exp, err := issuer.Mint(auth.Request{Room: *room, Role: rooms.Role(*role), Sub: *sub, Name: *name, Grants: grants, Center: *center, TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "expires %s\n", exp.Format(time.RFC3339))
	return nil
}
