-- Record one enqueue of a scheduler entry, keeping the newest events
-- (Go: recordSchedulerEnqueueEventCmd, docs/wire.md §4.1.19).
-- KEYS[1] -> asynq:scheduler_history:<entryID>
-- ARGV[1] -> enqueued_at time in Unix seconds
-- ARGV[2] -> serialized SchedulerEnqueueEvent
-- ARGV[3] -> max number of events to keep
-- Returns "OK".
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -tonumber(ARGV[3]))
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
return redis.status_reply("OK")
