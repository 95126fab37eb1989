// Package scoring is the evaluation committee's arithmetic (综合评估法):
// criteria, checking one expert's score sheet, the price score formula,
// totals, ranking and outliers. Amounts and points are exact rationals
// (math/big.Rat); only a final figure is rounded, to 2 decimals, half away
// from zero.
package scoring

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Item is one scored criterion with its range.
type Item struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Group string `json:"group"`         // "technical" or "commercial"
	Max   string `json:"max"`           // highest points
	Min   string `json:"min,omitempty"` // lowest points, default 0
}

// Check is one pass/fail qualification or compliance item (资格审查/符合性审查).
type Check struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Price methods.
const (
	Lowest      = "lowest"       // base = the lowest valid price
	MeanTrimmed = "mean_trimmed" // base = the mean, highest and lowest removed from TrimAtLeast bids, less Discount %
)

// PriceRule is how the price score is computed.
type PriceRule struct {
	Method      string `json:"method"`
	Weight      string `json:"weight"`                  // full price points
	TrimAtLeast int    `json:"trim_at_least,omitempty"` // default 5
	Discount    string `json:"discount,omitempty"`      // 下浮率, percent, default 0
	AbovePerPct string `json:"above_per_pct"`           // points lost per 1 % above the base
	BelowPerPct string `json:"below_per_pct"`           // points lost per 1 % below the base
	Floor       string `json:"floor,omitempty"`         // lowest price score, default 0
}

// Criteria are an evaluation's scoring rules.
type Criteria struct {
	Checks       []Check   `json:"checks"`
	Items        []Item    `json:"items"`
	Price        PriceRule `json:"price"`
	OutlierShare string    `json:"outlier_share,omitempty"` // default 0.25 of the item's max
}

