-- Move up to ARGV[3] tasks from pending to active under a lease (Go: dequeueCmd, docs/wire.md §4.1.7;
-- asynq-py pops a batch in one call, each task exactly as Go's script moves one).
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:paused
-- KEYS[3] -> asynq:{<qname>}:active
-- KEYS[4] -> asynq:{<qname>}:lease
-- ARGV[1] -> lease expiration Unix time in seconds
-- ARGV[2] -> task key prefix
-- ARGV[3] -> how many tasks to take at most
-- Returns a flat list of (task ID, message, pending_since in Unix ns or "") triples; empty if paused
-- or nothing is pending. The message is "" when the task key is missing or not a hash.
if redis.call("EXISTS", KEYS[2]) == 0 then
    local out = {}
    for _ = 1, tonumber(ARGV[3]) do
        local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
        if not id then
            break
        end
        local key = ARGV[2] .. id
        local fields = {false, false}
        -- asynq-py: an id whose task key is missing or not a hash comes back with no message (the
        -- processor drops it); HSET would create a stub hash, or fail after the id left pending.
        if redis.call("TYPE", key)["ok"] == "hash" then
            fields = redis.call("HMGET", key, "msg", "pending_since")
            redis.call("HSET", key, "state", "active")
            redis.call("HDEL", key, "pending_since")
        end
        redis.call("ZADD", KEYS[4], ARGV[1], id)
        table.insert(out, id)
        table.insert(out, fields[1] or "")
        table.insert(out, fields[2] or "")
    end
    return out
end
return {}
