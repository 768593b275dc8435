
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_script.h"


/*
 * The one server-side script a decision costs: tenant status, token
 * revocation, plan override, the GCRA rate check, then (only if all pass)
 * the quota and meter counters, atomically.  All keys of a tenant carry
 * the hash tag {ID}, so they sit in one Redis Cluster slot.
 *
 * It runs for every request, so its common case is short: nginx sends
 * the token's plan already worked out (emission interval, tolerance,
 * counter keys and period ends); the plans' text and the periods are
 * parsed only when the tenant's hash overrides something.  No closure,
 * no table but the reply, no number formatted; TIME, HMGET, EXISTS
 * (with a jti) and MGET to decide, SET, INCR and HINCRBY to commit.
 *
 * Four short modes come first, chosen by ARGV[1]:
 *   "Z"  a keyed limit (tenant_limit_zone): GCRA on KEYS[1] with rate
 *        ARGV[2] and burst ARGV[3];
 *   "K"  is a key locked out (tenant_lockout)?  KEYS[2] is the lock;
 *   "F"  a 401 for a key: count it in KEYS[1] (window ARGV[3] ms) and
 *        after ARGV[2] failures lock KEYS[2] for ARGV[4] ms;
 *   "R"  is the token revoked in its own tenant (KEYS[1] hash, KEYS[2]
 *        revoked key, KEYS[3] the user's hash, or KEYS[1] again for a
 *        token without a user, ARGV[2] iat, ARGV[3] "J" with a jti) when
 *        the request selected another organization.
 * They answer { verdict, "", "", limit, remaining, reset, retry after }.
 *
 * Two more read the monthly usage for tenant_usage, and count nothing:
 *   "U"  one tenant's month: HGETALL of KEYS[1], PREFIX{ID}:usage:MONTH;
 *   "S"  a page of every tenant's: SCAN from cursor ARGV[2] with MATCH
 *        ARGV[3] and COUNT ARGV[4], answered { next cursor, key, HGETALL,
 *        key, HGETALL, ... }, a key seen twice in the page given once,
 *        one that is not a hash left out.
 *        The keys are SCAN's, not declared, and one server's: in a
 *        cluster, the call goes to each master in turn, without keys
 *        (ngx_http_tenant_redis_eval_master()).
 *
 * Otherwise the tenant decision:
 *
 * KEYS[1]  PREFIX{ID}                      the tenant's hash
 * KEYS[2]  PREFIX{ID}:revoked:JTI          checked when ARGV[1] holds "J"
 * KEYS[3]  PREFIX{ID}:rate                 GCRA state (TAT, microseconds)
 * KEYS[4]  PREFIX{ID}:quota:PERIOD         the plan's quota counter
 * KEYS[5]  PREFIX{ID}:meter:NAME:PERIOD    the plan's meter counter
 *          (KEYS[4] and KEYS[5] repeat KEYS[3] when there is none)
 * KEYS[6]  PREFIX{ID}:user:USER            the user's hash (its
 *          tokens_valid_after); KEYS[1] again for a token without a user
 *
 * ARGV[1]  "", "L", "J" or "LJ": "L" rate and quota apply here, "J" the
 *          token has a jti (a meter applies whenever one is named)
 * ARGV[2]  iat, or ""
 * ARGV[3]  deadline (unix milliseconds): past it the requester has given
 *          up on this reply, so nothing is counted
 *
 * The arguments from here on are the same for every request of a plan in
 * a location, and nginx keeps them written:
 *
 * ARGV[4]  the plan: the token's, or the default one
 * ARGV[5]  the default plan, or ""
 * ARGV[6]  "meter:NAME", the hash field of the meter, or ""
 * ARGV[7..8]    rate: emission interval and tolerance (microseconds),
 *               or "" ""
 * ARGV[9..10]   quota: limit and end of its period (unix seconds), or ""
 * ARGV[11..12]  meter: the same
 * ARGV[13]  plans this location requires (tenant_require_plan), each
 *           between spaces, or "": checked before anything is counted
 * ARGV[14]  "HOUR HOUR_END DAY DAY_END MONTH MONTH_END", the periods
 * ARGV[15]  ";NAME RATE BURST QUOTA METER" for each plan, "-" for none
 * ARGV[16]  MONTH, the usage counter's: PREFIX{ID}:usage:MONTH, a hash
 *           named from KEYS[1] as an override's counters are (its hash
 *           tag keeps it in the tenant's slot)
 * ARGV[17]  when that counter expires (unix seconds): the end of the
 *           month and tenant_usage_retention
 * ARGV[18]  tenant_limit_lease's max: ask for a lease of up to that many
 *           units; absent in the exact mode, which is then unchanged
 *
 * A lease of n units is granted only where n requests arriving at once
 * would all be admitted: n is at most the requests the GCRA admits now
 * (floor((now + tau - TAT) / T) + 1), and a quarter (rounded up) of that
 * and of what remains of the quota and of the meter, so that the last
 * units are granted one by one.  TAT moves by n * T, the counters and the
 * usage by n.  Its reply is always the long one (rate and quota limit -2
 * when they are the ones nginx sent), followed by { GRANTED,
 * T, KEYS[3], QUOTA KEY, METER KEY, USAGE KEY, "requests" or "", METER
 * FIELD or "" } (the keys "" where nothing was counted), then the ignored
 * overrides: what mode "G" needs to give unused units back.
 *
 *   "G"  gives back ARGV[2] unused units of a lease: KEYS[1] the GCRA state
 *        moved back by ARGV[2] * ARGV[3] (T, 0 for none) but never below
 *        now, KEYS[2] (quota) and KEYS[3] (meter) decremented when ARGV[4]
 *        and ARGV[5] are not "", KEYS[4]'s fields ARGV[6] and ARGV[7] (the
 *        usage) too; nothing goes below 0.
 *
 * Usage is what billing reads, whatever the limits: an admitted request
 * counts in the hash's "requests" where "L" is set, and in ARGV[6] where
 * a meter is named, with the same exactness as the quota (nothing for a
 * refusal, nothing past the deadline).
 *
 * Reply: { verdict, status, plan, rate remaining, rate reset,
 *          retry after, quota used } with -1 for "no such limit"; nginx
 * knows the limits it sent.  With an override in the hash the reply
 * goes on with { rate limit, quota limit, quota reset }.  The common
 * case, an active tenant on the plan nginx sent, leaves out status and
 * plan: { verdict, rate remaining, rate reset, retry after, quota used }.
 * An override the script could not use (a plan no tenant_plan declares,
 * a value that does not parse) makes the reply the long one, followed by
 * the fields it ignored and their values: { ..., FIELD, VALUE, ... }.
 * Verdicts, modes and reply offsets are in ngx_http_tenant_script.h.
 */

