-- Delete completed tasks whose retention ran out (Go: deleteExpiredCompletedTasksCmd, docs/wire.md §4.1.22).
-- KEYS[1] -> asynq:{<qname>}:completed
-- ARGV[1] -> current time in Unix seconds
-- ARGV[2] -> task key prefix
-- ARGV[3] -> batch size
-- Returns the number of tasks deleted.
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE", "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
    redis.call("DEL", ARGV[2] .. id)
    redis.call("ZREM", KEYS[1], id)
end
return #ids
