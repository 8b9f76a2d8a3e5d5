-- Store many new tasks of one queue in one call (asynq-py only, docs/wire.md §4.1.23): for each task, in order,
-- what enqueue.lua, schedule.lua or add_to_group.lua does for one (§4.1.1-6), the pending ones' ids pushed in one
-- LPUSH at the end; the data stored is the same as one call per task stores.
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:scheduled
-- KEYS[3] -> asynq:{<qname>}:groups
-- KEYS[4] -> asynq:{<qname>}:wake (the wake list, docs/wire.md §2.4)
-- KEYS[5...] -> per task, in order: asynq:{<qname>}:t:<task_id>; then asynq:{<qname>}:g:<group_key> if its kind is
-- "g"; then asynq:{<qname>}:unique:<type>:<checksum> if its uniqueness TTL is not 0
-- ARGV[1] -> wake channel, published to when a push made the pending list non-empty (as enqueue.lua's ARGV[4])
-- ARGV[2...] -> per task, 6 each: kind ("p" pending, "s" scheduled, "g" added to a group), task message data,
-- task ID, time (p: pending_since in Unix nsec; s: process_at in Unix seconds; g: current time in Unix seconds),
-- group key ("" unless g), uniqueness TTL in seconds (0: not unique)
-- Returns one entry per task: 1 if stored, 0 if the task ID already exists, -1 if the unique lock is held, or the
-- text of the error one of its commands failed with (the writes it made before stay, as a one-task script's do;
-- the tasks after it are still stored).
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
local pending, scheduled, groups, wake_list = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- A command's error ends its task's store (below, through pcall), not the whole call.
local function call(...)
    local reply = redis.pcall(...)
    if type(reply) == "table" and reply.err then
        error(reply)
    end
    return reply
end

local function store(kind, data, id, time, group, ttl, task_key, group_key, unique_key)
    if unique_key and not call("SET", unique_key, id, "NX", "EX", ttl) then
        return -1
    end
    if call("EXISTS", task_key) == 1 then
        return 0
    end
    if kind == "p" then
        if unique_key then
            call("HSET", task_key, "msg", data, "state", "pending", "pending_since", time, "unique_key", unique_key)
        else
            call("HSET", task_key, "msg", data, "state", "pending", "pending_since", time)
        end
        return "push"
    elseif kind == "s" then
        if unique_key then
            call("HSET", task_key, "msg", data, "state", "scheduled", "unique_key", unique_key)
        else
            call("HSET", task_key, "msg", data, "state", "scheduled")
        end
        call("ZADD", scheduled, time, id)
    else
        call("HSET", task_key, "msg", data, "state", "aggregating", "group", group)
        call("ZADD", group_key, time, id)
        call("SADD", groups, group)
    end
    return 1
end

local results = {}
local pushed, pushed_at = {}, {}
local k = 5
for i = 2, #ARGV, 6 do
    local kind, ttl = ARGV[i], ARGV[i + 5]
    local task_key = KEYS[k]
    k = k + 1
    local group_key, unique_key
    if kind == "g" then
        group_key = KEYS[k]
        k = k + 1
    end
    if ttl ~= "0" then
        unique_key = KEYS[k]
        k = k + 1
    end
    local ok, result = pcall(store, kind, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ttl, task_key,
        group_key, unique_key)
    if not ok then
        result = type(result) == "table" and result.err or tostring(result)
    elseif result == "push" then
        pushed[#pushed + 1] = ARGV[i + 2]
        pushed_at[#pushed_at + 1] = #results + 1
        result = 1
    end
    results[#results + 1] = result
end
-- The pending tasks' ids go on in one push, in order: the list, and when it became non-empty, are
-- as one push per task leaves them.
if #pushed > 0 then
    local reply = redis.pcall("LPUSH", pending, unpack(pushed))
    if type(reply) == "table" and reply.err then
        for _, at in ipairs(pushed_at) do
            results[at] = reply.err
        end
    elseif reply == #pushed then
        wake(wake_list, ARGV[1])
    end
end
return results
