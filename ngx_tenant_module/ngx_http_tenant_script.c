
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_limit.h"


/*
 * The one server-side script a decision costs: tenant status, token
 * revocation, plan override, the GCRA rate check, then (only if all pass)
 * the quota and meter counters, atomically.  All keys of a tenant carry
 * the hash tag {ID}, so they sit in one Redis Cluster slot; the counter
 * keys are built here from KEYS[1] because their period is only known
 * once the plan (maybe overridden in Redis) is.
 *
 * Three short modes come first, chosen by ARGV[1]:
 *   "Z"  a keyed limit (tenant_limit_zone): GCRA on KEYS[1] with rate
 *        ARGV[2] and burst ARGV[3];
 *   "K"  is a key locked out (tenant_lockout)?  KEYS[2] is the lock;
 *   "F"  a 401 for a key: count it in KEYS[1] (window ARGV[3] ms) and
 *        after ARGV[2] failures lock KEYS[2] for ARGV[4] ms;
 *   "R"  is the token revoked in its own tenant (KEYS[1] hash, KEYS[2]
 *        revoked key, ARGV[2] iat, ARGV[3] "J" with a jti) when the
 *        request selected another organization.
 * They answer { verdict, "", "", limit, remaining, reset, retry after }.
 *
 * Otherwise the tenant decision:
 *
 * KEYS[1]  PREFIX{ID}                 the tenant's hash
 * KEYS[2]  PREFIX{ID}:revoked:JTI     checked when ARGV[1] holds "J"
 * KEYS[3]  PREFIX{ID}:rate            GCRA state (TAT, microseconds)
 *
 * ARGV[1]  flags: "L" rate and quota apply here, "J" the token has a jti
 *          (a meter, ARGV[5], applies whenever it is named)
 * ARGV[2]  iat, or ""
 * ARGV[3]  plan named by the token, ARGV[4] default plan
 * ARGV[5]  meter name, or ""
 * ARGV[6..11]  hour id, hour end, day id, day end, month id, month end
 * ARGV[12]  deadline (unix milliseconds): past it the requester has given
 *           up on this reply, so nothing is counted
 * ARGV[13] plans this location requires (tenant_require_plan), space-
 *          separated, or "": checked on the effective plan before counting
 * ARGV[14..]   per plan: name, rate, burst, quota, meter limit
 *
 * Reply: { verdict, status, plan, rate limit, rate remaining,
 *          rate reset, retry after, quota limit, quota used, quota reset }
 * with -1 for "no such limit"; verdicts in ngx_http_tenant_limit.h.
 */

static u_char  ngx_http_tenant_script_source[] =

