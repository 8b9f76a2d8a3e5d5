-- Extend leases, forward only, and report the ones that are gone (asynq-py; Go sends ZADD XX).
-- A late heartbeat (one that sat in a socket buffer through a partition) carries an older expiry
-- and must not shorten a lease that was extended since, nor revive one that was taken away.
-- KEYS[1] -> asynq:{<qname>}:lease
-- ARGV[1] -> new lease expiration Unix time in seconds
-- ARGV[2:] -> task IDs
-- Returns the task IDs that have no lease any more (recovered, or finished elsewhere).
local gone = {}
for i = 2, #ARGV do
    if redis.call("ZSCORE", KEYS[1], ARGV[i]) then
        redis.call("ZADD", KEYS[1], "XX", "GT", ARGV[1], ARGV[i])
    else
        table.insert(gone, ARGV[i])
    end
end
return gone
