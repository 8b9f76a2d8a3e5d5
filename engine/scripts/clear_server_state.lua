-- Delete a server's heartbeat records at shutdown (Go: clearServerStateCmd, docs/wire.md §4.1.17).
-- KEYS[1] -> asynq:servers:{<host:pid:sid>}
-- KEYS[2] -> asynq:workers:{<host:pid:sid>}
-- Returns "OK".
redis.call("DEL", KEYS[1])
redis.call("DEL", KEYS[2])
return redis.status_reply("OK")
