-- Delete every task of pending, a zset or a group (Go: deleteAllCmd / deleteAllPendingCmd /
-- deleteAllAggregatingCmd, docs/wire.md §4.3.2). As in Go, unique locks are released only for zsets.
-- KEYS[1] -> the source: asynq:{<qname>}:pending, asynq:{<qname>}:<state> or asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:groups (only for a group)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> 1 to release unique locks owned by the deleted tasks, else 0
-- ARGV[3] -> group name (only for a group)
-- Returns the number of tasks deleted.
local ids
if redis.call("TYPE", KEYS[1])["ok"] == "list" then
    ids = redis.call("LRANGE", KEYS[1], 0, -1)
else
    ids = redis.call("ZRANGE", KEYS[1], 0, -1)
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
redis.call("DEL", KEYS[1])
if KEYS[2] then
    redis.call("SREM", KEYS[2], ARGV[3])
end
return #ids
