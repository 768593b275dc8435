/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LEASE_WAIT_H_INCLUDED_
#define _NGX_HTTP_TENANT_LEASE_WAIT_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease_slot.h"


/* the request asks Redis for the lease: the others wait for its grant */
ngx_int_t ngx_http_tenant_lease_ask(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);

/* the request waits for the grant another one asked for */
ngx_int_t ngx_http_tenant_lease_wait(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_lease_t *l);

/* the grant came, or will not (failed: Redis failed the asking request) */
void ngx_http_tenant_lease_answered(ngx_http_tenant_lease_t *l,
    ngx_uint_t failed);


#endif /* _NGX_HTTP_TENANT_LEASE_WAIT_H_INCLUDED_ */
