-- Reschedule an active task whose handler raised RateLimited: like retry.lua with is_failure 0 and
-- the message unchanged, and count it as throttled (asynq-py only, docs/wire.md §2.3).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:lease
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:throttled:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:throttled
-- ARGV[1] -> task ID
-- ARGV[2] -> retry_at Unix time in seconds
-- ARGV[3] -> stats expiration timestamp
-- Returns "OK", or an error reply "NOT FOUND".
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "retry")
if redis.call("INCR", KEYS[5]) == 1 then
    redis.call("EXPIREAT", KEYS[5], ARGV[3])
end
redis.call("INCR", KEYS[6])
return redis.status_reply("OK")
