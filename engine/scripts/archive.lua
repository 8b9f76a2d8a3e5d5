-- Move an active task to archived after its last failure (Go: archiveCmd, docs/wire.md §4.1.12).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:lease
-- KEYS[4] -> asynq:{<qname>}:archived
-- KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[7] -> asynq:{<qname>}:processed
-- KEYS[8] -> asynq:{<qname>}:failed
-- KEYS[9] -> asynq:{<qname>}:t: (task key prefix, passed as a key for cluster routing)
-- KEYS[10] -> asynq:{<qname>}:limits (asynq-py addition: docs/wire.md §2.3)
-- KEYS[11] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[12] -> asynq:{<qname>}:pending (asynq-py addition: docs/wire.md §2.4)
-- KEYS[13] -> asynq:{<qname>}:limit:parked_types (asynq-py addition: docs/wire.md §2.3)
-- ARGV[1] -> task ID
-- ARGV[2] -> updated task message data
-- ARGV[3] -> current time in Unix seconds
-- ARGV[4] -> cutoff: archived tasks older than this are deleted
-- ARGV[5] -> max number of tasks kept in the archive
-- ARGV[6] -> stats expiration timestamp
-- ARGV[7] -> max int64 value
-- ARGV[8] -> wake channel asynq:wake:<qname> (asynq-py addition: docs/wire.md §2.4)
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
local old = redis.call("ZRANGE", KEYS[4], "-inf", ARGV[4], "BYSCORE")
if #old > 0 then
    for _, id in ipairs(old) do
        redis.call("DEL", KEYS[9] .. id)
    end
    redis.call("ZREM", KEYS[4], unpack(old))
end
local extra = redis.call("ZRANGE", KEYS[4], 0, -tonumber(ARGV[5]))
if #extra > 0 then
    for _, id in ipairs(extra) do
        redis.call("DEL", KEYS[9] .. id)
    end
    redis.call("ZREM", KEYS[4], unpack(extra))
end
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
local n = redis.call("INCR", KEYS[5])
if tonumber(n) == 1 then
    redis.call("EXPIREAT", KEYS[5], ARGV[6])
end
local m = redis.call("INCR", KEYS[6])
if tonumber(m) == 1 then
    redis.call("EXPIREAT", KEYS[6], ARGV[6])
end
local total = redis.call("GET", KEYS[7])
if tonumber(total) == tonumber(ARGV[7]) then
    redis.call("SET", KEYS[7], 1)
    redis.call("SET", KEYS[8], 1)
else
    redis.call("INCR", KEYS[7])
    redis.call("INCR", KEYS[8])
end
slot_freed(KEYS[10], ARGV[8], KEYS[11], KEYS[12], KEYS[13])
return redis.status_reply("OK")