var (
	decimalPattern = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,4})?$`)
	pointsPattern  = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,2})?$`)
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// rat parses a non-negative decimal (or def when s is empty).
func rat(s, def string) (*big.Rat, bool) {
	if s == "" {
		s = def
	}
	if !decimalPattern.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func mustRat(s, def string) *big.Rat {
	r, ok := rat(s, def)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// Round formats r with 2 decimals, half away from zero.
func Round(r *big.Rat) string {
	neg := r.Sign() < 0
	a := new(big.Rat).Abs(r)
	a.Mul(a, big.NewRat(100, 1))
	a.Add(a, big.NewRat(1, 2))
	n := new(big.Int).Quo(a.Num(), a.Denom())
	s := fmt.Sprintf("%03d", n)
	out := s[:len(s)-2] + "." + s[len(s)-2:]
	if neg && n.Sign() != 0 {
		out = "-" + out
	}
	return out
}

func text(field, s string, max int) error {
	if strings.TrimSpace(s) == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%s must be 1-%d characters of text", field, max)
	}
	return nil
}

// Validate refuses malformed criteria: ids unique and well-formed, names
// given, max > min ≥ 0 for each item, a known price method, non-negative
// rates, and item maxima plus the price weight at most 100 points.
func (c Criteria) Validate() error {
	ids := map[string]bool{}
	for _, k := range c.Checks {
		if !idPattern.MatchString(k.ID) || ids[k.ID] {
			return fmt.Errorf("check id %q must be 1-64 letters, digits, '.', '_' or '-' and unique", k.ID)
		}
		ids[k.ID] = true
		if err := text("check "+k.ID+" name", k.Name, 200); err != nil {
			return err
		}
	}
	total := new(big.Rat)
	for _, it := range c.Items {
		if !idPattern.MatchString(it.ID) || ids[it.ID] {
			return fmt.Errorf("item id %q must be 1-64 letters, digits, '.', '_' or '-' and unique", it.ID)
		}
		ids[it.ID] = true
		if err := text("item "+it.ID+" name", it.Name, 200); err != nil {
			return err
		}
		if it.Group != "technical" && it.Group != "commercial" {
			return fmt.Errorf("item %s: group must be technical or commercial, got %q", it.ID, it.Group)
		}
		hi, ok1 := rat(it.Max, "")
		lo, ok2 := rat(it.Min, "0")
		if !ok1 || !ok2 || hi.Cmp(lo) <= 0 {
			return fmt.Errorf("item %s: max must be a decimal above min (got max %q, min %q)", it.ID, it.Max, it.Min)
		}
		total.Add(total, hi)
	}
	p := c.Price
	if p.Method != Lowest && p.Method != MeanTrimmed {
		return fmt.Errorf("price method must be %s or %s, got %q", Lowest, MeanTrimmed, p.Method)
	}
	w, ok := rat(p.Weight, "")
	if !ok || w.Sign() <= 0 {
		return fmt.Errorf("price weight must be a positive decimal, got %q", p.Weight)
	}
	total.Add(total, w)
	for name, v := range map[string]string{"discount": p.Discount, "above_per_pct": p.AbovePerPct, "below_per_pct": p.BelowPerPct, "floor": p.Floor} {
		if _, ok := rat(v, "0"); !ok {
			return fmt.Errorf("price %s must be a non-negative decimal, got %q", name, v)
		}
	}
	if mustRat(p.Discount, "0").Cmp(big.NewRat(100, 1)) >= 0 || mustRat(p.Floor, "0").Cmp(w) > 0 {
		return fmt.Errorf("price discount must be below 100 and floor at most the weight")
	}
	if p.TrimAtLeast < 0 || (p.TrimAtLeast > 0 && p.TrimAtLeast < 3) {
		return fmt.Errorf("trim_at_least must be 3 or more (or 0 for the default 5)")
	}
	if total.Cmp(big.NewRat(100, 1)) > 0 {
		return fmt.Errorf("the items and the price weigh %s points; at most 100", Round(total))
	}
	if s, ok := rat(c.OutlierShare, "0.25"); !ok || s.Sign() <= 0 || s.Cmp(big.NewRat(1, 1)) > 0 {
		return fmt.Errorf("outlier_share must be a decimal in (0, 1], got %q", c.OutlierShare)
	}
	return nil
}

// CheckResult is one expert's verdict on one check.
type CheckResult struct {
	Pass   bool   `json:"pass"`
	Reason string `json:"reason,omitempty"` // required when Pass is false
}

// Sheet is one expert's score sheet for one bidder.
type Sheet struct {
	Bidder string                 `json:"bidder"`
	Checks map[string]CheckResult `json:"checks"`
	Scores map[string]string      `json:"scores"`
}

// CheckSheet refuses a sheet that does not fit the criteria.
func (c Criteria) CheckSheet(s Sheet) error {
	for id := range s.Checks {
		if !slices.ContainsFunc(c.Checks, func(k Check) bool { return k.ID == id }) {
			return fmt.Errorf("%q is not a check of the criteria", id)
		}
	}
	for id := range s.Scores {
		if !slices.ContainsFunc(c.Items, func(it Item) bool { return it.ID == id }) {
			return fmt.Errorf("%q is not an item of the criteria", id)
		}
	}
	for _, k := range c.Checks {
		r, ok := s.Checks[k.ID]
		if !ok {
			return fmt.Errorf("check %s (%s) has no verdict", k.ID, k.Name)
		}
		if !r.Pass {
			if err := text("the reason for failing "+k.ID+" ("+k.Name+")", r.Reason, 500); err != nil {
				return err
			}
		}
	}
	for _, it := range c.Items {
		v, ok := s.Scores[it.ID]
		if !ok {
			return fmt.Errorf("item %s (%s) has no score", it.ID, it.Name)
		}
		if !pointsPattern.MatchString(v) {
			return fmt.Errorf("item %s (%s): %q is not a score with at most 2 decimals", it.ID, it.Name, v)
		}
		x, _ := new(big.Rat).SetString(v)
		lo, hi := mustRat(it.Min, "0"), mustRat(it.Max, "")
		if x.Cmp(lo) < 0 || x.Cmp(hi) > 0 {
			return fmt.Errorf("item %s (%s): %s is outside %s-%s", it.ID, it.Name, v, Round(lo), Round(hi))
		}
	}
	return nil
}

// base returns the exact base price of the valid prices.
func (r PriceRule) base(prices []*big.Rat) *big.Rat {
	sorted := slices.Clone(prices)
	slices.SortFunc(sorted, func(a, b *big.Rat) int { return a.Cmp(b) })
	if r.Method == Lowest {
		return new(big.Rat).Set(sorted[0])
	}
	trim := r.TrimAtLeast
	if trim == 0 {
		trim = 5
	}
	if len(sorted) >= trim {
		sorted = sorted[1 : len(sorted)-1]
	}
	sum := new(big.Rat)
	for _, p := range sorted {
		sum.Add(sum, p)
	}
	mean := sum.Quo(sum, big.NewRat(int64(len(sorted)), 1))
	keep := new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).Quo(mustRat(r.Discount, "0"), big.NewRat(100, 1)))
	return mean.Mul(mean, keep)
}

