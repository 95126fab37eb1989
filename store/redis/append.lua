-- Conditional append of a batch of events to one room (see redis.go for the key layout).
-- KEYS: 1 events LIST, 2 meta HASH, 3 cmds HASH — all in the room's hash slot (the rooms SET is
-- added to by the caller, before a room's first append)
-- ARGV: 1 room id, 2 expected last seq, 3 events[0].Prev, 4 command key ("" = none),
--       5 "first:last", 6 new last seq, 7 new last hash, 8 notify channel ("" = do not publish:
--       a Log that waits for replicas publishes once they confirm), 9.. encoded events
-- Returns "DUP:first:last" (the command's record), "CONFLICT" or "OK". Seqs travel as decimal strings and are compared as
-- strings: Lua numbers are doubles.
if ARGV[4] ~= '' then
  local done = redis.call('HGET', KEYS[3], ARGV[4])
  if done then
    -- Set the record again, to the same value: a write, so a WAIT after the script on this
    -- connection (WAIT counts the replicas that have the connection's last write) also covers
    -- the earlier append it reports, made perhaps on another connection and not yet replicated.
    redis.call('HSET', KEYS[3], ARGV[4], done)
    return 'DUP:' .. done
  end
end
local meta = redis.call('HMGET', KEYS[2], 'seq', 'hash')
local last, hash = meta[1] or '0', meta[2] or ''
if last ~= ARGV[2] or hash ~= ARGV[3] then
  return 'CONFLICT'
end
-- Index i must hold seq i+1. Drop anything past the last seq (left by a script that failed
-- halfway, which Redis does not roll back) before appending.
local n = tonumber(last)
if redis.call('LLEN', KEYS[1]) ~= n then
  if n == 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('LTRIM', KEYS[1], 0, n - 1)
  end
end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 9))
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
end
redis.call('HSET', KEYS[2], 'seq', ARGV[6], 'hash', ARGV[7])
if ARGV[8] ~= '' then
  redis.call('PUBLISH', ARGV[8], ARGV[6])
end
return 'OK'
