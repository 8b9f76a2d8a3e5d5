-- List the live members of asynq:servers, asynq:workers or asynq:schedulers and prune stale ones
-- (Go: listServerKeysCmd / listWorkersCmd / listSchedulerKeysCmd, docs/wire.md §4.2).
-- KEYS[1] -> the global zset
-- ARGV[1] -> current time in Unix seconds
-- Returns the live member keys.
local now = tonumber(ARGV[1])
local keys = redis.call("ZRANGEBYSCORE", KEYS[1], now, "+inf")
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - 1)
return keys
