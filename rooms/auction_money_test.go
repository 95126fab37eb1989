package rooms

import (
	"testing"
	"time"
)

func TestParseYuan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fen // -1: refused
	}{
		{"0", 0}, {"1", 100}, {"1.5", 150}, {"1.05", 105}, {"0.01", 1}, {"10000000", 1_000_000_000},
		{"1000000000000000", maxAuctionFen}, {"999999999999999.99", maxAuctionFen - 1},
		{"1000000000000000.01", -1}, {"9999999999999999", -1}, {"12345678901234567", -1},
		{"", -1}, {"-1", -1}, {"+1", -1}, {"1.", -1}, {".5", -1}, {"1.005", -1}, {"01", -1}, {"1e3", -1},
		{" 1", -1}, {"1 ", -1}, {"1,000", -1}, {"１", -1}, {"NaN", -1},
	} {
		got, err := parseYuan("amount", tc.in)
		if tc.want < 0 {
			if RefusalCode(err) != CodeInvalid {
				t.Errorf("%q: %v, %v; want refused", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for f, s := range map[fen]string{0: "0", 1: "0.01", 150: "1.50", 1_000_000_000: "10000000", maxAuctionFen: "1000000000000000"} {
		if f.String() != s {
			t.Errorf("%d fen is %q, want %q", f, f.String(), s)
		}
	}
}

func TestGrid(t *testing.T) {
	g := grid{start: 10_000, stages: []stageFen{{0, 100}, {10_500, 500}, {12_000, 1000}}}
	for _, tc := range []struct {
		p, step fen
	}{{0, 100}, {10_499, 100}, {10_500, 500}, {11_999, 500}, {12_000, 1000}, {maxAuctionFen, 1000}} {
		if got := g.step(tc.p); got != tc.step {
			t.Errorf("step(%d) = %d, want %d", tc.p, got, tc.step)
		}
	}
	for _, tc := range []struct {
		a, h  fen
		first bool
		ok    bool
	}{
		{10_000, 0, true, true}, {10_300, 0, true, true}, {9_900, 0, true, false}, {10_050, 0, true, false},
		{10_400, 10_300, false, true}, {10_300, 10_300, false, false}, {10_900, 10_400, false, true},
		{11_000, 10_500, false, true}, {10_600, 10_500, false, false},
	} {
		if got := g.onGrid(tc.a, tc.h, tc.first); got != tc.ok {
			t.Errorf("onGrid(%d after %d, first %v) = %v", tc.a, tc.h, tc.first, got)
		}
	}
	for _, tc := range []struct {
		h             fen
		first         bool
		limit, answer fen
		want          fen
		ok            bool
	}{
		{10_000, false, 10_300, 10_800, 10_300, true}, // the rival's max; the leader answers 10_400
		{10_000, false, 10_500, 10_800, 10_400, true}, // 10_500 would need 11_000 to answer
		{10_000, false, 10_500, 10_500, 10_400, true}, // equal maxes: one step below, so the leader can answer 10_500
		{10_400, false, 10_500, 10_500, 0, false},     // its only bid, 10_500, could not be answered
		{10_000, true, 10_000, 10_100, 10_000, true},  // the first bid: the start price
		{10_000, true, 10_000, 10_000, 0, false},
		{11_000, false, 12_000, 12_400, 11_500, true}, // 11_500 + 500 = 12_000 ≤ 12_400; 12_000 + 1000 > 12_400
	} {
		got, ok := g.highestBelow(tc.h, tc.first, tc.limit, tc.answer)
		if got != tc.want || ok != tc.ok {
			t.Errorf("highestBelow(%d, %v, %d, %d) = %d %v, want %d %v", tc.h, tc.first, tc.limit, tc.answer, got, ok, tc.want, tc.ok)
		}
	}
	if got := g.nextValid(maxAuctionFen-1000, false, 3); len(got) != 1 {
		t.Errorf("next valid amounts past the limit: %v", got)
	}
}

func TestWorkingDays(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.ParseInLocation("2006-01-02 15:04", s, chinaTime)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		from, to string
		want     int
	}{
		{"2026-11-25 09:00", "2026-12-08 17:00", 10}, // Wednesday to the Tuesday of the second week after
		{"2026-11-25 09:00", "2026-12-07 17:00", 9},
		{"2026-11-28 09:00", "2026-11-29 17:00", 0}, // a weekend
		{"2026-11-30 09:00", "2026-11-30 17:00", 1},
		{"2026-11-30 00:00", "2026-12-11 23:59", 10}, // two whole weeks
	} {
		if got := workingDays(day(tc.from), day(tc.to)); got != tc.want {
			t.Errorf("%s to %s: %d working days, want %d", tc.from, tc.to, got, tc.want)
		}
	}
	// Counted in China time: 2026-11-27 20:00 UTC is already Saturday there.
	if got := workingDays(time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)); got != 0 {
		t.Errorf("a weekend in China time: %d working days", got)
	}
}
