-- wake(list, channel): tell idle asynq-py servers that a pending list is no longer empty (docs/wire.md §2.4).
-- Shared by every script that makes pending non-empty: the loader (engine/scripts/__init__.py) prepends this
-- file to each script whose header has a line "-- Uses lib/wake.lua".
-- list    -> asynq:{<qname>}:wake: at most one token, taken by a server blocked on it; one nobody takes expires
-- channel -> asynq:wake:<qname>, for the servers that cannot block (nil: no message)
-- Best effort (pcall): a denied or failing wake-up never fails the write already made.
-- Returns false if Redis refused the message, else true.
local function wake(list, channel)
    if redis.pcall("LPUSH", list, "1") == 1 then
        redis.pcall("EXPIRE", list, 10)
    else
        redis.pcall("LTRIM", list, 0, 0)
    end
    if channel == nil then
        return true
    end
    local published = redis.pcall("PUBLISH", channel, "1")
    return not (type(published) == "table" and published.err)
end
