-- Archive one task that is not active (Go: archiveTaskCmd, docs/wire.md §4.3.1).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:archived
-- KEYS[3] -> asynq:{<qname>}:groups
-- KEYS[4] -> asynq:{<qname>}:limit:parked_types (asynq-py: a pending task may be parked, docs/wire.md §2.3)
-- ARGV[1] -> task ID
-- ARGV[2] -> current time in Unix seconds
-- ARGV[3] -> cutoff time in Unix seconds
-- ARGV[4] -> max number of tasks in the archive
-- ARGV[5] -> queue key prefix
-- ARGV[6] -> group key prefix
-- ARGV[7] -> task key prefix
-- ARGV[8] -> parked list prefix
-- Returns 1 on success, 0 if the task is missing, -1 if already archived, -2 if active.
-- Unlike Go, the tasks the archive limits drop also lose their hashes, as the worker's archive.lua does.
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
local v = redis.call("HMGET", KEYS[1], "state", "group")
local state, group = v[1], v[2]
if state == "active" then
    return -2
end
if state == "archived" then
    return -1
end
if state == "pending" then
    if redis.call("LREM", ARGV[5] .. state, 1, ARGV[1]) == 0 and not unparked(KEYS[4], ARGV[8]) then
        return redis.error_reply("task id not found in list " .. tostring(state))
    end
elseif state == "aggregating" then
    if redis.call("ZREM", ARGV[6] .. group, ARGV[1]) == 0 then
        return redis.error_reply("task id not found in group " .. tostring(group))
    end
    if redis.call("ZCARD", ARGV[6] .. group) == 0 then
        redis.call("SREM", KEYS[3], group)
    end
else
    if redis.call("ZREM", ARGV[5] .. state, ARGV[1]) == 0 then
        return redis.error_reply("task id not found in zset " .. tostring(state))
    end
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
for _, id in ipairs(redis.call("ZRANGE", KEYS[2], "-inf", ARGV[3], "BYSCORE")) do
    redis.call("DEL", ARGV[7] .. id)
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[3])
for _, id in ipairs(redis.call("ZRANGE", KEYS[2], 0, -tonumber(ARGV[4]))) do
    redis.call("DEL", ARGV[7] .. id)
end
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[4]))
return 1
