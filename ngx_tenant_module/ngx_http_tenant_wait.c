
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_wait.h"
#include "ngx_http_tenant_metrics.h"


static void ngx_http_tenant_wait_cancel(ngx_http_tenant_ctx_t *ctx);
static void ngx_http_tenant_wait_timeout(ngx_event_t *ev);
static void ngx_http_tenant_wait_cleanup(void *data);


/*
 * The request waits for ctx->op, which the caller has just sent; *state
 * is set to "waiting" now and to "failed" if the timer fires first.
 */

ngx_int_t
ngx_http_tenant_wait_suspend(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_limit_state_e *state)
{
    ngx_http_cleanup_t           *cln;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (!ctx->cleanup_added) {
        cln = ngx_http_cleanup_add(r, 0);
        if (cln == NULL) {
            ngx_http_tenant_wait_cancel(ctx);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_tenant_wait_cleanup;
        cln->data = ctx;
        ctx->cleanup_added = 1;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    *state = NGX_HTTP_TENANT_LIMIT_WAITING;
    ctx->wait_state = state;

    ctx->timer.handler = ngx_http_tenant_wait_timeout;
    ctx->timer.data = r;
    ctx->timer.log = r->connection->log;

    ngx_add_timer(&ctx->timer, tmcf->redis->timeout);

    ctx->waiting = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant wait: suspended, timeout %M",
                   tmcf->redis->timeout);

    return NGX_AGAIN;
}


/* the reply came: the wait is over, before the reply is read */

ngx_http_tenant_ctx_t *
ngx_http_tenant_wait_done(ngx_http_request_t *r)
{
    ngx_http_tenant_ctx_t  *ctx;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant wait: reply");

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    ctx->op = NULL;
    ctx->waiting = 0;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    return ctx;
}


/* the request goes on from its phase handler, as a subrequest's parent */

void
ngx_http_tenant_wait_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "tenant wait: resume");

    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tenant_wait_timeout(ngx_event_t *ev)
{
    ngx_http_request_t *r = ev->data;

    ngx_http_tenant_ctx_t  *ctx;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant wait: timed out");

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    ngx_http_tenant_wait_cancel(ctx);

    ngx_http_tenant_redis_log_failure(r->connection->log,
                                      "redis did not answer in time");
    ngx_http_tenant_metrics_redis(NGX_HTTP_TENANT_METRICS_REDIS_TIMEOUT, 0);

    *ctx->wait_state = NGX_HTTP_TENANT_LIMIT_FAILED;
    ctx->waiting = 0;

    ngx_http_tenant_wait_resume(r);
}


/* a request that goes away first leaves no callback and no timer behind */

static void
ngx_http_tenant_wait_cleanup(void *data)
{
    ngx_http_tenant_ctx_t *ctx = data;

    if (ctx->op) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->timer.log, 0,
                       "tenant wait: cleanup, operation cancelled");

        ngx_http_tenant_wait_cancel(ctx);
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/* the operation's handler will not be called: its reply is dropped */

static void
ngx_http_tenant_wait_cancel(ngx_http_tenant_ctx_t *ctx)
{
    if (ctx->op) {
        ngx_http_tenant_redis_cancel(ctx->op);
        ctx->op = NULL;
    }
}
