package bond

import (
	"context"
	"fmt"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is a bidder's bond status at the deadline.
type Status string

// The bond statuses. Unknown means the status could not be told; it is never a guess.
const (
	Paid       Status = "paid"       // cash paid to the trading center's bond account
	Guaranteed Status = "guaranteed" // an electronic guarantee (电子保函) with an issuer and a number
	Missing    Status = "missing"    // no bond
	Unknown    Status = "unknown"    // the bond system could not be reached or its answer was not usable
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case Paid, Guaranteed, Missing, Unknown:
		return true
	}
	return false
}

// Sources of a Record.
const (
	SourceRegistration = "registration" // the bond data given when the bidder registered
	SourceAPI          = "api"          // the trading center's bond system
)

// MaxFieldBytes is the longest Amount, Guarantor or Reference accepted; a longer one makes the
// record Unknown.
const MaxFieldBytes = 256

// Record is one bidder's bond as the bond system reports it.
type Record struct {
	Bidder    string    `json:"bidder"`
	Status    Status    `json:"status"`
	Amount    string    `json:"amount,omitempty"`    // yuan, decimal string
	Guarantor string    `json:"guarantor,omitempty"` // issuer of an electronic guarantee
	Reference string    `json:"reference,omitempty"` // payment serial or guarantee number
	CheckedAt time.Time `json:"checked_at"`
	Source    string    `json:"source"`          // "registration" or "api"
	Error     string    `json:"error,omitempty"` // why Unknown, in words a host understands (no secrets)
}

// Checker looks bonds up for a session's bidders.
type Checker interface {
	// Check returns one Record per bidder, in the same order. The error is only for a bad call
	// (e.g. ctx canceled); a bidder whose bond cannot be told gets an Unknown record instead.
	Check(ctx context.Context, session string, bidders []string) ([]Record, error)
}

// unknown returns an Unknown record for bidder with the reason why.
func unknown(bidder, source string, at time.Time, why string) Record {
	return Record{Bidder: bidder, Status: Unknown, CheckedAt: at, Source: source, Error: why}
}

// amountPattern is a yuan amount: whole yuan without leading zeros, optionally jiao and fen.
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$`)

// settle checks r as reported for bidder and returns the record to show: r with Bidder, CheckedAt
// and Source set, or an Unknown record saying what was wrong with it.
func settle(bidder, source string, at time.Time, r Record) Record {
	bad := func(format string, args ...any) Record {
		return unknown(bidder, source, at, fmt.Sprintf(format, args...))
	}
	if !r.Status.Valid() {
		return bad("bond status %s is not one of paid, guaranteed, missing, unknown", quote(string(r.Status)))
	}
	for _, f := range []struct{ name, v string }{{"amount", r.Amount}, {"guarantor", r.Guarantor}, {"reference", r.Reference}} {
		if len(f.v) > MaxFieldBytes {
			return bad("bond %s is longer than %d bytes", f.name, MaxFieldBytes)
		}
		if !printable(f.v) {
			return bad("bond %s is not printable text", f.name)
		}
	}
	if r.Amount != "" && !amountPattern.MatchString(r.Amount) {
		return bad("bond amount %s is not an amount in yuan like 20000.00", quote(r.Amount))
	}
	switch r.Status {
	case Unknown:
		why := r.Error
		if why == "" {
			why = "the bond system does not know this bidder's bond status"
		}
		return unknown(bidder, source, at, why)
	case Guaranteed:
		if r.Guarantor == "" || r.Reference == "" {
			return bad("electronic guarantee reported without its issuer or number")
		}
	}
	r.Bidder, r.CheckedAt, r.Source, r.Error = bidder, at, source, ""
	return r
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, cut short so that a hostile answer cannot flood it.
func quote(s string) string {
	const limit = 40
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// Static answers from the bond data given at registration: bidder → Record. A bidder not in it
// has no bond (Missing). It never fails and ignores the session; see Registered for many sessions.
type Static map[string]Record

// Check returns the registered record of each bidder, checked like an answer from the bond
// system, with Source "registration".
func (s Static) Check(ctx context.Context, _ string, bidders []string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check bonds: %w", err)
	}
	now := time.Now()
	out := make([]Record, len(bidders))
	for i, b := range bidders {
		r, ok := s[b]
		if !ok {
			r = Record{Status: Missing}
		}
		out[i] = settle(b, SourceRegistration, now, r)
	}
	return out, nil
}

// Registered answers from the registration data of each session: it returns the session's
// bidder → Record map (nil when the session registered no bonds) and is used as a Static.
type Registered func(session string) map[string]Record

// Check looks the session's registration data up and answers as Static does.
func (f Registered) Check(ctx context.Context, session string, bidders []string) ([]Record, error) {
	var s Static
	if f != nil {
		s = f(session)
	}
	return s.Check(ctx, session, bidders)
}
