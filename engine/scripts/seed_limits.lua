-- Write a queue's limits unless it has some already: a server's configured limits seed Redis, and
-- Redis wins afterwards (asynq-py only, docs/wire.md §2.3).
-- KEYS[1] -> asynq:{<qname>}:limits
-- ARGV[1..n] -> field, value, field, value, ...
-- Returns 1 if the limits were written, 0 if the queue had limits already.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], unpack(ARGV))
return 1
