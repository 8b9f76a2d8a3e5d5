-- Remove a finished task (Go: doneCmd / doneUniqueCmd, docs/wire.md §4.1.8).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:t:<task_id>
-- KEYS[4] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[5] -> asynq:{<qname>}:processed
-- KEYS[6] -> asynq:{<qname>}:limits (asynq-py addition: docs/wire.md §2.3)
-- KEYS[7] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[8] -> asynq:{<qname>}:pending (asynq-py addition: docs/wire.md §2.4)
-- KEYS[9] -> asynq:{<qname>}:limit:parked_types (asynq-py addition: docs/wire.md §2.3)
-- KEYS[10] -> unique key (optional: only when the message has one)
-- ARGV[1] -> task ID
-- ARGV[2] -> stats expiration timestamp
-- ARGV[3] -> max int64 value
-- ARGV[4] -> wake channel asynq:wake:<qname> (asynq-py addition: docs/wire.md §2.4)
-- Returns "OK", or an error reply "NOT FOUND".
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token.
-- Uses lib/slot_freed.lua (prepended when loaded): slot_freed() tells servers waiting on the queue's limits.
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("DEL", KEYS[3]) == 0 then
    return redis.error_reply("NOT FOUND")
end
local n = redis.call("INCR", KEYS[4])
if tonumber(n) == 1 then
    redis.call("EXPIREAT", KEYS[4], ARGV[2])
end
local total = redis.call("GET", KEYS[5])
if tonumber(total) == tonumber(ARGV[3]) then
    redis.call("SET", KEYS[5], 1)
else
    redis.call("INCR", KEYS[5])
end
if KEYS[10] and redis.call("GET", KEYS[10]) == ARGV[1] then
    redis.call("DEL", KEYS[10])
end
slot_freed(KEYS[6], ARGV[4], KEYS[7], KEYS[8], KEYS[9])
return redis.status_reply("OK")
