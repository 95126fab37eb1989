package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/stats"
	"github.com/bidroom/bidroom/stats/statstest"
	"github.com/bidroom/bidroom/store/embedded"
)

// seedOptions is the data set of the tests: 1,000 openings over a year
// and a bit (from 2025-12-20, one every 8 h 53 min), 60 auctions, 100
// evaluations that award and 20 that only draw, across 3 centers and 3
// opening categories (2 auction categories).
var seedOptions = statstest.Options{
	Openings: 1000, Auctions: 60, Evaluations: 100, Drawn: 20, Seed: 15,
	Start: time.Date(2025, 12, 20, 1, 30, 0, 0, time.UTC), Step: 8*time.Hour + 53*time.Minute,
}

const mainCenter = "city"

func seeded(t *testing.T, o statstest.Options) (*rooms.Service, statstest.Plan) {
	t.Helper()
	clock := &statstest.Clock{}
	svc := rooms.NewService(statstest.NewMemLog(), clock.Now)
	start := time.Now()
	plan := statstest.Seed(t, svc, clock, o)
	t.Logf("seeded %d openings, %d auctions in %v", len(plan.Openings), len(plan.Auctions), time.Since(start).Round(time.Millisecond))
	return svc, plan
}

// want is a group's figures computed from the seed's own table:
// counts, amounts (exact) and rates (exact, nil for none).
type want struct {
	counts  map[string]int
	amounts map[string]*big.Rat
	rates   map[string]*big.Rat
}

func newWant() *want {
	w := &want{counts: map[string]int{}, amounts: map[string]*big.Rat{}, rates: map[string]*big.Rat{}}
	for _, k := range []string{"award_total", "budget_total", "award_with_budget", "sold_total", "start_total"} {
		w.amounts[k] = new(big.Rat)
	}
	return w
}

func yuan(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not an amount: %q", s)
	}
	return r
}

func (w *want) add(k string, r *big.Rat) { w.amounts[k].Add(w.amounts[k], r) }

// finish works out the differences and the rates.
func (w *want) finish() {
	c := w.counts
	frac := func(n, d int) *big.Rat {
		if d == 0 {
			return nil
		}
		return big.NewRat(int64(n), int64(d))
	}
	w.rates["failed_rate"] = frac(c["failed"], c["due"])
	w.rates["bids_per_section"] = frac(c["bids"], c["due"])
	w.rates["unlock_failure_rate"] = frac(c["bids_unlock_failed"], c["bids_decrypting"])
	w.rates["unsold_rate"] = frac(c["unsold"], c["sold"]+c["unsold"])
	w.amounts["savings"] = new(big.Rat).Sub(w.amounts["budget_total"], w.amounts["award_with_budget"])
	w.amounts["premium"] = new(big.Rat).Sub(w.amounts["sold_total"], w.amounts["start_total"])
	w.rates["savings_rate"], w.rates["premium_rate"] = nil, nil
	if w.amounts["budget_total"].Sign() != 0 {
		w.rates["savings_rate"] = new(big.Rat).Quo(w.amounts["savings"], w.amounts["budget_total"])
	}
	if w.amounts["start_total"].Sign() != 0 {
		w.rates["premium_rate"] = new(big.Rat).Quo(w.amounts["premium"], w.amounts["start_total"])
	}
}

