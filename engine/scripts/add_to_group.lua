-- Add a task to a group for aggregation (Go: addToGroupCmd / addToGroupUniqueCmd, docs/wire.md §4.1.5-6).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:g:<group_key>
-- KEYS[3] -> asynq:{<qname>}:groups
-- KEYS[4] -> asynq:{<qname>}:unique:<type>:<checksum> (optional: only for unique tasks)
-- ARGV[1] -> task message data
-- ARGV[2] -> task ID
-- ARGV[3] -> current time in Unix seconds
-- ARGV[4] -> group key
-- ARGV[5] -> uniqueness TTL in seconds (only with KEYS[4])
-- Returns 1 if added, 0 if the task ID already exists, -1 if the unique lock is held.
-- As in Go, the unique key is not stored in the task hash.
if KEYS[4] then
    local ok = redis.call("SET", KEYS[4], ARGV[2], "NX", "EX", ARGV[5])
    if not ok then
        return -1
    end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
