-- Put an active task back at the front of pending (Go: requeueCmd, docs/wire.md §4.1.10).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:pending
-- KEYS[4] -> asynq:{<qname>}:t:<task_id>
-- KEYS[5] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- KEYS[6] -> asynq:{<qname>}:limits (asynq-py addition: docs/wire.md §2.3)
-- KEYS[7] -> asynq:{<qname>}:limit:parked_types (asynq-py addition: docs/wire.md §2.3)
-- ARGV[1] -> task ID
-- ARGV[2] -> wake channel (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- Returns "OK", or an error reply "NOT FOUND".
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
-- Uses lib/slot_freed.lua (prepended when loaded): slot_freed() tells servers waiting on the queue's limits.
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
if redis.call("RPUSH", KEYS[3], ARGV[1]) == 1 then
    wake(KEYS[5], ARGV[2])
end
redis.call("HSET", KEYS[4], "state", "pending")
slot_freed(KEYS[6], ARGV[2], KEYS[5], KEYS[3], KEYS[7])
return redis.status_reply("OK")