// priceScores are the exact scores and base.
func (r PriceRule) priceScores(prices map[string]string) (*big.Rat, map[string]*big.Rat, error) {
	if len(prices) == 0 {
		return nil, nil, fmt.Errorf("no valid bid to score the price of")
	}
	parsed := map[string]*big.Rat{}
	var all []*big.Rat
	for bidder, p := range prices {
		x, ok := rat(p, "")
		if !ok || x.Sign() <= 0 {
			return nil, nil, fmt.Errorf("the price of %s, %q, is not a positive decimal amount", bidder, p)
		}
		parsed[bidder] = x
		all = append(all, x)
	}
	base := r.base(all)
	weight, floor := mustRat(r.Weight, ""), mustRat(r.Floor, "0")
	hundred := big.NewRat(100, 1)
	scores := map[string]*big.Rat{}
	for bidder, x := range parsed {
		d := new(big.Rat).Sub(x, base)
		d.Mul(d, hundred).Quo(d, base) // deviation in percent
		per := mustRat(r.AbovePerPct, "0")
		if d.Sign() < 0 {
			per = mustRat(r.BelowPerPct, "0")
			d.Neg(d)
		}
		s := new(big.Rat).Sub(weight, d.Mul(d, per))
		if s.Cmp(floor) < 0 {
			s = new(big.Rat).Set(floor)
		}
		scores[bidder] = s
	}
	return base, scores, nil
}

// PriceScores computes the price score of every valid bid (bidder →
// price): the base (基准价) and each score, both to 2 decimals. The
// deviation d = (price − base) / base × 100; the score is Weight − d ×
// AbovePerPct above the base, Weight − |d| × BelowPerPct below it, never
// below Floor.
func (r PriceRule) PriceScores(prices map[string]string) (base string, scores map[string]string, err error) {
	b, exact, err := r.priceScores(prices)
	if err != nil {
		return "", nil, err
	}
	scores = map[string]string{}
	for k, v := range exact {
		scores[k] = Round(v)
	}
	return Round(b), scores, nil
}

// Result is one bidder's outcome.
type Result struct {
	Bidder     string   `json:"bidder"`
	Valid      bool     `json:"valid"`
	Failed     []string `json:"failed,omitempty"` // checks a majority failed
	Technical  string   `json:"technical"`
	Commercial string   `json:"commercial"`
	Price      string   `json:"price"`
	Total      string   `json:"total"`
	Rank       int      `json:"rank,omitempty"`
}

// Outlier is an item where one expert's score differs from the mean of all
// experts by more than OutlierShare × the item's max.
type Outlier struct {
	Expert string `json:"expert"`
	Bidder string `json:"bidder"`
	Item   string `json:"item"`
	Score  string `json:"score"`
	Mean   string `json:"mean"`
}

