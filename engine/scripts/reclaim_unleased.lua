-- Give an expired lease to every active task that has none, so that the recoverer retries it
-- (asynq-py addition: Go leaves such tasks active forever, e.g. after a lease key was evicted
-- or Redis was restored from an older snapshot; reliability spec R6).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- ARGV[1] -> the score to give them (a time already past)
-- Returns the number of leases added.
local n = 0
for _, id in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
    if not redis.call("ZSCORE", KEYS[2], id) then
        redis.call("ZADD", KEYS[2], ARGV[1], id)
        n = n + 1
    end
end
return n
