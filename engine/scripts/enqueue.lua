-- Enqueue a task to run now (Go: enqueueCmd / enqueueUniqueCmd, docs/wire.md §4.1.1-2).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[4] -> asynq:{<qname>}:unique:<type>:<checksum> (optional: only for unique tasks)
-- ARGV[1] -> task message data
-- ARGV[2] -> task ID
-- ARGV[3] -> current unix time in nsec (pending_since)
-- ARGV[4] -> wake channel, published to when the pending list was empty (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- ARGV[5] -> uniqueness TTL in seconds (only with KEYS[4]; last, so that a plain enqueue sends at most 10 arguments,
-- which Redis accepts before authentication and so answers NOAUTH rather than a protocol error)
-- Returns 1 if enqueued, 0 if the task ID already exists, -1 if the unique lock is held.
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
if KEYS[4] then
    local ok = redis.call("SET", KEYS[4], ARGV[2], "NX", "EX", ARGV[5])
    if not ok then
        return -1
    end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
if KEYS[4] then
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3],
        "unique_key", KEYS[4])
else
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
end
if redis.call("LPUSH", KEYS[2], ARGV[2]) == 1 then
    wake(KEYS[3], ARGV[4])
end
return 1
