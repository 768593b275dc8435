/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease_slot.h"
#include "ngx_http_tenant_lease_wait.h"
#include "ngx_http_tenant_wait.h"


/*
 * One request at a time asks Redis for a token's lease; the requests of
 * the same token that come meanwhile wait for its grant instead of each
 * asking Redis too, and are run again from the access phase when it
 * comes (or fails).
 */


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


static void ngx_http_tenant_lease_asker_gone(void *data);
static void ngx_http_tenant_lease_unwait(void *data);
static void ngx_http_tenant_lease_wake(ngx_event_t *ev);


/* the request asks for the grant: the others wait for it meanwhile */

ngx_int_t
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


ngx_int_t
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

void
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
