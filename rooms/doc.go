// Package rooms is Bidroom's domain: roles, the event log contract, and the
// room state machines (commands in, events out) with their role projections.
//
// It does no I/O of its own: stores implement Log, transports call Service.
package rooms