// expected computes, from the plan alone, the figures of the period
// [from, to) for the centers include admits: "total", "center:ID",
// "category:C" and "month:YYYY-MM".
func expected(t *testing.T, plan statstest.Plan, from, to time.Time, include func(string) bool) map[string]*want {
	t.Helper()
	out := map[string]*want{}
	groups := func(center, category string, at time.Time) []*want {
		var ws []*want
		for _, k := range []string{"total", "center:" + center, "category:" + category, "month:" + at.In(stats.Beijing).Format("2006-01")} {
			if out[k] == nil {
				out[k] = newWant()
			}
			ws = append(ws, out[k])
		}
		return ws
	}
	out["total"] = newWant()
	for m := time.Date(from.In(stats.Beijing).Year(), from.In(stats.Beijing).Month(), 1, 0, 0, 0, 0, stats.Beijing); m.Before(to); m = m.AddDate(0, 1, 0) {
		out["month:"+m.Format("2006-01")] = newWant()
	}
	centerOf := func(c string) string {
		if c == "" {
			return mainCenter
		}
		return c
	}
	for _, o := range plan.Openings {
		c := centerOf(o.Center)
		if o.Deadline.Before(from) || !o.Deadline.Before(to) || (include != nil && !include(c)) {
			continue
		}
		for _, w := range groups(c, o.Category, o.Deadline) {
			n := w.counts
			n["sessions"]++
			if o.Due {
				n["due"]++
				n["bids"] += len(o.Bids)
				if len(o.Bids) < 3 {
					n["failed"]++
				}
			}
			if o.ReadOut {
				n["completed"]++
				n["bids_decrypting"] += len(o.Bids)
			}
			for j := range o.FailedAttempts {
				n["unlock_failures"] += o.FailedAttempts[j]
				if o.FailedAttempts[j] > 0 {
					n["bids_unlock_failed"]++
				}
				if !o.Opens[j] {
					n["bids_not_opened"]++
				}
			}
			if o.Evaluation != "" {
				n["evaluations_drawn"]++
				n["experts_drawn"] += plan.Members
				n["reserves_drawn"] += plan.Reserves
				if o.Replaced {
					n["replacements"]++
				}
			}
			if o.Evaluation != "awarded" {
				continue
			}
			n["awarded"]++
			w.add("award_total", yuan(t, o.Award))
			budget := o.Budget
			if budget == "" {
				budget = o.Control
				if budget != "" {
					n["budget_from_control"]++
				}
			}
			if budget == "" {
				n["no_budget"]++
				continue
			}
			n["savings_sessions"]++
			w.add("budget_total", yuan(t, budget))
			w.add("award_with_budget", yuan(t, o.Award))
		}
	}
	for _, a := range plan.Auctions {
		c := centerOf(a.Center)
		if a.End.Before(from) || !a.End.Before(to) || (include != nil && !include(c)) {
			continue
		}
		for _, w := range groups(c, a.Category, a.End) {
			n := w.counts
			n["auctions"]++
			if !a.Ended {
				continue
			}
			n["auctions_ended"]++
			if a.Steps < 0 {
				n["unsold"]++
				continue
			}
			n["sold"]++
			w.add("sold_total", yuan(t, a.Price))
			w.add("start_total", yuan(t, a.Start))
		}
	}
	for _, w := range out {
		w.finish()
	}
	return out
}

// check compares figures (as their JSON) with w, field by field.
func check(t *testing.T, group string, f stats.Figures, w *want) {
	t.Helper()
	raw, _ := json.Marshal(f)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for k, v := range got {
		switch x := v.(type) {
		case string: // an amount
			seen++
			if want := w.amounts[k]; want == nil || yuan(t, x).Cmp(want) != 0 {
				t.Errorf("%s %s = %s, want %v", group, k, x, ratString(w.amounts[k]))
			}
		case nil: // a rate with nothing to divide by
			seen++
			if r, ok := w.rates[k]; !ok || r != nil {
				t.Errorf("%s %s = null, want %v", group, k, ratString(r))
			}
		case float64:
			seen++
			if r, isRate := w.rates[k]; isRate {
				if r == nil {
					t.Errorf("%s %s = %v, want null", group, k, x)
				} else if f, _ := r.Float64(); f != x {
					t.Errorf("%s %s = %v, want %v (%s)", group, k, x, f, r.RatString())
				}
			} else if int(x) != w.counts[k] {
				t.Errorf("%s %s = %v, want %d", group, k, x, w.counts[k])
			}
		default:
			t.Errorf("%s %s: unexpected %T", group, k, v)
		}
	}
	if seen != len(stats.Columns) {
		t.Errorf("%s: %d figures in the JSON, %d columns", group, seen, len(stats.Columns))
	}
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "null"
	}
	return r.FloatString(4)
}

