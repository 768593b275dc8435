
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LOG_H_INCLUDED_
#define _NGX_HTTP_TENANT_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * From now on, every error log line of the request shows "***" where the
 * token appears in the request's context (the request line, a referrer):
 * a token taken from the query string (tenant_jwt on token=$arg_...) is
 * in the request line nginx adds to each line.
 */
ngx_int_t ngx_http_tenant_log_hide(ngx_http_request_t *r, ngx_str_t *token);


#endif /* _NGX_HTTP_TENANT_LOG_H_INCLUDED_ */
