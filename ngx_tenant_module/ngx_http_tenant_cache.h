
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_CACHE_H_INCLUDED_
#define _NGX_HTTP_TENANT_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_http_tenant_keys.h"


/*
 * A per-worker cache of verified tokens.  It saves the base64 decoding,
 * the JSON parsing and the signature check of a token seen before; the
 * time, issuer and audience checks still run on every request.  An entry
 * is bound to the key set that verified it and to the generation of its
 * keys fetched from URLs, and dies at the token's "exp".
 */

typedef struct ngx_http_tenant_cache_s  ngx_http_tenant_cache_t;

typedef struct {
    json_t                   *header;
    json_t                   *payload;
    ngx_http_tenant_alg_e     alg;
    u_char                   *memo;     /* see ngx_http_tenant_memo.c */
} ngx_http_tenant_cached_t;


ngx_http_tenant_cache_t *ngx_http_tenant_cache_create(ngx_uint_t size,
    ngx_log_t *log);
void ngx_http_tenant_cache_destroy(ngx_http_tenant_cache_t *cache);
ngx_http_tenant_cached_t *ngx_http_tenant_cache_get(
    ngx_http_tenant_cache_t *cache, void *owner, ngx_uint_t gen,
    const u_char *token, size_t len, time_t now);
ngx_http_tenant_cached_t *ngx_http_tenant_cache_put(
    ngx_http_tenant_cache_t *cache, void *owner, ngx_uint_t gen,
    const u_char *token, size_t len, ngx_http_tenant_cached_t *value,
    time_t expires);
void ngx_http_tenant_cache_memo(ngx_http_tenant_cached_t *cached,
    u_char *memo);
ngx_uint_t ngx_http_tenant_cache_count(ngx_http_tenant_cache_t *cache);


#endif /* _NGX_HTTP_TENANT_CACHE_H_INCLUDED_ */
