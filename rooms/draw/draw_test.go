package draw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

var at = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

// seedN is a counter-based SM3 stream of seeds, so the statistical tests
// are deterministic and never flake.
func seedN(i int) (s [32]byte) {
	copy(s[:], sm3.Sm3Sum(binary.BigEndian.AppendUint64([]byte("draw-test-seed"), uint64(i))))
	return s
}

// experts returns n experts e00.. of the given specialties.
func experts(n int, specialties ...string) []Expert {
	out := make([]Expert, n)
	for i := range out {
		out[i] = Expert{ID: fmt.Sprintf("e%02d", i), Employer: fmt.Sprintf("单位%d", i), Specialties: specialties, Credit: 100}
	}
	return out
}

func TestEligibleRules(t *testing.T) {
	rules := Rules{Tenderer: "招标人", BidderEmployers: []string{"乙公司"}, MinCredit: 60, MaxRepeats: 2, Period: 365 * 24 * time.Hour, At: at}
	recent, old := at.Add(-10*24*time.Hour), at.Add(-400*24*time.Hour)
	twice := func(tenderer string, a, b time.Time) []Past {
		return []Past{{Expert: "x", Tenderer: tenderer, At: a}, {Expert: "x", Tenderer: tenderer, At: b}}
	}
	cases := []struct {
		name    string
		change  func(*Expert, *Rules)
		history []Past
		want    string // "" for eligible
	}{
		{"eligible", nil, nil, ""},
		{"suspended", func(e *Expert, _ *Rules) { e.SuspendedUntil = at.Add(time.Hour) }, nil, Suspended},
		{"suspension ended before At", func(e *Expert, _ *Rules) { e.SuspendedUntil = at.Add(-time.Hour) }, nil, ""},
		{"suspension ends at At", func(e *Expert, _ *Rules) { e.SuspendedUntil = at }, nil, ""},
		{"bidder employer", func(e *Expert, _ *Rules) { e.Employer = "乙公司" }, nil, BidderEmployer},
		{"bidder employer, spaces trimmed", func(e *Expert, r *Rules) {
			e.Employer = " 甲公司\t"
			r.BidderEmployers = []string{"\u3000甲公司\u3000"}
		}, nil, BidderEmployer},
		{"bidder employer, inner spaces kept", func(e *Expert, r *Rules) { e.Employer = "甲 公司"; r.BidderEmployers = []string{"甲公司"} }, nil, ""},
		{"empty employer never matches a bidder", func(e *Expert, r *Rules) { e.Employer = " "; r.BidderEmployers = []string{""} }, nil, ""},
		{"tenderer staff", func(e *Expert, _ *Rules) { e.Employer = " 招标人 " }, nil, TendererStaff},
		{"empty employer never matches the tenderer", func(e *Expert, r *Rules) { e.Employer = ""; r.Tenderer = "\u3000" }, nil, ""},
		{"related", func(_ *Expert, r *Rules) { r.Related = []string{"y", "x"} }, nil, Related},
		{"low credit", func(e *Expert, _ *Rules) { e.Credit = 59 }, nil, LowCredit},
		{"credit at the floor", func(e *Expert, _ *Rules) { e.Credit = 60 }, nil, ""},
		{"no credit floor", func(e *Expert, r *Rules) { e.Credit = 0; r.MinCredit = 0 }, nil, ""},
		{"repeats within the period", nil, twice("招标人", recent, recent), Repeat},
		{"repeats, tenderer trimmed", nil, twice(" 招标人", recent, recent), Repeat},
		{"one repeat outside the period", nil, twice("招标人", old, recent), ""},
		{"repeats for another tenderer", nil, twice("别的招标人", recent, recent), ""},
		{"repeats below the limit", func(_ *Expert, r *Rules) { r.MaxRepeats = 3 }, twice("招标人", recent, recent), ""},
		{"no repeat limit", func(_ *Expert, r *Rules) { r.MaxRepeats = 0 }, twice("招标人", recent, recent), ""},
		{"no period: all history counts", func(_ *Expert, r *Rules) { r.Period = 0 }, twice("招标人", old, old), Repeat},
		{"first reason wins", func(e *Expert, r *Rules) { e.Credit = 0; r.Related = []string{"x"} }, nil, Related},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Expert{ID: "x", Employer: "甲公司", Specialties: []string{"A"}, Credit: 80}
			r := rules
			if c.change != nil {
				c.change(&e, &r)
			}
			el, ex := Eligible([]Expert{e}, r, c.history)
			got := ""
			if len(ex) == 1 {
				got = ex[0].Reason
			}
			if got != c.want || len(el)+len(ex) != 1 {
				t.Fatalf("reason %q (%d eligible, %d excluded), want %q", got, len(el), len(ex), c.want)
			}
		})
	}
}

