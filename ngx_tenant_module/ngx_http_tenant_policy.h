
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_POLICY_H_INCLUDED_
#define _NGX_HTTP_TENANT_POLICY_H_INCLUDED_


#include "ngx_http_tenant_module.h"


char *ngx_http_tenant_policy_merge(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *conf, ngx_http_tenant_loc_conf_t *prev);
ngx_int_t ngx_http_tenant_policy_check(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf,
    const char **err);
ngx_int_t ngx_http_tenant_policy_plan(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf, const char **err);
ngx_int_t ngx_http_tenant_str_index(ngx_array_t *list, ngx_str_t *name);


#endif /* _NGX_HTTP_TENANT_POLICY_H_INCLUDED_ */
