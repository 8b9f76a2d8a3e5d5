-- Put the tasks of aggregation sets past their deadline back into their groups
-- (Go: reclaimStateAggregationSetsCmd, docs/wire.md §4.1.22; asynq-py also re-adds the group name to
-- the groups set, which Go forgets, so that the aggregator sees the group again).
-- KEYS[1] -> asynq:{<qname>}:aggregation_sets
-- KEYS[2] -> asynq:{<qname>}:groups
-- ARGV[1] -> current time in Unix seconds
-- ARGV[2] -> group key prefix
-- Returns "OK".
local stale = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE")
for _, key in ipairs(stale) do
    local group_key = string.match(key, "(.*):.*$")
    local res = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
    for i = 1, #res, 2 do
        redis.call("ZADD", group_key, tonumber(res[i + 1]), res[i])
    end
    redis.call("DEL", key)
    if #res > 0 then
        redis.call("SADD", KEYS[2], string.sub(group_key, #ARGV[2] + 1))
    end
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
return redis.status_reply("OK")
