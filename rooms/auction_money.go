package rooms

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The auction's arithmetic: amounts in yuan with at most two decimals,
// held as whole fen so nothing is ever rounded; the increment grid; the
// listing's working days.

// fen is an amount of money in fen (分, 0.01 yuan).
type fen int64

// maxAuctionFen is the largest amount an auction takes: 10^15 yuan.
const maxAuctionFen fen = 100_000_000_000_000_000

// String is the amount in yuan: whole yuan without decimals, otherwise
// with exactly two ("1000000", "1000000.50"). Every amount an auction
// records is in this form.
func (f fen) String() string {
	if f%100 == 0 {
		return strconv.FormatInt(int64(f/100), 10)
	}
	return fmt.Sprintf("%d.%02d", f/100, f%100)
}

// parseYuan reads a decimal amount in yuan (digits, an optional point and
// one or two decimals; no sign, exponent, spaces or leading zeros) of at
// most 10^15 yuan. Refusals name field.
func parseYuan(field, s string) (fen, error) {
	if s == "" {
		return 0, refuse(CodeInvalid, "%s is required: a decimal amount in yuan", field)
	}
	if strings.HasPrefix(s, "-") {
		return 0, refuse(CodeInvalid, "%s must not be negative, got %.40q", field, s)
	}
	whole, frac, dotted := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (dotted && (frac == "" || !allDigits(frac))) {
		return 0, refuse(CodeInvalid, "%s %.40q is not a decimal amount in yuan (digits, then at most 2 decimals)", field, s)
	}
	if len(frac) > 2 {
		return 0, refuse(CodeInvalid, "%s %.40q has more than 2 decimals: amounts are in yuan to the fen (分)", field, s)
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, refuse(CodeInvalid, "%s %.40q has a leading zero", field, s)
	}
	if len(whole) > 16 {
		return 0, refuse(CodeInvalid, "%s %.40q is over the limit of %s yuan", field, s, maxAuctionFen)
	}
	w, _ := strconv.ParseInt(whole, 10, 64) // at most 16 digits: fits
	f := fen(w) * 100
	if frac != "" {
		d, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			d *= 10
		}
		f += fen(d)
	}
	if f > maxAuctionFen {
		return 0, refuse(CodeInvalid, "%s %s is over the limit of %s yuan", field, s, maxAuctionFen)
	}
	return f, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// stageFen is one parsed increment stage: from this price up, the step.
type stageFen struct{ from, step fen }

// grid is an auction's increments, parsed: one or more stages, the first
// from the start price or below, ascending, with steps that never
// decrease (so a higher price never has a smaller step, which keeps
// "the next valid amount above x" increasing in x).
type grid struct {
	start  fen
	stages []stageFen
}

// step is the increment that applies at price p: the step of the last
// stage that starts at or below p.
func (g grid) step(p fen) fen {
	s := g.stages[0].step
	for _, st := range g.stages[1:] {
		if st.from > p {
			break
		}
		s = st.step
	}
	return s
}

// minNext is the lowest valid bid after a highest bid of h (none when
// first): the start price for the first bid, else h plus its step.
func (g grid) minNext(h fen, first bool) fen {
	if first {
		return g.start
	}
	return h + g.step(h)
}

// onGrid reports whether a is a valid bid after h: the first bid is the
// start price plus n ≥ 0 steps (of the start price), every later one h
// plus n ≥ 1 steps of h.
func (g grid) onGrid(a, h fen, first bool) bool {
	base, n0 := h, fen(1)
	if first {
		base, n0 = g.start, 0
	}
	s := g.step(base)
	return a >= base+n0*s && (a-base)%s == 0 && a <= maxAuctionFen
}

// nextValid lists up to n valid bids after h, lowest first.
func (g grid) nextValid(h fen, first bool, n int) []string {
	base := h
	if first {
		base = g.start
	}
	s := g.step(base)
	a := g.minNext(h, first)
	var out []string
	for range n {
		if a > maxAuctionFen {
			break
		}
		out = append(out, a.String())
		a += s
	}
	return out
}

// highestBelow returns the largest valid bid after h that is at most limit
// and after which the lowest valid bid is at most answer — the highest a
// proxy ranked below another can go while leaving it a reply. ok is false
// when there is none.
func (g grid) highestBelow(h fen, first bool, limit, answer fen) (fen, bool) {
	base, n0 := h, fen(1)
	if first {
		base, n0 = g.start, 0
	}
	s := g.step(base)
	if limit < base+n0*s {
		return 0, false
	}
	lo, hi := n0, (limit-base)/s // candidates base + n·s, n in [lo, hi]
	fits := func(n fen) bool { a := base + n*s; return a+g.step(a) <= answer }
	if !fits(lo) {
		return 0, false
	}
	for lo < hi { // the largest n that fits; a + step(a) grows with a
		mid := lo + (hi-lo+1)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return base + lo*s, true
}

// chinaTime is the time zone the listing's working days are counted in
// (UTC+8; a fixed zone, so no time zone database is needed, in the
// browser's WebAssembly either).
var chinaTime = time.FixedZone("CST", 8*3600)

// MinListingWorkingDays is the shortest listing (挂牌期): 10 working days
// (《招标拍卖挂牌出让国有建设用地使用权规定》第十六条).
const MinListingWorkingDays = 10

// workingDays counts the working days of a listing from start to end: the
// Monday-to-Friday dates, in China time, from start's date through end's,
// both included. Public holidays (and the weekend days worked in their
// place, 调休) are not modelled: the admin who sets the dates accounts for
// them.
func workingDays(start, end time.Time) int {
	d := start.In(chinaTime)
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, chinaTime)
	last := end.In(chinaTime)
	n := 0
	for !d.After(last) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
		d = d.AddDate(0, 0, 1)
	}
	return n
}
