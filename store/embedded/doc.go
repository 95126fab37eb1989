// Package embedded is the default rooms.Log: one local bbolt file, fsynced on every commit, so a
// single machine loses no acknowledged event on kill -9. It serves one process; use redis to share.
package embedded
