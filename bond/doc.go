// Package bond tells the opening room each bidder's bid-bond status (投标保证金) at the deadline:
// paid, guaranteed by an electronic guarantee (电子保函), missing, or unknown when it cannot be told.
//
// It owns the lookup (from registration data or the trading center's bond system over HTTP) and the
// checks on what comes back. It does not decide when a bond is queried or who may see it (rooms does:
// bond status stays hidden before the deadline), and it never guesses: a doubtful answer is Unknown.
package bond