static u_char  ngx_http_tenant_script_source[] =

/* Redis before 5 must be told to replicate effects: the script reads TIME */
"redis.replicate_commands()\n"
"local mode = ARGV[1]\n"
"local floor, ceil = math.floor, math.ceil\n"

"if mode == 'Z' then\n"
"  local n, u = string.match(ARGV[2], '^(%d+)r/([smh])$')\n"
"  n = tonumber(n)\n"
"  if not n or n <= 0 then return {0, '', ''} end\n"
"  local per = 1000000\n"
"  if u == 'm' then per = 60000000 elseif u == 'h' then per = 3600000000 end\n"
"  local T = math.max(1, floor(per / n))\n"
"  local tau = T * (tonumber(ARGV[3]) or 0)\n"
"  local t = redis.call('TIME')\n"
"  local now = t[1] * 1000000 + t[2]\n"
"  local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
"  if tat < now then tat = now end\n"
"  if now < tat - tau then\n"
"    return {3, '', '', n, 0, ceil((tat - now) / 1000000),\n"
"            ceil((tat - tau - now) / 1000000)}\n"
"  end\n"
"  redis.call('SET', KEYS[1], tat + T, 'PX',\n"
"             ceil((tat + T - now) / 1000) + 1000)\n"
"  return {0, '', '', n, floor((now + tau - tat) / T),\n"
"          ceil((tat + T - now) / 1000000), 0}\n"
"end\n"

"if mode == 'K' then\n"
"  local ttl = redis.call('PTTL', KEYS[2])\n"
"  if ttl > 0 then\n"
"    return {7, '', '', -1, -1, -1, ceil(ttl / 1000)}\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"

"if mode == 'R' then\n"
"  local tva = tonumber(redis.call('HGET', KEYS[1], 'tokens_valid_after'))\n"
"  local iat = tonumber(ARGV[2])\n"
"  if tva and (not iat or iat < tva) then return {2, '', ''} end\n"
"  if KEYS[3] ~= KEYS[1] then\n"
"    tva = tonumber(redis.call('HGET', KEYS[3], 'tokens_valid_after'))\n"
"    if tva and (not iat or iat < tva) then return {2, '', ''} end\n"
"  end\n"
"  if ARGV[3] == 'J' and redis.call('EXISTS', KEYS[2]) == 1 then\n"
"    return {2, '', ''}\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"

