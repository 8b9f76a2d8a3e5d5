-- Move up to ARGV[3] tasks of a zset (scheduled, retry or archived) or of a group to pending, by
-- score: one chunk of Go's runAllCmd / runAllAggregatingCmd (docs/wire.md §4.3.2), so that no single
-- call blocks Redis for long.
-- KEYS[1] -> the zset: asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[4] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> wake channel (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- ARGV[3] -> chunk size: most tasks this call moves
-- ARGV[4] -> group name (only for a group)
-- Returns {tasks moved, 0 (the shape of archive_all's reply), tasks left in the zset}.
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
local n = tonumber(ARGV[3])
local ids = redis.call("ZRANGE", KEYS[1], 0, n - 1)
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, n - 1)
local left = redis.call("ZCARD", KEYS[1])
for _, id in ipairs(ids) do
    redis.call("LPUSH", KEYS[2], id)
    redis.call("HSET", ARGV[1] .. id, "state", "pending")
end
if KEYS[4] and left == 0 then
    redis.call("SREM", KEYS[4], ARGV[4])
end
if #ids > 0 then
    wake(KEYS[3], ARGV[2])
end
return {#ids, 0, left}