/* Redis before 5 must be told to replicate effects: the script reads TIME */
"redis.replicate_commands()\n"
"local function now_us()\n"
"  local t = redis.call('TIME')\n"
"  return tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"end\n"
"local function gcra(key, rate, burst, now)\n"
"  local n, u = string.match(rate, '^(%d+)r/([smh])$')\n"
"  n = tonumber(n)\n"
"  if not n or n <= 0 then return nil end\n"
"  local per = 1000000\n"
"  if u == 'm' then per = 60000000 elseif u == 'h' then per = 3600000000 end\n"
"  local g = { limit = n, T = math.max(1, math.floor(per / n)) }\n"
"  g.tau = g.T * burst\n"
"  g.tat = tonumber(redis.call('GET', key)) or now\n"
"  if g.tat < now then g.tat = now end\n"
"  if now < g.tat - g.tau then\n"
"    g.verdict = 3\n"
"    g.retry = math.ceil((g.tat - g.tau - now) / 1000000)\n"
"    g.remaining = 0\n"
"    g.reset = math.ceil((g.tat - now) / 1000000)\n"
"  else\n"
"    g.verdict = 0\n"
"    g.tat_new = g.tat + g.T\n"
"    g.remaining = math.floor((now + g.T + g.tau - g.tat_new) / g.T)\n"
"    g.reset = math.ceil((g.tat_new - now) / 1000000)\n"
"  end\n"
"  return g\n"
"end\n"
"local function gcra_commit(key, g, now)\n"
"  redis.call('SET', key, string.format('%.0f', g.tat_new), 'PX',\n"
"             math.ceil((g.tat_new - now) / 1000) + 1000)\n"
"end\n"
"local flags = ARGV[1]\n"
"if flags == 'Z' then\n"
"  local now = now_us()\n"
"  local g = gcra(KEYS[1], ARGV[2], tonumber(ARGV[3]) or 0, now)\n"
"  if not g then return {0, '', ''} end\n"
"  if g.verdict == 0 then gcra_commit(KEYS[1], g, now) end\n"
"  return {g.verdict, '', '', g.limit, g.remaining, g.reset, g.retry or 0}\n"
"end\n"
"if flags == 'K' then\n"
"  local ttl = redis.call('PTTL', KEYS[2])\n"
"  if ttl > 0 then\n"
"    return {7, '', '', -1, -1, -1, math.ceil(ttl / 1000)}\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"
"if flags == 'R' then\n"
"  local tva = tonumber(redis.call('HGET', KEYS[1], 'tokens_valid_after'))\n"
"  local iat = tonumber(ARGV[2])\n"
"  if tva and (not iat or iat < tva) then return {2, '', ''} end\n"
"  if ARGV[3] == 'J' and redis.call('EXISTS', KEYS[2]) == 1 then\n"
"    return {2, '', ''}\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"
"if flags == 'F' then\n"
"  local c = redis.call('INCR', KEYS[1])\n"
"  if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
"  if c >= tonumber(ARGV[2]) then\n"
"    redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])\n"
"    redis.call('DEL', KEYS[1])\n"
"  end\n"
"  return {0, '', ''}\n"
"end\n"
"local h = redis.call('HMGET', KEYS[1], 'status', 'plan', 'rate', 'burst',\n"
"  'quota', 'tokens_valid_after', 'meter:' .. ARGV[5])\n"
"local status = h[1] or 'active'\n"
"if status == 'suspended' then return {1, status, ''} end\n"
"local tva = tonumber(h[6])\n"
"if tva then\n"
"  local iat = tonumber(ARGV[2])\n"
"  if not iat or iat < tva then return {2, status, ''} end\n"
"end\n"
"if string.find(flags, 'J', 1, true)\n"
"   and redis.call('EXISTS', KEYS[2]) == 1 then\n"
"  return {2, status, ''}\n"
"end\n"
"local plans = {}\n"
"for i = 14, #ARGV, 5 do plans[ARGV[i]] = i end\n"
"local plan = h[2] or ARGV[3]\n"
"if not plans[plan] and ARGV[4] ~= '' then plan = ARGV[4] end\n"
"if ARGV[13] ~= '' and not string.find(' ' .. ARGV[13] .. ' ',\n"
"                                      ' ' .. plan .. ' ', 1, true) then\n"
"  return {6, status, plan}\n"
"end\n"
"local limited = string.find(flags, 'L', 1, true)\n"
"if not limited and ARGV[5] == '' then return {0, status, plan} end\n"
"local p = plans[plan]\n"
"local function param(field, offset)\n"
"  if field then return field end\n"
"  if p then return ARGV[p + offset] end\n"
"  return ''\n"
"end\n"
"local rate, burst, quota = '', 0, ''\n"
"if limited then\n"
"  rate, burst = param(h[3], 1), tonumber(param(h[4], 2)) or 0\n"
"  quota = param(h[5], 3)\n"
"end\n"
"local meter = ''\n"
"if ARGV[5] ~= '' then meter = param(h[7], 4) end\n"
"local now = now_us()\n"
"local nows = math.floor(now / 1000000)\n"
"if now > tonumber(ARGV[12]) * 1000 then return {5, status, plan} end\n"
"local verdict, retry = 0, 0\n"
"local rl, rrem, rreset = -1, -1, -1\n"
"local g = gcra(KEYS[3], rate, burst, now)\n"
"if g then\n"
"  rl, rrem, rreset = g.limit, g.remaining, g.reset\n"
"  if g.verdict ~= 0 then verdict, retry = g.verdict, g.retry end\n"
"end\n"
"local ends = { hour = 6, day = 8, month = 10 }\n"
"local function counter(spec, key)\n"
"  local c, unit = string.match(spec, '^(%d+)/(%a+)$')\n"
"  c = tonumber(c)\n"
"  if not c or not ends[unit] then return nil end\n"
"  local k = KEYS[1] .. key .. ARGV[ends[unit]]\n"
"  local used = tonumber(redis.call('GET', k)) or 0\n"
"  return { key = k, limit = c, used = used,\n"
"           expire = tonumber(ARGV[ends[unit] + 1]),\n"
"           reset = tonumber(ARGV[ends[unit] + 1]) - nows }\n"
"end\n"
"local q = counter(quota, ':quota:')\n"
"local m = nil\n"
"if meter ~= '' then m = counter(meter, ':meter:' .. ARGV[5] .. ':') end\n"
"local cs = {}\n"
"if q then cs[#cs + 1] = q end\n"
"if m then cs[#cs + 1] = m end\n"
"for _, c in ipairs(cs) do\n"
"  if verdict == 0 and c.used >= c.limit then\n"
"    verdict = 4\n"
"    retry = c.reset\n"
"  end\n"
"end\n"
"if verdict ~= 0 and g and g.verdict == 0 then\n"
"  rrem = math.floor((now + g.T + g.tau - g.tat) / g.T)\n"
"  rreset = math.ceil((g.tat - now) / 1000000)\n"
"end\n"
"if verdict == 0 then\n"
"  if g then gcra_commit(KEYS[3], g, now) end\n"
"  for _, c in ipairs(cs) do\n"
"    c.used = redis.call('INCR', c.key)\n"
"    if c.used == 1 then redis.call('EXPIREAT', c.key, c.expire + 86400) end\n"
"  end\n"
"end\n"
"if not q then q = { limit = -1, used = -1, reset = -1 } end\n"
"return {verdict, status, plan, rl, rrem, rreset, retry,\n"
"        q.limit, q.used, q.reset}\n";


ngx_str_t  ngx_http_tenant_script = {
    sizeof(ngx_http_tenant_script_source) - 1,
    ngx_http_tenant_script_source
};
