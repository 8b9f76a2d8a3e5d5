-- Move one task to pending so that it runs now (Go: runTaskCmd, docs/wire.md §4.3.1).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:groups
-- KEYS[4] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- ARGV[1] -> task ID
-- ARGV[2] -> queue key prefix
-- ARGV[3] -> group key prefix
-- ARGV[4] -> wake channel (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- Returns 1 on success, 0 if the task is missing, -1 if it is active, -2 if it is already pending.
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
local v = redis.call("HMGET", KEYS[1], "state", "group")
local state, group = v[1], v[2]
if state == "active" then
    return -1
elseif state == "pending" then
    return -2
elseif state == "aggregating" then
    local n = redis.call("ZREM", ARGV[3] .. group, ARGV[1])
    if n == 0 then
        return redis.error_reply("internal error: task id not found in group " .. tostring(group))
    end
    if redis.call("ZCARD", ARGV[3] .. group) == 0 then
        redis.call("SREM", KEYS[3], group)
    end
else
    local n = redis.call("ZREM", ARGV[2] .. state, ARGV[1])
    if n == 0 then
        return redis.error_reply("internal error: task id not found in zset " .. tostring(state))
    end
end
if redis.call("LPUSH", KEYS[2], ARGV[1]) == 1 then
    wake(KEYS[4], ARGV[4])
end
redis.call("HSET", KEYS[1], "state", "pending")
return 1
