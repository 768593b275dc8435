
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_KEYED_H_INCLUDED_
#define _NGX_HTTP_TENANT_KEYED_H_INCLUDED_


#include "ngx_http_tenant_module.h"


char *ngx_http_tenant_zone_parse(ngx_conf_t *cf, ngx_array_t *zones);
char *ngx_http_tenant_lockout_parse(ngx_conf_t *cf,
    ngx_http_tenant_lockout_t **lockout);
char *ngx_http_tenant_keyed_merge(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *conf, ngx_http_tenant_loc_conf_t *prev);

/*
 * The keyed checks of a location (tenant_limit_by zones, the lockout, the
 * token's revocation in its home tenant), one after the other.
 */
ngx_int_t ngx_http_tenant_keyed_run(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);
void ngx_http_tenant_lockout_count(ngx_http_request_t *r,
    ngx_http_tenant_lockout_t *lockout, ngx_str_t *key);


#endif /* _NGX_HTTP_TENANT_KEYED_H_INCLUDED_ */
