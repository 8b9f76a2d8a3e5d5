-- Keep a finished task as completed for its retention (Go: markAsCompleteCmd, docs/wire.md §4.1.9).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:completed
-- KEYS[4] -> asynq:{<qname>}:t:<task_id>
-- KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:processed
-- KEYS[7] -> asynq:{<qname>}:limits (asynq-py addition: docs/wire.md §2.3)
-- KEYS[8] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[9] -> asynq:{<qname>}:pending (asynq-py addition: docs/wire.md §2.4)
-- KEYS[10] -> asynq:{<qname>}:limit:parked_types (asynq-py addition: docs/wire.md §2.3)
-- KEYS[11] -> unique key (optional: only when the message has one)
-- ARGV[1] -> task ID
-- ARGV[2] -> stats expiration timestamp
-- ARGV[3] -> task expiration time in Unix seconds (completed_at + retention)
-- ARGV[4] -> task message data (with completed_at set)
-- ARGV[5] -> max int64 value
-- ARGV[6] -> wake channel asynq:wake:<qname> (asynq-py addition: docs/wire.md §2.4)
-- Returns "OK", or an error reply "NOT FOUND" / "INTERNAL".
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token.
-- Uses lib/slot_freed.lua (prepended when loaded): slot_freed() tells servers waiting on the queue's limits.
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
    return redis.error_reply("INTERNAL")
end
redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
local n = redis.call("INCR", KEYS[5])
if tonumber(n) == 1 then
    redis.call("EXPIREAT", KEYS[5], ARGV[2])
end
local total = redis.call("GET", KEYS[6])
if tonumber(total) == tonumber(ARGV[5]) then
    redis.call("SET", KEYS[6], 1)
else
    redis.call("INCR", KEYS[6])
end
if KEYS[11] and redis.call("GET", KEYS[11]) == ARGV[1] then
    redis.call("DEL", KEYS[11])
end
slot_freed(KEYS[7], ARGV[6], KEYS[8], KEYS[9], KEYS[10])
return redis.status_reply("OK")
