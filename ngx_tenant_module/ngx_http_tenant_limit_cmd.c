
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_period.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"


/*
 * The arguments of the tenant's EVALSHA (see ngx_http_tenant_script.c),
 * written in RESP into the worker's command buffer.  Numkeys, the six
 * keys, the mode, iat and the deadline change from request to request;
 * the fourteen arguments after them are the same for every request of a
 * plan in a location until the hour turns, so each worker keeps them
 * written, in a small table indexed by location and plan.
 */


/* room for an argument's "$LEN\r\n" and "\r\n", or for a number */
#define NGX_HTTP_TENANT_ARG_ROOM     (1 + NGX_SIZE_T_LEN + 2 + NGX_INT64_LEN + 2)

/* numkeys, 6 keys, mode, iat, deadline */
#define NGX_HTTP_TENANT_OWN_ARGS     10
#define NGX_HTTP_TENANT_PLAN_ARGS    14

#define NGX_HTTP_TENANT_PLAN_SLOTS   32


typedef struct {
    ngx_http_tenant_loc_conf_t    *conf;
    ngx_http_tenant_plan_t        *plan;
    ngx_flag_t                     limit;
    ngx_flag_t                     meter;
    time_t                         hour_end;  /* the periods written */
    ngx_str_t                      resp;
    size_t                         size;
} ngx_http_tenant_plan_args_t;


typedef struct {
    ngx_str_t                     *name;
    ngx_http_tenant_plan_t        *plan;
    ngx_flag_t                     rate;      /* the plan's rate applies */
    ngx_http_tenant_count_t       *quota;
    ngx_http_tenant_meter_t       *meter;
    ngx_http_tenant_periods_t     *periods;
} ngx_http_tenant_decision_t;


static ngx_str_t *ngx_http_tenant_plan_args(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_apply_t *apply,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_decision_t *d);
static size_t ngx_http_tenant_plan_args_size(ngx_http_tenant_apply_t *apply,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_decision_t *d);
static void ngx_http_tenant_plan_args_write(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_apply_t *apply, ngx_http_tenant_main_conf_t *tmcf,
    ngx_http_tenant_decision_t *d);
static void ngx_http_tenant_limit_keys(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_main_conf_t *tmcf,
    ngx_str_t *jti, ngx_http_tenant_period_t *qp, ngx_str_t *meter_name,
    ngx_http_tenant_period_t *mp);
static void ngx_http_tenant_limit_key(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_str_t *prefix, ngx_str_t *id, ngx_str_t *suffix, ngx_str_t *name,
    ngx_str_t *period);
static void ngx_http_tenant_limit_counter(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_count_t *limit, ngx_http_tenant_periods_t *periods);
static void ngx_http_tenant_limit_iat(ngx_http_tenant_redis_cmd_t *cmd,
    json_t *payload);
static uint64_t ngx_http_tenant_deadline(ngx_http_tenant_main_conf_t *tmcf);
static ngx_http_tenant_plan_t *ngx_http_tenant_token_plan(
    ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_main_conf_t *tmcf);


/* the worker's own: written at the first request that needs them */
static ngx_http_tenant_plan_args_t
    ngx_http_tenant_plan_slots[NGX_HTTP_TENANT_PLAN_SLOTS];


/* the command, limits worked out into ctx->limit_sent; NULL: Redis is down */

