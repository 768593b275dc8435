/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease.h"
#include "ngx_http_tenant_lease_slot.h"
#include "ngx_http_tenant_lease_wait.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"


/*
 * The access path of leases: the directive, taking a unit, asking for a
 * grant and reading it.  The slots are ngx_http_tenant_lease_slot.c's,
 * the requests waiting for a grant ngx_http_tenant_lease_wait.c's, the
 * give-backs ngx_http_tenant_lease_back.c's.
 */


#define NGX_HTTP_TENANT_LEASE_MAX     64
#define NGX_HTTP_TENANT_LEASE_TTL     200


static void ngx_http_tenant_lease_admit(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);
static ngx_int_t ngx_http_tenant_lease_valid(
    ngx_http_tenant_redis_reply_t *reply, ngx_int_t max);
static ngx_int_t ngx_http_tenant_lease_keep(ngx_http_request_t *r,
    ngx_http_tenant_lease_t *l, ngx_int_t granted,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_http_tenant_lease_t *ngx_http_tenant_lease_asked(
    ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx);
static ngx_int_t ngx_http_tenant_lease_same(ngx_http_tenant_lease_t *l,
    ngx_int_t interval, ngx_http_tenant_limit_result_t *res,
    ngx_http_tenant_redis_reply_t *reply);


/* tenant_limit_lease off | on [max=N] [ttl=TIME] */

char *
ngx_http_tenant_lease_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_int_t    max;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t   ttl;

    if (tlcf->lease != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        tlcf->lease = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"on\" or "
                           "\"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    max = NGX_CONF_UNSET;
    ttl = NGX_CONF_UNSET_MSEC;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0
            && max == NGX_CONF_UNSET)
        {
            max = ngx_atoi(value[i].data + 4, value[i].len - 4);

            if (max < 1 || max > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\", \"max\" must "
                                   "be from 1 to 1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0
            && ttl == NGX_CONF_UNSET_MSEC)
        {
            s.len = value[i].len - 4;
            s.data = value[i].data + 4;

            ttl = ngx_parse_time(&s, 0);

            if (ttl == (ngx_msec_t) NGX_ERROR || ttl == 0
                || ttl > 3600000)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\", \"ttl\" must "
                                   "be a time from 1ms to 1h", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    tlcf->lease = 1;
    tlcf->lease_max = max;
    tlcf->lease_ttl = ttl;

    return NGX_CONF_OK;
}


void
ngx_http_tenant_lease_merge(ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev)
{
    if (conf->lease == NGX_CONF_UNSET) {
        conf->lease = prev->lease;
        conf->lease_max = prev->lease_max;
        conf->lease_ttl = prev->lease_ttl;
    }

    ngx_conf_merge_value(conf->lease, prev->lease, 0);
    ngx_conf_merge_value(conf->lease_max, prev->lease_max,
                         NGX_HTTP_TENANT_LEASE_MAX);
    ngx_conf_merge_msec_value(conf->lease_ttl, prev->lease_ttl,
                              NGX_HTTP_TENANT_LEASE_TTL);
}


/*
 * Only the first decision of a request: an internal redirect's second
 * pass asks for what the first did not apply, exactly, as without leases.
 */

ngx_int_t
ngx_http_tenant_lease_take(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_str_t                 key;
    ngx_http_tenant_lease_t  *l;

    if (!tlcf->lease || ctx->limit_state != NGX_HTTP_TENANT_LIMIT_IDLE) {
        return NGX_DECLINED;
    }

    if (ngx_http_tenant_lease_key(r, ctx, &key) != NGX_OK) {
        return NGX_DECLINED;
    }

    l = ngx_http_tenant_lease_find(tlcf, &key);

    if (l) {
        l->used = ngx_current_msec;
    }

    if (l && l->pending && (ngx_msec_int_t) (ngx_current_msec - l->pending)
                           >= 0)
    {
        ngx_http_tenant_lease_answered(l, 1);  /* its reply never came */
    }

    if (l && ngx_http_tenant_lease_held(l)) {

        /*
         * Running low: this request asks for the next lease while the
         * others go on with what is left, so that a busy lease is topped
         * up before it runs out instead of each request waiting for Redis.
         */

        if (l->units > l->low || l->pending) {
            ngx_http_tenant_lease_admit(r, ctx, l);
            return NGX_OK;
        }

    } else if (l && l->pending) {

        /*
         * A grant is on its way: wait for it rather than ask Redis too;
         * once only, so that grants of one unit (a tenant at its limit)
         * do not queue requests behind each other.
         */

        if (!ctx->lease_waited
            && ngx_http_tenant_lease_wait(r, ctx, l) == NGX_OK)
        {
            return NGX_AGAIN;
        }

        return NGX_DECLINED;

    } else if (l == NULL) {

        /*
         * The key's first request in this worker, or the first since its
         * slot went to others: decided exactly and remembered, leased
         * from its next request on.  A worker that sees each tenant only
         * once in a while would otherwise give every lease back unused.
         */

        (void) ngx_http_tenant_lease_slot(r, tlcf, &key);
        return NGX_DECLINED;
    }

    (void) ngx_http_tenant_lease_ask(r, ctx, l);

    return NGX_DECLINED;
}


/*
 * The request asked for a lease and got none: Redis failed, or refused
 * it for a limit.  While units counted earlier are held it takes one of
 * them, as any other request would have (NGX_OK, ctx->limit is set).
 */

ngx_int_t
ngx_http_tenant_lease_refused(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx)
{
    ngx_http_tenant_lease_t  *l;

    l = ngx_http_tenant_lease_asked(r, ctx);
    if (l == NULL) {
        return NGX_DECLINED;
    }

    if (l->asker == r) {
        ngx_http_tenant_lease_answered(l, 1);
    }

    if (!ngx_http_tenant_lease_held(l)) {
        return NGX_DECLINED;
    }

    ngx_http_tenant_lease_admit(r, ctx, l);

    return NGX_OK;
}


/* the registry refused the token or the tenant: its lease goes at once */

void
ngx_http_tenant_lease_drop(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx)
{
    ngx_http_tenant_lease_t  *l;

    l = ngx_http_tenant_lease_asked(r, ctx);
    if (l == NULL) {
        return;
    }

    if (l->asker == r) {
        ngx_http_tenant_lease_answered(l, 0);
    }

    ngx_http_tenant_lease_end(l);
}


/* the slot of the lease this request asked or waited for, if any */

static ngx_http_tenant_lease_t *
ngx_http_tenant_lease_asked(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx)
{
    ngx_str_t                    key;
    ngx_http_tenant_loc_conf_t  *tlcf;

    if (!(ctx->leasing || ctx->lease_waited)
        || ngx_http_tenant_lease_key(r, ctx, &key) != NGX_OK)
    {
        return NULL;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    return ngx_http_tenant_lease_find(tlcf, &key);
}


/*
 * { verdict, status, plan, 7 numbers, GRANTED, T, the give-back's keys
 * and fields, ignored overrides }: see ngx_http_tenant_script.c.
 */

ngx_int_t
ngx_http_tenant_lease_parse(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_str_t                        key;
    ngx_int_t                        granted;
    ngx_http_tenant_lease_t         *l;
    ngx_http_tenant_loc_conf_t      *tlcf;
    ngx_http_tenant_redis_reply_t  **e;
    ngx_http_tenant_limit_result_t  *res;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    if (ngx_http_tenant_lease_valid(reply, tlcf->lease_max) != NGX_OK) {
        return NGX_ERROR;
    }

    res = &ctx->limit;
    res->verdict = reply->element[NGX_HTTP_TENANT_REPLY_VERDICT]->integer;

    e = reply->element;

    if (ngx_http_tenant_limit_reply_str(r, e[NGX_HTTP_TENANT_REPLY_STATUS],
                                        &res->status)
        != NGX_OK
        || ngx_http_tenant_limit_reply_str(r, e[NGX_HTTP_TENANT_REPLY_PLAN],
                                           &res->plan)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* in range: ngx_http_tenant_lease_valid() */
    ngx_http_tenant_limit_numbers(res, reply, NGX_HTTP_TENANT_REPLY_NUMBERS);

    if (res->rate_limit == NGX_HTTP_TENANT_REPLY_AS_SENT) {
        res->rate_limit = ctx->limit_sent.rate_limit;
    }

    if (res->quota_limit == NGX_HTTP_TENANT_REPLY_AS_SENT) {
        res->quota_limit = ctx->limit_sent.quota_limit;
    }

    granted = reply->element[NGX_HTTP_TENANT_REPLY_GRANTED]->integer;

    ngx_http_tenant_limit_ignored(r, ctx, reply, NGX_HTTP_TENANT_REPLY_LEASE);

    if (ngx_http_tenant_lease_key(r, ctx, &key) != NGX_OK) {
        return NGX_OK;
    }

    l = ngx_http_tenant_lease_find(tlcf, &key);

    if (l && l->asker == r) {
        ngx_http_tenant_lease_answered(l, 0);
    }

    if (granted == 0) {
        if (l) {

            /* refused for a limit, yet units counted earlier are held */
            if (ngx_http_tenant_lease_held(l)) {
                ngx_http_tenant_lease_admit(r, ctx, l);
            }
        }

        return NGX_OK;
    }

    if (l == NULL) {
        /* its slot went to another lease meanwhile */
        l = ngx_http_tenant_lease_slot(r, tlcf, &key);

        if (l == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tenant: no room for a lease of tenant \"%V\", "
                          "%i units stay counted",
                          &ctx->identity.tenant_id, granted - 1);
            return NGX_OK;
        }
    }

    /* the request consumes the first unit */
    if (ngx_http_tenant_lease_keep(r, l, granted - 1, reply) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tenant: a lease of tenant \"%V\" not kept, %i units "
                      "stay counted", &ctx->identity.tenant_id, granted - 1);
        return NGX_OK;
    }

    /* what the node knows: the units it holds are not used yet */
    if (res->rate_remaining >= 0) {
        res->rate_remaining += l->units;
    }

    if (res->quota_used >= 0) {
        res->quota_used = ngx_max(res->quota_used - l->units, 0);
    }

    return NGX_OK;
}


/*
 * Nothing of a lease's reply is used unless all of it can be the
 * script's: numbers it computes, GRANTED at most max, units with a pass
 * and none with a refusal, T not negative, the give-back's keys and
 * fields strings.  Otherwise the failure policy answers.
 */

static ngx_int_t
ngx_http_tenant_lease_valid(ngx_http_tenant_redis_reply_t *reply,
    ngx_int_t max)
{
    size_t                          i;
    ngx_int_t                       granted, pass;
    ngx_http_tenant_redis_reply_t  *e;

    for (i = NGX_HTTP_TENANT_REPLY_NUMBERS;
         i <= NGX_HTTP_TENANT_REPLY_INTERVAL;
         i++)
    {
        e = reply->element[i];

        if (e->type != NGX_HTTP_TENANT_REDIS_INTEGER
            || e->integer > NGX_HTTP_TENANT_REPLY_NUMBER_MAX
            || e->integer < -NGX_HTTP_TENANT_REPLY_NUMBER_MAX)
        {
            return NGX_ERROR;
        }
    }

    granted = reply->element[NGX_HTTP_TENANT_REPLY_GRANTED]->integer;
    pass = (reply->element[NGX_HTTP_TENANT_REPLY_VERDICT]->integer
            == NGX_HTTP_TENANT_VERDICT_PASS);

    if (granted < 0 || granted > max || (granted > 0) != pass
        || reply->element[NGX_HTTP_TENANT_REPLY_INTERVAL]->integer < 0)
    {
        return NGX_ERROR;
    }

    for (i = NGX_HTTP_TENANT_REPLY_RATE_KEY;
         i < NGX_HTTP_TENANT_REPLY_LEASE;
         i++)
    {
        if (reply->element[i]->type != NGX_HTTP_TENANT_REDIS_STRING) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The units not used, the time they may be used until, the give-back.
 * Units granted while the worker still holds some of the same grant's
 * kind (the next lease, asked for as the last ran low) join them and end
 * with them: no unit is used later than ttl after its grant.
 */

static ngx_int_t
ngx_http_tenant_lease_keep(ngx_http_request_t *r, ngx_http_tenant_lease_t *l,
    ngx_int_t units, ngx_http_tenant_redis_reply_t *reply)
{
    u_char                          *p;
    size_t                           size, i;
    ngx_int_t                        interval;
    ngx_str_t                        status, plan;
    ngx_http_tenant_ctx_t           *ctx;
    ngx_http_tenant_loc_conf_t      *tlcf;
    ngx_http_tenant_redis_reply_t   *e;

    /* the reply's types and ranges: ngx_http_tenant_lease_valid() */
    interval = reply->element[NGX_HTTP_TENANT_REPLY_INTERVAL]->integer;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    size = ctx->limit.status.len + ctx->limit.plan.len;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_NGIVE; i++) {
        size += reply->element[NGX_HTTP_TENANT_REPLY_RATE_KEY + i]->len;
    }

    if (ngx_http_tenant_lease_held(l)
        && ngx_http_tenant_lease_same(l, interval, &ctx->limit, reply))
    {
        status = l->res.status;
        plan = l->res.plan;

        l->res = ctx->limit;
        l->res.status = status;
        l->res.plan = plan;

        l->quota_end = ngx_time() + ngx_max(ctx->limit.quota_reset, 0);
        l->units += units;
        l->low = units / 4;

        return NGX_OK;
    }

    /* another kind of grant (an override changed), or none held */
    ngx_http_tenant_lease_end(l);

    l->back.interval = interval;

    l->back.mem = ngx_alloc(size + 1, r->connection->log);
    if (l->back.mem == NULL) {
        return NGX_ERROR;
    }

    p = l->back.mem;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_NGIVE; i++) {
        e = reply->element[NGX_HTTP_TENANT_REPLY_RATE_KEY + i];

        l->back.give[i].data = p;
        l->back.give[i].len = e->len;
        p = ngx_cpymem(p, e->str, e->len);
    }

    l->res = ctx->limit;

    l->res.status.data = p;
    p = ngx_cpymem(p, ctx->limit.status.data, ctx->limit.status.len);
    l->res.plan.data = p;
    ngx_memcpy(p, ctx->limit.plan.data, ctx->limit.plan.len);

    l->quota_end = ngx_time() + ngx_max(ctx->limit.quota_reset, 0);
    l->units = units;
    l->low = units / 4;

    if (units == 0) {
        /* nothing to give back; its word on the registry is not kept */
        ngx_http_tenant_lease_end(l);
        return NGX_OK;
    }

    /*
     * ttl counts from when the grant was asked for, before Redis ran it:
     * so every unit is used within ttl of the registry's word it came
     * with, however long the reply took
     */

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    l->expires = l->asked + tlcf->lease_ttl;

    if ((ngx_msec_int_t) (l->expires - ngx_current_msec) <= 0) {
        ngx_http_tenant_lease_end(l);
        return NGX_OK;
    }

    ngx_http_tenant_lease_arm(l);

    return NGX_OK;
}


/* a grant that counted what the held lease counted, where it did */

static ngx_int_t
ngx_http_tenant_lease_same(ngx_http_tenant_lease_t *l, ngx_int_t interval,
    ngx_http_tenant_limit_result_t *res, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_uint_t                      i;
    ngx_http_tenant_redis_reply_t  *e;

    if (l->back.interval != interval
        || l->res.status.len != res->status.len
        || l->res.plan.len != res->plan.len
        || ngx_memcmp(l->res.status.data, res->status.data, res->status.len)
           != 0
        || ngx_memcmp(l->res.plan.data, res->plan.data, res->plan.len) != 0)
    {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_NGIVE; i++) {
        e = reply->element[NGX_HTTP_TENANT_REPLY_RATE_KEY + i];

        if (l->back.give[i].len != e->len
            || (e->len && ngx_memcmp(l->back.give[i].data, e->str, e->len)
                          != 0))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * What the node knows: the limits at the grant, the units it has used
 * since taken off (approximate: other nodes and workers count too).
 */

static void
ngx_http_tenant_lease_admit(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_lease_t *l)
{
    ngx_http_tenant_limit_result_t  *res;

    l->units--;
    l->used = ngx_current_msec;

    res = &ctx->limit;
    *res = l->res;

    res->verdict = NGX_HTTP_TENANT_VERDICT_PASS;
    res->retry_after = 0;

    /* the request may outlive the lease */
    res->status.data = ngx_pstrdup(r->pool, &l->res.status);
    res->plan.data = ngx_pstrdup(r->pool, &l->res.plan);

    if (res->status.data == NULL || res->plan.data == NULL) {
        ngx_str_set(&res->status, "active");
        ngx_str_null(&res->plan);
    }

    if (res->rate_remaining >= 0) {
        res->rate_remaining += l->units;
    }

    if (res->quota_used >= 0) {
        res->quota_used = ngx_max(res->quota_used - l->units, 0);
        res->quota_reset = ngx_max(l->quota_end - ngx_time(), 0);
    }

    ctx->limit_state = NGX_HTTP_TENANT_LIMIT_DONE;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant lease: admitted, tenant \"%V\", %i left",
                   &ctx->identity.tenant_id, l->units);
}


