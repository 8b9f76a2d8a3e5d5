-- Unpause a queue and wake idle asynq-py servers when it has pending tasks (docs/wire.md §4.3.2; Go only deletes the
-- paused key).
-- KEYS[1] -> asynq:{<qname>}:paused
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:wake (asynq-py addition: the wake list, docs/wire.md §2.4)
-- ARGV[1] -> wake channel (published with pcall: a denied wake-up never fails the unpause)
-- Returns 0 if the queue was not paused, 1 if unpaused (and woken, or nothing was pending), 2 if unpaused but Redis
-- refused the wake message.
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
if redis.call("DEL", KEYS[1]) == 0 then
    return 0
end
if redis.call("LLEN", KEYS[2]) == 0 then
    return 1
end
if wake(KEYS[3], ARGV[1]) then
    return 1
end
return 2