ngx_http_tenant_redis_cmd_t *
ngx_http_tenant_limit_command(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf,
    ngx_http_tenant_apply_t *apply)
{
    size_t                         size;
    ngx_str_t                      jti, *mode, *fixed;
    ngx_http_tenant_period_t      *qp, *mp;
    ngx_http_tenant_decision_t     d;
    ngx_http_tenant_redis_cmd_t   *cmd;
    ngx_http_tenant_main_conf_t   *tmcf;
    ngx_http_tenant_limit_sent_t  *sent;

    static ngx_str_t               modes[4] = ngx_http_tenant_script_modes;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    if (ngx_http_tenant_claim_jti(ctx->payload, &jti) != NGX_OK) {
        ngx_str_null(&jti);
    }

    d.plan = ngx_http_tenant_token_plan(r, ctx, tmcf);
    d.name = d.plan ? &d.plan->name : &ctx->identity.plan;

    d.rate = (d.plan && apply->limit && d.plan->rate.len);
    d.quota = (d.plan && apply->limit && d.plan->quota.text.len)
              ? &d.plan->quota : NULL;
    d.meter = (d.plan && apply->meter.len)
              ? ngx_http_tenant_plan_meter(d.plan, &apply->meter) : NULL;

    d.periods = ngx_http_tenant_periods(ngx_time());

    qp = d.quota ? ngx_http_tenant_period(d.periods, d.quota->unit) : NULL;
    mp = d.meter ? ngx_http_tenant_period(d.periods, d.meter->limit.unit)
                 : NULL;

    sent = &ctx->limit_sent;
    sent->plan = *d.name;
    sent->rate_limit = d.rate ? d.plan->rate_limit : -1;
    sent->quota_limit = d.quota ? d.quota->value : -1;
    sent->quota_end = qp ? qp->end : 0;

    /* a token's plan nobody declared, with no default: not kept */
    fixed = d.plan ? ngx_http_tenant_plan_args(r, tlcf, apply, tmcf, &d)
                   : NULL;

    size = (NGX_HTTP_TENANT_OWN_ARGS + 1) * NGX_HTTP_TENANT_ARG_ROOM
           + 6 * (tmcf->redis->prefix.len + ctx->identity.tenant_id.len + 2)
           + sizeof(":revoked::rate:quota::meter::user:") + jti.len
           + ctx->identity.user.len
           + (qp ? qp->id.len : 0)
           + (mp ? d.meter->name.len + mp->id.len : 0)
           + (fixed ? fixed->len
                    : ngx_http_tenant_plan_args_size(apply, tmcf, &d));

    cmd = ngx_http_tenant_redis_cmd(tmcf->redis_client, size);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_http_tenant_redis_arg(cmd,
                              (u_char *) NGX_HTTP_TENANT_SCRIPT_DECISION_KEYS,
                              sizeof(NGX_HTTP_TENANT_SCRIPT_DECISION_KEYS) - 1);

    ngx_http_tenant_limit_keys(cmd, ctx, tmcf, &jti, qp,
                               d.meter ? &d.meter->name : NULL, mp);

    mode = &modes[(apply->limit ? NGX_HTTP_TENANT_SCRIPT_MODE_LIMIT : 0)
                  + (jti.len ? NGX_HTTP_TENANT_SCRIPT_MODE_JTI : 0)];
    ngx_http_tenant_redis_arg(cmd, mode->data, mode->len);

    ngx_http_tenant_limit_iat(cmd, ctx->payload);
    ngx_http_tenant_redis_arg_number(cmd, ngx_http_tenant_deadline(tmcf));

    if (fixed) {
        ngx_http_tenant_redis_arg_raw(cmd, fixed, NGX_HTTP_TENANT_PLAN_ARGS);

    } else {
        ngx_http_tenant_plan_args_write(cmd, apply, tmcf, &d);
    }

    /* ARGV[18], tenant_limit_lease's max: ask for a lease */
    if (ctx->leasing) {
        ngx_http_tenant_redis_arg_number(cmd, tlcf->lease_max);
    }

    return cmd;
}


/*
 * The kept arguments name configuration by its address: they go with the
 * configuration that was read (a reload of nginx running without a master
 * process keeps this process and its memory) and when the process exits.
 */

void
ngx_http_tenant_limit_forget(void)
{
    ngx_uint_t                    i;
    ngx_http_tenant_plan_args_t  *pa;

    for (i = 0; i < NGX_HTTP_TENANT_PLAN_SLOTS; i++) {
        pa = &ngx_http_tenant_plan_slots[i];

        ngx_free(pa->resp.data);
        ngx_memzero(pa, sizeof(ngx_http_tenant_plan_args_t));
    }
}


/*
 * The plan's arguments as this worker last wrote them for the location,
 * written again when the hour has turned (period keys and ends change
 * with it) or when another location or plan took the slot; NULL: no
 * memory, write them in place.
 */

