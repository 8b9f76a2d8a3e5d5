-- List the messages of tasks whose lease expired (Go: listLeaseExpiredCmd, docs/wire.md §4.1.14).
-- KEYS[1] -> asynq:{<qname>}:lease
-- ARGV[1] -> cutoff in Unix seconds
-- ARGV[2] -> task key prefix
-- Returns a flat list of (task ID, message) pairs; the message is "" when the task hash is gone or
-- the key is not a hash (asynq-py reports those ids so that the recoverer can clean them up).
local out = {}
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE")
for _, id in ipairs(ids) do
    local key = ARGV[2] .. id
    local msg = false
    if redis.call("TYPE", key)["ok"] == "hash" then  -- a key of another type must not fail every queue
        msg = redis.call("HGET", key, "msg")
    end
    table.insert(out, id)
    table.insert(out, msg or "")
end
return out
