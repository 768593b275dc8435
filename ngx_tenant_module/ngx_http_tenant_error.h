
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_ERROR_H_INCLUDED_
#define _NGX_HTTP_TENANT_ERROR_H_INCLUDED_


#include "ngx_http_tenant_module.h"


ngx_int_t ngx_http_tenant_reject(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_reason_e reason,
    const char *detail);
ngx_str_t *ngx_http_tenant_reason_code(ngx_http_tenant_reason_e reason);


#endif /* _NGX_HTTP_TENANT_ERROR_H_INCLUDED_ */
