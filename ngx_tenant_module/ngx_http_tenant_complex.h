
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_COMPLEX_H_INCLUDED_
#define _NGX_HTTP_TENANT_COMPLEX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * A directive's value that may hold variables ($http_x_org_id, key=$...),
 * compiled once; below every concern that takes one, so that none of them
 * calls up into the module's file for it.
 */
ngx_int_t ngx_http_tenant_complex_compile(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t *cv);


#endif /* _NGX_HTTP_TENANT_COMPLEX_H_INCLUDED_ */
