// Package stats computes the trading centers' statistics (issue 15) from
// the rooms' event logs: sessions, 流标, bids, unlock failures, budgets and
// award prices with the savings rate, auctions and expert draws, per
// period, center, category and month; and writes them as CSV or XLSX.
//
// It reads events and nothing else: no HTTP, no store of its own. Each
// room's log is reduced to a small record as it is read (a Collector), so
// thousands of rooms cost a few hundred bytes each, not their events.
// Who may see which center is the caller's to decide (Query.Include).
// The definitions of every figure are in docs/stats.md.
package stats
