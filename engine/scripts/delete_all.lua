-- Delete up to ARGV[3] tasks of pending, a zset or a group: one chunk of Go's deleteAllCmd /
-- deleteAllPendingCmd / deleteAllAggregatingCmd (docs/wire.md §4.3.2), so that no single call blocks
-- Redis for long. As in Go, unique locks are released only for zsets.
-- KEYS[1] -> the source: asynq:{<qname>}:pending, asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> 1 to release unique locks owned by the deleted tasks, else 0
-- ARGV[3] -> chunk size: most tasks this call deletes
-- ARGV[4] -> group name (only for a group)
-- Returns {tasks deleted, 0 (the shape of archive_all's reply), tasks left in the source}.
local n = tonumber(ARGV[3])
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
    local key = ARGV[1] .. id
    if tonumber(ARGV[2]) == 1 then
        local unique = redis.call("HGET", key, "unique_key")
        if unique and unique ~= "" and redis.call("GET", unique) == id then
            redis.call("DEL", unique)
        end
    end
    redis.call("DEL", key)
end
if KEYS[2] and left == 0 then
    redis.call("SREM", KEYS[2], ARGV[4])
end
return {#ids, 0, left}
