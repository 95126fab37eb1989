package stats

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Beijing is the time zone of the months (China has one zone, no DST).
var Beijing = time.FixedZone("CST", 8*3600)

// MaxMonths bounds the period a report covers (its monthly series).
const MaxMonths = 120

// Query says which rooms a report covers.
type Query struct {
	// From and To bound the period, [From, To): an opening by its
	// deadline, an auction by its end (when it ended, else the end of its
	// listing).
	From, To time.Time
	// MainCenter is the id a room without a center belongs to (the main
	// city center, configs' first center).
	MainCenter string
	// Include reports whether rooms of a center are counted; nil counts
	// every center.
	Include func(center string) bool
}

// Figures are the statistics of a set of rooms. Rates are nil when their
// denominator is 0. docs/stats.md defines each.
type Figures struct {
	Sessions          int      `json:"sessions"`
	Due               int      `json:"due"`
	Completed         int      `json:"completed"`
	Failed            int      `json:"failed"`
	FailedRate        *float64 `json:"failed_rate"`
	Bids              int      `json:"bids"`
	BidsPerSection    *float64 `json:"bids_per_section"`
	BidsDecrypting    int      `json:"bids_decrypting"`
	UnlockFailures    int      `json:"unlock_failures"`
	BidsUnlockFailed  int      `json:"bids_unlock_failed"`
	UnlockFailureRate *float64 `json:"unlock_failure_rate"`
	BidsNotOpened     int      `json:"bids_not_opened"`
	Awarded           int      `json:"awarded"`
	AwardTotal        Amount   `json:"award_total"`
	SavingsSessions   int      `json:"savings_sessions"`
	BudgetTotal       Amount   `json:"budget_total"`
	AwardWithBudget   Amount   `json:"award_with_budget"`
	Savings           Amount   `json:"savings"`
	SavingsRate       *float64 `json:"savings_rate"`
	BudgetFromControl int      `json:"budget_from_control"`
	NoBudget          int      `json:"no_budget"`
	EvaluationsDrawn  int      `json:"evaluations_drawn"`
	ExpertsDrawn      int      `json:"experts_drawn"`
	ReservesDrawn     int      `json:"reserves_drawn"`
	Replacements      int      `json:"replacements"`
	Auctions          int      `json:"auctions"`
	AuctionsEnded     int      `json:"auctions_ended"`
	Sold              int      `json:"sold"`
	Unsold            int      `json:"unsold"`
	UnsoldRate        *float64 `json:"unsold_rate"`
	SoldTotal         Amount   `json:"sold_total"`
	StartTotal        Amount   `json:"start_total"`
	Premium           Amount   `json:"premium"`
	PremiumRate       *float64 `json:"premium_rate"`
}

// Row is the figures of one center, category or month.
type Row struct {
	Key string `json:"key"` // the center id, the category, or the month ("2026-01")
	Figures
}

// Report is the statistics of a period: the total, then the same figures
// per center, per category (openings' and auctions' categories) and per
// month (Beijing time, every month of the period, empty ones included).
type Report struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Total      Figures   `json:"total"`
	Centers    []Row     `json:"centers"`
	Categories []Row     `json:"categories"`
	Months     []Row     `json:"months"`
}

// ErrPeriod: the period is empty, reversed or longer than MaxMonths.
var ErrPeriod = errors.New("bad period")

// Months lists the months (Beijing time) that [from, to) touches, as
// "YYYY-MM"; ErrPeriod when from is not before to or there are more than
// MaxMonths.
func Months(from, to time.Time) ([]string, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrPeriod, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	f, l := from.In(Beijing), to.Add(-time.Nanosecond).In(Beijing)
	n := (l.Year()-f.Year())*12 + int(l.Month()) - int(f.Month()) + 1
	if n > MaxMonths {
		return nil, fmt.Errorf("%w: %d months; at most %d", ErrPeriod, n, MaxMonths)
	}
	out := make([]string, 0, n)
	for m := time.Date(f.Year(), f.Month(), 1, 0, 0, 0, 0, Beijing); len(out) < n; m = m.AddDate(0, 1, 0) {
		out = append(out, m.Format("2006-01"))
	}
	return out, nil
}

func monthOf(t time.Time) string { return t.In(Beijing).Format("2006-01") }

