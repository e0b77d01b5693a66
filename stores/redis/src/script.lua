-- mcpguard: check and count one request at every limit, all or nothing.
-- KEYS: one per limit (one hash slot: they share the client's {hash tag}).
-- ARGV: now_sec, now_ns ("" = the server's TIME), cost, consume (1/0),
--       then per limit: algorithm (f|s|t), limit, window_ns, burst.
-- Returns per limit: allowed, never, remaining, reset, retry (-1 = none),
-- in ticks (ns; the token bucket's 1/limit ns), exactly as quota.rs.
-- Numbers are doubles: every value stays an integer below 2^53 because the
-- store refuses limits whose window x capacity exceeds 2^50 ns, and times
-- are (seconds, nanoseconds) pairs whose differences saturate at 4e15 ns.
local E = 1000000000
local BIG = 4000000000000000

local function idiv(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

local function diff(s1, n1, s0, n0)
  local ds = s1 - s0
  if ds > 4000000 then return BIG end
  if ds < -4000000 then return -BIG end
  return ds * E + (n1 - n0)
end

local function add(s, n, w)
  local t = n + w
  local q = idiv(t, E)
  return s + q, t - q * E
end

local function fixed(st, ns, nn, cost, consume, limit, w)
  local ss, sn, count = ns, nn, 0
  if st and diff(ns, nn, st[1], st[2]) < w then ss, sn, count = st[1], st[2], st[3] end
  local until_end = w - diff(ns, nn, ss, sn)
  if until_end < 0 then until_end = 0 end
  local reset_now = 0
  if count > 0 then reset_now = until_end end
  local remaining_now = limit - count
  if remaining_now < 0 then remaining_now = 0 end
  if cost > limit then return {0, 1, remaining_now, reset_now, -1} end
  local after = count + cost
  if after <= limit then
    if consume then return {1, 0, limit - after, until_end, -1}, {ss, sn, after}, until_end end
    return {1, 0, remaining_now, reset_now, -1}
  end
  return {0, 0, remaining_now, reset_now, math.max(until_end, 1)}
end

local function sliding(st, ns, nn, cost, consume, limit, w)
  local ss, sn, prev, cur, into, lag = ns, nn, 0, 0, 0, 0
  if st then
    local d = diff(ns, nn, st[1], st[2])
    local e = 0
    if d > 0 then e = d else lag = -d end
    if e < w then
      ss, sn, prev, cur, into = st[1], st[2], st[3], st[4], e
    elseif e - w < w then
      ss, sn = add(st[1], st[2], w)
      prev, cur, into = st[4], 0, e - w
    end
  end
  local left = w - into
  local used = prev * left + cur * w
  local full = limit * w
  local function reset_of(p, c)
    if c > 0 then return lag + w + left elseif p > 0 then return lag + left end
    return 0
  end
  local rem = full - used
  if rem < 0 then rem = 0 end
  local remaining_now = idiv(rem, w)
  if cost > limit then return {0, 1, remaining_now, reset_of(prev, cur), -1} end
  if used + cost * w <= full then
    if not consume then return {1, 0, remaining_now, reset_of(prev, cur), -1} end
    local c2 = cur + cost
    local ttl = 2 * w - diff(ns, nn, ss, sn)
    return {1, 0, idiv(full - used - cost * w, w), reset_of(prev, c2), -1}, {ss, sn, prev, c2}, ttl
  end
  local wait
  if cur + cost <= limit then
    local fit = idiv((limit - cur - cost) * w, math.max(prev, 1))
    wait = w - fit - into
    if wait < 0 then wait = 0 end
  else
    local fit = idiv((limit - cost) * w, math.max(cur, 1))
    wait = left + (w - fit)
  end
  return {0, 0, remaining_now, reset_of(prev, cur), math.max(lag + wait, 1)}
end

local function gcra(st, ns, nn, cost, consume, limit, w, burst)
  if limit == 0 then return {0, 1, 0, 0, -1} end
  if cost > burst then
    local v = gcra(st, ns, nn, 1, false, limit, w, burst)
    return {0, 1, v[3], v[4], -1}
  end
  local tau = w * burst
  local used = 0
  if st then
    local d = diff(ns, nn, st[1], st[2])
    local rel = st[3]
    if d <= 0 then
      used = rel - d * limit
    elseif d <= idiv(rel, limit) then
      used = rel - d * limit
    end
  end
  local rem = tau - used
  if rem < 0 then rem = 0 end
  local remaining_now = idiv(rem, w)
  local after = used + cost * w
  if after <= tau then
    if not consume then return {1, 0, remaining_now, used, -1} end
    return {1, 0, idiv(tau - after, w), after, -1}, {ns, nn, after}, idiv(after + limit - 1, limit)
  end
  return {0, 0, remaining_now, used, math.max(after - tau, 1)}
end

local ns, nn
if ARGV[1] == '' then
  local t = redis.call('TIME')
  ns = tonumber(t[1])
  nn = tonumber(t[2]) * 1000
else
  ns = tonumber(ARGV[1])
  nn = tonumber(ARGV[2])
end
local cost = tonumber(ARGV[3])
local consume = ARGV[4] == '1'
local out, writes, all = {}, {}, true
for i = 1, #KEYS do
  local o = 4 + (i - 1) * 4
  local alg, limit, w, burst = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
  local raw = redis.call('GET', KEYS[i])
  local st = nil
  if raw then
    st = {}
    for x in string.gmatch(raw, '%S+') do st[#st + 1] = tonumber(x) end
  end
  local v, nxt, ttl
  if alg == 'f' then
    v, nxt, ttl = fixed(st, ns, nn, cost, consume, limit, w)
  elseif alg == 's' then
    v, nxt, ttl = sliding(st, ns, nn, cost, consume, limit, w)
  else
    v, nxt, ttl = gcra(st, ns, nn, cost, consume, limit, w, burst)
  end
  if v[1] == 0 then all = false end
  for j = 1, 5 do out[#out + 1] = v[j] end
  writes[i] = {nxt, ttl}
end
if all and consume then
  for i = 1, #KEYS do
    local nx, ttl = writes[i][1], writes[i][2]
    if nx then
      local parts = {}
      for j = 1, #nx do parts[j] = string.format('%.0f', nx[j]) end
      redis.call('SET', KEYS[i], table.concat(parts, ' '), 'PX', math.floor(ttl / 1000000) + 1)
    end
  end
end
return out
