-- Enqueue a task to run now (Go: enqueueCmd / enqueueUniqueCmd, docs/wire.md §4.1.1-2).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:unique:<type>:<checksum> (optional: only for unique tasks)
-- ARGV[1] -> task message data
-- ARGV[2] -> task ID
-- ARGV[3] -> current unix time in nsec (pending_since)
-- ARGV[4] -> uniqueness TTL in seconds (only with KEYS[3])
-- ARGV[5] -> wake channel, published to when the pending list was empty (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- Returns 1 if enqueued, 0 if the task ID already exists, -1 if the unique lock is held.
if KEYS[3] then
    local ok = redis.call("SET", KEYS[3], ARGV[2], "NX", "EX", ARGV[4])
    if not ok then
        return -1
    end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
if KEYS[3] then
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3],
        "unique_key", KEYS[3])
else
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
end
if redis.call("LPUSH", KEYS[2], ARGV[2]) == 1 then
    redis.pcall("PUBLISH", ARGV[5], "1")
end
return 1
