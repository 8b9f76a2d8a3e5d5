-- Move an active task to retry (Go: retryCmd, docs/wire.md §4.1.11).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:lease
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[7] -> asynq:{<qname>}:processed
-- KEYS[8] -> asynq:{<qname>}:failed
-- KEYS[9] -> asynq:{<qname>}:limits (asynq-py addition: docs/wire.md §2.3)
-- KEYS[10] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[11] -> asynq:{<qname>}:pending (asynq-py addition: docs/wire.md §2.4)
-- KEYS[12] -> asynq:{<qname>}:limit:parked_types (asynq-py addition: docs/wire.md §2.3)
-- KEYS[13] -> asynq:{<qname>}:throttled:<yyyy-mm-dd> (asynq-py, optional: only for a task whose handler
--             raised RateLimited, which comes with is_failure 0; docs/wire.md §2.3)
-- KEYS[14] -> asynq:{<qname>}:throttled (with KEYS[13])
-- ARGV[1] -> task ID
-- ARGV[2] -> updated task message data
-- ARGV[3] -> retry_at Unix time in seconds
-- ARGV[4] -> stats expiration timestamp
-- ARGV[5] -> is_failure (1 or 0)
-- ARGV[6] -> max int64 value
-- ARGV[7] -> wake channel asynq:wake:<qname> (asynq-py addition: docs/wire.md §2.4)
-- Returns "OK", or an error reply "NOT FOUND".
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token.
-- Uses lib/slot_freed.lua (prepended when loaded): slot_freed() tells servers waiting on the queue's limits.
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if tonumber(ARGV[5]) == 1 then
    local n = redis.call("INCR", KEYS[5])
    if tonumber(n) == 1 then
        redis.call("EXPIREAT", KEYS[5], ARGV[4])
    end
    local m = redis.call("INCR", KEYS[6])
    if tonumber(m) == 1 then
        redis.call("EXPIREAT", KEYS[6], ARGV[4])
    end
    local total = redis.call("GET", KEYS[7])
    if tonumber(total) == tonumber(ARGV[6]) then
        redis.call("SET", KEYS[7], 1)
        redis.call("SET", KEYS[8], 1)
    else
        redis.call("INCR", KEYS[7])
        redis.call("INCR", KEYS[8])
    end
end
if KEYS[13] then
    if redis.call("INCR", KEYS[13]) == 1 then
        redis.call("EXPIREAT", KEYS[13], ARGV[4])
    end
    redis.call("INCR", KEYS[14])
end
slot_freed(KEYS[9], ARGV[7], KEYS[10], KEYS[11], KEYS[12])
return redis.status_reply("OK")
