-- Delete one task that is not active, releasing its unique lock (Go: deleteTaskCmd, docs/wire.md §4.3.1).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:groups
-- KEYS[3] -> asynq:{<qname>}:limit:parked_types (asynq-py: a pending task may be parked, docs/wire.md §2.3)
-- ARGV[1] -> task ID
-- ARGV[2] -> queue key prefix
-- ARGV[3] -> group key prefix
-- ARGV[4] -> parked list prefix
-- Returns 1 on success, 0 if the task is missing, -1 if it is active.
-- Uses lib/take_out.lua (prepended when loaded): take_out() takes the task out of its state's key.
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
local v = redis.call("HMGET", KEYS[1], "state", "group", "unique_key")
local state, group, unique = v[1], v[2], v[3]
if state == "active" then
    return -1
end
local at = {
    queue = ARGV[2], lrem_count = 0, parked_types = KEYS[3], parked = ARGV[4], group = ARGV[3], groups = KEYS[2],
}
local missing = take_out(ARGV[1], state, group, at)
if missing then
    return missing
end
if unique and unique ~= "" and redis.call("GET", unique) == ARGV[1] then
    redis.call("DEL", unique)
end
return redis.call("DEL", KEYS[1])