// Report computes the figures of the rooms q covers.
func (c *Collector) Report(q Query) (Report, error) {
	months, err := Months(q.From, q.To)
	if err != nil {
		return Report{}, err
	}
	rep := Report{From: q.From, To: q.To}
	acc := accumulators{centers: map[string]*Figures{}, categories: map[string]*Figures{}, months: map[string]*Figures{}}
	for _, m := range months {
		acc.months[m] = &Figures{}
	}
	in := func(center string, at time.Time) (string, bool) {
		if center == "" {
			center = q.MainCenter
		}
		if at.Before(q.From) || !at.Before(q.To) || (q.Include != nil && !q.Include(center)) {
			return "", false
		}
		return center, true
	}
	// Openings in id order, so that the report never depends on map order.
	ids := make([]string, 0, len(c.openings))
	for id := range c.openings {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		o := c.openings[id]
		center, ok := in(o.center, o.deadline)
		if !ok {
			continue
		}
		for _, f := range acc.targets(&rep.Total, center, o.category, monthOf(o.deadline)) {
			f.addOpening(o, c.evals[id])
		}
	}
	for _, a := range c.auctions {
		center, ok := in(a.center, a.at)
		if !ok {
			continue
		}
		for _, f := range acc.targets(&rep.Total, center, a.category, monthOf(a.at)) {
			f.addAuction(a)
		}
	}
	rep.Total.finish()
	rep.Centers = acc.rows(acc.centers, nil)
	rep.Categories = acc.rows(acc.categories, nil)
	rep.Months = acc.rows(acc.months, months)
	return rep, nil
}

type accumulators struct {
	centers, categories, months map[string]*Figures
}

// targets are the figures a room adds to: the total, its center's, its
// category's and its month's.
func (a accumulators) targets(total *Figures, center, category, month string) []*Figures {
	get := func(m map[string]*Figures, k string) *Figures {
		f := m[k]
		if f == nil {
			f = &Figures{}
			m[k] = f
		}
		return f
	}
	return []*Figures{total, get(a.centers, center), get(a.categories, category), get(a.months, month)}
}

// rows finishes the figures in m as rows, in the order of keys, or by key
// when keys is nil.
func (a accumulators) rows(m map[string]*Figures, keys []string) []Row {
	if keys == nil {
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	out := make([]Row, 0, len(keys))
	for _, k := range keys {
		f := m[k]
		f.finish()
		out = append(out, Row{Key: k, Figures: *f})
	}
	return out
}

func (f *Figures) addOpening(o *openingRec, evals []*evalRec) {
	f.Sessions++
	if o.due {
		f.Due++
		f.Bids += o.submitted
	}
	if o.completed {
		f.Completed++
	}
	if o.failed {
		f.Failed++
	}
	if o.decrypting {
		f.BidsDecrypting += o.submitted
	}
	f.UnlockFailures += o.unlockFailures
	f.BidsUnlockFailed += o.bidsFailed
	f.BidsNotOpened += o.notOpened
	var award *evalRec
	for _, e := range evals {
		if e.drawn {
			f.EvaluationsDrawn++
		}
		f.ExpertsDrawn += e.experts
		f.ReservesDrawn += e.reserves
		f.Replacements += e.replacements
		if e.awarded && (award == nil || !e.awardAt.Before(award.awardAt)) {
			award = e
		}
	}
	if award == nil {
		return
	}
	f.Awarded++
	f.AwardTotal = f.AwardTotal.Add(award.award)
	if !o.hasBudget {
		f.NoBudget++
		return
	}
	f.SavingsSessions++
	if o.budgetIsControl {
		f.BudgetFromControl++
	}
	f.BudgetTotal = f.BudgetTotal.Add(o.budget)
	f.AwardWithBudget = f.AwardWithBudget.Add(award.award)
}

func (f *Figures) addAuction(a *auctionRec) {
	f.Auctions++
	if !a.ended {
		return
	}
	f.AuctionsEnded++
	if !a.sold {
		f.Unsold++
		return
	}
	f.Sold++
	f.SoldTotal = f.SoldTotal.Add(a.price)
	f.StartTotal = f.StartTotal.Add(a.start)
}

// finish computes the differences and rates from the counts and sums.
func (f *Figures) finish() {
	f.FailedRate = rate(f.Failed, f.Due)
	f.BidsPerSection = rate(f.Bids, f.Due)
	f.UnlockFailureRate = rate(f.BidsUnlockFailed, f.BidsDecrypting)
	f.Savings = f.BudgetTotal.Sub(f.AwardWithBudget)
	f.SavingsRate = ratio(f.Savings, f.BudgetTotal)
	f.UnsoldRate = rate(f.Unsold, f.Sold+f.Unsold)
	f.Premium = f.SoldTotal.Sub(f.StartTotal)
	f.PremiumRate = ratio(f.Premium, f.StartTotal)
}

// Centers lists the centers of every opening and auction collected, a
// room without one as main, sorted: what a center filter offers.
func (c *Collector) Centers(main string) []string {
	seen := map[string]bool{}
	add := func(center string) {
		if center == "" {
			center = main
		}
		seen[center] = true
	}
	for _, o := range c.openings {
		add(o.center)
	}
	for _, a := range c.auctions {
		add(a.center)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
