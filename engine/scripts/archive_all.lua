-- Archive every task of pending, a zset (scheduled or retry) or a group
-- (Go: archiveAllCmd / archiveAllPendingCmd / archiveAllAggregatingCmd, docs/wire.md §4.3.2).
-- KEYS[1] -> the source: asynq:{<qname>}:pending, asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:archived
-- KEYS[3] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> current time in Unix seconds
-- ARGV[2] -> cutoff time in Unix seconds
-- ARGV[3] -> max number of tasks in the archive
-- ARGV[4] -> task key prefix
-- ARGV[5] -> group name (only for a group)
-- Returns the number of tasks archived.
local ids
if redis.call("TYPE", KEYS[1])["ok"] == "list" then
    ids = redis.call("LRANGE", KEYS[1], 0, -1)
else
    ids = redis.call("ZRANGE", KEYS[1], 0, -1)
end
for _, id in ipairs(ids) do
    redis.call("ZADD", KEYS[2], ARGV[1], id)
    redis.call("HSET", ARGV[4] .. id, "state", "archived")
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[3]))
redis.call("DEL", KEYS[1])
if KEYS[3] then
    redis.call("SREM", KEYS[3], ARGV[5])
end
return #ids
