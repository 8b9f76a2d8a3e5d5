-- Read one task with its state, result and next process time (Go: getTaskInfoCmd, docs/wire.md §4.2).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- ARGV[1] -> task ID
-- ARGV[2] -> current time in Unix seconds
-- ARGV[3] -> queue key prefix
-- Returns {msg, state, next process time in Unix seconds, result}, or an error reply "NOT FOUND".
if redis.call("EXISTS", KEYS[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
local v = redis.call("HMGET", KEYS[1], "msg", "state", "result")
local next_at = 0
if v[2] == "scheduled" or v[2] == "retry" then
    next_at = redis.call("ZSCORE", ARGV[3] .. v[2], ARGV[1]) or 0
elseif v[2] == "pending" then
    next_at = ARGV[2]
end
return { v[1] or "", v[2] or "", next_at, v[3] or "" }