static ngx_str_t *
ngx_http_tenant_plan_args(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_apply_t *apply,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_decision_t *d)
{
    size_t                        size;
    ngx_uint_t                    slot;
    ngx_flag_t                    meter;
    ngx_http_tenant_redis_cmd_t   cmd;
    ngx_http_tenant_plan_args_t  *pa;

    meter = (apply->meter.len != 0);

    slot = ((uintptr_t) tlcf / sizeof(void *) * 31
            + (uintptr_t) d->plan / sizeof(void *)) * 2 + meter;

    pa = &ngx_http_tenant_plan_slots[slot % NGX_HTTP_TENANT_PLAN_SLOTS];

    if (pa->conf == tlcf && pa->plan == d->plan && pa->limit == apply->limit
        && pa->meter == meter && pa->hour_end == d->periods->hour.end)
    {
        return &pa->resp;
    }

    size = ngx_http_tenant_plan_args_size(apply, tmcf, d);

    if (size > pa->size) {
        ngx_free(pa->resp.data);
        ngx_memzero(pa, sizeof(ngx_http_tenant_plan_args_t));

        pa->resp.data = ngx_alloc(size, r->connection->log);
        if (pa->resp.data == NULL) {
            return NULL;
        }

        pa->size = size;
    }

    ngx_http_tenant_redis_cmd_init(&cmd, pa->resp.data,
                                   pa->resp.data + pa->size);

    ngx_http_tenant_plan_args_write(&cmd, apply, tmcf, d);

    if (cmd.failed) {
        pa->conf = NULL;
        return NULL;
    }

    pa->conf = tlcf;
    pa->plan = d->plan;
    pa->limit = apply->limit;
    pa->meter = meter;
    pa->hour_end = d->periods->hour.end;
    pa->resp.len = cmd.pos - cmd.start;

    return &pa->resp;
}


static size_t
ngx_http_tenant_plan_args_size(ngx_http_tenant_apply_t *apply,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_decision_t *d)
{
    return NGX_HTTP_TENANT_PLAN_ARGS * NGX_HTTP_TENANT_ARG_ROOM
           + d->name->len + tmcf->default_plan.len + apply->meter_field.len
           + (d->plan ? d->plan->interval.len + d->plan->tolerance.len : 0)
           + (d->quota ? d->quota->count.len : 0)
           + (d->meter ? d->meter->limit.count.len : 0)
           + apply->plans.len + d->periods->text.len
           + apply->limit_plans.len + d->periods->month.id.len;
}


/* ARGV[4] on: the plan, its limits worked out, and the texts */

static void
ngx_http_tenant_plan_args_write(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_apply_t *apply, ngx_http_tenant_main_conf_t *tmcf,
    ngx_http_tenant_decision_t *d)
{
    ngx_http_tenant_plan_t  *plan;

    plan = d->plan;

    ngx_http_tenant_redis_arg(cmd, d->name->data, d->name->len);
    ngx_http_tenant_redis_arg(cmd, tmcf->default_plan.data,
                              tmcf->default_plan.len);
    ngx_http_tenant_redis_arg(cmd, apply->meter_field.data,
                              apply->meter_field.len);

    if (d->rate) {
        ngx_http_tenant_redis_arg(cmd, plan->interval.data,
                                  plan->interval.len);
        ngx_http_tenant_redis_arg(cmd, plan->tolerance.data,
                                  plan->tolerance.len);

    } else {
        ngx_http_tenant_redis_arg(cmd, NULL, 0);
        ngx_http_tenant_redis_arg(cmd, NULL, 0);
    }

    ngx_http_tenant_limit_counter(cmd, d->quota, d->periods);
    ngx_http_tenant_limit_counter(cmd, d->meter ? &d->meter->limit : NULL,
                                  d->periods);

    ngx_http_tenant_redis_arg(cmd, apply->plans.data, apply->plans.len);
    ngx_http_tenant_redis_arg(cmd, d->periods->text.data,
                              d->periods->text.len);
    ngx_http_tenant_redis_arg(cmd, apply->limit_plans.data,
                              apply->limit_plans.len);

    /* the month's usage counter, and how long billing may read it */
    ngx_http_tenant_redis_arg(cmd, d->periods->month.id.data,
                              d->periods->month.id.len);
    ngx_http_tenant_redis_arg_number(cmd, d->periods->month.end
                                          + tmcf->usage_retention);
}


/*
 * PREFIX{ID}, PREFIX{ID}:revoked:JTI, PREFIX{ID}:rate,
 * PREFIX{ID}:quota:PERIOD, PREFIX{ID}:meter:NAME:PERIOD,
 * PREFIX{ID}:user:USER: the hash tag keeps a tenant in one cluster slot.
 * A counter the plan does not have is replaced by the rate key, and the
 * user's hash of a token without a user by the tenant's, so that every
 * key named is the tenant's.
 */

