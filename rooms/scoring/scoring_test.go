package scoring

import (
	"strings"
	"testing"
)

func TestLowestPrice(t *testing.T) {
	r := PriceRule{Method: Lowest, Weight: "30", AbovePerPct: "1", BelowPerPct: "0.5"}
	base, s, err := r.PriceScores(map[string]string{"a": "980000", "b": "1000000", "c": "1050000"})
	if err != nil {
		t.Fatal(err)
	}
	// base 980,000. b: d = 20,000/980,000 × 100 = 2.040816…% → 30 − 2.0408 = 27.959 → 27.96.
	// c: d = 70,000/980,000 × 100 = 7.142857…% → 30 − 7.1429 = 22.857 → 22.86.
	want := map[string]string{"a": "30.00", "b": "27.96", "c": "22.86"}
	if base != "980000.00" || s["a"] != want["a"] || s["b"] != want["b"] || s["c"] != want["c"] {
		t.Fatalf("base %s, scores %v; want 980000.00, %v", base, s, want)
	}
}

func TestMeanTrimmed(t *testing.T) {
	r := PriceRule{Method: MeanTrimmed, Weight: "40", AbovePerPct: "2", BelowPerPct: "1", Floor: "10"}
	prices := map[string]string{"a": "900", "b": "950", "c": "1000", "d": "1050", "e": "1500"}
	base, s, err := r.PriceScores(prices)
	if err != nil {
		t.Fatal(err)
	}
	// 5 bids ≥ 5: drop 900 and 1500; mean of 950, 1000, 1050 = 1000.
	// a: 10 % below → 40 − 10×1 = 30. b: 5 % below → 35. d: 5 % above → 40 − 10 = 30.
	// e: 50 % above → 40 − 100 → floor 10.
	want := map[string]string{"a": "30.00", "b": "35.00", "c": "40.00", "d": "30.00", "e": "10.00"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s: %s, want %s", k, s[k], v)
		}
	}
	if base != "1000.00" {
		t.Errorf("base %s, want 1000.00", base)
	}
	// 4 bids < 5: no trimming; mean (900+950+1000+1050)/4 = 975.
	delete(prices, "e")
	if base, s, _ = r.PriceScores(prices); base != "975.00" || s["c"] != "34.87" {
		// c: (1000−975)/975 × 100 = 2.5641…% above → 40 − 5.1282 = 34.8718 → 34.87.
		t.Errorf("untrimmed base %s, c %s; want 975.00, 34.87", base, s["c"])
	}
	// A 下浮率 of 2.5 %: base = 975 × 0.975 = 950.625; b at 950 is 0.0657…% below → 40 − 0.0657 = 39.934 → 39.93.
	r.Discount = "2.5"
	if base, s, _ = r.PriceScores(prices); base != "950.63" || s["b"] != "39.93" {
		t.Errorf("discounted base %s, b %s; want 950.63, 39.93", base, s["b"])
	}
}

func criteria() Criteria {
	return Criteria{
		Checks: []Check{{ID: "q1", Name: "营业执照"}},
		Items:  []Item{{ID: "t1", Name: "施工方案", Group: "technical", Max: "40"}, {ID: "c1", Name: "业绩", Group: "commercial", Max: "20"}},
		Price:  PriceRule{Method: Lowest, Weight: "40", AbovePerPct: "1", BelowPerPct: "1"},
	}
}

func sheet(bidder string, pass bool, t1, c1 string) Sheet {
	r := CheckResult{Pass: pass}
	if !pass {
		r.Reason = "营业执照已过期"
	}
	return Sheet{Bidder: bidder, Checks: map[string]CheckResult{"q1": r}, Scores: map[string]string{"t1": t1, "c1": c1}}
}

