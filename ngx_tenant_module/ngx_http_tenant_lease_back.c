/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease_back.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"


/*
 * A give-back that cannot be sent because Redis is not connected is
 * kept and sent again when it is: Redis never saw it, so sending it later
 * cannot undo a unit twice, and the counters come back to the admitted
 * requests once Redis is back.  A give-back that was sent and not
 * answered is never sent again (Redis may have run it): its units stay
 * counted, which over-counts and never over-admits.
 */


#define NGX_HTTP_TENANT_LEASE_OWED   64
#define NGX_HTTP_TENANT_LEASE_RETRY  500


static ngx_int_t ngx_http_tenant_lease_back_send(
    ngx_http_tenant_lease_back_t *b);
static void ngx_http_tenant_lease_back_owe(ngx_http_tenant_lease_back_t *b);
static void ngx_http_tenant_lease_back_retry(ngx_event_t *ev);
static void ngx_http_tenant_lease_back_done(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_lease_back_lingered(ngx_event_t *ev);


static ngx_http_tenant_lease_back_t
    ngx_http_tenant_lease_owed[NGX_HTTP_TENANT_LEASE_OWED];
static ngx_uint_t   ngx_http_tenant_lease_nowed;
static ngx_event_t  ngx_http_tenant_lease_retry;

/*
 * A worker that shuts down gracefully (reload, quit) waits for the
 * replies of its give-backs, at most the Redis timeout: a non-cancelable
 * timer keeps it alive meanwhile.
 */
static ngx_event_t  ngx_http_tenant_lease_linger;
static ngx_uint_t   ngx_http_tenant_lease_giving;


void
ngx_http_tenant_lease_back(ngx_http_tenant_lease_back_t *b)
{
    ngx_str_t  *g;

    g = b->give;

    /* a lease of the registry's word only: nothing was counted */
    if (b->interval == 0 && g[NGX_HTTP_TENANT_LEASE_QUOTA_KEY].len == 0
        && g[NGX_HTTP_TENANT_LEASE_METER_KEY].len == 0
        && g[NGX_HTTP_TENANT_LEASE_REQUESTS].len == 0
        && g[NGX_HTTP_TENANT_LEASE_METER].len == 0)
    {
        ngx_free(b->mem);
        return;
    }

    if (ngx_http_tenant_lease_back_send(b) == NGX_OK) {
        ngx_free(b->mem);
        return;
    }

    ngx_http_tenant_lease_back_owe(b);
}


static ngx_int_t
ngx_http_tenant_lease_back_send(ngx_http_tenant_lease_back_t *b)
{
    u_char                        units[NGX_INT_T_LEN], interval[NGX_INT_T_LEN];
    ngx_str_t                    *g, *rate;
    ngx_uint_t                    i, n;
    const char                   *argv[12];
    size_t                        argvlen[12];
    ngx_http_tenant_main_conf_t  *tmcf;

    static ngx_str_t  keys = ngx_string(NGX_HTTP_TENANT_SCRIPT_GIVE_BACK_KEYS);
    static ngx_str_t  mode = ngx_string(NGX_HTTP_TENANT_SCRIPT_GIVE_BACK);
    static ngx_str_t  yes = ngx_string("1");

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_tenant_module);
    if (tmcf == NULL || tmcf->redis_client == NULL) {
        return NGX_ERROR;
    }

    g = b->give;
    rate = &g[NGX_HTTP_TENANT_LEASE_RATE_KEY];
    n = 0;

#define ngx_http_tenant_lease_arg(s)                                          \
    argv[n] = (const char *) (s)->data; argvlen[n] = (s)->len; n++

    ngx_http_tenant_lease_arg(&keys);

    /* an absent counter is named by the rate key: all in the tenant's slot */
    for (i = NGX_HTTP_TENANT_LEASE_RATE_KEY;
         i <= NGX_HTTP_TENANT_LEASE_USAGE_KEY;
         i++)
    {
        ngx_http_tenant_lease_arg(g[i].len ? &g[i] : rate);
    }

    ngx_http_tenant_lease_arg(&mode);

    argv[n] = (const char *) units;
    argvlen[n++] = ngx_sprintf(units, "%i", b->units) - units;
    argv[n] = (const char *) interval;
    argvlen[n++] = ngx_sprintf(interval, "%i", b->interval) - interval;

    argv[n] = g[NGX_HTTP_TENANT_LEASE_QUOTA_KEY].len ? (char *) yes.data : "";
    argvlen[n++] = g[NGX_HTTP_TENANT_LEASE_QUOTA_KEY].len ? 1 : 0;
    argv[n] = g[NGX_HTTP_TENANT_LEASE_METER_KEY].len ? (char *) yes.data : "";
    argvlen[n++] = g[NGX_HTTP_TENANT_LEASE_METER_KEY].len ? 1 : 0;

    ngx_http_tenant_lease_arg(&g[NGX_HTTP_TENANT_LEASE_REQUESTS]);
    ngx_http_tenant_lease_arg(&g[NGX_HTTP_TENANT_LEASE_METER]);

#undef ngx_http_tenant_lease_arg

    if (ngx_http_tenant_redis_eval(tmcf->redis_client, n, argv, argvlen,
                                   ngx_http_tenant_lease_back_done, NULL)
        == NULL)
    {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "tenant lease: %i units given back", b->units);

    ngx_http_tenant_lease_giving++;

    if (ngx_exiting && !ngx_http_tenant_lease_linger.timer_set) {
        ngx_http_tenant_lease_linger.handler =
                                          ngx_http_tenant_lease_back_lingered;
        ngx_http_tenant_lease_linger.log = ngx_cycle->log;
        ngx_add_timer(&ngx_http_tenant_lease_linger,
                      tmcf->redis->timeout + 100);
    }

    return NGX_OK;
}


