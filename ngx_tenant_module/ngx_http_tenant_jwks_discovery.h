
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_DISCOVERY_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_DISCOVERY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_jwks_fetch.h"


/*
 * OpenID Connect Discovery 1.0: where an issuer's document is, and the
 * JWK Set URL it names.  No request and no source here: the document is
 * untrusted bytes in, a URL out.
 */

ngx_int_t ngx_http_tenant_jwks_discovery_url(ngx_pool_t *pool,
    ngx_str_t *issuer, ngx_str_t *doc);
ngx_int_t ngx_http_tenant_jwks_discovery_parse(ngx_str_t *body,
    ngx_str_t *issuer, ngx_http_tenant_jwks_url_t *doc_url,
    ngx_http_tenant_jwks_url_t *u, ngx_pool_t **pool, const char **why,
    ngx_log_t *log);


#endif /* _NGX_HTTP_TENANT_JWKS_DISCOVERY_H_INCLUDED_ */
