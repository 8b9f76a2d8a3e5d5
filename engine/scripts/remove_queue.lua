-- Delete a queue's task containers and their tasks (Go: removeQueueCmd / removeQueueForceCmd, docs/wire.md §4.3.2).
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:archived
-- KEYS[6] -> asynq:{<qname>}:lease
-- KEYS[7] -> asynq:{<qname>}:limit:parked_types (asynq-py: parked tasks are pending, docs/wire.md §2.3)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> 1 to force (delete tasks), else 0
-- ARGV[3] -> parked list prefix
-- Returns 1 on success, -1 if the queue is not empty (without force), -2 if it has active tasks.
local force = tonumber(ARGV[2]) == 1
local lists = {KEYS[1]}
for _, t in ipairs(redis.call("SMEMBERS", KEYS[7])) do
    table.insert(lists, ARGV[3] .. t)
end
local sizes = redis.call("LLEN", KEYS[2]) + redis.call("ZCARD", KEYS[3]) + redis.call("ZCARD", KEYS[4])
    + redis.call("ZCARD", KEYS[5])
for _, key in ipairs(lists) do
    sizes = sizes + redis.call("LLEN", key)
end
if not force and sizes > 0 then
    return -1
end
if force then
    if redis.call("LLEN", KEYS[2]) > 0 then
        return -2
    end
    for _, key in ipairs(lists) do
        for _, id in ipairs(redis.call("LRANGE", key, 0, -1)) do
            redis.call("DEL", ARGV[1] .. id)
        end
    end
    for i = 3, 5 do
        for _, id in ipairs(redis.call("ZRANGE", KEYS[i], 0, -1)) do
            redis.call("DEL", ARGV[1] .. id)
        end
    end
end
redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
for i = 2, #lists do
    redis.call("DEL", lists[i])
end
return 1
