-- Return one page of a queue's pending task ids in dequeue order: the parked ones first (type by
-- type, oldest first), then the pending list from its right end (asynq-py only: parked tasks are
-- pending, docs/wire.md §2.3).
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:limit:parked_types
-- ARGV[1] -> parked list prefix
-- ARGV[2] -> index of the first id of the page (0-based)
-- ARGV[3] -> index of the last id of the page
-- Returns the ids of the page, oldest first.
local types = redis.call("SMEMBERS", KEYS[2])
table.sort(types)
local lists = {}
for _, t in ipairs(types) do
    table.insert(lists, ARGV[1] .. t)
end
table.insert(lists, KEYS[1])
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local offset = 0
for _, key in ipairs(lists) do
    if last < offset then
        break
    end
    local n = redis.call("LLEN", key)
    local lo, hi = math.max(first - offset, 0), math.min(last - offset, n - 1)
    if lo <= hi then
        -- The i-th oldest id is at index -(i + 1); LRANGE returns the newest of the range first.
        local ids = redis.call("LRANGE", key, -(hi + 1), -(lo + 1))
        for j = #ids, 1, -1 do
            table.insert(out, ids[j])
        end
    end
    offset = offset + n
end
return out
