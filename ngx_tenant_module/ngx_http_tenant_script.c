
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
"local h = redis.call('HMGET', KEYS[1], 'status', 'plan', 'rate', 'burst',\n"
"  'quota', 'tokens_valid_after', 'meter:' .. ARGV[5])\n"
"local status = h[1] or 'active'\n"
"if status == 'suspended' then return {1, status, ''} end\n"
"local tva = tonumber(h[6])\n"
"if tva then\n"
"  local iat = tonumber(ARGV[2])\n"
"  if not iat or iat < tva then return {2, status, ''} end\n"
"end\n"
"local flags = ARGV[1]\n"
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
"local t = redis.call('TIME')\n"
"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"local nows = tonumber(t[1])\n"
"if now > tonumber(ARGV[12]) * 1000 then return {5, status, plan} end\n"
"local verdict, retry = 0, 0\n"
"local rl, rrem, rreset, tat_new, ttl = -1, -1, -1, nil, 0\n"
"local T, tau, tat\n"
"local n, u = string.match(rate, '^(%d+)r/([smh])$')\n"
"n = tonumber(n)\n"
"if n and n > 0 then\n"
"  local per = 1000000\n"
"  if u == 'm' then per = 60000000 elseif u == 'h' then per = 3600000000 end\n"
"  T = math.max(1, math.floor(per / n))\n"
"  tau = T * burst\n"
"  tat = tonumber(redis.call('GET', KEYS[3])) or now\n"
"  if tat < now then tat = now end\n"
"  rl = n\n"
"  if now < tat - tau then\n"
"    verdict = 3\n"
"    retry = math.ceil((tat - tau - now) / 1000000)\n"
"    rrem = 0\n"
"    rreset = math.ceil((tat - now) / 1000000)\n"
"  else\n"
"    tat_new = tat + T\n"
"    rrem = math.floor((now + T + tau - tat_new) / T)\n"
"    rreset = math.ceil((tat_new - now) / 1000000)\n"
"    ttl = math.ceil((tat_new - now) / 1000) + 1000\n"
"  end\n"
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
"if verdict ~= 0 and tat_new then\n"
"  rrem = math.floor((now + T + tau - tat) / T)\n"
"  rreset = math.ceil((tat - now) / 1000000)\n"
"end\n"
"if verdict == 0 then\n"
"  if tat_new then\n"
"    redis.call('SET', KEYS[3], string.format('%.0f', tat_new), 'PX', ttl)\n"
"  end\n"
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
