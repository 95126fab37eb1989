// Package signaling is Bidroom's websocket transport: token auth on connect,
// a snapshot then ordered events out, commands in with acks, resume by position.
//
// It holds no room rules: those are in package rooms, which it calls.
package signaling
