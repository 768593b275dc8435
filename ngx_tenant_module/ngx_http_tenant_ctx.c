
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_ctx.h"
#include "ngx_http_tenant_metrics.h"


static void ngx_http_tenant_ctx_cleanup(void *data);


ngx_http_tenant_ctx_t *
ngx_http_tenant_ctx_get(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    if (ctx == NULL) {
        ctx = ngx_http_tenant_ctx_find(r);
    }

    if (ctx) {
        /*
         * a new pass (after an internal redirect): the token is checked
         * afresh for this location, the Redis decision already taken stays
         */
        ngx_http_tenant_ctx_cleanup(ctx);
        ngx_memzero(&ctx->identity, sizeof(ngx_http_tenant_identity_t));
        ctx->reason = NGX_HTTP_TENANT_ADMITTED;
        ctx->verified = 0;
        ctx->identified = 0;
        ctx->pass_verified = 0;
        ctx->decision_started = 0;
        ctx->keyed_done = 0;
        ctx->keyed_next = 0;
        ctx->keyed_state = NGX_HTTP_TENANT_LIMIT_IDLE;

        ngx_http_set_ctx(r, ctx, ngx_http_tenant_module);

        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tenant_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_tenant_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_tenant_module);

    return ctx;
}


/*
 * An internal redirect clears the request's module contexts, but not its
 * pool: the context of an earlier pass is found again by its cleanup.
 */

ngx_http_tenant_ctx_t *
ngx_http_tenant_ctx_find(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_tenant_ctx_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/*
 * The first decision is the request's: a pass after an internal redirect,
 * or a subrequest (which finds the same context in the same pool), is not
 * counted again.
 */

void
ngx_http_tenant_ctx_decided(ngx_http_tenant_ctx_t *ctx)
{
    if (ctx->decided) {
        return;
    }

    ctx->decided = 1;

    ngx_http_tenant_metrics_request(&ctx->identity.tenant_id, ctx->reason);
}


static void
ngx_http_tenant_ctx_cleanup(void *data)
{
    ngx_http_tenant_ctx_t *ctx = data;

    if (ctx->header) {
        json_decref(ctx->header);
        ctx->header = NULL;
    }

    if (ctx->payload) {
        json_decref(ctx->payload);
        ctx->payload = NULL;
    }
}
