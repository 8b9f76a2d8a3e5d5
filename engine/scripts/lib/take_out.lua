-- take_out(id, state, group, at): take a task that is not active out of where its state keeps it.
-- Shared by archive_task.lua and delete_task.lua: the loader (engine/scripts/__init__.py) prepends
-- this file to each script whose header has a line "-- Uses lib/take_out.lua".
-- at.queue        -> queue key prefix (asynq:{<qname>}:), for the pending list and the state zsets
-- at.lrem_count   -> how many copies of the id LREM takes from the pending list (Go's count)
-- at.parked_types -> asynq:{<qname>}:limit:parked_types (asynq-py: a pending task may be parked, docs/wire.md §2.3)
-- at.parked       -> parked list prefix
-- at.group        -> group key prefix, for an aggregating task's group
-- at.groups       -> asynq:{<qname>}:groups, which loses a group left empty
-- Returns nil, or an error reply naming the list, group or zset the task was not in.

-- Remove the task from the parked list of its type; true if it was there.
local function unparked(id, at)
    for _, t in ipairs(redis.call("SMEMBERS", at.parked_types)) do
        if redis.call("LREM", at.parked .. t, 0, id) > 0 then
            return true
        end
    end
    return false
end

local function take_out(id, state, group, at)
    if state == "pending" then
        if redis.call("LREM", at.queue .. state, at.lrem_count, id) == 0 and not unparked(id, at) then
            return redis.error_reply("task id not found in list " .. tostring(state))
        end
    elseif state == "aggregating" then
        if redis.call("ZREM", at.group .. group, id) == 0 then
            return redis.error_reply("task id not found in group " .. tostring(group))
        end
        if redis.call("ZCARD", at.group .. group) == 0 then
            redis.call("SREM", at.groups, group)
        end
    elseif redis.call("ZREM", at.queue .. state, id) == 0 then
        return redis.error_reply("task id not found in zset " .. tostring(state))
    end
    return nil
end