"if mode == 'U' then return redis.call('HGETALL', KEYS[1]) end\n"

"if mode == 'G' then\n"
"  local u, T = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
"  if T > 0 then\n"
"    local t = redis.call('TIME')\n"
"    local now = t[1] * 1000000 + t[2]\n"
"    local tat = tonumber(redis.call('GET', KEYS[1]))\n"
"    if tat and tat > now then\n"
"      tat = math.max(tat - u * T, now)\n"
"      redis.call('SET', KEYS[1], tat, 'PX', ceil((tat - now) / 1000) + 1000)\n"
"    end\n"
"  end\n"
"  for i = 2, 3 do\n"
"    local c = ARGV[i + 2] ~= '' and tonumber(redis.call('GET', KEYS[i]))\n"
"    if c and c > 0 then redis.call('DECRBY', KEYS[i], math.min(c, u)) end\n"
"  end\n"
"  for i = 6, 7 do\n"
"    local c = ARGV[i] ~= ''\n"
"              and tonumber(redis.call('HGET', KEYS[4], ARGV[i]))\n"
"    if c and c > 0 then\n"
"      redis.call('HINCRBY', KEYS[4], ARGV[i], -math.min(c, u))\n"
"    end\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"

"if mode == 'S' then\n"
"  local r = redis.call('SCAN', ARGV[2], 'MATCH', ARGV[3], 'COUNT', ARGV[4])\n"
"  local out, seen = {r[1]}, {}\n"
"  for _, k in ipairs(r[2]) do\n"
"    if not seen[k] then\n"
"      seen[k] = true\n"
"      local u = redis.pcall('HGETALL', k)\n"
"      if not u.err then\n"
"        out[#out + 1] = k\n"
"        out[#out + 1] = u\n"
"      end\n"
"    end\n"
"  end\n"
"  return out\n"
"end\n"

"if mode == 'F' then\n"
"  local c = redis.call('INCR', KEYS[1])\n"
"  if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
"  if c >= tonumber(ARGV[2]) then\n"
"    redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])\n"
"    redis.call('DEL', KEYS[1])\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"

"local h\n"
"if ARGV[6] == '' then\n"
"  h = redis.call('HMGET', KEYS[1], 'status', 'plan', 'rate', 'burst',\n"
"                 'quota', 'tokens_valid_after')\n"
"else\n"
"  h = redis.call('HMGET', KEYS[1], 'status', 'plan', 'rate', 'burst',\n"
"                 'quota', 'tokens_valid_after', ARGV[6])\n"
"end\n"
"local status = h[1] or 'active'\n"
"if status == 'suspended' then return {1, status, ''} end\n"
"if h[6] then\n"
"  local tva, iat = tonumber(h[6]), tonumber(ARGV[2])\n"
"  if tva and (not iat or iat < tva) then return {2, status, ''} end\n"
"end\n"
"if KEYS[6] ~= KEYS[1] then\n"
"  local tva = tonumber(redis.call('HGET', KEYS[6], 'tokens_valid_after'))\n"
"  if tva then\n"
"    local iat = tonumber(ARGV[2])\n"
"    if not iat or iat < tva then return {2, status, ''} end\n"
"  end\n"
"end\n"
"if (mode == 'J' or mode == 'LJ')\n"
"   and redis.call('EXISTS', KEYS[2]) == 1 then\n"
"  return {2, status, ''}\n"
"end\n"

"local plan = ARGV[4]\n"
"local T, tau = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
"local ql, qend, qkey = tonumber(ARGV[9]), ARGV[10], KEYS[4]\n"
"local ml, mend, mkey = tonumber(ARGV[11]), ARGV[12], KEYS[5]\n"
"local rl, override, ig = -1, false, nil\n"

