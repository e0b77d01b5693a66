-- mcpguard: decide and count one request at every limit, all or nothing.
-- KEYS: one per limit (one hash slot: they share the client's {hash tag}).
-- ARGV[1]: little-endian doubles: now_sec (-1: the server's TIME), now_ns,
--       cost, consume (1/0), then per limit: algorithm (1 fixed, 2
--       sliding, 3 token bucket), limit, window_ns, burst. One binary
--       argument, not a decimal one per number: Redis makes each argument
--       a Lua string and `tonumber` parses each again, which cost the
--       server more than the whole fixed-window decision (every value is
--       an integer below 2^53 or rounds the same either way).
-- Returns one string: now_sec, now_ns and committed (1/0) as three
-- little-endian doubles, then per limit 33 bytes: a 1 and the state as
-- found before this request (its four little-endian doubles, as stored),
-- or 33 zero bytes when there was none. One string, not a list of numbers:
-- Redis turns each number of a list into a reply of its own, which cost
-- about as much as the decision. The caller computes every reported
-- number from these with the in-process algorithms (quota.rs); this
-- script only decides and stores, exactly.
-- Lua numbers are doubles: values that can pass 2^53 (products of a count
-- and a duration) are computed in doubles while they stay exact, and as
-- bignums of 20-bit limbs when they do not. The caller
-- refuses windows (and token-bucket refill times) above 2^51 ns.
local E = 1000000000
local BIG = 8000000000000000
local B = 1048576
-- 2^53: every integer below it is exact in a double.
local EXACT = 9007199254740992

-- A limit without state, in the reply: 33 zero bytes.
local NONE = '\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0'

local function idiv(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

-- The bignum helpers, made only when a value passes 2^53 (rare): a
-- function definition costs its closure on every call of the script.
local function bignum()
  local function norm(t)
    local c = 0
    for i = 1, #t do
      local v = t[i] + c
      c = math.floor(v / B)
      t[i] = v - c * B
    end
    while c > 0 do
      local q = math.floor(c / B)
      t[#t + 1] = c - q * B
      c = q
    end
    while #t > 0 and t[#t] == 0 do t[#t] = nil end
    return t
  end

  local function big(n)
    local t = {}
    while n > 0 do
      local q = math.floor(n / B)
      t[#t + 1] = n - q * B
      n = q
    end
    return t
  end

  local function mul(a, b)
    local r = {}
    for i = 1, #a + #b do r[i] = 0 end
    for i = 1, #a do
      for j = 1, #b do r[i + j - 1] = r[i + j - 1] + a[i] * b[j] end
    end
    return norm(r)
  end

  local function add(a, b)
    local r = {}
    for i = 1, math.max(#a, #b) do r[i] = (a[i] or 0) + (b[i] or 0) end
    return norm(r)
  end

  local function cmp(a, b)
    if #a ~= #b then
      if #a < #b then return -1 end
      return 1
    end
    for i = #a, 1, -1 do
      if a[i] ~= b[i] then
        if a[i] < b[i] then return -1 end
        return 1
      end
    end
    return 0
  end

  -- a / d and a % d for d below 2^32.
  local function divsmall(a, d)
    local q, r = {}, 0
    for i = #a, 1, -1 do
      local v = r * B + a[i]
      local qi = idiv(v, d)
      r = v - qi * d
      q[i] = qi
    end
    local n = 0
    for i = #q, 1, -1 do n = n * B + q[i] end
    return n, r
  end
  return big, mul, add, cmp, divsmall
end

local function diff(s1, n1, s0, n0)
  local ds = s1 - s0
  if ds > 8000000 then return BIG end
  if ds < -8000000 then return -BIG end
  return ds * E + (n1 - n0)
end

local function add_time(s, n, w)
  local t = n + w
  local q = idiv(t, E)
  return s + q, t - q * E
end

-- Each takes the state found (has: whether there was one; a, b, c, d: its
-- four fields, as stored) and returns: allowed, the next state's four
-- fields, and its time to live in ns, or nil when the state keeps the
-- window its key already expires with (then the key keeps its expiry:
-- setting one costs Redis about as much again as the write itself). Plain
-- values, no tables: a table is an allocation per call, and together they
-- cost Redis a fifth of the script's time.
local function fixed(has, a, b, c, ns, nn, cost, limit, w)
  local ss, sn, count = ns, nn, 0
  local same = has and diff(ns, nn, a, b) < w
  if same then ss, sn, count = a, b, c end
  if cost > limit or count + cost > limit then return false end
  if same then return true, ss, sn, count + cost, 0, nil end
  return true, ss, sn, count + cost, 0, w - diff(ns, nn, ss, sn)
end

local function sliding(has, a, b, c, d, ns, nn, cost, limit, w)
  local ss, sn, prev, cur, into, same = ns, nn, 0, 0, 0, false
  if has then
    local dt = diff(ns, nn, a, b)
    local e = 0
    if dt > 0 then e = dt end
    if e < w then
      ss, sn, prev, cur, into, same = a, b, c, d, e, true
    elseif e - w < w then
      ss, sn = add_time(a, b, w)
      prev, cur, into = d, 0, e - w
    end
  end
  local k = limit - cur - cost
  if k < 0 then return false end
  -- prev * (w - into) + (cur + cost) * w <= limit * w, that is
  -- prev * (w - into) <= k * w: true outright when prev <= k (into >= 0).
  if prev > k then
    local x, y = prev * (w - into), k * w
    if x >= EXACT then
      local big, mul, _, cmp = bignum()
      if cmp(mul(big(prev), big(w - into)), mul(big(k), big(w))) > 0 then return false end
    elseif y < EXACT and x > y then
      return false
    end
  end
  if same then return true, ss, sn, prev, cur + cost, nil end
  return true, ss, sn, prev, cur + cost, 2 * w - diff(ns, nn, ss, sn)
end

local function gcra(has, a, b, c, d, ns, nn, cost, limit, w, burst)
  if limit == 0 or cost > burst then return false end
  -- The theoretical arrival time relative to the state's base time, in
  -- ticks of 1/limit ns, is q * limit + r; relative to now it is
  -- (q - elapsed) * limit + r, and "used" is that when positive.
  local q0 = -1
  if has then q0 = c - diff(ns, nn, a, b) end
  -- In doubles while every value is exact (below 2^53): a product that
  -- rounds to less than 2^53 is exact, and one that rounds to 2^53 or more
  -- is above every exact value.
  local after = cost * w
  if q0 >= 0 then after = after + q0 * limit + d end
  -- Below 2^52, the division's product q * limit stays exact too.
  if after < EXACT / 2 then
    local cap = burst * w
    if cap < EXACT and after > cap then return false end
    local q = idiv(after, limit)
    return true, ns, nn, q, after - q * limit, q + 1
  end
  local big, mul, add, cmp, divsmall = bignum()
  local used = {}
  if q0 >= 0 then used = add(mul(big(q0), big(limit)), big(d)) end
  after = add(used, mul(big(cost), big(w)))
  if cmp(after, mul(big(burst), big(w))) > 0 then return false end
  local q, r = divsmall(after, limit)
  return true, ns, nn, q, r, q + 1
end

-- One limit's decision: the algorithm named `alg` on the state found.
local function decide(alg, has, a, b, c, d, ns, nn, cost, limit, w, burst)
  if alg == 1 then
    return fixed(has, a, b, c, ns, nn, cost, limit, w)
  elseif alg == 2 then
    return sliding(has, a, b, c, d, ns, nn, cost, limit, w)
  end
  return gcra(has, a, b, c, d, ns, nn, cost, limit, w, burst)
end

-- The state a key holds: whether it has one, its four fields, and the 32
-- bytes they came from (nil when there was none); or, for a key holding
-- something else, nil and the error to return.
local function read_state(key)
  local raw = redis.call('GET', key)
  if not raw then return false, 0, 0, 0, 0, nil end
  -- Four little-endian doubles (struct is C code; parsing and formatting
  -- text in Lua cost more than the rest of the script together).
  if #raw ~= 32 then
    return nil, redis.error_reply('mcpguard: ' .. key .. ' holds no rate-limit state')
  end
  local a, b, c, d = struct.unpack('<dddd', raw)
  return true, a, b, c, d, raw
end

-- Redis expires keys by its own clock; a Guard that passes its own time
-- (a manual clock, a skewed replica) may still be inside the window a
-- little longer. The state itself says when it is fresh, so one second of
-- grace keeps live state without ever changing a decision.
local function store(key, x1, x2, x3, x4, ttl)
  local packed = struct.pack('<dddd', x1, x2, x3, x4)
  if ttl then
    redis.call('SET', key, packed, 'PX', math.floor(ttl / 1000000) + 1000)
  else
    redis.call('SET', key, packed, 'KEEPTTL')
  end
end

--[[ request ]]
-- Everything above defines; what follows decides one request. EVALSHA runs
-- the whole text on every call; loaded as a Redis function (7.0+), the
-- definitions run once and what follows is the function's body, with KEYS
-- and ARGV its parameters (function.rs).

-- SET's KEEPTTL came with Redis 6.0, as did redis.setresp: an older
-- server gets a clear error, not a syntax error on some writes.
if redis.setresp == nil then
  return redis.error_reply('mcpguard needs Redis 6.0 or later (SET ... KEEPTTL)')
end

local ns, nn, cost, consume, alg, limit, w, burst, at =
  struct.unpack('<dddddddd', ARGV[1])
if ns < 0 then
  local t = redis.call('TIME')
  ns = tonumber(t[1])
  nn = tonumber(t[2]) * 1000
end
consume = consume == 1
local n = #KEYS

-- One limit (the common case): decided and stored at once.
if n == 1 then
  local has, a, b, c, d, raw = read_state(KEYS[1])
  if has == nil then return a end
  local committed = 0
  if consume then
    local ok, x1, x2, x3, x4, ttl = decide(alg, has, a, b, c, d, ns, nn, cost, limit, w, burst)
    if ok then
      store(KEYS[1], x1, x2, x3, x4, ttl)
      committed = 1
    end
  end
  -- One `struct.pack` makes the whole reply: each Lua string is hashed
  -- and interned, so every concatenation costs one more.
  if has then return struct.pack('<dddBc0', ns, nn, committed, 1, raw) end
  return struct.pack('<dddc0', ns, nn, committed, NONE)
end

-- Several: every one decided before any is stored, all or nothing.
local found, writes, all = {}, {}, true
for i = 1, n do
  if i > 1 then
    alg, limit, w, burst, at = struct.unpack('<dddd', ARGV[1], at)
  end
  local has, a, b, c, d, raw = read_state(KEYS[i])
  if has == nil then return a end
  if has then found[i] = '\1' .. raw else found[i] = NONE end
  if consume and all then
    local ok, x1, x2, x3, x4, ttl = decide(alg, has, a, b, c, d, ns, nn, cost, limit, w, burst)
    if ok then writes[i] = {x1, x2, x3, x4, ttl or false} else all = false end
  end
end
local committed = 0
if consume and all then
  for i = 1, n do
    local wr = writes[i]
    store(KEYS[i], wr[1], wr[2], wr[3], wr[4], wr[5])
  end
  committed = 1
end
return struct.pack('<ddd', ns, nn, committed) .. table.concat(found)
