package draw

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

var at = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func pool(n int, specialty string) []Expert {
	out := make([]Expert, n)
	for i := range out {
		out[i] = Expert{ID: fmt.Sprintf("e%03d", i), Name: fmt.Sprintf("专家%d", i), Employer: fmt.Sprintf("单位%d", i), Specialties: []string{specialty}, Credit: 100}
	}
	return out
}

// seedN is a deterministic stream of seeds, so the statistical tests never flake.
func seedN(i int) (s [32]byte) {
	copy(s[:], sm3.Sm3Sum(binary.BigEndian.AppendUint64([]byte("test-seed"), uint64(i))))
	return s
}

func TestEachExclusionRule(t *testing.T) {
	base := Expert{ID: "x", Employer: " 甲公司 ", Specialties: []string{"A"}, Credit: 80}
	rules := Rules{Tenderer: "招标人", BidderEmployers: []string{"乙公司"}, MinCredit: 60, MaxRepeats: 2, Period: 365 * 24 * time.Hour, At: at}
	old := at.Add(-400 * 24 * time.Hour)
	recent := at.Add(-10 * 24 * time.Hour)
	cases := []struct {
		name    string
		change  func(*Expert, *Rules)
		history []Past
		want    string
	}{
		{"eligible", func(*Expert, *Rules) {}, nil, ""},
		{"suspended", func(e *Expert, _ *Rules) { e.SuspendedUntil = at.Add(time.Hour) }, nil, Suspended},
		{"suspension over", func(e *Expert, _ *Rules) { e.SuspendedUntil = at.Add(-time.Hour) }, nil, ""},
		{"bidder employer, spaces trimmed", func(_ *Expert, r *Rules) { r.BidderEmployers = []string{"甲公司\u3000"} }, nil, BidderEmployer},
		{"tenderer staff", func(e *Expert, _ *Rules) { e.Employer = "招标人" }, nil, TendererStaff},
		{"empty employer never matches", func(e *Expert, r *Rules) { e.Employer = ""; r.BidderEmployers = []string{" "} }, nil, ""},
		{"related", func(_ *Expert, r *Rules) { r.Related = []string{"x"} }, nil, Related},
		{"low credit", func(e *Expert, _ *Rules) { e.Credit = 59 }, nil, LowCredit},
		{"repeat within the period", func(*Expert, *Rules) {}, []Past{{"x", "招标人", recent}, {"x", "招标人", recent}}, Repeat},
		{"repeats outside the period", func(*Expert, *Rules) {}, []Past{{"x", "招标人", old}, {"x", "招标人", recent}}, ""},
		{"repeats for another tenderer", func(*Expert, *Rules) {}, []Past{{"x", "别人", recent}, {"x", "别人", recent}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, r := base, rules
			r.BidderEmployers = append([]string(nil), rules.BidderEmployers...)
			c.change(&e, &r)
			el, ex := Eligible([]Expert{e}, r, c.history)
			got := ""
			if len(ex) == 1 {
				got = ex[0].Reason
			}
			if got != c.want || len(el)+len(ex) != 1 {
				t.Fatalf("excluded for %q (eligible %d), want %q", got, len(el), c.want)
			}
		})
	}
}

func TestDeterministicAndDistinct(t *testing.T) {
	el := pool(30, "A")
	for i := range 10 {
		el[i].Specialties = []string{"A", "B"} // drawable for both quotas
	}
	quotas := []Quota{{Specialty: "B", Count: 3, Reserves: 2}, {Specialty: "A", Count: 4, Reserves: 2}}
	a, err := Run(seedN(1), el, quotas)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(seedN(1), el, quotas)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different draws: %v, %v", a, b)
	}
	c, _ := Run(seedN(2), el, quotas)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("two seeds drew the same: %v", a)
	}
	seen := map[string]bool{}
	for _, s := range append(a.Members, a.Reserves...) {
		if seen[s.Expert] {
			t.Fatalf("%s drawn twice in %v", s.Expert, a)
		}
		seen[s.Expert] = true
	}
	if len(a.Members) != 7 || len(a.Reserves) != 4 {
		t.Fatalf("got %d members, %d reserves", len(a.Members), len(a.Reserves))
	}
	if Digest(el) == Digest(el[1:]) {
		t.Fatal("the digest does not depend on the list")
	}
}