/* kept to be sent again; when too many are owed, the oldest is dropped */

static void
ngx_http_tenant_lease_back_owe(ngx_http_tenant_lease_back_t *b)
{
    ngx_http_tenant_lease_back_t  *owed;

    owed = ngx_http_tenant_lease_owed;

    if (ngx_http_tenant_lease_nowed == NGX_HTTP_TENANT_LEASE_OWED) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tenant: too many lease give-backs wait for redis, "
                      "%i leased units stay counted", owed[0].units);

        ngx_free(owed[0].mem);
        ngx_memmove(&owed[0], &owed[1],
                    (NGX_HTTP_TENANT_LEASE_OWED - 1) * sizeof(*owed));
        ngx_http_tenant_lease_nowed--;
    }

    if (ngx_http_tenant_lease_nowed == 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tenant: redis is not connected, %i leased units "
                      "will be given back when it is", b->units);
    }

    owed[ngx_http_tenant_lease_nowed++] = *b;

    if (!ngx_http_tenant_lease_retry.timer_set) {
        ngx_http_tenant_lease_retry.handler = ngx_http_tenant_lease_back_retry;
        ngx_http_tenant_lease_retry.log = ngx_cycle->log;
        ngx_http_tenant_lease_retry.cancelable = 1;
        ngx_add_timer(&ngx_http_tenant_lease_retry,
                      NGX_HTTP_TENANT_LEASE_RETRY);
    }
}


/* in the order they were owed, until one cannot be sent */

static void
ngx_http_tenant_lease_back_retry(ngx_event_t *ev)
{
    ngx_uint_t                     i, n;
    ngx_http_tenant_lease_back_t  *owed;

    owed = ngx_http_tenant_lease_owed;
    n = ngx_http_tenant_lease_nowed;

    for (i = 0; i < n; i++) {
        if (ngx_http_tenant_lease_back_send(&owed[i]) != NGX_OK) {
            break;
        }

        ngx_free(owed[i].mem);
    }

    if (i) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "tenant: %ui lease give-backs sent after redis came "
                      "back", i);

        ngx_memmove(&owed[0], &owed[i], (n - i) * sizeof(*owed));
        ngx_http_tenant_lease_nowed = n - i;
    }

    if (ngx_http_tenant_lease_nowed) {
        ngx_add_timer(ev, NGX_HTTP_TENANT_LEASE_RETRY);
    }
}


static void
ngx_http_tenant_lease_back_done(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    if (reply == NULL) {
        ngx_http_tenant_redis_log_failure(ngx_cycle->log,
                                          "a lease's give-back failed, its "
                                          "unused units stay counted");

    } else if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY
               || reply->elements == 0
               || reply->element[0]->type != NGX_HTTP_TENANT_REDIS_INTEGER
               || reply->element[0]->integer != 0)
    {
        /* not the script's { 0, "", "" }: what it did is not known */
        ngx_http_tenant_redis_log_failure(ngx_cycle->log,
                                          "unexpected reply to a lease's "
                                          "give-back, its unused units may "
                                          "stay counted");
    }

    if (--ngx_http_tenant_lease_giving == 0
        && ngx_http_tenant_lease_linger.timer_set)
    {
        ngx_del_timer(&ngx_http_tenant_lease_linger);
    }
}


static void
ngx_http_tenant_lease_back_lingered(ngx_event_t *ev)
{
    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "tenant: %ui lease give-backs unanswered at exit, their "
                  "units may stay counted", ngx_http_tenant_lease_giving);
}


void
ngx_http_tenant_lease_back_forget(void)
{
    ngx_int_t   left;
    ngx_uint_t  i;

    left = 0;

    for (i = 0; i < ngx_http_tenant_lease_nowed; i++) {
        left += ngx_http_tenant_lease_owed[i].units;
        ngx_free(ngx_http_tenant_lease_owed[i].mem);
    }

    ngx_http_tenant_lease_nowed = 0;

    if (ngx_http_tenant_lease_retry.timer_set) {
        ngx_del_timer(&ngx_http_tenant_lease_retry);
    }

    if (ngx_http_tenant_lease_linger.timer_set) {
        ngx_del_timer(&ngx_http_tenant_lease_linger);
    }

    ngx_http_tenant_lease_giving = 0;

    if (left) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tenant: %i leased units owed to redis stay counted",
                      left);
    }
}
