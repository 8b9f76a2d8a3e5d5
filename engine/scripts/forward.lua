-- Move due tasks from scheduled or retry to pending, or into their group (Go: forwardCmd, docs/wire.md §4.1.13).
-- KEYS[1] -> source zset (asynq:{<qname>}:scheduled or asynq:{<qname>}:retry)
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:groups (asynq-py also records the group name, which Go forgets)
-- KEYS[4] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- ARGV[1] -> current Unix time in seconds
-- ARGV[2] -> task key prefix
-- ARGV[3] -> current Unix time in nsec
-- ARGV[4] -> group key prefix
-- ARGV[5] -> wake channel (asynq-py addition; published with pcall so that
-- a denied or failing wake-up never fails the write already made)
-- Returns the number of tasks moved (at most 100 per call).
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE", "LIMIT", 0, 100)
for _, id in ipairs(ids) do
    local key = ARGV[2] .. id
    local group = redis.call("HGET", key, "group")
    if group and group ~= "" then
        redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
        redis.call("ZREM", KEYS[1], id)
        redis.call("HSET", key, "state", "aggregating")
        redis.call("SADD", KEYS[3], group)
    else
        if redis.call("LPUSH", KEYS[2], id) == 1 then
            wake(KEYS[4], ARGV[5])
        end
        redis.call("ZREM", KEYS[1], id)
        redis.call("HSET", key, "state", "pending", "pending_since", ARGV[3])
    end
end
return #ids