func TestEligibleSorted(t *testing.T) {
	pool := []Expert{{ID: "c"}, {ID: "a", Credit: 1}, {ID: "d", Credit: 1}, {ID: "b"}}
	el, ex := Eligible(pool, Rules{MinCredit: 1, At: at}, nil)
	if len(el) != 2 || el[0].ID != "a" || el[1].ID != "d" {
		t.Errorf("eligible %v, want a, d", el)
	}
	if want := []Exclusion{{"b", LowCredit}, {"c", LowCredit}}; !reflect.DeepEqual(ex, want) {
		t.Errorf("excluded %v, want %v", ex, want)
	}
	if pool[0].ID != "c" {
		t.Error("Eligible reordered its input")
	}
}

func TestDigest(t *testing.T) {
	a := []Expert{{ID: "ab", Specialties: []string{"c"}}}
	b := []Expert{{ID: "a", Specialties: []string{"bc"}}}
	c := []Expert{{ID: "ab", Specialties: []string{"c"}, Name: "other fields are not covered"}}
	if Digest(a) == Digest(b) || Digest(a) == Digest(nil) || Digest(a) != Digest(c) || len(Digest(a)) != 64 {
		t.Errorf("digests %s %s %s %s", Digest(a), Digest(b), Digest(c), Digest(nil))
	}
}

func TestDeterministic(t *testing.T) {
	el := experts(30, "A")
	for i := range 10 {
		el[i].Specialties = []string{"A", "B"}
	}
	before := fmt.Sprint(el)
	quotas := []Quota{{Specialty: "B", Count: 3, Reserves: 2}, {Specialty: "A", Count: 4, Reserves: 2}}
	a, err := Run(seedN(1), el, quotas)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := Run(seedN(1), el, quotas); !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different draws:\n%v\n%v", a, b)
	}
	if c, _ := Run(seedN(2), el, quotas); reflect.DeepEqual(a, c) {
		t.Fatalf("two seeds drew the same: %v", a)
	}
	if fmt.Sprint(el) != before {
		t.Fatal("Run modified the eligible list")
	}
	if len(a.Members) != 7 || len(a.Reserves) != 4 {
		t.Fatalf("%d members and %d reserves, want 7 and 4", len(a.Members), len(a.Reserves))
	}
}

func TestMultiSpecialtyDrawnOnce(t *testing.T) {
	el := experts(8, "A", "B", "C") // every expert fits every quota
	quotas := []Quota{{Specialty: "A", Count: 2, Reserves: 1}, {Specialty: "B", Count: 1, Reserves: 1}, {Specialty: "C", Count: 2, Reserves: 1}}
	for i := range 500 {
		r, err := Run(seedN(i), el, quotas)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, s := range append(r.Members, r.Reserves...) {
			if seen[s.Expert] {
				t.Fatalf("seed %d: %s drawn twice in %v", i, s.Expert, r)
			}
			seen[s.Expert] = true
		}
		if len(seen) != 8 {
			t.Fatalf("seed %d: %d drawn, want 8", i, len(seen))
		}
	}
}

