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
-- Uses lib/take_out.lua (prepended when loaded): take_out() takes the task out of its state's key.
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
local at = {
    queue = ARGV[5], lrem_count = 1, parked_types = KEYS[4], parked = ARGV[8], group = ARGV[6], groups = KEYS[3],
}
local missing = take_out(ARGV[1], state, group, at)
if missing then
    return missing
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
