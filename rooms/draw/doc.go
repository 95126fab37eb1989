// Package draw is the random drawing of evaluation experts (专家抽取)
// from an expert pool, reproducible offline: given the recorded seed and
// the recorded eligible list, anyone who re-runs the draw gets the same
// names in the same order.
//
// A draw has three steps: [Eligible] filters the pool by the rules,
// [Digest] commits to the eligible list, and [Run] draws the quotas from
// it with a 32-byte seed (from [Seed] when the draw is live, from the
// record when it is re-run). The package does no I/O and keeps no state.
//
// # Algorithm (version 1)
//
// This is the contract a verifier or another implementation reproduces.
// Strings are compared as bytes, with no normalisation, except where
// trimming is stated.
//
// Eligibility. An expert is excluded for the first of these reasons that
// applies, in this order ("trimmed" is with Unicode white space removed
// from both ends, as Go's strings.TrimSpace does):
//
//   - "suspended": SuspendedUntil is after At (a suspension that ends at
//     or before At no longer counts);
//   - "bidder_employer": the trimmed Employer is not empty and equals a
//     trimmed BidderEmployers entry;
//   - "tenderer_staff": the trimmed Employer is not empty and equals the
//     trimmed Tenderer;
//   - "related": the ID is listed in Related;
//   - "low_credit": MinCredit > 0 and Credit < MinCredit;
//   - "repeat": MaxRepeats > 0 and at least MaxRepeats history entries
//     name the expert, have a trimmed Tenderer that is not empty and
//     equals the rules' trimmed Tenderer, and, when Period > 0, an At
//     after rules.At − Period (with Period ≤ 0 every entry counts).
//
// The eligible experts are sorted by ID (byte order). IDs are unique.
//
// Digest. SM3 over the bytes "bidroom-eligible-v1", then uint32be(number
// of experts), then per expert in list order: uint32be(len(ID)), ID,
// uint32be(number of specialties), and per specialty in recorded order
// uint32be(len(code)), code. Lengths are in bytes. The digest is written
// in lower-case hex. It covers exactly what Run reads.
//
// Random stream. Block i (i = 0, 1, 2, ...) is
//
//	SM3("bidroom-draw-v1" || seed || uint64be(i))
//
// (15 + 32 + 8 bytes in). Each block gives four uint64 values, read
// big-endian from bytes 0-7, 8-15, 16-23 and 24-31; the values are used
// in that order, block after block, as one stream for the whole draw.
//
// Uniform integer in [0, n), n ≥ 1: let r = 2^64 mod n; take the next
// value x of the stream until x < 2^64 − r, and return x mod n. Every
// call takes at least one value, also for n = 1.
//
// Quotas are checked first: each needs a non-empty specialty that no
// other quota has, Count ≥ 1 and Reserves ≥ 0. The eligible list must
// be strictly increasing by ID.
//
// Candidates. The candidates of quota q are the eligible experts whose
// Specialties contain q's code (exactly), in list order (by ID).
//
// Shortage, decided before anything is drawn so that it never depends on
// the seed. Let need(q) = Count + Reserves. Quota q is short when
//
//	avail(q) = |cand(q)| − Σ_{p before q} min(need(p), |cand(p) ∩ cand(q)|)
//
// is below need(q): each earlier quota may take at most that many of
// q's candidates, so a draw that passes this check can never run out,
// whatever the seed. (The check is conservative: when specialties
// overlap in a thin pool, it refuses draws that only some seeds would
// have filled; putting the narrower specialty first helps.) All short
// quotas are reported together, with avail(q), not below 0, as their
// eligible count.
//
// Selection. For each quota in order: the list L is its candidates less
// the experts taken by earlier quotas, in ID order; for k = 0 .. need−1,
// j = k + uniform(len(L) − k), swap L[k] and L[j], and L[k] is taken
// (a partial Fisher–Yates shuffle). L[0 .. Count−1] are appended to
// Members and L[Count .. need−1] to Reserves, in that order. Within a
// quota every remaining candidate is equally likely to land in any seat;
// an expert with several specialties is drawn at most once in all.
//
// # Regression vector
//
// Seed bytes 00 01 02 ... 1f; eligible e01..e12 (Specialties: e01-e06
// ["A"], e07 and e08 ["A", "B"], e09-e12 ["B"]); quotas A: 3 members +
// 1 reserve, then B: 2 members + 1 reserve. The first stream value is
// 0xe693d9353a976985. The digest is
// 1f917a6ea3046254d488368f93bb0b71bde1775b737c874c2013ebf071060041,
// and the result is members e06 e03 e07 (A), e12 e08 (B), reserves
// e05 (A), e09 (B). TestVector checks these values; an independent
// implementation from this description alone reproduces them.
package draw