func TestShortage(t *testing.T) {
	el := append(experts(3, "A010101"), Expert{ID: "f1", Specialties: []string{"B02"}}, Expert{ID: "f2", Specialties: []string{"C"}})
	_, err := Run(seedN(1), el, []Quota{{Specialty: "A010101", Count: 3, Reserves: 2}, {Specialty: "C", Count: 1}, {Specialty: "B02", Count: 1, Reserves: 1}})
	const want = "too few eligible experts: A010101 needs 5 (3 members + 2 reserves), 3 eligible, 2 missing; B02 needs 2 (1 members + 1 reserves), 1 eligible, 1 missing"
	var s *Shortage
	if !errors.As(err, &s) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if len(s.Missing) != 2 || s.Missing[1] != (Short{Specialty: "B02", Needed: 2, Eligible: 1, Missing: 1, Count: 1, Reserves: 1}) {
		t.Errorf("missing %+v", s.Missing)
	}
	// Overlap: A may take x, so B is short for every seed, not just some.
	el = []Expert{{ID: "x", Specialties: []string{"A", "B"}}, {ID: "y", Specialties: []string{"A"}}}
	for i := range 20 {
		if _, err := Run(seedN(i), el, []Quota{{Specialty: "A", Count: 1}, {Specialty: "B", Count: 1}}); !errors.As(err, &s) {
			t.Fatalf("seed %d: err = %v, want a shortage", i, err)
		}
	}
	// The narrower specialty first fills both.
	if _, err := Run(seedN(0), el, []Quota{{Specialty: "B", Count: 1}, {Specialty: "A", Count: 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestInvalid(t *testing.T) {
	el := experts(5, "A")
	for name, q := range map[string][]Quota{
		"zero count":         {{Specialty: "A", Count: 0}},
		"negative reserves":  {{Specialty: "A", Count: 1, Reserves: -1}},
		"empty specialty":    {{Specialty: "", Count: 1}},
		"duplicate":          {{Specialty: "A", Count: 1}, {Specialty: "A", Count: 1}},
		"overflowing counts": {{Specialty: "A", Count: math.MaxInt, Reserves: 1}},
	} {
		var s *Shortage
		if _, err := Run(seedN(0), el, q); err == nil || errors.As(err, &s) {
			t.Errorf("%s: err = %v, want a refusal of the quotas", name, err)
		}
	}
	for name, el := range map[string][]Expert{
		"unsorted":  {{ID: "b"}, {ID: "a"}},
		"duplicate": {{ID: "a"}, {ID: "a"}},
	} {
		if _, err := Run(seedN(0), el, []Quota{{Specialty: "A", Count: 1}}); err == nil || !strings.Contains(err.Error(), "increasing") {
			t.Errorf("%s list: err = %v", name, err)
		}
	}
}

// TestVector is a regression vector (it is also in the package doc):
// the values were computed by this implementation and must never change,
// since recorded draws are re-run with them.
func TestVector(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	var el []Expert
	for i := 1; i <= 12; i++ {
		sp := []string{"A"}
		switch {
		case i == 7 || i == 8:
			sp = []string{"A", "B"}
		case i > 8:
			sp = []string{"B"}
		}
		el = append(el, Expert{ID: fmt.Sprintf("e%02d", i), Specialties: sp})
	}
	if x := newStream(seed).next(); x != 0xe693d9353a976985 {
		t.Errorf("first stream value %#x", x)
	}
	if d := Digest(el); d != "1f917a6ea3046254d488368f93bb0b71bde1775b737c874c2013ebf071060041" {
		t.Errorf("digest %s", d)
	}
	r, err := Run(seed, el, []Quota{{Specialty: "A", Count: 3, Reserves: 1}, {Specialty: "B", Count: 2, Reserves: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Members:  []Seat{{"e06", "A"}, {"e03", "A"}, {"e07", "A"}, {"e12", "B"}, {"e08", "B"}},
		Reserves: []Seat{{"e05", "A"}, {"e09", "B"}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("draw %v, want the recorded %v", r, want)
	}
}

const (
	draws    = 20000
	critical = 43.82 // chi-square, 19 degrees of freedom, p = 0.001
)

// chiSquare of counts against a uniform expectation.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	exp := float64(total) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		x += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	return x
}

// seatCounts counts, over the test's seeds, which of 20 experts pick puts
// in the seat.
func seatCounts(t *testing.T, pick func(seed [32]byte) string) []int {
	counts := make([]int, 20)
	for i := range draws {
		var n int
		if _, err := fmt.Sscanf(pick(seedN(i)), "e%d", &n); err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	return counts
}

func TestUniform(t *testing.T) {
	el := experts(20, "A")
	seat := func(count, seat int) func([32]byte) string {
		return func(seed [32]byte) string {
			r, err := Run(seed, el, []Quota{{Specialty: "A", Count: count}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Members[seat].Expert
		}
	}
	for name, pick := range map[string]func([32]byte) string{"1 of 1": seat(1, 0), "seat 2 of 3": seat(3, 1)} {
		x := chiSquare(seatCounts(t, pick))
		t.Logf("%s: chi-square %.1f", name, x)
		if x > critical {
			t.Errorf("%s: chi-square %.1f > %.2f: not uniform", name, x, critical)
		}
	}
	// The check is real: the same assertion fails for a modulo-biased
	// picker and for an off-by-one shuffle (Sattolo's, never leaving an
	// expert in place).
	biased := func(seed [32]byte) string { return el[int(newStream(seed).next()&63)%20].ID }
	sattolo := func(seed [32]byte) string {
		g, l := newStream(seed), make([]int, 20)
		for i := range l {
			l[i] = i
		}
		for k := range 2 {
			j := k + 1 + g.uniform(20-k-1)
			l[k], l[j] = l[j], l[k]
		}
		return el[l[1]].ID
	}
	for name, pick := range map[string]func([32]byte) string{"v&63 % 20": biased, "Sattolo seat 2": sattolo} {
		x := chiSquare(seatCounts(t, pick))
		t.Logf("%s (biased): chi-square %.1f", name, x)
		if x <= critical {
			t.Errorf("%s: chi-square %.1f passes a biased draw", name, x)
		}
	}
}

func FuzzRun(f *testing.F) {
	f.Add([]byte{1}, []byte{1, 3, 3, 2, 7, 255}, []byte{0, 2, 1, 1, 1, 0}, 0)
	f.Add([]byte{}, []byte{}, []byte{9, 0, 0}, math.MaxInt)
	f.Fuzz(func(t *testing.T, seedBytes, pool, spec []byte, big int) {
		if len(pool) > 2000 || len(spec) > 60 {
			return
		}
		var seed, other [32]byte
		copy(seed[:], seedBytes)
		other[0] = ^seed[0]
		codes := []string{"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", ""}
		el := make([]Expert, len(pool))
		for i, b := range pool { // bit k: specialty Sk
			el[i].ID = fmt.Sprintf("x%04d", i)
			for k := range 8 {
				if b&(1<<k) != 0 {
					el[i].Specialties = append(el[i].Specialties, codes[k])
				}
			}
		}
		var quotas []Quota
		for i := 0; i+2 < len(spec); i += 3 {
			quotas = append(quotas, Quota{Specialty: codes[int(spec[i])%len(codes)], Count: int(int8(spec[i+1])) % 9, Reserves: int(int8(spec[i+2])) % 5})
		}
		if len(quotas) > 0 && big != 0 {
			quotas[0].Count = big
		}
		r, err := Run(seed, el, quotas)
		_, err2 := Run(other, el, quotas)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("the outcome depends on the seed: %v / %v", err, err2)
		}
		if err != nil {
			return
		}
		members, reserves := 0, 0
		for _, q := range quotas {
			members, reserves = members+q.Count, reserves+q.Reserves
		}
		if len(r.Members) != members || len(r.Reserves) != reserves {
			t.Fatalf("%d members and %d reserves for %v", len(r.Members), len(r.Reserves), quotas)
		}
		seen := map[string]bool{}
		for _, s := range append(r.Members, r.Reserves...) {
			var i int
			fmt.Sscanf(s.Expert, "x%d", &i)
			if seen[s.Expert] || !strings.Contains(" "+strings.Join(el[i].Specialties, " ")+" ", " "+s.Specialty+" ") {
				t.Fatalf("seat %v: drawn twice or of another specialty (%v)", s, el[i].Specialties)
			}
			seen[s.Expert] = true
		}
	})
}

func BenchmarkDraw100k(b *testing.B) {
	pool := make([]Expert, 100_000)
	for i := range pool {
		pool[i] = Expert{
			ID: fmt.Sprintf("E%06d", (i*7919)%100_000), Name: fmt.Sprintf("专家%d", i), Employer: fmt.Sprintf("单位%d", i%5000),
			Specialties: []string{fmt.Sprintf("A%02d", i%50), fmt.Sprintf("A%02d", (i/50)%50)}, Credit: 60 + i%41,
		}
		if i%97 == 0 {
			pool[i].SuspendedUntil = at.Add(time.Hour)
		}
	}
	var history []Past
	for i := range 5000 {
		history = append(history, Past{Expert: pool[i*13].ID, Tenderer: "单位1", At: at.Add(-time.Duration(i) * time.Hour)})
	}
	rules := Rules{Tenderer: "单位1", BidderEmployers: []string{"单位2", "单位3", "单位4"}, Related: []string{"E000001", "E000002"},
		MinCredit: 65, MaxRepeats: 1, Period: 90 * 24 * time.Hour, At: at}
	quotas := []Quota{{Specialty: "A01", Count: 3, Reserves: 1}, {Specialty: "A02", Count: 2, Reserves: 1}, {Specialty: "A03", Count: 2, Reserves: 1}}
	b.ReportAllocs()
	for b.Loop() {
		eligible, _ := Eligible(pool, rules, history)
		_ = Digest(eligible)
		if _, err := Run(seedN(1), eligible, quotas); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
