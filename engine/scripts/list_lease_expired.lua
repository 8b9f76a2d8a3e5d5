-- List the messages of tasks whose lease expired (Go: listLeaseExpiredCmd, docs/wire.md §4.1.14).
-- KEYS[1] -> asynq:{<qname>}:lease
-- ARGV[1] -> cutoff in Unix seconds
-- ARGV[2] -> task key prefix
-- Returns a flat list of (task ID, message) pairs; the message is "" when the task hash is gone
-- (asynq-py reports those ids so that the recoverer can clean them up).
local out = {}
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE")
for _, id in ipairs(ids) do
    local msg = redis.call("HGET", ARGV[2] .. id, "msg")
    table.insert(out, id)
    table.insert(out, msg or "")
end
return out
