-- Count the live holders of task-type slots (asynq-py flow control, read only; docs/wire.md §2.3).
-- KEYS[1] -> asynq:{<qname>}:lease
-- KEYS[2:] -> asynq:{<qname>}:limit:active:<type>, one per type
-- Returns, for each KEYS[2:], how many of its ids are still in the lease zset (the others are dead).
local counts = {}
for i = 2, #KEYS do
    local live = 0
    for _, id in ipairs(redis.call("ZRANGE", KEYS[i], 0, -1)) do
        if redis.call("ZSCORE", KEYS[1], id) then
            live = live + 1
        end
    end
    counts[#counts + 1] = live
end
return counts
