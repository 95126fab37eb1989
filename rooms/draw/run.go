package draw

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/tjfoc/gmsm/sm3"
)

// Seat is one drawn member or reserve.
type Seat struct {
	Expert    string `json:"expert"`
	Specialty string `json:"specialty"`
}

// Result is the ordered outcome of a draw.
type Result struct {
	Members  []Seat `json:"members"`  // in draw order, quota by quota
	Reserves []Seat `json:"reserves"` // in draw order, quota by quota: the replacement order for each specialty
}

// Short is one quota the eligible list cannot fill: Needed = Count +
// Reserves, Eligible is how many of the specialty's eligible experts
// earlier quotas cannot take (see the package doc), and Missing =
// Needed − Eligible.
type Short struct {
	Specialty                 string
	Needed, Eligible, Missing int
	Count, Reserves           int // the quota's members and reserves, for the message
}

// Shortage is the error when the eligible list cannot fill the quotas;
// Missing lists only the short specialties, in quota order.
type Shortage struct{ Missing []Short }

// Error says per short specialty how many are needed, how many are
// eligible and how many are missing, e.g. "too few eligible experts:
// A010101 needs 5 (3 members + 2 reserves), 3 eligible, 2 missing; B02
// needs ..." (a fixed format: the words stay plural for any number).
func (s *Shortage) Error() string {
	parts := make([]string, len(s.Missing))
	for i, m := range s.Missing {
		parts[i] = fmt.Sprintf("%s needs %d (%d members + %d reserves), %d eligible, %d missing",
			m.Specialty, m.Needed, m.Count, m.Reserves, m.Eligible, m.Missing)
	}
	return "too few eligible experts: " + strings.Join(parts, "; ")
}

// Run draws the quotas in order from eligible (strictly increasing by ID,
// as Eligible returns it) with the 32-byte seed, by the algorithm of the
// package doc. The same seed, eligible list and quotas give the same
// Result; within a quota each remaining candidate is equally likely to
// be in any seat. An expert with several specialties is drawn at most
// once (members and reserves together): quotas are processed in order
// and taken candidates are removed.
//
// Errors: a quota with Count < 1, Reserves < 0, Count + Reserves past
// the int range, or an empty or duplicate specialty; an eligible list out
// of ID order or with a repeated ID; and *Shortage when some quota could
// run out of candidates. The shortage is decided before drawing, by the
// conservative rule of the package doc, so it never depends on the seed.
// eligible is not modified.
func Run(seed [32]byte, eligible []Expert, quotas []Quota) (Result, error) {
	index := make(map[string]int, len(quotas)) // specialty → quota
	for i, q := range quotas {
		switch _, dup := index[q.Specialty]; {
		case q.Specialty == "":
			return Result{}, fmt.Errorf("quota %d: empty specialty", i+1)
		case dup:
			return Result{}, fmt.Errorf("quota %d: specialty %s is in an earlier quota", i+1, q.Specialty)
		case q.Count < 1:
			return Result{}, fmt.Errorf("quota %d (%s): count %d, want at least 1", i+1, q.Specialty, q.Count)
		case q.Reserves < 0:
			return Result{}, fmt.Errorf("quota %d (%s): reserves %d, want at least 0", i+1, q.Specialty, q.Reserves)
		case q.Reserves > math.MaxInt-q.Count:
			return Result{}, fmt.Errorf("quota %d (%s): count and reserves are too large", i+1, q.Specialty)
		}
		index[q.Specialty] = i
	}
	for i := 1; i < len(eligible); i++ {
		if eligible[i-1].ID >= eligible[i].ID {
			return Result{}, fmt.Errorf("eligible list: %q after %q: not strictly increasing by ID", eligible[i].ID, eligible[i-1].ID)
		}
	}
	// cand[q]: positions in eligible of quota q's candidates, increasing.
	cand := make([][]int, len(quotas))
	for i, x := range eligible {
		for _, s := range x.Specialties {
			if q, ok := index[s]; ok && (len(cand[q]) == 0 || cand[q][len(cand[q])-1] != i) {
				cand[q] = append(cand[q], i)
			}
		}
	}
	var short Shortage
	members, reserves, longest := 0, 0, 0
	for i, q := range quotas {
		need, avail := q.Count+q.Reserves, len(cand[i])
		for j, p := range quotas[:i] {
			avail -= min(p.Count+p.Reserves, overlap(cand[j], cand[i]))
		}
		avail = max(avail, 0)
		if avail < need {
			short.Missing = append(short.Missing, Short{Specialty: q.Specialty, Needed: need, Eligible: avail, Missing: need - avail, Count: q.Count, Reserves: q.Reserves})
		}
		members, reserves, longest = members+q.Count, reserves+q.Reserves, max(longest, len(cand[i]))
	}
	if len(short.Missing) > 0 {
		return Result{}, &short
	}
	res := Result{Members: make([]Seat, 0, members), Reserves: make([]Seat, 0, reserves)}
	g := newStream(seed)
	taken := make([]bool, len(eligible))
	list := make([]int, 0, longest)
	for i, q := range quotas {
		list = list[:0]
		for _, c := range cand[i] {
			if !taken[c] {
				list = append(list, c)
			}
		}
		need := q.Count + q.Reserves
		if len(list) < need { // unreachable after the shortage check; kept so a bug cannot panic
			return Result{}, fmt.Errorf("quota %d (%s): %d candidates left for %d seats", i+1, q.Specialty, len(list), need)
		}
		for k := range need {
			j := k + g.uniform(len(list)-k)
			list[k], list[j] = list[j], list[k]
			taken[list[k]] = true
			seat := Seat{Expert: eligible[list[k]].ID, Specialty: q.Specialty}
			if k < q.Count {
				res.Members = append(res.Members, seat)
			} else {
				res.Reserves = append(res.Reserves, seat)
			}
		}
	}
	return res, nil
}

// overlap counts the positions two increasing lists share.
func overlap(a, b []int) int {
	n := 0
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			a = a[1:]
		case a[0] > b[0]:
			b = b[1:]
		default:
			n, a, b = n+1, a[1:], b[1:]
		}
	}
	return n
}

// stream is the draw's random stream: SM3 blocks of a counter, read as
// big-endian uint64 values.
type stream struct {
	in    []byte // "bidroom-draw-v1" || seed || uint64be(block)
	block uint64
	out   []byte // the current block's unread bytes
}

const streamTag = "bidroom-draw-v1"

func newStream(seed [32]byte) *stream {
	in := make([]byte, 0, len(streamTag)+32+8)
	in = append(append(in, streamTag...), seed[:]...)
	return &stream{in: in}
}

// next returns the stream's next value.
func (s *stream) next() uint64 {
	if len(s.out) == 0 {
		s.out = sm3.Sm3Sum(binary.BigEndian.AppendUint64(s.in[:len(streamTag)+32], s.block))
		s.block++
	}
	x := binary.BigEndian.Uint64(s.out)
	s.out = s.out[8:]
	return x
}

// uniform returns an integer in [0, n), n ≥ 1, by rejection sampling:
// with r = 2^64 mod n, values x ≥ 2^64 − r are skipped, and x mod n is
// returned.
func (s *stream) uniform(n int) int {
	m := uint64(n)
	r := -m % m // (2^64 − m) mod m = 2^64 mod m
	for {
		if x := s.next(); x <= math.MaxUint64-r {
			return int(x % m)
		}
	}
}
