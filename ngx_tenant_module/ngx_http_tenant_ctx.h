
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_CTX_H_INCLUDED_
#define _NGX_HTTP_TENANT_CTX_H_INCLUDED_


#include "ngx_http_tenant_module.h"


/* the request's context, created or taken up again for a new pass */
ngx_http_tenant_ctx_t *ngx_http_tenant_ctx_get(ngx_http_request_t *r);

/* the context of an earlier pass (before an internal redirect), or NULL */
ngx_http_tenant_ctx_t *ngx_http_tenant_ctx_find(ngx_http_request_t *r);

/* the request is admitted or refused (ctx->reason): counted once */
void ngx_http_tenant_ctx_decided(ngx_http_tenant_ctx_t *ctx);


#endif /* _NGX_HTTP_TENANT_CTX_H_INCLUDED_ */
