// Package redis is the rooms.Log shared by many server instances: Redis lists and hashes, appends
// by one Lua script, Watch by pub/sub plus polling. Durability is whatever the server's AOF gives,
// and across a failover what WithMinReplicas makes each append wait for (Redis WAIT).
package redis
