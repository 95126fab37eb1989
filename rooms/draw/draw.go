package draw

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// Expert is one pool member as the draw sees it.
type Expert struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Employer       string    `json:"employer"`
	Specialties    []string  `json:"specialties"`      // specialty codes, e.g. "A010101"
	Center         string    `json:"center,omitempty"` // home center
	Credit         int       `json:"credit"`           // credit score, 0..100
	SuspendedUntil time.Time `json:"suspended_until,omitzero"`
	SuspendReason  string    `json:"suspend_reason,omitempty"`
}

// Quota asks for Count members and Reserves reserves of one specialty.
type Quota struct {
	Specialty string `json:"specialty"`
	Count     int    `json:"count"`
	Reserves  int    `json:"reserves"`
}

// Past is one earlier draw of an expert for a tenderer (history for the
// repeat rule).
type Past struct {
	Expert   string    `json:"expert"`
	Tenderer string    `json:"tenderer"`
	At       time.Time `json:"at"`
}

// Rules are what excludes an expert.
type Rules struct {
	Tenderer        string        `json:"tenderer"`              // the tenderer (招标人) org name: its own staff (Employer == Tenderer) are excluded
	BidderEmployers []string      `json:"bidder_employers"`      // names of the section's bidders: experts employed by any are excluded
	Related         []string      `json:"related,omitempty"`     // expert ids with a listed relation (回避关系) to a bidder or the tenderer
	MinCredit       int           `json:"min_credit,omitempty"`  // experts with Credit below are excluded (0: no floor)
	MaxRepeats      int           `json:"max_repeats,omitempty"` // an expert drawn for the same tenderer this many times within Period is excluded (0: no limit)
	Period          time.Duration `json:"period,omitempty"`      // the repeat rule's window before At (0: all history)
	At              time.Time     `json:"at"`                    // the draw's time: suspensions and the period are judged at it
}

// The reason codes of an Exclusion, in the order the rules are tried.
const (
	Suspended      = "suspended"
	BidderEmployer = "bidder_employer"
	TendererStaff  = "tenderer_staff"
	Related        = "related"
	LowCredit      = "low_credit"
	Repeat         = "repeat"
)

// Exclusion says why one expert is not eligible.
type Exclusion struct {
	Expert string `json:"expert"`
	Reason string `json:"reason"` // a reason code: Suspended, BidderEmployer, ...
}

// Eligible filters pool (any order, unique IDs) by rules and returns the
// eligible experts sorted by ID, and the excluded ones with the first
// reason that applies, sorted by ID. Employers are compared exactly
// after trimming Unicode white space on both sides; an empty employer
// never matches. history is the earlier draws. The package doc gives
// the rules precisely. pool is not modified.
func Eligible(pool []Expert, rules Rules, history []Past) (eligible []Expert, excluded []Exclusion) {
	bidders := make(map[string]bool, len(rules.BidderEmployers))
	for _, b := range rules.BidderEmployers {
		if b = strings.TrimSpace(b); b != "" {
			bidders[b] = true
		}
	}
	related := make(map[string]bool, len(rules.Related))
	for _, id := range rules.Related {
		related[id] = true
	}
	tenderer := strings.TrimSpace(rules.Tenderer)
	repeats := map[string]int{}
	if rules.MaxRepeats > 0 && tenderer != "" {
		since := rules.At.Add(-rules.Period)
		for _, p := range history {
			if strings.TrimSpace(p.Tenderer) == tenderer && (rules.Period <= 0 || p.At.After(since)) {
				repeats[p.Expert]++
			}
		}
	}
	type key struct {
		id  string
		pos int
	}
	keep := make([]key, 0, len(pool)) // sorted, then the experts copied once
	for i, x := range pool {
		employer := strings.TrimSpace(x.Employer)
		reason := ""
		switch {
		case x.SuspendedUntil.After(rules.At):
			reason = Suspended
		case employer != "" && bidders[employer]:
			reason = BidderEmployer
		case employer != "" && employer == tenderer:
			reason = TendererStaff
		case related[x.ID]:
			reason = Related
		case rules.MinCredit > 0 && x.Credit < rules.MinCredit:
			reason = LowCredit
		case rules.MaxRepeats > 0 && repeats[x.ID] >= rules.MaxRepeats:
			reason = Repeat
		}
		if reason == "" {
			keep = append(keep, key{x.ID, i})
		} else {
			excluded = append(excluded, Exclusion{Expert: x.ID, Reason: reason})
		}
	}
	slices.SortFunc(keep, func(a, b key) int { return cmp.Or(strings.Compare(a.id, b.id), cmp.Compare(a.pos, b.pos)) })
	eligible = make([]Expert, len(keep))
	for i, k := range keep {
		eligible[i] = pool[k.pos]
	}
	slices.SortFunc(excluded, func(a, b Exclusion) int { return strings.Compare(a.Expert, b.Expert) })
	return eligible, excluded
}

// Digest is the hex SM3 of a canonical encoding of the eligible list
// (IDs and specialties in order; the length-prefixed binary layout of the
// package doc, not JSON), committed in the log so a verifier can check
// that the same list was drawn from.
func Digest(eligible []Expert) string {
	h := sm3.New()
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, "bidroom-eligible-v1"...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(eligible)))
	str := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	for _, x := range eligible {
		str(x.ID)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(x.Specialties)))
		for _, s := range x.Specialties {
			str(s)
		}
		if len(buf) >= 60<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// Seed returns 32 bytes from crypto/rand.
func Seed() ([32]byte, error) {
	var s [32]byte
	_, err := rand.Read(s[:])
	return s, err
}
