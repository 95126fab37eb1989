// Package watch fans a room's "last seq is now N" notices out to per-room subscribers; it owns
// their channels and the goroutines that close them, and knows nothing of how notices arrive.
package watch
