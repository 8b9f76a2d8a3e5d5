-- Take a batch of a group's tasks into a new aggregation set when a rule says it is ready
-- (Go: aggregationCheckCmd, docs/wire.md §4.1.22).
-- KEYS[1] -> asynq:{<qname>}:g:<gname>
-- KEYS[2] -> asynq:{<qname>}:g:<gname>:<aggregation_set_id>
-- KEYS[3] -> asynq:{<qname>}:aggregation_sets
-- KEYS[4] -> asynq:{<qname>}:groups
-- ARGV[1] -> max group size (0 = no limit)
-- ARGV[2] -> max delay in seconds (0 = no limit)
-- ARGV[3] -> grace period in seconds
-- ARGV[4] -> deadline of the aggregation set in Unix seconds
-- ARGV[5] -> current time in Unix seconds
-- ARGV[6] -> group name
-- Returns 1 if an aggregation set was created, 0 otherwise.
local size = redis.call("ZCARD", KEYS[1])
if size == 0 then
    return 0
end
local max_size = tonumber(ARGV[1])
local function move(stop)
    local res = redis.call("ZRANGE", KEYS[1], 0, stop, "WITHSCORES")
    for i = 1, #res, 2 do
        redis.call("ZADD", KEYS[2], tonumber(res[i + 1]), res[i])
    end
    redis.call("ZREMRANGEBYRANK", KEYS[1], 0, stop)
    redis.call("ZADD", KEYS[3], ARGV[4], KEYS[2])
end
if max_size ~= 0 and size >= max_size then
    move(max_size - 1)
    if size == max_size then
        redis.call("SREM", KEYS[4], ARGV[6])
    end
    return 1
end
local now = tonumber(ARGV[5])
local max_delay = tonumber(ARGV[2])
local ready = false
if max_delay ~= 0 then
    local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
    if tonumber(oldest[2]) <= now - max_delay then
        ready = true
    end
end
if not ready then
    local newest = redis.call("ZREVRANGE", KEYS[1], 0, 0, "WITHSCORES")
    if tonumber(newest[2]) <= now - tonumber(ARGV[3]) then
        ready = true
    end
end
if ready then
    move(max_size - 1)
    if size <= max_size or max_size == 0 then
        redis.call("SREM", KEYS[4], ARGV[6])
    end
    return 1
end
return 0
