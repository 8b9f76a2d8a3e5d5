-- Delete one task that is not active, releasing its unique lock (Go: deleteTaskCmd, docs/wire.md §4.3.1).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:groups
-- KEYS[3] -> asynq:{<qname>}:limit:parked_types (asynq-py: a pending task may be parked, docs/wire.md §2.3)
-- ARGV[1] -> task ID
-- ARGV[2] -> queue key prefix
-- ARGV[3] -> group key prefix
-- ARGV[4] -> parked list prefix
-- Returns 1 on success, 0 if the task is missing, -1 if it is active.
-- Remove the task from the parked list of its type; true if it was there.
local function unparked(types_key, prefix)
    for _, t in ipairs(redis.call("SMEMBERS", types_key)) do
        if redis.call("LREM", prefix .. t, 0, ARGV[1]) > 0 then
            return true
        end
    end
    return false
end
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
local v = redis.call("HMGET", KEYS[1], "state", "group", "unique_key")
local state, group, unique = v[1], v[2], v[3]
if state == "active" then
    return -1
end
if state == "pending" then
    if redis.call("LREM", ARGV[2] .. state, 0, ARGV[1]) == 0 and not unparked(KEYS[3], ARGV[4]) then
        return redis.error_reply("task id not found in list " .. tostring(state))
    end
elseif state == "aggregating" then
    if redis.call("ZREM", ARGV[3] .. group, ARGV[1]) == 0 then
        return redis.error_reply("task id not found in group " .. tostring(group))
    end
    if redis.call("ZCARD", ARGV[3] .. group) == 0 then
        redis.call("SREM", KEYS[2], group)
    end
else
    if redis.call("ZREM", ARGV[2] .. state, ARGV[1]) == 0 then
        return redis.error_reply("task id not found in zset " .. tostring(state))
    end
end
if unique and unique ~= "" and redis.call("GET", unique) == ARGV[1] then
    redis.call("DEL", unique)
end
return redis.call("DEL", KEYS[1])
