-- Raise a room's confirmed seq, the end of what readers see when Logs wait for replicas, to a
-- seq that WAIT showed replicas hold, and publish it. Never past the room's last seq, never back.
-- KEYS: 1 meta HASH. ARGV: 1 the seq replicas hold, 2 notify channel.
-- Returns the confirmed seq. Seqs are below 2^53, so Lua's doubles compare them exactly; they
-- are written back as the strings they came as.
local meta = redis.call('HMGET', KEYS[1], 'seq', 'confirmed')
local last, confirmed = meta[1] or '0', meta[2] or '0'
local seq = ARGV[1]
if tonumber(seq) > tonumber(last) then
  seq = last
end
if tonumber(seq) <= tonumber(confirmed) then
  return confirmed
end
redis.call('HSET', KEYS[1], 'confirmed', seq)
redis.call('PUBLISH', ARGV[2], seq)
return seq
