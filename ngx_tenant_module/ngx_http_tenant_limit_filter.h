
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LIMIT_FILTER_H_INCLUDED_
#define _NGX_HTTP_TENANT_LIMIT_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* RateLimit-*, X-Quota-* and Retry-After; a 401 counted for the lockout */
ngx_int_t ngx_http_tenant_limit_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TENANT_LIMIT_FILTER_H_INCLUDED_ */
