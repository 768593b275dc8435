/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease.h"
#include "ngx_http_tenant_lease_back.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_wait.h"


/*
 * Leases are the worker's own, in a small table: a lease is keyed by the
 * location and by everything of the token the decision reads (tenant,
 * user, plan, jti, iat), so that the registry's word on the token comes
 * with every grant.  A lease holds units already counted in Redis: the
 * worker may admit that many requests and no more, whatever the others
 * do; what it does not use goes back at the end of the lease.
 */


#define NGX_HTTP_TENANT_LEASE_SLOTS   256
#define NGX_HTTP_TENANT_LEASE_MAX     64
#define NGX_HTTP_TENANT_LEASE_TTL     200


typedef struct ngx_http_tenant_lease_s  ngx_http_tenant_lease_t;

struct ngx_http_tenant_lease_s {
    ngx_http_tenant_loc_conf_t     *conf;        /* NULL: a free slot */
    ngx_http_tenant_lease_t        *next;        /* in the hash's bucket */
    ngx_str_t                       key;
    uint32_t                        hash;
    ngx_msec_t                      used;        /* least recently: evicted */
    ngx_msec_t                      pending;     /* a grant asked, until */
    ngx_msec_t                      asked;       /* when it was asked */
    ngx_http_request_t             *asker;       /* the grant's request */
    ngx_queue_t                     waiters;     /* requests behind it */
    ngx_event_t                     wake;        /* posted: they go on */
    unsigned                        failed:1;    /* Redis failed the ask */

    ngx_int_t                       units;       /* counted, not admitted */
    ngx_int_t                       low;         /* ask for more at */
    ngx_msec_t                      expires;
    ngx_http_tenant_limit_result_t  res;         /* as granted */
    time_t                          quota_end;
    ngx_http_tenant_lease_back_t    back;        /* the grant's strings */
    ngx_event_t                     timer;
};


/* a request behind a grant, unlinked by its cleanup if it goes first */
typedef struct {
    ngx_queue_t                     queue;
    ngx_http_request_t             *request;
    unsigned                        linked:1;
} ngx_http_tenant_lease_waiter_t;


/* the request that asked for a grant, forgotten by its cleanup */
typedef struct {
    ngx_http_tenant_lease_t        *lease;
    ngx_http_request_t             *request;
} ngx_http_tenant_lease_asker_t;


static ngx_int_t ngx_http_tenant_lease_key(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_str_t *key);
static u_char *ngx_http_tenant_lease_part(u_char *p, ngx_str_t *s);
static ngx_http_tenant_lease_t *ngx_http_tenant_lease_find(
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key, uint32_t hash);
static ngx_http_tenant_lease_t *ngx_http_tenant_lease_slot(
    ngx_http_request_t *r, ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key);
static void ngx_http_tenant_lease_admit(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);
static ngx_int_t ngx_http_tenant_lease_valid(
    ngx_http_tenant_redis_reply_t *reply, ngx_int_t max);
