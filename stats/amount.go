package stats

import (
	"math/big"
	"regexp"
	"strings"
)

// Amount is a sum of money in yuan, exact: held in ten-thousandths of a
// yuan (the finest amount a session takes) without a bound. The zero
// value is 0.
type Amount struct{ u *big.Int }

var amountPattern = regexp.MustCompile(`^[0-9]{1,16}(\.[0-9]{1,4})?$`)

var tenThousand = big.NewInt(10000)

// ParseAmount reads a decimal amount in yuan as the rooms record them
// ("1200000", "980000.50", at most 4 decimals). It reports false for
// anything else, including "".
func ParseAmount(s string) (Amount, bool) {
	if !amountPattern.MatchString(s) {
		return Amount{}, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", 4-len(frac))
	u, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return Amount{}, false
	}
	return Amount{u: u}, true
}

func (a Amount) int() *big.Int {
	if a.u == nil {
		return new(big.Int)
	}
	return a.u
}

// Add returns a + b.
func (a Amount) Add(b Amount) Amount { return Amount{u: new(big.Int).Add(a.int(), b.int())} }

// Sub returns a − b.
func (a Amount) Sub(b Amount) Amount { return Amount{u: new(big.Int).Sub(a.int(), b.int())} }

// Sign is −1, 0 or +1.
func (a Amount) Sign() int { return a.int().Sign() }

// String is the amount in yuan: whole yuan without decimals, else two
// decimals, or four when the amount needs them ("1200000", "980000.50",
// "12.3456"); negative amounts start with "-".
func (a Amount) String() string {
	u := a.int()
	neg := u.Sign() < 0
	abs := new(big.Int).Abs(u)
	q, r := new(big.Int).QuoRem(abs, tenThousand, new(big.Int))
	s := q.String()
	switch rv := r.Int64(); {
	case rv == 0:
	case rv%100 == 0:
		s += "." + pad(rv/100, 2)
	default:
		s += "." + pad(rv, 4)
	}
	if neg {
		s = "-" + s
	}
	return s
}

func pad(v int64, n int) string {
	s := big.NewInt(v).String()
	return strings.Repeat("0", n-len(s)) + s
}

// MarshalJSON writes the amount as a JSON string (String), so no
// precision is lost to floating point.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(`"` + a.String() + `"`), nil }

// ratio is num/den as the nearest float64, or nil when den is 0.
func ratio(num, den Amount) *float64 {
	if den.Sign() == 0 {
		return nil
	}
	f, _ := new(big.Rat).SetFrac(num.int(), den.int()).Float64()
	return &f
}

// rate is n/d, or nil when d is 0.
func rate(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	f := float64(n) / float64(d)
	return &f
}
