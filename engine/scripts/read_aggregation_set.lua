-- Read the messages of an aggregation set, oldest first (Go: readAggregationSetCmd, docs/wire.md §4.1.22).
-- KEYS[1] -> asynq:{<qname>}:g:<gname>:<aggregation_set_id>
-- ARGV[1] -> task key prefix
-- Returns the list of task messages.
local msgs = {}
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
    local msg = redis.call("HGET", ARGV[1] .. id, "msg")
    if msg then
        table.insert(msgs, msg)
    end
end
return msgs
