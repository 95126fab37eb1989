-- A write to a room's meta, so that a WAIT after it on the same connection counts the replicas
-- holding everything written before it (the replication stream is in order): the room's events
-- up to the returned seq, appended perhaps by a Log that died or gave up before confirming them.
-- KEYS: 1 meta HASH. Returns the room's last seq ("0": no events, nothing written).
local seq = redis.call('HGET', KEYS[1], 'seq')
if not seq then
  return '0'
end
redis.call('HSET', KEYS[1], 'probe', seq)
return seq