// Tally combines every expert's sheets (expert → bidder → sheet, each
// passed CheckSheet) with the prices (bidder → price). A check fails a bid
// when more than half the experts fail it; failed bids get no price score
// and no rank. Group scores are means over the experts; the total is the
// sum of the exact group and price scores, rounded once. Valid bids are
// ranked by total, higher first; equal totals share a rank (1, 1, 3) and
// are listed by lower price, then bidder id; invalid bids follow by id.
func Tally(c Criteria, sheets map[string]map[string]Sheet, prices map[string]string) ([]Result, []Outlier, error) {
	if len(sheets) == 0 {
		return nil, nil, fmt.Errorf("no sheets")
	}
	experts := make([]string, 0, len(sheets))
	for e := range sheets {
		experts = append(experts, e)
	}
	slices.Sort(experts)
	bidders := make([]string, 0, len(prices))
	for b := range prices {
		bidders = append(bidders, b)
	}
	slices.Sort(bidders)
	n := big.NewRat(int64(len(experts)), 1)
	share := mustRat(c.OutlierShare, "0.25")
	type exact struct{ tech, comm, price, total *big.Rat }
	sums := map[string]*exact{}
	var results []Result
	var outliers []Outlier
	valid := map[string]string{}
	for _, b := range bidders {
		res := Result{Bidder: b}
		for _, k := range c.Checks {
			fails := 0
			for _, e := range experts {
				s, ok := sheets[e][b]
				if !ok {
					return nil, nil, fmt.Errorf("expert %s has no sheet for %s", e, b)
				}
				if !s.Checks[k.ID].Pass {
					fails++
				}
			}
			if fails*2 > len(experts) {
				res.Failed = append(res.Failed, k.ID)
			}
		}
		x := &exact{tech: new(big.Rat), comm: new(big.Rat), price: new(big.Rat)}
		for _, it := range c.Items {
			sum := new(big.Rat)
			scores := make([]*big.Rat, len(experts))
			for i, e := range experts {
				s, ok := sheets[e][b]
				if !ok {
					return nil, nil, fmt.Errorf("expert %s has no sheet for %s", e, b)
				}
				v, ok := new(big.Rat).SetString(s.Scores[it.ID])
				if !ok {
					return nil, nil, fmt.Errorf("expert %s, bid %s, item %s: no score", e, b, it.ID)
				}
				scores[i] = v
				sum.Add(sum, v)
			}
			mean := new(big.Rat).Quo(sum, n)
			limit := new(big.Rat).Mul(share, mustRat(it.Max, ""))
			for i, v := range scores {
				if d := new(big.Rat).Sub(v, mean); d.Abs(d).Cmp(limit) > 0 {
					outliers = append(outliers, Outlier{Expert: experts[i], Bidder: b, Item: it.ID, Score: sheets[experts[i]][b].Scores[it.ID], Mean: Round(mean)})
				}
			}
			if it.Group == "technical" {
				x.tech.Add(x.tech, mean)
			} else {
				x.comm.Add(x.comm, mean)
			}
		}
		res.Valid = len(res.Failed) == 0
		if res.Valid {
			valid[b] = prices[b]
		}
		sums[b] = x
		results = append(results, res)
	}
	var priceScores map[string]*big.Rat
	if len(valid) > 0 {
		var err error
		if _, priceScores, err = c.Price.priceScores(valid); err != nil {
			return nil, nil, err
		}
	}
	for i := range results {
		r, x := &results[i], sums[results[i].Bidder]
		if p := priceScores[r.Bidder]; p != nil {
			x.price = p
		}
		x.total = new(big.Rat).Add(x.tech, x.comm)
		x.total.Add(x.total, x.price)
		r.Technical, r.Commercial, r.Price, r.Total = Round(x.tech), Round(x.comm), Round(x.price), Round(x.total)
	}
	price := func(b string) *big.Rat { return mustRat(prices[b], "0") }
	slices.SortStableFunc(results, func(a, b Result) int {
		if a.Valid != b.Valid {
			if a.Valid {
				return -1
			}
			return 1
		}
		if !a.Valid {
			return strings.Compare(a.Bidder, b.Bidder)
		}
		if c := sums[b.Bidder].total.Cmp(sums[a.Bidder].total); c != 0 {
			return c
		}
		if c := price(a.Bidder).Cmp(price(b.Bidder)); c != 0 {
			return c
		}
		return strings.Compare(a.Bidder, b.Bidder)
	})
	for i := range results {
		if !results[i].Valid {
			break
		}
		results[i].Rank = i + 1
		if i > 0 && sums[results[i].Bidder].total.Cmp(sums[results[i-1].Bidder].total) == 0 {
			results[i].Rank = results[i-1].Rank
		}
	}
	slices.SortFunc(outliers, func(a, b Outlier) int {
		return strings.Compare(a.Expert+"\x00"+a.Bidder+"\x00"+a.Item, b.Expert+"\x00"+b.Bidder+"\x00"+b.Item)
	})
	return results, outliers, nil
}
