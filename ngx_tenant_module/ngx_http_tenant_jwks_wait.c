
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_wait.h"
#include "ngx_http_tenant_jwks_shm.h"
#include "ngx_http_tenant_jwks_source.h"
#include "ngx_http_tenant_jwks_wait.h"


/* a waiting request's worker looks at the node's fetch this often */
#define NGX_HTTP_TENANT_JWKS_POLL          50


/* a request waiting for a fetch */
typedef struct {
    ngx_queue_t                      queue;
    ngx_http_request_t              *r;
    ngx_http_tenant_ctx_t           *ctx;
    ngx_event_t                      timer;
    ngx_http_tenant_jwks_source_t   *source;
} ngx_http_tenant_jwks_waiter_t;


static void ngx_http_tenant_jwks_poll(ngx_event_t *ev);
static void ngx_http_tenant_jwks_wake(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_wait_timeout(ngx_event_t *ev);
static void ngx_http_tenant_jwks_wait_cleanup(void *data);


void
ngx_http_tenant_jwks_wait_init(ngx_http_tenant_jwks_source_t *s,
    ngx_log_t *log)
{
    ngx_queue_init(&s->waiters);

    s->poll.handler = ngx_http_tenant_jwks_poll;
    s->poll.data = s;
    s->poll.log = log;
    s->poll.cancelable = 1;

    s->ended = ngx_http_tenant_jwks_wake;
}


/*
 * A token's "kid" no key has, or no keys at all: the request waits for a
 * fetch of its URLs, one this worker starts (at most once per
 * min_refresh per URL and node) or one under way in any worker.
 * NGX_DECLINED: there is none to wait for.  A request waits once.
 */

ngx_int_t
ngx_http_tenant_jwks_wait(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_array_t *sources)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_http_cleanup_t              *cln;
    ngx_http_tenant_jwks_slot_t     *slot;
    ngx_http_tenant_jwks_waiter_t   *w;
    ngx_http_tenant_jwks_source_t  **sp, *s, *wait;

    if (ctx->jwks_waited) {
        return NGX_DECLINED;
    }

    sp = sources->elts;
    wait = NULL;

    for (i = 0; i < sources->nelts; i++) {
        s = sp[i];

        slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                             &s->url.text);
        if (slot == NULL) {
            continue;
        }

        if (s->fetch) {
            rc = NGX_BUSY;

        } else {
            rc = ngx_http_tenant_jwks_shm_claim(s->jc->zone, slot,
                                                NGX_HTTP_TENANT_JWKS_CLAIM_NOW,
                                                s->min_refresh,
                                                s->timeout / 1000 * 2 + 1);

            if (rc == NGX_OK && ngx_http_tenant_jwks_start(s) != NGX_OK) {
                continue;
            }
        }

        /*
         * No fetch now (one started within min_refresh); but if another
         * worker has just published a set this one has not loaded, the
         * request waits for the next look at the node's, within the
         * poll's period, rather than being refused for lack of keys.
         */
        if (rc == NGX_DECLINED && slot->generation == s->generation) {
            continue;
        }

        if (wait == NULL) {
            wait = s;
            s->seen_done = slot->done;
        }
    }

    if (wait == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_tenant_jwks_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tenant_jwks_wait_cleanup;
    cln->data = w;

    w->r = r;
    w->ctx = ctx;
    w->source = wait;
    w->timer.handler = ngx_http_tenant_jwks_wait_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    ngx_queue_insert_tail(&wait->waiters, &w->queue);
    ngx_add_timer(&w->timer, wait->timeout);

    /* a fetch of another worker ends unseen: look at the node's */
    if (wait->fetch == NULL && !wait->poll.timer_set) {
        ngx_add_timer(&wait->poll, NGX_HTTP_TENANT_JWKS_POLL);
    }

    ctx->jwks_waited = 1;
    ctx->waiting = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant jwks \"%V\": request waits, timeout %M",
                   &wait->name, wait->timeout);

    return NGX_AGAIN;
}


static void
ngx_http_tenant_jwks_poll(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_source_t *s = ev->data;

    ngx_http_tenant_jwks_slot_t  *slot;

    if (ngx_queue_empty(&s->waiters)) {
        return;
    }

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);

    if (slot == NULL || slot->done != s->seen_done || slot->owner == 0) {
        ngx_http_tenant_jwks_load(s);
        ngx_http_tenant_jwks_wake(s);
        return;
    }

    ngx_add_timer(&s->poll, NGX_HTTP_TENANT_JWKS_POLL);
}


/* the fetch ended, well or not: the waiting requests go on */

static void
ngx_http_tenant_jwks_wake(ngx_http_tenant_jwks_source_t *s)
{
    ngx_queue_t                    *q;
    ngx_http_tenant_jwks_waiter_t  *w;

    if (s->poll.timer_set) {
        ngx_del_timer(&s->poll);
    }

    while (!ngx_queue_empty(&s->waiters)) {
        q = ngx_queue_head(&s->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_tenant_jwks_waiter_t, queue);
        w->source = NULL;

        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }

        w->ctx->waiting = 0;

        ngx_http_tenant_wait_resume(w->r);
    }
}


static void
ngx_http_tenant_jwks_wait_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_waiter_t *w = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "tenant jwks: wait timed out");

    if (w->source) {
        ngx_queue_remove(&w->queue);
        w->source = NULL;
    }

    w->ctx->waiting = 0;

    ngx_http_tenant_wait_resume(w->r);
}


static void
ngx_http_tenant_jwks_wait_cleanup(void *data)
{
    ngx_http_tenant_jwks_waiter_t *w = data;

    if (w->source) {
        ngx_queue_remove(&w->queue);
        w->source = NULL;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}

