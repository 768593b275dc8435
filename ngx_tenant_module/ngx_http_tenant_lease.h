/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LEASE_H_INCLUDED_
#define _NGX_HTTP_TENANT_LEASE_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_redis.h"


/*
 * Leased allowances (tenant_limit_lease): units of a tenant's limits
 * counted in Redis ahead of the requests, admitted by the worker that
 * holds them without a round trip, the unused ones given back.
 */

char *ngx_http_tenant_lease_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_tenant_lease_merge(ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev);

/*
 * NGX_OK: admitted from a lease, ctx->limit is set; NGX_DECLINED: ask
 * Redis, with ctx->leasing set when the request should ask for a lease;
 * NGX_AGAIN: the request waits for the grant another one asked for, and
 * is run again from the access phase when it comes.
 */
ngx_int_t ngx_http_tenant_lease_take(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);

/*
 * The request asked for a lease and Redis did not grant one.  NGX_OK: it
 * was admitted from units the worker still holds, ctx->limit is set.
 */
ngx_int_t ngx_http_tenant_lease_refused(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx);

/* the registry refused the request: the lease it asked to renew ends */
void ngx_http_tenant_lease_drop(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx);

/* a lease reply: keeps the lease, fills ctx->limit; NGX_ERROR: malformed */
ngx_int_t ngx_http_tenant_lease_parse(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply);

/* every lease given back (best effort) and forgotten */
void ngx_http_tenant_lease_forget(void);


#endif /* _NGX_HTTP_TENANT_LEASE_H_INCLUDED_ */
