// Package store owns the rules every rooms.Log backend shares (room id, command key, batch, read
// limits); the backends are its subpackages embedded and redis, held to storetest. It does no I/O.
package store