// checkReport compares every row of rep with the expected groups, and
// that the report has no group the plan does not.
func checkReport(t *testing.T, rep stats.Report, wants map[string]*want) {
	t.Helper()
	check(t, "total", rep.Total, wants["total"])
	n := 1
	for prefix, rows := range map[string][]stats.Row{"center:": rep.Centers, "category:": rep.Categories, "month:": rep.Months} {
		for _, r := range rows {
			w := wants[prefix+r.Key]
			if w == nil {
				t.Errorf("the report has %s%s, the plan does not", prefix, r.Key)
				continue
			}
			check(t, prefix+r.Key, r.Figures, w)
			n++
		}
	}
	if n != len(wants) {
		keys := make([]string, 0, len(wants))
		for k := range wants {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Errorf("the report has %d groups, the plan %d: %v", n, len(wants), keys)
	}
}

func day(s string) time.Time {
	d, err := time.ParseInLocation("2006-01-02", s, stats.Beijing)
	if err != nil {
		panic(err)
	}
	return d
}

// TestStatsAgainstTheSeed: the figures of the seeded data set (1,000
// openings, 60 auctions, 120 evaluations) for three periods and center
// filters equal the ones computed from the seed's own table.
func TestStatsAgainstTheSeed(t *testing.T) {
	svc, plan := seeded(t, seedOptions)
	ctx := context.Background()
	start := time.Now()
	c, err := stats.Collect(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collected in %v", time.Since(start).Round(time.Millisecond))

	awarded, failed, noBudget, control := 0, 0, 0, 0
	for _, o := range plan.Openings {
		if o.Evaluation == "awarded" {
			awarded++
			switch {
			case o.Budget == "" && o.Control == "":
				noBudget++
			case o.Budget == "":
				control++
			}
		}
		if o.Due && len(o.Bids) < 3 {
			failed++
		}
	}
	if len(plan.Openings) < 1000 || awarded < 90 || failed < 50 || noBudget == 0 || control == 0 {
		t.Fatalf("the seed lacks its mix: %d openings, %d awarded (%d no budget, %d from the control price), %d failed", len(plan.Openings), awarded, noBudget, control, failed)
	}

	cases := []struct {
		name     string
		from, to time.Time
		include  func(string) bool
	}{
		{"2026, every center", day("2026-01-01"), day("2027-01-01"), nil},
		{"everything", day("2025-01-01"), day("2028-01-01"), nil},
		{"Q2 2026, jiangning", day("2026-04-01"), day("2026-07-01"), func(c string) bool { return c == "jiangning" }},
		{"March 2026, city and pukou", day("2026-03-01"), day("2026-04-01"), func(c string) bool { return c != "jiangning" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := c.Report(stats.Query{From: tc.from, To: tc.to, MainCenter: mainCenter, Include: tc.include})
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, rep, expected(t, plan, tc.from, tc.to, tc.include))
			if rep.Total.Sessions == 0 {
				t.Error("no session in the period")
			}
		})
	}
}

// TestAmounts: parsing and writing amounts, exactly.
func TestAmounts(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1200000": "1200000", "980000.5": "980000.50", "980000.50": "980000.50",
		"12.3456": "12.3456", "12.3": "12.30", "9999999999999999.9999": "9999999999999999.9999"} {
		a, ok := stats.ParseAmount(in)
		if !ok || a.String() != want {
			t.Errorf("ParseAmount(%q) = %s %v, want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "1.23456", "1e6", " 1", "1,000", "1.", ".5", "12345678901234567"} {
		if _, ok := stats.ParseAmount(in); ok {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
	a, _ := stats.ParseAmount("100.25")
	b, _ := stats.ParseAmount("200.5")
	if got := a.Sub(b).String(); got != "-100.25" {
		t.Errorf("100.25 − 200.5 = %s", got)
	}
}

// TestPeriods: the months of a period, and the refusals.
func TestPeriods(t *testing.T) {
	m, err := stats.Months(day("2026-01-15"), day("2026-04-01"))
	if err != nil || fmt.Sprint(m) != "[2026-01 2026-02 2026-03]" {
		t.Errorf("months %v %v", m, err)
	}
	for _, p := range [][2]time.Time{{day("2026-02-01"), day("2026-02-01")}, {day("2026-03-01"), day("2026-02-01")}, {day("2000-01-01"), day("2026-01-01")}} {
		if _, err := stats.Months(p[0], p[1]); err == nil {
			t.Errorf("period %v accepted", p)
		}
	}
}

// TestSeedOnTheEmbeddedStore measures what seeding costs on the real
// store (bbolt, one fsync per append) for 50 openings, to say why the
// big test seeds in memory. STATS_SEED_DIR, when set, instead writes the
// e2e test's data set (200 openings) there, as <dir>/events.db.
func TestSeedOnTheEmbeddedStore(t *testing.T) {
	dir, o := t.TempDir(), seedOptions
	o.Openings, o.Auctions, o.Evaluations, o.Drawn = 50, 5, 5, 1
	if d := os.Getenv("STATS_SEED_DIR"); d != "" {
		dir = d
		o.Openings, o.Auctions, o.Evaluations, o.Drawn = 200, 20, 20, 4
		o.Start = time.Date(2026, 1, 3, 1, 30, 0, 0, time.UTC)
		o.Step = 40 * time.Hour
	} else if testing.Short() {
		t.Skip("fsyncs")
	}
	log, err := embedded.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	clock := &statstest.Clock{}
	svc := rooms.NewService(log, clock.Now)
	start := time.Now()
	plan := statstest.Seed(t, svc, clock, o)
	n := 0
	ids, _ := log.Rooms(context.Background())
	for _, id := range ids {
		ev, _ := svc.EventsAfter(context.Background(), id, 0)
		n += len(ev)
	}
	t.Logf("embedded store: %d openings, %d rooms, %d events in %v", len(plan.Openings), len(ids), n, time.Since(start).Round(time.Millisecond))
}
