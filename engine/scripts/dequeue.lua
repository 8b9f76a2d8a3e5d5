-- Move up to ARGV[3] tasks from pending to active under a lease (Go: dequeueCmd, docs/wire.md §4.1.7;
-- asynq-py pops a batch in one call, each task exactly as Go's script moves one, and enforces the
-- queue's flow-control limits of docs/wire.md §2.3 when the queue has any).
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:paused
-- KEYS[3] -> asynq:{<qname>}:active
-- KEYS[4] -> asynq:{<qname>}:lease
-- KEYS[5] -> asynq:{<qname>}:limits
-- KEYS[6] -> asynq:{<qname>}:wake (optional, asynq-py: the wake list of docs/wire.md §2.4, given by a server that was
--            waiting on it; when the call took tasks and left some pending, it passes a token on to the next idle
--            server)
-- ARGV[1] -> lease expiration Unix time in seconds
-- ARGV[2] -> task key prefix
-- ARGV[3] -> how many tasks to take at most
-- ARGV[4] -> limit key prefix, asynq:{<qname>}:limit: (the flow-control state keys of docs/wire.md
--            §2.3 are built on it, in the queue's slot: parked_types, rate, parked:<type>,
--            active:<type>, rate:<type>; fewer arguments keep the call cheap for unlimited queues)
-- Returns a flat list: a hold in ms and its reason, then (task ID, message, pending_since in Unix ns
-- or "") triples. The hold is -1 (reason 0) when no limit held a task back (paused, nothing pending,
-- or all asked for taken); otherwise ask again after that many ms (0: at once), for reason 1 the
-- queue's rate (its next slot), 2 its full concurrency limit (1000 ms), 3 task types at their limits
-- with nothing else pending, 4 the call parked its budget of tasks and stopped.
-- The message is "" when the task key is missing or not a hash.
-- Uses lib/wake.lua (prepended when loaded): wake() pushes the wake token and publishes the wake message.
local out = {-1, 0}
local want = tonumber(ARGV[3])
local parked_types = ARGV[4] .. "parked_types"

-- Pass the wake-up on (KEYS[6]) when this call took tasks and left some pending.
local function relay()
    if KEYS[6] and #out > 2 and redis.call("LLEN", KEYS[1]) > 0 then
        wake(KEYS[6])
    end
end

-- Lease a task already in active and add it to the reply; fields are its {msg, pending_since}.
local function lease(id, fields)
    if fields then
        redis.call("HSET", ARGV[2] .. id, "state", "active")
        redis.call("HDEL", ARGV[2] .. id, "pending_since")
    else
        fields = {false, false}
    end
    redis.call("ZADD", KEYS[4], ARGV[1], id)
    table.insert(out, id)
    table.insert(out, fields[1] or "")
    table.insert(out, fields[2] or "")
end

-- {msg, pending_since} of a task, or nil when its key is missing or not a hash: the processor drops
-- such an id (HSET would create a stub hash, or fail after the id left pending). One call for a task
-- hash; EXISTS only tells a hash without either field from a missing key.
local function read(id)
    local fields = redis.pcall("HMGET", ARGV[2] .. id, "msg", "pending_since")
    if fields["err"] then
        return nil
    end
    if fields[1] or fields[2] or redis.call("EXISTS", ARGV[2] .. id) == 1 then
        return fields
    end
    return nil
end

if redis.call("EXISTS", KEYS[2], KEYS[5], parked_types) == 0 then
    -- Not paused, no limits and nothing parked: Go's path, at the cost of one EXISTS.
    for _ = 1, want do
        local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
        if not id then
            break
        end
        lease(id, read(id))
    end
    if #out - 2 == want * 3 then
        relay()
    end
    return out
end

if redis.call("EXISTS", KEYS[2]) == 1 then
    return out
end

local FULL_HOLD_MS = 1000
local PARK_BUDGET = 200
local config = {}
local flat = redis.call("HGETALL", KEYS[5])
for i = 1, #flat, 2 do
    config[flat[i]] = tonumber(flat[i + 1])
end
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000

-- A rate limiter (GCRA): tat is the next start's theoretical arrival time in ms. Servers asking up to
-- LATE_MS (or half an interval, if longer) after a slot was due keep the schedule and may take the
-- slots they missed, so waking late on a busy machine does not lower the rate; asking later restarts
-- the schedule from now, so idle time is never banked beyond the burst.
local LATE_MS = 30
local function limiter(key, prefix)
    local rate = config[prefix .. "rate"]
    if not rate or rate <= 0 then
        return nil
    end
    local interval = (config[prefix .. "period_ms"] or 1000) / rate
    local tau = ((config[prefix .. "burst"] or 1) - 1) * interval
    local tat = tonumber(redis.call("GET", key) or "") or now
    if now - tat >= math.max(interval / 2, LATE_MS) then
        tat = now
    end
    -- A state left by a slower rate must not delay a faster one beyond its own horizon.
    local horizon = now + tau + interval
    local clamped = tat > horizon
    if clamped then
        tat = horizon
    end
    return {key = key, interval = interval, tau = tau, tat = tat, dirty = clamped}
end

local function may_start(g)
    return g == nil or g.tat - now <= g.tau
end

local function wait_ms(g)
    return math.max(1, math.ceil(g.tat - g.tau - now))
end

local function save(g)
    if g and g.dirty then
        -- Kept while a late caller may still take its slot; after that a missing state means "now".
        local ttl = math.ceil(g.tat - now + g.interval + LATE_MS)
        redis.call("SET", g.key, string.format("%.3f", g.tat), "PX", ttl)
    end
end

-- The task type: protobuf field 1 (tag 0x0A, a varint length, the bytes); "" when absent.
local function task_type(msg)
    if not msg or string.byte(msg, 1) ~= 10 then
        return ""
    end
    local len, scale, i = 0, 1, 2
    while true do
        local b = string.byte(msg, i)
        if not b then
            return ""
        end
        len = len + (b % 128) * scale
        i = i + 1
        if b < 128 then
            break
        end
        scale = scale * 128
    end
    return string.sub(msg, i, i + len - 1)
end

local queue_room = config["concurrency"]
if queue_room then
    queue_room = queue_room - redis.call("LLEN", KEYS[3])
end
local queue_rate = limiter(ARGV[4] .. "rate", "")

local types = {}
-- A type's limits and usage, read once per call. The slot zset is counted against the lease zset:
-- an id no longer leased (done, retried, archived, recovered) is dropped.
local function type_state(t)
    local s = types[t]
    if s then
        return s
    end
    s = {}
    local field = "type:" .. t .. ":"
    local limit = config[field .. "concurrency"]
    if limit then
        s.slots = ARGV[4] .. "active:" .. t
        local live = 0
        for _, id in ipairs(redis.call("ZRANGE", s.slots, 0, -1)) do
            if redis.call("ZSCORE", KEYS[4], id) then
                live = live + 1
            else
                redis.call("ZREM", s.slots, id)
            end
        end
        s.room = limit - live
    end
    s.rate = limiter(ARGV[4] .. "rate:" .. t, field)
    types[t] = s
    return s
end

local function type_hold(s)
    if s.room and s.room <= 0 then
        return FULL_HOLD_MS
    end
    if not may_start(s.rate) then
        return wait_ms(s.rate)
    end
    return nil
end

local function queue_open()
    return (queue_room == nil or queue_room > 0) and may_start(queue_rate)
end

local function start(id, fields, s)
    lease(id, fields)
    if queue_room then
        queue_room = queue_room - 1
    end
    if queue_rate then
        queue_rate.tat = queue_rate.tat + queue_rate.interval
        queue_rate.dirty = true
    end
    if s.room then
        s.room = s.room - 1
        redis.call("ZADD", s.slots, ARGV[1], id)
    end
    if s.rate then
        s.rate.tat = s.rate.tat + s.rate.interval
        s.rate.dirty = true
    end
end

local type_wait = nil
local function note_type_wait(ms)
    if type_wait == nil or ms < type_wait then
        type_wait = ms
    end
end

-- Parked tasks first, oldest first, for every type that has room.
for _, t in ipairs(redis.call("SMEMBERS", parked_types)) do
    local parked = ARGV[4] .. "parked:" .. t
    local s = type_state(t)
    while #out - 2 < want * 3 and queue_open() do
        local hold = type_hold(s)
        if hold then
            note_type_wait(hold)
            break
        end
        local id = redis.call("RPOPLPUSH", parked, KEYS[3])
        if not id then
            break
        end
        start(id, read(id), s)
    end
    if redis.call("EXISTS", parked) == 0 then
        redis.call("SREM", parked_types, t)
    end
end

-- Then pending: a task whose type is at its limit is parked (its hash stays pending).
local parked_now = 0
local drained = false
while #out - 2 < want * 3 and queue_open() and parked_now < PARK_BUDGET do
    local id = redis.call("RPOP", KEYS[1])
    if not id then
        drained = true
        break
    end
    local fields = read(id)
    local t = task_type(fields and fields[1])
    local s = type_state(t)
    local hold = fields and type_hold(s)
    if hold then
        redis.call("LPUSH", ARGV[4] .. "parked:" .. t, id)
        redis.call("SADD", parked_types, t)
        note_type_wait(hold)
        parked_now = parked_now + 1
    else
        redis.call("LPUSH", KEYS[3], id)
        start(id, fields, s)
    end
end

save(queue_rate)
for _, s in pairs(types) do
    save(s.rate)
end

if #out - 2 < want * 3 then
    if not queue_open() then
        if redis.call("EXISTS", KEYS[1], parked_types) > 0 then
            if queue_room and queue_room <= 0 then
                out[1], out[2] = FULL_HOLD_MS, 2
            else
                out[1], out[2] = wait_ms(queue_rate), 1
            end
        end
    elseif not drained and parked_now >= PARK_BUDGET then
        out[1], out[2] = 0, 4
    elseif type_wait then
        out[1], out[2] = type_wait, 3
    end
end
relay()
return out