func TestTallyRanksTiesFailsAndOutliers(t *testing.T) {
	c := criteria()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	prices := map[string]string{"a": "100", "b": "100", "c": "120", "d": "90"}
	sheets := map[string]map[string]Sheet{
		// d fails q1 for two of three experts (a majority): invalid. c fails for one: still valid.
		"x": {"a": sheet("a", true, "30", "10"), "b": sheet("b", true, "30", "10"), "c": sheet("c", false, "35", "15"), "d": sheet("d", false, "40", "20")},
		"y": {"a": sheet("a", true, "30", "10"), "b": sheet("b", true, "30", "10"), "c": sheet("c", true, "35", "15"), "d": sheet("d", false, "40", "20")},
		"z": {"a": sheet("a", true, "30", "10"), "b": sheet("b", true, "30", "10"), "c": sheet("c", true, "11", "15"), "d": sheet("d", true, "40", "20")},
	}
	res, out, err := Tally(c, sheets, prices)
	if err != nil {
		t.Fatal(err)
	}
	// Valid: a, b at 100 (lowest) → 40; c at 120: 20 % above → 20.
	// a, b: 30 + 10 + 40 = 80 (tie, rank 1, 1, listed a then b).
	// c: mean t1 (35+35+11)/3 = 27, c1 15, price 20 → 62, rank 3. d invalid.
	got := ""
	for _, r := range res {
		got += r.Bidder + ":" + r.Total + ":" + string(rune('0'+r.Rank)) + " "
	}
	// d is invalid: its groups still show (40 + 20), no price score, no rank.
	if want := "a:80.00:1 b:80.00:1 c:62.00:3 d:60.00:0 "; got != want {
		t.Fatalf("results %s, want %s", got, want)
	}
	if res[3].Valid || len(res[3].Failed) != 1 || !res[2].Valid {
		t.Fatalf("validity: %+v", res)
	}
	// Outliers: share 0.25 × 40 = 10 points. c/t1 mean 27: z at 11 differs by 16 (> 10);
	// x and y at 35 differ by 8 (not). Nothing else deviates.
	if len(out) != 1 || out[0].Expert != "z" || out[0].Bidder != "c" || out[0].Item != "t1" || out[0].Mean != "27.00" {
		t.Fatalf("outliers %+v", out)
	}
}

func TestOutlierBoundary(t *testing.T) {
	c := criteria()
	c.OutlierShare = "0.5" // 20 points on t1
	prices := map[string]string{"a": "100"}
	at := func(hi string) []Outlier {
		// Two experts, scores 0 and hi: each differs from the mean by hi/2.
		_, out, err := Tally(c, map[string]map[string]Sheet{"x": {"a": sheet("a", true, "0", "0")}, "y": {"a": sheet("a", true, hi, "0")}}, prices)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := at("40"); len(out) != 0 {
		t.Errorf("a difference of exactly the share is flagged: %+v", out)
	}
	c.OutlierShare = "0.49"
	if out := at("40"); len(out) != 2 {
		t.Errorf("a difference over the share is not flagged: %+v", out)
	}
}

func TestCheckSheetErrors(t *testing.T) {
	c := criteria()
	cases := map[string]struct {
		s    Sheet
		want string
	}{
		"out of range":    {sheet("a", true, "41", "10"), "t1 (施工方案): 41 is outside 0.00-40.00"},
		"three decimals":  {sheet("a", true, "30.125", "10"), "t1 (施工方案): \"30.125\""},
		"fail w/o reason": {Sheet{Bidder: "a", Checks: map[string]CheckResult{"q1": {}}, Scores: map[string]string{"t1": "1", "c1": "1"}}, "failing q1 (营业执照)"},
		"unknown item":    {Sheet{Bidder: "a", Checks: map[string]CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": "1", "c1": "1", "zz": "1"}}, `"zz" is not an item`},
		"missing item":    {Sheet{Bidder: "a", Checks: map[string]CheckResult{"q1": {Pass: true}}, Scores: map[string]string{"t1": "1"}}, "c1 (业绩) has no score"},
		"missing verdict": {Sheet{Bidder: "a", Scores: map[string]string{"t1": "1", "c1": "1"}}, "q1 (营业执照) has no verdict"},
		"negative score":  {sheet("a", true, "-1", "1"), `"-1" is not a score`},
	}
	for name, k := range cases {
		if err := c.CheckSheet(k.s); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%s: err = %v, want it to say %q", name, err, k.want)
		}
	}
	if err := c.CheckSheet(sheet("a", false, "40", "0")); err != nil {
		t.Errorf("a good sheet: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, change := range map[string]func(*Criteria){
		"over 100":       func(c *Criteria) { c.Price.Weight = "41" },
		"unknown method": func(c *Criteria) { c.Price.Method = "guess" },
		"max below min":  func(c *Criteria) { c.Items[0].Min = "50" },
		"duplicate id":   func(c *Criteria) { c.Items[1].ID = "t1" },
		"bad group":      func(c *Criteria) { c.Items[0].Group = "other" },
		"bad share":      func(c *Criteria) { c.OutlierShare = "2" },
	} {
		c := criteria()
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzPriceScores(f *testing.F) {
	f.Add("100", "0.5", "mean_trimmed")
	f.Fuzz(func(t *testing.T, price, rate, method string) {
		r := PriceRule{Method: method, Weight: "30", AbovePerPct: rate, BelowPerPct: rate}
		_, _, _ = r.PriceScores(map[string]string{"a": price, "b": "100"})
		_ = criteria().CheckSheet(sheet("a", true, price, rate))
	})
}
