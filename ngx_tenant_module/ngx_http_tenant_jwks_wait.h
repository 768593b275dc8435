
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_WAIT_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_WAIT_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_jwks_source.h"


/*
 * A request whose token's "kid" no key has, or that finds no keys at
 * all, waits for a fetch of its URLs, at most the URL's timeout.
 */

void ngx_http_tenant_jwks_wait_init(ngx_http_tenant_jwks_source_t *s,
    ngx_log_t *log);
ngx_int_t ngx_http_tenant_jwks_wait(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_array_t *sources);


#endif /* _NGX_HTTP_TENANT_JWKS_WAIT_H_INCLUDED_ */
