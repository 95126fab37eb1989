// Package draw is the random drawing of evaluation experts (专家抽取) from
// an expert pool, reproducible offline: the recorded seed and eligible
// list give anyone the same names in the same order.
//
// The algorithm, for other implementations to reproduce:
//
//  1. Eligible: the pool minus every expert an exclusion rule names
//     (suspended at the draw's time, employed by a bidder or by the
//     tenderer, listed as related, credit below the floor, drawn for the
//     same tenderer MaxRepeats times within Period), sorted by ID.
//  2. Digest: SM3 over "bidroom-eligible-v1", then for each expert in
//     order its ID and each specialty code, each string preceded by its
//     byte length as a big-endian uint32, the specialties preceded by
//     their count as a big-endian uint32.
//  3. Generator: block i (i = 0, 1, ...) is SM3("bidroom-draw-v1" || seed ||
//     uint64be(i)); its 32 bytes are read as four big-endian uint64s, in
//     order. An integer in [0, n) is the next uint64 x with x < 2^64 −
//     (2^64 mod n) taken mod n (rejection sampling: no bias).
//  4. For each quota in order: the candidates are the eligible experts
//     with the quota's specialty not taken by an earlier quota, in ID
//     order; for k = 0 .. Count+Reserves−1, j = k + uniform(len − k) and
//     candidates k and j swap (a partial Fisher–Yates shuffle). The first
//     Count are members, the rest reserves, in that order.
package draw

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
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
	Center         string    `json:"center,omitempty"` // home center (city or a county sub-center)
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

// Past is one earlier draw of an expert for a tenderer.
type Past struct {
	Expert   string    `json:"expert"`
	Tenderer string    `json:"tenderer"`
	At       time.Time `json:"at"`
}

// Rules are what excludes an expert from a draw.
type Rules struct {
	Tenderer        string        `json:"tenderer"`              // its own staff are excluded
	BidderEmployers []string      `json:"bidder_employers"`      // experts employed by a bidder are excluded
	Related         []string      `json:"related,omitempty"`     // expert ids with a listed relation (回避关系)
	MinCredit       int           `json:"min_credit,omitempty"`  // credit below is excluded (0: no floor)
	MaxRepeats      int           `json:"max_repeats,omitempty"` // drawn this often for the tenderer within Period: excluded (0: no limit)
	Period          time.Duration `json:"period,omitempty"`
	At              time.Time     `json:"at"` // the draw's time
}

// Exclusion reason codes.
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
	Reason string `json:"reason"`
}

func norm(s string) string { return strings.TrimSpace(s) }

// Eligible filters pool by rules and returns the eligible experts and the
// excluded ones with the first reason that applies, both sorted by ID.
func Eligible(pool []Expert, rules Rules, history []Past) (eligible []Expert, excluded []Exclusion) {
	employers := map[string]bool{}
	for _, e := range rules.BidderEmployers {
		if n := norm(e); n != "" {
			employers[n] = true
		}
	}
	related := map[string]bool{}
	for _, id := range rules.Related {
		related[id] = true
	}
	repeats := map[string]int{}
	tenderer := norm(rules.Tenderer)
	for _, p := range history {
		if norm(p.Tenderer) == tenderer && tenderer != "" && (rules.Period <= 0 || rules.At.Sub(p.At) < rules.Period) {
			repeats[p.Expert]++
		}
	}
	eligible = make([]Expert, 0, len(pool))
	for _, x := range pool {
		employer := norm(x.Employer)
		reason := ""
		switch {
		case x.SuspendedUntil.After(rules.At):
			reason = Suspended
		case employer != "" && employers[employer]:
			reason = BidderEmployer
		case employer != "" && employer == tenderer:
			reason = TendererStaff
		case related[x.ID]:
			reason = Related
		case x.Credit < rules.MinCredit:
			reason = LowCredit
		case rules.MaxRepeats > 0 && repeats[x.ID] >= rules.MaxRepeats:
			reason = Repeat
		}
		if reason != "" {
			excluded = append(excluded, Exclusion{Expert: x.ID, Reason: reason})
		} else {
			eligible = append(eligible, x)
		}
	}
	slices.SortFunc(eligible, func(a, b Expert) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(excluded, func(a, b Exclusion) int { return strings.Compare(a.Expert, b.Expert) })
	return eligible, excluded
}

// Digest is the hex SM3 of the eligible list's canonical encoding.
func Digest(eligible []Expert) string {
	b := []byte("bidroom-eligible-v1")
	put := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	for _, x := range eligible {
		put(x.ID)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x.Specialties)))
		for _, s := range x.Specialties {
			put(s)
		}
	}
	return hex.EncodeToString(sm3.Sm3Sum(b))
}

