
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_TYP_H_INCLUDED_
#define _NGX_HTTP_TENANT_TYP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


ngx_int_t ngx_http_tenant_typ_compile(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *type);
ngx_int_t ngx_http_tenant_typ_check(json_t *header, ngx_array_t *types,
    const char **err);


#endif /* _NGX_HTTP_TENANT_TYP_H_INCLUDED_ */
