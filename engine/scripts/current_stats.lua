-- Read a queue's counters in one call (Go: currentStatsCmd, docs/wire.md §4.2).
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:archived
-- KEYS[6] -> asynq:{<qname>}:completed
-- KEYS[7] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[8] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[9] -> asynq:{<qname>}:processed
-- KEYS[10] -> asynq:{<qname>}:failed
-- KEYS[11] -> asynq:{<qname>}:paused
-- KEYS[12] -> asynq:{<qname>}:groups
-- KEYS[13] -> asynq:{<qname>}:limit:parked_types (asynq-py: parked tasks are pending, docs/wire.md §2.3)
-- ARGV[1] -> task key prefix
-- ARGV[2] -> group key prefix
-- ARGV[3] -> parked list prefix
-- Returns a flat list of (name, value) pairs.
local res = {}
local pending_lists = {KEYS[1]}
for _, t in ipairs(redis.call("SMEMBERS", KEYS[13])) do
    table.insert(pending_lists, ARGV[3] .. t)
end
local pending = 0
for _, key in ipairs(pending_lists) do
    pending = pending + redis.call("LLEN", key)
end
table.insert(res, "pending")
table.insert(res, pending)
table.insert(res, "active")
table.insert(res, redis.call("LLEN", KEYS[2]))
local zsets = { "scheduled", "retry", "archived", "completed" }
for i, name in ipairs(zsets) do
    table.insert(res, name)
    table.insert(res, redis.call("ZCARD", KEYS[2 + i]))
end
local counters = { "processed_today", "failed_today", "processed_total", "failed_total" }
for i, name in ipairs(counters) do
    local v = redis.call("GET", KEYS[6 + i])
    table.insert(res, name)
    table.insert(res, tonumber(v) or 0)
end
table.insert(res, "paused")
table.insert(res, redis.call("EXISTS", KEYS[11]))
local since = 0
for _, key in ipairs(pending_lists) do
    local oldest = redis.call("LRANGE", key, -1, -1)
    if #oldest > 0 then
        local t = tonumber(redis.call("HGET", ARGV[1] .. oldest[1], "pending_since") or 0) or 0
        if t > 0 and (since == 0 or t < since) then
            since = t
        end
    end
end
table.insert(res, "oldest_pending_since")
table.insert(res, since)
local groups = redis.call("SMEMBERS", KEYS[12])
local aggregating = 0
for _, g in ipairs(groups) do
    aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. g)
end
table.insert(res, "group_size")
table.insert(res, #groups)
table.insert(res, "aggregating_count")
table.insert(res, aggregating)
return res
