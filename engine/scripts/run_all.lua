-- Move every task of a zset (scheduled, retry or archived) or of a group to pending
-- (Go: runAllCmd / runAllAggregatingCmd, docs/wire.md §4.3.2).
-- KEYS[1] -> the zset: asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> wake channel (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- ARGV[3] -> group name (only for a group)
-- Returns the number of tasks moved.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
    redis.call("LPUSH", KEYS[2], id)
    redis.call("HSET", ARGV[1] .. id, "state", "pending")
end
redis.call("DEL", KEYS[1])
if KEYS[3] then
    redis.call("SREM", KEYS[3], ARGV[3])
end
if #ids > 0 then
    redis.pcall("PUBLISH", ARGV[2], "1")
end
return #ids
