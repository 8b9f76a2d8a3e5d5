-- Schedule a task to run later (Go: scheduleCmd / scheduleUniqueCmd, docs/wire.md §4.1.3-4).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:scheduled
-- KEYS[3] -> asynq:{<qname>}:unique:<type>:<checksum> (optional: only for unique tasks)
-- ARGV[1] -> task message data
-- ARGV[2] -> process_at time in Unix seconds
-- ARGV[3] -> task ID
-- ARGV[4] -> uniqueness TTL in seconds (only with KEYS[3])
-- Returns 1 if scheduled, 0 if the task ID already exists, -1 if the unique lock is held.
if KEYS[3] then
    local ok = redis.call("SET", KEYS[3], ARGV[3], "NX", "EX", ARGV[4])
    if not ok then
        return -1
    end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
if KEYS[3] then
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled", "unique_key", KEYS[3])
else
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled")
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
return 1
