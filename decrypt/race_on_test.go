//go:build race

package decrypt

// raceEnabled shrinks the largest round trip under the race detector, which
// slows SM4 and SM3 about tenfold.
const raceEnabled = true
