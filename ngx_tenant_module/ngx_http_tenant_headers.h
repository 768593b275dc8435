
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_HEADERS_H_INCLUDED_
#define _NGX_HTTP_TENANT_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tenant_claims.h"


ngx_int_t ngx_http_tenant_headers_init(void);
ngx_int_t ngx_http_tenant_headers_strip(ngx_http_request_t *r);
ngx_int_t ngx_http_tenant_headers_remove(ngx_list_t *headers,
    ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_tenant_headers_inject(ngx_http_request_t *r,
    ngx_http_tenant_identity_t *id);


#endif /* _NGX_HTTP_TENANT_HEADERS_H_INCLUDED_ */
