-- Archive up to ARGV[5] tasks of pending, a zset (scheduled or retry) or a group: one chunk of
-- Go's archiveAllCmd / archiveAllPendingCmd / archiveAllAggregatingCmd (docs/wire.md §4.3.2), so that
-- no single call blocks Redis for long. Pending tasks are taken oldest first, zset tasks by score.
-- Unlike Go, the tasks the archive limits drop also lose their hashes, as the worker's archive.lua does.
-- KEYS[1] -> the source: asynq:{<qname>}:pending, asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:archived
-- KEYS[3] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> current time in Unix seconds
-- ARGV[2] -> cutoff time in Unix seconds: archived tasks older than this are deleted
-- ARGV[3] -> max number of tasks in the archive
-- ARGV[4] -> task key prefix
-- ARGV[5] -> chunk size: most tasks this call moves
-- ARGV[6] -> group name (only for a group)
-- Returns {tasks archived, archived tasks the limits deleted, tasks left in the source}.
local n = tonumber(ARGV[5])
local ids, left
if redis.call("TYPE", KEYS[1])["ok"] == "list" then
    ids = redis.call("LRANGE", KEYS[1], -n, -1)
    redis.call("LTRIM", KEYS[1], 0, -n - 1)
    left = redis.call("LLEN", KEYS[1])
else
    ids = redis.call("ZRANGE", KEYS[1], 0, n - 1)
    redis.call("ZREMRANGEBYRANK", KEYS[1], 0, n - 1)
    left = redis.call("ZCARD", KEYS[1])
end
for _, id in ipairs(ids) do
    redis.call("ZADD", KEYS[2], ARGV[1], id)
    redis.call("HSET", ARGV[4] .. id, "state", "archived")
end
local old = redis.call("ZRANGE", KEYS[2], "-inf", ARGV[2], "BYSCORE")
for _, id in ipairs(old) do
    redis.call("DEL", ARGV[4] .. id)
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
local extra = redis.call("ZRANGE", KEYS[2], 0, -tonumber(ARGV[3]))
for _, id in ipairs(extra) do
    redis.call("DEL", ARGV[4] .. id)
end
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[3]))
if KEYS[3] and left == 0 then
    redis.call("SREM", KEYS[3], ARGV[6])
end
return {#ids, #old + #extra, left}