// A regression vector: the draw's algorithm is a published contract.
func TestVector(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	r, err := Run(seed, pool(10, "A"), []Quota{{Specialty: "A", Count: 3, Reserves: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r); got != vector {
		t.Fatalf("draw = %s, want the recorded %s", got, vector)
	}
}

const vector = "{[{e009 A} {e008 A} {e004 A}] [{e006 A}]}"

func TestShortageSaysWhatIsMissing(t *testing.T) {
	el := append(pool(3, "A"), Expert{ID: "z1", Specialties: []string{"B"}})
	_, err := Run(seedN(1), el, []Quota{{Specialty: "A", Count: 3, Reserves: 2}, {Specialty: "B", Count: 2, Reserves: 1}, {Specialty: "C", Count: 1}})
	want := "too few eligible experts: A needs 5 (3 members + 2 reserves), 3 eligible, 2 missing; B needs 3 (2 members + 1 reserves), 1 eligible, 2 missing; C needs 1 (1 members + 0 reserves), 0 eligible, 1 missing"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	for _, q := range [][]Quota{{{Specialty: "A", Count: 0}}, {{Specialty: "", Count: 1}}, {{Specialty: "A", Count: 1}, {Specialty: "A", Count: 1}}, {{Specialty: "A", Count: 1, Reserves: -1}}} {
		if _, err := Run(seedN(1), el, q); err == nil || strings.Contains(err.Error(), "too few") {
			t.Errorf("quotas %v: err = %v, want a refusal of the quotas", q, err)
		}
	}
}

// chiSquare of counts against a uniform expectation.
func chiSquare(counts []int, total int) float64 {
	exp := float64(total) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		x += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	return x
}

func TestUniform(t *testing.T) {
	const draws = 20000
	const critical = 43.82 // chi-square, 19 degrees of freedom, p = 0.001
	el := pool(20, "A")
	first, second := make([]int, 20), make([]int, 20)
	for i := range draws {
		r, err := Run(seedN(i), el, []Quota{{Specialty: "A", Count: 3}})
		if err != nil {
			t.Fatal(err)
		}
		var a, b int
		fmt.Sscanf(r.Members[0].Expert, "e%d", &a)
		fmt.Sscanf(r.Members[1].Expert, "e%d", &b)
		first[a]++
		second[b]++
	}
	for name, counts := range map[string][]int{"seat 1": first, "seat 2": second} {
		if x := chiSquare(counts, draws); x > critical {
			t.Errorf("%s: chi-square %.1f > %.2f: not uniform (%v)", name, x, critical, counts)
		}
	}
	// The test can fail: a picker biased to the first half of the list fails it.
	biased := make([]int, 20)
	for i := range draws {
		biased[(i*7)%15]++
	}
	if chiSquare(biased, draws) <= critical {
		t.Error("the chi-square check passes a biased draw")
	}
}

func FuzzRun(f *testing.F) {
	f.Add(5, 2, 3, 1, byte(1))
	f.Fuzz(func(t *testing.T, n, count, reserves, specialties int, s byte) {
		if n < 0 || n > 500 {
			return
		}
		el := pool(n, "A")
		var seed [32]byte
		seed[0] = s
		r, err := Run(seed, el, []Quota{{Specialty: "A", Count: count, Reserves: reserves}, {Specialty: fmt.Sprint(specialties), Count: 1}})
		if err == nil && len(r.Members) != count+1 {
			t.Fatalf("%d members for quotas of %d", len(r.Members), count+1)
		}
	})
}

func BenchmarkDraw100k(b *testing.B) {
	el := make([]Expert, 100_000)
	for i := range el {
		el[i] = Expert{ID: fmt.Sprintf("e%06d", i), Employer: fmt.Sprintf("单位%d", i%5000), Specialties: []string{fmt.Sprintf("S%02d", i%50), fmt.Sprintf("S%02d", (i*7)%50)}, Credit: 60 + i%41}
	}
	rules := Rules{Tenderer: "单位1", BidderEmployers: []string{"单位2", "单位3", "单位4"}, MinCredit: 70, At: at}
	quotas := []Quota{{Specialty: "S01", Count: 3, Reserves: 1}, {Specialty: "S02", Count: 2, Reserves: 1}, {Specialty: "S03", Count: 2, Reserves: 1}}
	b.ReportAllocs()
	for b.Loop() {
		eligible, _ := Eligible(el, rules, nil)
		_ = Digest(eligible)
		if _, err := Run(seedN(1), eligible, quotas); err != nil {
			b.Fatal(err)
		}
	}
}
