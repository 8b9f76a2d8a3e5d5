-- Read the message and result of each listed task (asynq-py: one call for a page of a listing).
-- KEYS[1] -> any key of the queue (for cluster routing)
-- ARGV[1] -> task key prefix
-- ARGV[2:] -> task IDs
-- Returns a flat list of (msg, result) pairs; "" where the hash or field is missing.
local out = {}
for i = 2, #ARGV do
    local v = redis.call("HMGET", ARGV[1] .. ARGV[i], "msg", "result")
    table.insert(out, v[1] or "")
    table.insert(out, v[2] or "")
end
return out