/* an override in the hash: work the limits out from the texts */
"if h[2] or h[3] or h[4] or h[5] or h[7] then\n"
"  override = true\n"
/* what cannot be used is reported, so that nginx can say so */
"  local function bad(f, v) ig = ig or {} ig[#ig + 1] = f ig[#ig + 1] = v end\n"
"  local plans = ARGV[15]\n"
"  if h[2] then plan = h[2] end\n"
"  local at = string.find(plans, ';' .. plan .. ' ', 1, true)\n"
"  if h[2] and not at then\n"
"    bad('plan', h[2])\n"
"    plan = ARGV[4]\n"
"    at = string.find(plans, ';' .. plan .. ' ', 1, true)\n"
"  end\n"
"  if not at and ARGV[5] ~= '' then\n"
"    plan = ARGV[5]\n"
"    at = string.find(plans, ';' .. plan .. ' ', 1, true)\n"
"  end\n"
"  local pr, pb, pq, pm = '-', '0', '-', '-'\n"
"  if at then\n"
"    pr, pb, pq, pm = string.match(plans,\n"
"                                  '^;[^ ]+ ([^ ]+) ([^ ]+) ([^ ]+) ([^ ;]+)', at)\n"
"  end\n"
"  local function count(v)\n"
"    local u = string.match(v, '^%d+/(%a+)$')\n"
"    return u == 'hour' or u == 'day' or u == 'month'\n"
"  end\n"
"  local rate, burst, quota, meter = pr, pb, pq, pm\n"
"  if h[3] then\n"
"    if h[3] == 'none' or string.match(h[3], '^0*[1-9]%d*r/[smh]$') then\n"
"      rate = h[3]\n"
"    else bad('rate', h[3]) end\n"
"  end\n"
"  if h[4] then\n"
"    if string.match(h[4], '^%d+$') then burst = h[4]\n"
"    else bad('burst', h[4]) end\n"
"  end\n"
"  if h[5] then\n"
"    if h[5] == 'none' or count(h[5]) then quota = h[5]\n"
"    else bad('quota', h[5]) end\n"
"  end\n"
"  if h[7] then\n"
"    if h[7] == 'none' or count(h[7]) then meter = h[7]\n"
"    else bad(ARGV[6], h[7]) end\n"
"  end\n"
"  T, tau = nil, nil\n"
"  local n, u = string.match(rate, '^(%d+)r/([smh])$')\n"
"  n = tonumber(n)\n"
"  if n and n > 0 then\n"
"    local per = 1000000\n"
"    if u == 'm' then per = 60000000 elseif u == 'h' then per = 3600000000 end\n"
"    T = math.max(1, floor(per / n))\n"
"    tau = T * (tonumber(burst) or 0)\n"
"    rl = n\n"
"  end\n"
"  local p = {}\n"
"  p.hour, p.hour_end, p.day, p.day_end, p.month, p.month_end =\n"
"    string.match(ARGV[14], '^(%S+) (%d+) (%S+) (%d+) (%S+) (%d+)$')\n"
"  local c\n"
"  c, u = string.match(quota, '^(%d+)/(%a+)$')\n"
"  ql = nil\n"
"  if c and p[u] then\n"
"    ql, qend = tonumber(c), p[u .. '_end']\n"
"    qkey = KEYS[1] .. ':quota:' .. p[u]\n"
"  end\n"
"  c, u = string.match(meter, '^(%d+)/(%a+)$')\n"
"  ml = nil\n"
"  if c and p[u] and ARGV[6] ~= '' then\n"
"    ml, mend = tonumber(c), p[u .. '_end']\n"
"    mkey = KEYS[1] .. ':meter:' .. string.sub(ARGV[6], 7) .. ':' .. p[u]\n"
"  end\n"
"end\n"

"if ARGV[13] ~= '' and not string.find(ARGV[13], ' ' .. plan .. ' ', 1,\n"
"                                      true) then\n"
"  if ig then return {6, status, plan, -1, -1, -1, -1, -1, -1, -1,\n"
"                     unpack(ig)} end\n"
"  return {6, status, plan}\n"
"end\n"
"local counted = (mode == 'L' or mode == 'LJ')\n"
"if not counted then T, ql = nil, nil end\n"
"local limited = T or ql or ml\n"
"local want = tonumber(ARGV[18])\n"
"if not limited and not counted and ARGV[6] == '' then\n"
"  if want then\n"
"    return {0, status, plan, -1, -1, 0, -1, -1, -1, -1, want, 0, KEYS[3],\n"
"            '', '', '', '', '', unpack(ig or {})}\n"
"  end\n"
"  if ig then return {0, status, plan, -1, -1, -1, -1, -1, -1, -1,\n"
"                     unpack(ig)} end\n"
"  return {0, status, plan}\n"
"end\n"

"local t = redis.call('TIME')\n"
"local now = t[1] * 1000000 + t[2]\n"
"if now > ARGV[3] * 1000 then return {5, status, plan} end\n"
"local v = limited and redis.call('MGET', KEYS[3], qkey, mkey) or {}\n"