static void
ngx_http_tenant_limit_keys(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_main_conf_t *tmcf,
    ngx_str_t *jti, ngx_http_tenant_period_t *qp, ngx_str_t *meter_name,
    ngx_http_tenant_period_t *mp)
{
    ngx_str_t  *prefix, *id;

    static ngx_str_t  hash = ngx_null_string;
    static ngx_str_t  revoked = ngx_string(":revoked:");
    static ngx_str_t  rate = ngx_string(":rate");
    static ngx_str_t  quota = ngx_string(":quota:");
    static ngx_str_t  meter = ngx_string(":meter:");
    static ngx_str_t  user = ngx_string(":user:");

    prefix = &tmcf->redis->prefix;
    id = &ctx->identity.tenant_id;

    ngx_http_tenant_limit_key(cmd, prefix, id, &hash, NULL, NULL);
    ngx_http_tenant_limit_key(cmd, prefix, id, &revoked, jti, NULL);
    ngx_http_tenant_limit_key(cmd, prefix, id, &rate, NULL, NULL);

    if (qp) {
        ngx_http_tenant_limit_key(cmd, prefix, id, &quota, &qp->id, NULL);

    } else {
        ngx_http_tenant_limit_key(cmd, prefix, id, &rate, NULL, NULL);
    }

    if (mp) {
        ngx_http_tenant_limit_key(cmd, prefix, id, &meter, meter_name,
                                  &mp->id);

    } else {
        ngx_http_tenant_limit_key(cmd, prefix, id, &rate, NULL, NULL);
    }

    if (ctx->identity.user.len) {
        ngx_http_tenant_limit_key(cmd, prefix, id, &user,
                                  &ctx->identity.user, NULL);

    } else {
        ngx_http_tenant_limit_key(cmd, prefix, id, &hash, NULL, NULL);
    }
}


/* PREFIX{ID}SUFFIX[NAME[:PERIOD]], one argument */

static void
ngx_http_tenant_limit_key(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_str_t *prefix, ngx_str_t *id, ngx_str_t *suffix, ngx_str_t *name,
    ngx_str_t *period)
{
    u_char  *p;
    size_t   len;

    len = prefix->len + 1 + id->len + 1 + suffix->len
          + (name ? name->len : 0) + (period ? 1 + period->len : 0);

    p = ngx_http_tenant_redis_arg_start(cmd, len);
    if (p == NULL) {
        return;
    }

    p = ngx_cpymem(p, prefix->data, prefix->len);
    *p++ = '{';
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = '}';

    if (suffix->len) {
        p = ngx_cpymem(p, suffix->data, suffix->len);
    }

    if (name && name->len) {
        p = ngx_cpymem(p, name->data, name->len);
    }

    if (period) {
        *p++ = ':';
        p = ngx_cpymem(p, period->data, period->len);
    }

    ngx_http_tenant_redis_arg_end(cmd, p);
}


/* a counter's limit and the end of its period */

static void
ngx_http_tenant_limit_counter(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_count_t *limit, ngx_http_tenant_periods_t *periods)
{
    ngx_http_tenant_period_t  *period;

    if (limit == NULL) {
        ngx_http_tenant_redis_arg(cmd, NULL, 0);
        ngx_http_tenant_redis_arg(cmd, NULL, 0);
        return;
    }

    period = ngx_http_tenant_period(periods, limit->unit);

    ngx_http_tenant_redis_arg(cmd, limit->count.data, limit->count.len);
    ngx_http_tenant_redis_arg(cmd, period->end_text.data,
                              period->end_text.len);
}


/* the token's iat, or "" when it has none fit to compare */

static void
ngx_http_tenant_limit_iat(ngx_http_tenant_redis_cmd_t *cmd, json_t *payload)
{
    uint64_t  iat;

    if (ngx_http_tenant_claim_seconds(payload, "iat", &iat) != NGX_OK) {
        ngx_http_tenant_redis_arg(cmd, NULL, 0);
        return;
    }

    ngx_http_tenant_redis_arg_number(cmd, iat);
}


static uint64_t
ngx_http_tenant_deadline(ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_time_t  *tp;

    /*
     * The moment nginx stops waiting and applies tenant_redis_failure: a
     * script that runs later counts nothing, so that a request answered
     * by the failure policy is never charged.  Redis reads the time from
     * its own clock, which hosts keep in step (NTP).
     */
    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec + tmcf->redis->timeout;
}


/* the token's plan, or the default one for no plan or an unknown plan */

static ngx_http_tenant_plan_t *
ngx_http_tenant_token_plan(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_str_t               *name;
    ngx_http_tenant_plan_t  *plan;

    name = &ctx->identity.plan;

    if (name->len) {
        plan = ngx_http_tenant_plan_find(&tmcf->plans, name);

        if (plan || tmcf->default_plan.len == 0) {
            return plan;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tenant: unknown plan \"%V\" of tenant \"%V\", "
                      "using the default plan", name,
                      &ctx->identity.tenant_id);
    }

    return tmcf->default_plan.len
           ? ngx_http_tenant_plan_find(&tmcf->plans, &tmcf->default_plan)
           : NULL;
}
