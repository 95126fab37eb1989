// Package storetest is the conformance suite every rooms.Log backend runs from its tests; it owns
// the contract's executable meaning and the event helpers, not any backend's setup or teardown.
package storetest