"local verdict, retry = 0, 0\n"
"local rrem, rreset, tat, admit = -1, -1, 0, false\n"
"if T then\n"
"  tat = tonumber(v[1]) or now\n"
"  if tat < now then tat = now end\n"
"  if now < tat - tau then\n"
"    verdict, retry = 3, ceil((tat - tau - now) / 1000000)\n"
"    rrem, rreset = 0, ceil((tat - now) / 1000000)\n"
"  else\n"
"    admit = true\n"
"    rrem = floor((now + tau - tat) / T)\n"
"    rreset = ceil((tat + T - now) / 1000000)\n"
"  end\n"
"else\n"
"  rl = -1\n"
"end\n"
"local qused = -1\n"
"if ql then\n"
"  qused = tonumber(v[2]) or 0\n"
"  if verdict == 0 and qused >= ql then verdict, retry = 4, qend - t[1] end\n"
"end\n"
"if ml and verdict == 0 and (tonumber(v[3]) or 0) >= ml then\n"
"  verdict, retry = 4, mend - t[1]\n"
"end\n"

"local n = 1\n"
"if want and verdict == 0 then\n"
"  n = want\n"
"  local function cap(a) n = math.min(n, math.max(1, ceil(a / 4))) end\n"
"  if T then cap(floor((now + tau - tat) / T) + 1) end\n"
"  if ql then cap(ql - qused) end\n"
"  if ml then cap(ml - (tonumber(v[3]) or 0)) end\n"
"end\n"
"if verdict ~= 0 then\n"
"  if admit then\n"
"    rrem = floor((now + T + tau - tat) / T)\n"
"    rreset = ceil((tat - now) / 1000000)\n"
"  end\n"
"else\n"
"  if T then\n"
"    redis.call('SET', KEYS[3], tat + n * T, 'PX',\n"
"               ceil((tat + n * T - now) / 1000) + 1000)\n"
"    rrem = rrem - (n - 1)\n"
"    rreset = ceil((tat + n * T - now) / 1000000)\n"
"  end\n"
/* the exact mode keeps INCR, which the documented ACL allows */
"  if ql then\n"
"    if n == 1 then qused = redis.call('INCR', qkey)\n"
"    else qused = redis.call('INCRBY', qkey, n) end\n"
"    if qused == n then redis.call('EXPIREAT', qkey, qend + 86400) end\n"
"  end\n"
"  if ml then\n"
"    local c\n"
"    if n == 1 then c = redis.call('INCR', mkey)\n"
"    else c = redis.call('INCRBY', mkey, n) end\n"
"    if c == n then redis.call('EXPIREAT', mkey, mend + 86400) end\n"
"  end\n"

/*
 * The month's usage, one hash a tenant.  Whichever field comes first in
 * a month creates the hash, and its HINCRBY answers 1: the expiry is set
 * then, in the same atomic step, and never again for that field; a
 * month's other requests cost one HINCRBY per field and nothing more.
 */
"  local ukey, new = KEYS[1] .. ':usage:' .. ARGV[16], false\n"
"  if counted then\n"
"    new = redis.call('HINCRBY', ukey, 'requests', n) == n\n"
"  end\n"
"  if ARGV[6] ~= '' and redis.call('HINCRBY', ukey, ARGV[6], n) == n then\n"
"    new = true\n"
"  end\n"
"  if new then redis.call('EXPIREAT', ukey, ARGV[17]) end\n"
"end\n"
"if want then\n"
"  return {verdict, status, plan, rrem, rreset, retry, qused,\n"
"          override and rl or -2, override and (ql or -1) or -2,\n"
"          ql and qend - t[1] or -1, verdict == 0 and n or 0, T or 0,\n"
"          KEYS[3], ql and qkey or '', ml and mkey or '',\n"
"          KEYS[1] .. ':usage:' .. ARGV[16], counted and 'requests' or '',\n"
"          ARGV[6], unpack(ig or {})}\n"
"end\n"
"if not limited then\n"
"  if ig then return {0, status, plan, -1, -1, -1, -1, -1, -1, -1,\n"
"                     unpack(ig)} end\n"
"  return {0, status, plan}\n"
"end\n"
"if override then\n"
"  return {verdict, status, plan, rrem, rreset, retry, qused, rl, ql or -1,\n"
"          ql and qend - t[1] or -1, unpack(ig or {})}\n"
"end\n"
"if status == 'active' then return {verdict, rrem, rreset, retry, qused} end\n"
"return {verdict, status, plan, rrem, rreset, retry, qused}\n";


ngx_str_t  ngx_http_tenant_script = {
    sizeof(ngx_http_tenant_script_source) - 1,
    ngx_http_tenant_script_source
};
