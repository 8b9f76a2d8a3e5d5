-- Replace the message of a scheduled task (Go: updateTaskPayloadCmd, docs/wire.md §4.3.1).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- ARGV[1] -> new task message data
-- Returns 1 on success, 0 if the task is missing, -1 if it is not scheduled.
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
if redis.call("HGET", KEYS[1], "state") ~= "scheduled" then
    return -1
end
redis.call("HSET", KEYS[1], "msg", ARGV[1])
return 1
