-- slot_freed(limits, channel, list, pending, parked_types): tell the asynq-py servers that wait on a limit of a
-- queue that one of its tasks ended, so a slot of its limits may be free (docs/wire.md §2.4). Shared by every
-- script that takes a task out of active; the loader prepends it (after lib/wake.lua, which it uses) to each
-- script whose header has a line "-- Uses lib/slot_freed.lua".
-- limits       -> asynq:{<qname>}:limits: only a queue that has limits is told
-- channel      -> asynq:wake:<qname>, message "slot": heard by the servers that cannot block on the wake list
--                 (Cluster, Sentinel); a server that holds the queue asks again at once
-- list         -> asynq:{<qname>}:wake: the wake token, pushed by wake()'s rules when tasks wait (pending or
--                 parked), for the servers blocked on the wake lists (standalone); the one it wakes asks again
-- pending      -> asynq:{<qname>}:pending
-- parked_types -> asynq:{<qname>}:limit:parked_types
-- Best effort (pcall): a denied wake-up never fails the write already made.
-- Returns nothing.
local function slot_freed(limits, channel, list, pending, parked_types)
    if redis.call("EXISTS", limits) == 1 then
        if redis.call("EXISTS", pending, parked_types) > 0 then
            wake(list)
        end
        redis.pcall("PUBLISH", channel, "slot")
    end
end