// Seat is one drawn member or reserve.
type Seat struct {
	Expert    string `json:"expert"`
	Specialty string `json:"specialty"`
}

// Result is the ordered outcome of a draw.
type Result struct {
	Members  []Seat `json:"members"`  // in draw order, quota by quota
	Reserves []Seat `json:"reserves"` // in draw order, quota by quota: the replacement order
}

// Short is one specialty the eligible list cannot fill.
type Short struct {
	Specialty                 string
	Count, Reserves, Eligible int
}

// Shortage is the error when the eligible list cannot fill the quotas.
type Shortage struct{ Missing []Short }

func (s *Shortage) Error() string {
	parts := make([]string, len(s.Missing))
	for i, m := range s.Missing {
		need := m.Count + m.Reserves
		parts[i] = fmt.Sprintf("%s needs %d (%d members + %d reserves), %d eligible, %d missing", m.Specialty, need, m.Count, m.Reserves, m.Eligible, need-m.Eligible)
	}
	return "too few eligible experts: " + strings.Join(parts, "; ")
}

// generator is the SM3 counter stream of step 3.
type generator struct {
	seed  [32]byte
	block uint64
	buf   []byte
}

func (g *generator) next() uint64 {
	if len(g.buf) == 0 {
		in := append([]byte("bidroom-draw-v1"), g.seed[:]...)
		in = binary.BigEndian.AppendUint64(in, g.block)
		g.block++
		g.buf = sm3.Sm3Sum(in)
	}
	x := binary.BigEndian.Uint64(g.buf)
	g.buf = g.buf[8:]
	return x
}

// uniform returns an integer in [0, n) without bias.
func (g *generator) uniform(n int) int {
	limit := math.MaxUint64 - (math.MaxUint64%uint64(n)+1)%uint64(n) // largest multiple of n, minus one
	for {
		if x := g.next(); x <= limit {
			return int(x % uint64(n))
		}
	}
}

// Run draws the quotas in order from eligible (sorted by ID) with seed.
// An expert with several specialties is drawn at most once: a quota's
// candidates leave out those taken by earlier quotas. When the list
// cannot fill every quota, *Shortage names each short specialty, counting
// for each quota the candidates that earlier quotas did not need.
func Run(seed [32]byte, eligible []Expert, quotas []Quota) (Result, error) {
	seen := map[string]bool{}
	for _, q := range quotas {
		if q.Specialty == "" || seen[q.Specialty] {
			return Result{}, fmt.Errorf("quota specialties must be non-empty and distinct, got %q", q.Specialty)
		}
		if q.Count < 1 || q.Reserves < 0 || q.Count > 100 || q.Reserves > 100 {
			return Result{}, fmt.Errorf("quota %s: count must be 1-100 and reserves 0-100", q.Specialty)
		}
		seen[q.Specialty] = true
	}
	g := &generator{seed: seed}
	taken := map[string]bool{}
	var res Result
	var short Shortage
	for _, q := range quotas {
		var cand []string
		for _, x := range eligible {
			if !taken[x.ID] && slices.Contains(x.Specialties, q.Specialty) {
				cand = append(cand, x.ID)
			}
		}
		need := q.Count + q.Reserves
		if len(cand) < need {
			short.Missing = append(short.Missing, Short{Specialty: q.Specialty, Count: q.Count, Reserves: q.Reserves, Eligible: len(cand)})
			for _, id := range cand {
				taken[id] = true
			}
			continue
		}
		for k := range need {
			j := k + g.uniform(len(cand)-k)
			cand[k], cand[j] = cand[j], cand[k]
			taken[cand[k]] = true
			seat := Seat{Expert: cand[k], Specialty: q.Specialty}
			if k < q.Count {
				res.Members = append(res.Members, seat)
			} else {
				res.Reserves = append(res.Reserves, seat)
			}
		}
	}
	if len(short.Missing) > 0 {
		return Result{}, &short
	}
	return res, nil
}

// Seed returns 32 bytes from crypto/rand.
func Seed() ([32]byte, error) {
	var s [32]byte
	_, err := rand.Read(s[:])
	return s, err
}
