
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_


#include "ngx_http_tenant_module.h"


/*
 * Keys from URLs: tenant_jwt_jwks_url and tenant_jwt_discovery.  The
 * node fetches each URL in the background (ngx_http_tenant_jwks_fetch.c),
 * the workers share what was fetched (ngx_http_tenant_jwks_shm.c) and
 * each parses it into keys of its own (ngx_http_tenant_jwks_source.c).
 * A request waits only for a token whose "kid" no key has, or when no
 * key was ever loaded (ngx_http_tenant_jwks_wait.c).  This file holds
 * the directives and the life of the whole.
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


#endif /* _NGX_HTTP_TENANT_JWKS_URL_H_INCLUDED_ */
