
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_jwt.h"


/*
 * Keys from URLs: tenant_jwt_jwks_url and tenant_jwt_discovery.  The
 * node fetches each URL in the background (ngx_http_tenant_jwks_fetch.c),
 * the workers share what was fetched (ngx_http_tenant_jwks_shm.c) and
 * each parses it into keys of its own.  A request waits only for a
 * token whose "kid" no key has, or when no key was ever loaded.
 */

char *ngx_http_tenant_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tenant_jwks_ssl_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tenant_jwks_ssl_trusted(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tenant_jwks_merge(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *conf, ngx_http_tenant_loc_conf_t *prev);
char *ngx_http_tenant_jwks_init_main(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf);
ngx_int_t ngx_http_tenant_jwks_init_process(ngx_cycle_t *cycle,
    ngx_http_tenant_main_conf_t *tmcf);
void ngx_http_tenant_jwks_exit_process(ngx_http_tenant_main_conf_t *tmcf);

ngx_uint_t ngx_http_tenant_jwks_sync(ngx_array_t *sources, ngx_uint_t *algs,
    ngx_flag_t *missing);
ngx_http_tenant_jwt_rc_e ngx_http_tenant_jwks_verify(ngx_array_t *sources,
    ngx_http_tenant_jwt_t *jwt, const u_char *data, const char **err);
ngx_flag_t ngx_http_tenant_jwks_missing(ngx_array_t *sources);
ngx_flag_t ngx_http_tenant_jwks_has_kid(ngx_http_tenant_keyset_t *ks,
    ngx_array_t *sources, ngx_str_t *kid);
ngx_int_t ngx_http_tenant_jwks_wait(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_array_t *sources);


#endif /* _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_ */