static ngx_int_t ngx_http_tenant_lease_keep(ngx_http_request_t *r,
    ngx_http_tenant_lease_t *l, ngx_int_t granted,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_lease_end(ngx_http_tenant_lease_t *l);
static void ngx_http_tenant_lease_expire(ngx_event_t *ev);
static ngx_http_tenant_lease_t *ngx_http_tenant_lease_asked(
    ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx);
static ngx_int_t ngx_http_tenant_lease_ask(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);
static void ngx_http_tenant_lease_asker_gone(void *data);
static ngx_int_t ngx_http_tenant_lease_wait(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);
static void ngx_http_tenant_lease_unwait(void *data);
static void ngx_http_tenant_lease_answered(ngx_http_tenant_lease_t *l,
    ngx_uint_t failed);
static void ngx_http_tenant_lease_wake(ngx_event_t *ev);
static ngx_uint_t ngx_http_tenant_lease_busy(ngx_http_tenant_lease_t *l);
static ngx_inline ngx_int_t ngx_http_tenant_lease_held(
    ngx_http_tenant_lease_t *l);
static ngx_int_t ngx_http_tenant_lease_same(ngx_http_tenant_lease_t *l,
    ngx_int_t interval, ngx_http_tenant_limit_result_t *res,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_lease_unlink(ngx_http_tenant_lease_t *l);
static ngx_int_t ngx_http_tenant_lease_str(ngx_http_request_t *r,
    ngx_http_tenant_redis_reply_t *reply, ngx_str_t *s);


/* the slots, and a hash of them by key */
static ngx_http_tenant_lease_t
    ngx_http_tenant_leases[NGX_HTTP_TENANT_LEASE_SLOTS];
static ngx_http_tenant_lease_t
    *ngx_http_tenant_lease_buckets[NGX_HTTP_TENANT_LEASE_SLOTS];


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

    l = ngx_http_tenant_lease_find(tlcf, &key,
                                   ngx_murmur_hash2(key.data, key.len));

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


/* the request asks for the grant: the others wait for it meanwhile */

static ngx_int_t
ngx_http_tenant_lease_ask(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_lease_t *l)
{
    ngx_http_cleanup_t             *cln;
    ngx_http_tenant_lease_asker_t  *a;
    ngx_http_tenant_main_conf_t    *tmcf;

    cln = ngx_http_cleanup_add(r, sizeof(ngx_http_tenant_lease_asker_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    a = cln->data;
    a->lease = l;
    a->request = r;

    cln->handler = ngx_http_tenant_lease_asker_gone;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    l->pending = ngx_current_msec + tmcf->redis->timeout + 1;
    l->asked = ngx_current_msec;
    l->asker = r;
    ctx->leasing = 1;

    return NGX_OK;
}


/* the asking request went away before its reply: the next one may ask */

static void
ngx_http_tenant_lease_asker_gone(void *data)
{
    ngx_http_tenant_lease_asker_t *a = data;

    if (a->lease->asker == a->request) {
        ngx_http_tenant_lease_answered(a->lease, 0);
    }
}


static ngx_int_t
ngx_http_tenant_lease_wait(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_lease_t *l)
{
    ngx_http_cleanup_t              *cln;
    ngx_http_tenant_lease_waiter_t  *w;

    cln = ngx_http_cleanup_add(r, sizeof(ngx_http_tenant_lease_waiter_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = cln->data;
    w->request = r;
    w->linked = 1;

    cln->handler = ngx_http_tenant_lease_unwait;

    ngx_queue_insert_tail(&l->waiters, &w->queue);
    ctx->lease_waited = 1;

    return NGX_OK;
}


static void
ngx_http_tenant_lease_unwait(void *data)
{
    ngx_http_tenant_lease_waiter_t *w = data;

    if (w->linked) {
        ngx_queue_remove(&w->queue);
        w->linked = 0;
    }
}


/*
 * The grant came, or will not: the requests behind it go on, posted.
 * Where Redis failed the asking request they fail with it, rather than
 * wait for Redis once more.
 */

static void
ngx_http_tenant_lease_answered(ngx_http_tenant_lease_t *l, ngx_uint_t failed)
{
    l->pending = 0;
    l->asker = NULL;
    l->failed = failed;

    if (!ngx_queue_empty(&l->waiters) && !l->wake.posted) {
        l->wake.handler = ngx_http_tenant_lease_wake;
        l->wake.data = l;
        l->wake.log = ngx_cycle->log;

        ngx_post_event(&l->wake, &ngx_posted_events);
    }
}


/*
 * Each request behind the grant runs its access phase again: it takes a
 * unit of the lease, or asks for the next one, or is decided in Redis.
 */

static void
ngx_http_tenant_lease_wake(ngx_event_t *ev)
{
    ngx_queue_t                     *q;
    ngx_http_request_t              *r;
    ngx_http_tenant_ctx_t           *ctx;
    ngx_http_tenant_lease_t         *l;
    ngx_http_tenant_lease_waiter_t  *w;

    l = ev->data;

    while (!ngx_queue_empty(&l->waiters)) {
        q = ngx_queue_head(&l->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_tenant_lease_waiter_t, queue);
        w->linked = 0;
        r = w->request;

        ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

        /* its wait timed out meanwhile: the failure policy has answered */
        if (ctx == NULL || !ctx->waiting
            || ctx->limit_state != NGX_HTTP_TENANT_LIMIT_WAITING)
        {
            continue;
        }

        (void) ngx_http_tenant_wait_done(r);

        if (l->failed) {
            ctx->limit_state = NGX_HTTP_TENANT_LIMIT_FAILED;

        } else {
            ctx->limit_state = NGX_HTTP_TENANT_LIMIT_IDLE;
            ctx->decision_started = 0;
        }

        ngx_http_tenant_wait_resume(r);
    }
}


/* a slot that a request waits on cannot go to another key */

static ngx_uint_t
ngx_http_tenant_lease_busy(ngx_http_tenant_lease_t *l)
{
    return l->asker != NULL || !ngx_queue_empty(&l->waiters)
           || l->wake.posted;
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

    return ngx_http_tenant_lease_find(tlcf, &key,
                                      ngx_murmur_hash2(key.data, key.len));
}


static ngx_inline ngx_int_t
ngx_http_tenant_lease_held(ngx_http_tenant_lease_t *l)
{
    return l->units > 0 && (ngx_msec_int_t) (l->expires - ngx_current_msec) > 0;
}


/*
 * { verdict, status, plan, 7 numbers, GRANTED, T, the give-back's keys
 * and fields, ignored overrides }: see ngx_http_tenant_script.c.
 */

ngx_int_t
ngx_http_tenant_lease_parse(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply)
{
    size_t                           i;
    ngx_str_t                        key;
    ngx_int_t                       *field[NGX_HTTP_TENANT_REPLY_NNUMBERS];
    ngx_int_t                        granted;
    ngx_http_tenant_lease_t         *l;
    ngx_http_tenant_loc_conf_t      *tlcf;
    ngx_http_tenant_limit_result_t  *res;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    if (ngx_http_tenant_lease_valid(reply, tlcf->lease_max) != NGX_OK) {
        return NGX_ERROR;
    }

    res = &ctx->limit;
    res->verdict = reply->element[NGX_HTTP_TENANT_REPLY_VERDICT]->integer;

    if (ngx_http_tenant_lease_str(r,
                                  reply->element[NGX_HTTP_TENANT_REPLY_STATUS],
                                  &res->status)
        != NGX_OK
        || ngx_http_tenant_lease_str(r,
                                  reply->element[NGX_HTTP_TENANT_REPLY_PLAN],
                                  &res->plan)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    field[NGX_HTTP_TENANT_REPLY_RATE_REMAINING] = &res->rate_remaining;
    field[NGX_HTTP_TENANT_REPLY_RATE_RESET] = &res->rate_reset;
    field[NGX_HTTP_TENANT_REPLY_RETRY_AFTER] = &res->retry_after;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_USED] = &res->quota_used;
    field[NGX_HTTP_TENANT_REPLY_RATE_LIMIT] = &res->rate_limit;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_LIMIT] = &res->quota_limit;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_RESET] = &res->quota_reset;

    for (i = 0; i < NGX_HTTP_TENANT_REPLY_NNUMBERS; i++) {
        *field[i] = reply->element[NGX_HTTP_TENANT_REPLY_NUMBERS + i]->integer;
    }

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

    l = ngx_http_tenant_lease_find(tlcf, &key,
                                   ngx_murmur_hash2(key.data, key.len));

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

    l->timer.handler = ngx_http_tenant_lease_expire;
    l->timer.data = l;
    l->timer.log = ngx_cycle->log;
    l->timer.cancelable = 0;

    ngx_add_timer(&l->timer, l->expires - ngx_current_msec);

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


static void
ngx_http_tenant_lease_expire(ngx_event_t *ev)
{
    ngx_http_tenant_lease_end(ev->data);
}


/*
 * The lease's unused units given back, its grant forgotten, its key kept.
 * A worker that shuts down gracefully (reload, quit) waits for its leases
 * to end, their timers not being cancelable: so a reload gives the unused
 * units back.  Only a worker that dies or is terminated leaves them
 * counted.
 */

static void
ngx_http_tenant_lease_end(ngx_http_tenant_lease_t *l)
{
    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    if (l->units > 0) {
        l->back.units = l->units;
        ngx_http_tenant_lease_back(&l->back);

    } else {
        ngx_free(l->back.mem);
    }

    ngx_memzero(&l->back, sizeof(ngx_http_tenant_lease_back_t));

    l->units = 0;
    l->low = 0;
    l->expires = 0;
}


/* "TENANT\0USER\0PLAN\0JTI\0IAT": what the decision reads of the token */

static ngx_int_t
ngx_http_tenant_lease_key(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_str_t *key)
{
    u_char      *p;
    uint64_t     iat;
    ngx_str_t    jti;

    if (ngx_http_tenant_claim_jti(ctx->payload, &jti) != NGX_OK) {
        ngx_str_null(&jti);
    }

    if (ngx_http_tenant_claim_seconds(ctx->payload, "iat", &iat) != NGX_OK) {
        iat = 0;
    }

    key->data = ngx_pnalloc(r->pool, ctx->identity.tenant_id.len
                                     + ctx->identity.user.len
                                     + ctx->identity.plan.len + jti.len
                                     + 4 + NGX_INT64_LEN);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_tenant_lease_part(key->data, &ctx->identity.tenant_id);
    p = ngx_http_tenant_lease_part(p, &ctx->identity.user);
    p = ngx_http_tenant_lease_part(p, &ctx->identity.plan);
    p = ngx_http_tenant_lease_part(p, &jti);
    p = ngx_sprintf(p, "%uL", iat);

    key->len = p - key->data;

    return NGX_OK;
}


/* a part of the key and its '\0'; an absent one (NULL) is empty */

static u_char *
ngx_http_tenant_lease_part(u_char *p, ngx_str_t *s)
{
    if (s->len) {
        p = ngx_cpymem(p, s->data, s->len);
    }

    *p++ = '\0';

    return p;
}


static ngx_http_tenant_lease_t *
ngx_http_tenant_lease_find(ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_tenant_lease_t  *l;

    for (l = ngx_http_tenant_lease_buckets[hash % NGX_HTTP_TENANT_LEASE_SLOTS];
         l;
         l = l->next)
    {
        if (l->hash == hash && l->conf == tlcf && l->key.len == key->len
            && ngx_memcmp(l->key.data, key->data, key->len) == 0)
        {
            return l;
        }
    }

    return NULL;
}


/* the key's slot: found, free, or the least recently used idle one's */

static ngx_http_tenant_lease_t *
ngx_http_tenant_lease_slot(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key)
{
    uint32_t                  hash;
    ngx_uint_t                i;
    ngx_http_tenant_lease_t  *l, *lru, **bucket;

    hash = ngx_murmur_hash2(key->data, key->len);

    l = ngx_http_tenant_lease_find(tlcf, key, hash);
    if (l) {
        return l;
    }

    lru = NULL;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_SLOTS; i++) {
        l = &ngx_http_tenant_leases[i];

        if (l->conf == NULL) {
            lru = l;
            break;
        }

        /* a live lease is not given back early for another key */
        if (ngx_http_tenant_lease_busy(l) || ngx_http_tenant_lease_held(l)) {
            continue;
        }

        if (lru == NULL || (ngx_msec_int_t) (l->used - lru->used) < 0) {
            lru = l;
        }
    }

    if (lru == NULL) {
        /* every slot holds a lease or waits for one: decided exactly */
        return NULL;
    }

    l = lru;

    if (l->conf) {
        ngx_http_tenant_lease_end(l);
        ngx_http_tenant_lease_unlink(l);
        ngx_free(l->key.data);
    }

    ngx_memzero(l, sizeof(ngx_http_tenant_lease_t));
    ngx_queue_init(&l->waiters);

    l->key.data = ngx_alloc(key->len, r->connection->log);
    if (l->key.data == NULL) {
        return NULL;
    }

    ngx_memcpy(l->key.data, key->data, key->len);
    l->key.len = key->len;
    l->hash = hash;
    l->conf = tlcf;
    l->used = ngx_current_msec;

    bucket = &ngx_http_tenant_lease_buckets[hash % NGX_HTTP_TENANT_LEASE_SLOTS];
    l->next = *bucket;
    *bucket = l;

    return l;
}


static void
ngx_http_tenant_lease_unlink(ngx_http_tenant_lease_t *l)
{
    ngx_http_tenant_lease_t  **p;

    if (l->conf == NULL) {
        return;
    }

    for (p = &ngx_http_tenant_lease_buckets[l->hash
                                            % NGX_HTTP_TENANT_LEASE_SLOTS];
         *p;
         p = &(*p)->next)
    {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}


static ngx_int_t
ngx_http_tenant_lease_str(ngx_http_request_t *r,
    ngx_http_tenant_redis_reply_t *reply, ngx_str_t *s)
{
    if (reply->type != NGX_HTTP_TENANT_REDIS_STRING) {
        return NGX_ERROR;
    }

    s->len = reply->len;
    s->data = ngx_pnalloc(r->pool, reply->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, reply->str, reply->len);

    return NGX_OK;
}


/*
 * The leases name configuration by its address and the worker's Redis
 * client: they go with a configuration read again and at exit, their
 * unused units left counted (Redis is gone or going).
 */

void
ngx_http_tenant_lease_forget(void)
{
    ngx_int_t                 left;
    ngx_uint_t                i;
    ngx_http_tenant_lease_t  *l;

    left = 0;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_SLOTS; i++) {
        l = &ngx_http_tenant_leases[i];

        if (l->timer.timer_set) {
            ngx_del_timer(&l->timer);
        }

        if (l->wake.posted) {
            ngx_delete_posted_event(&l->wake);
        }

        left += l->units;

        ngx_free(l->back.mem);
        ngx_free(l->key.data);
        ngx_memzero(l, sizeof(ngx_http_tenant_lease_t));
    }

    ngx_memzero(ngx_http_tenant_lease_buckets,
                sizeof(ngx_http_tenant_lease_buckets));

    ngx_http_tenant_lease_back_forget();

    if (left) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tenant: %i leased units not given back stay counted",
                      left);
    }
}
