-- Estimate a queue's memory usage from samples (Go: memoryUsageCmd with the nil guards of Go's main
-- branch, docs/wire.md §4.3.2).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:archived
-- KEYS[6] -> asynq:{<qname>}:completed
-- KEYS[7] -> asynq:{<qname>}:groups
-- KEYS[8] -> asynq:{<qname>}:limit:parked_types (asynq-py: parked tasks are pending, docs/wire.md §2.3)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> sample size
-- ARGV[3] -> number of groups to sample
-- ARGV[4] -> group key prefix
-- ARGV[5] -> parked list prefix
-- Returns the estimated number of bytes (Redis truncates the Lua number once, as in Go).
local sample = tonumber(ARGV[2])
-- pcall: a missing key gives nil, and a server without MEMORY (an emulator) counts as 0.
local function usage(key)
    local ok, n = pcall(redis.call, "MEMORY", "USAGE", key)
    if ok and type(n) == "number" then
        return n
    end
    return 0
end
local function sampled(ids, total)
    if #ids == 0 then
        return 0
    end
    local sum = 0
    for _, id in ipairs(ids) do
        sum = sum + usage(ARGV[1] .. id)
    end
    return sum / #ids * total
end
local bytes = 0
for i = 1, 2 do
    bytes = bytes + sampled(redis.call("LRANGE", KEYS[i], 0, sample - 1), redis.call("LLEN", KEYS[i]))
    bytes = bytes + usage(KEYS[i])
end
for i = 3, 6 do
    bytes = bytes + sampled(redis.call("ZRANGE", KEYS[i], 0, sample - 1), redis.call("ZCARD", KEYS[i]))
    bytes = bytes + usage(KEYS[i])
end
for _, t in ipairs(redis.call("SMEMBERS", KEYS[8])) do
    local key = ARGV[5] .. t
    bytes = bytes + sampled(redis.call("LRANGE", key, 0, sample - 1), redis.call("LLEN", key))
    bytes = bytes + usage(key)
end
local groups = redis.call("SMEMBERS", KEYS[7])
if #groups > 0 then
    local total = 0
    local ids = {}
    for i, g in ipairs(groups) do
        local key = ARGV[4] .. g
        total = total + redis.call("ZCARD", key)
        if i <= tonumber(ARGV[3]) then
            for _, id in ipairs(redis.call("ZRANGE", key, 0, sample - 1)) do
                table.insert(ids, id)
            end
        end
    end
    -- As Go: only the sampled task hashes of groups count, not the group zsets themselves.
    bytes = bytes + sampled(ids, total)
end
return bytes
