// Package record builds, signs and verifies the opening record (开标记录,
// RULES.md R14): a canonical JSON document folded from a room's whole event
// log, signed with the platform's SM2 key, and a printable page of it; and
// the printable page of an evaluation's completed report (评标报告, R23).
//
// It reads the log and the domain's types; it does no I/O of its own and
// holds no rules of the opening (those are package rooms').
package record
