
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWT_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_http_tenant_keys.h"


/* larger than any header nginx accepts by default, far below abuse */
#define NGX_HTTP_TENANT_JWT_MAX      16384
#define NGX_HTTP_TENANT_JWT_SIG_MAX  1024


typedef enum {
    NGX_HTTP_TENANT_JWT_OK = 0,
    NGX_HTTP_TENANT_JWT_INVALID,
    NGX_HTTP_TENANT_JWT_EXPIRED
} ngx_http_tenant_jwt_rc_e;


/*
 * A decoded token.  It points into the caller's token bytes, which must
 * outlive it; header and payload hold one jansson reference each.
 */
typedef struct {
    json_t                  *header;
    json_t                  *payload;
    ngx_http_tenant_alg_e    alg;
    ngx_str_t                kid;
    size_t                   signed_len;  /* "header.payload" */
    size_t                   sig_len;
    u_char                   sig[NGX_HTTP_TENANT_JWT_SIG_MAX];
} ngx_http_tenant_jwt_t;


typedef struct {
    time_t                   now;
    time_t                   leeway;
    ngx_array_t             *issuers;     /* ngx_str_t, or NULL */
    ngx_array_t             *audiences;   /* ngx_str_t, or NULL */
} ngx_http_tenant_jwt_rules_t;


ngx_http_tenant_jwt_rc_e ngx_http_tenant_jwt_decode(const u_char *data,
    size_t len, ngx_http_tenant_jwt_t *jwt, const char **err);
ngx_http_tenant_jwt_rc_e ngx_http_tenant_jwt_verify(
    ngx_http_tenant_keyset_t *ks, ngx_http_tenant_jwt_t *jwt,
    const u_char *data, const char **err);
ngx_http_tenant_jwt_rc_e ngx_http_tenant_jwt_check_claims(json_t *payload,
    ngx_http_tenant_jwt_rules_t *rules, const char **err);
time_t ngx_http_tenant_jwt_expires(json_t *payload);
void ngx_http_tenant_jwt_release(ngx_http_tenant_jwt_t *jwt);
void ngx_http_tenant_jwt_exit(void);


#endif /* _NGX_HTTP_TENANT_JWT_H_INCLUDED_ */
