-- slot_freed(limits, channel): tell the asynq-py servers that wait on a limit of a queue that one of
-- its tasks ended, so a slot of its limits may be free (docs/wire.md §2.4). Shared by every script
-- that takes a task out of active; the loader prepends it to each script whose header has a line
-- "-- Uses lib/slot_freed.lua".
-- limits  -> asynq:{<qname>}:limits: only a queue that has limits is told
-- channel -> asynq:wake:<qname>, message "slot": heard by the servers that cannot block on the wake
--            list (Cluster, Sentinel); a server that holds the queue asks again at once
-- Best effort (pcall): a denied message never fails the write already made.
-- Returns nothing.
local function slot_freed(limits, channel)
    if redis.call("EXISTS", limits) == 1 then
        redis.pcall("PUBLISH", channel, "slot")
    end
end
