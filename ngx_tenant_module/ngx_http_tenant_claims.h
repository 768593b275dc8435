
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_CLAIMS_H_INCLUDED_
#define _NGX_HTTP_TENANT_CLAIMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


#define NGX_HTTP_TENANT_ID_MAX            64
#define NGX_HTTP_TENANT_HEADER_VALUE_MAX  256


/* more elements than any identity provider sends in a role array */
#define NGX_HTTP_TENANT_ROLES_MAX         256


/*
 * A claim name, split once at configuration time.  A plain name is
 * looked up whole first, then as a dotted path; a name with brackets,
 * ["https://example.com/org"].id, is only ever the path it spells.
 */
typedef struct {
    ngx_str_t    name;          /* as written, NUL-terminated */
    ngx_uint_t   nparts;        /* 0: the whole name only */
    char       **parts;
    ngx_flag_t   exact;         /* brackets: the path, never the name */
} ngx_http_tenant_claim_t;


typedef struct {
    ngx_http_tenant_claim_t  *tenant;
    ngx_http_tenant_claim_t  *user;
    ngx_http_tenant_claim_t  *role;
    ngx_http_tenant_claim_t  *plan;
    ngx_http_tenant_claim_t  *permissions;
    ngx_http_tenant_claim_t  *orgs;
} ngx_http_tenant_claim_names_t;


typedef struct {
    ngx_str_t    tenant_id;
    ngx_str_t    user;
    ngx_str_t    role;
    ngx_str_t    plan;
    ngx_str_t    permissions;   /* comma-joined */
    ngx_str_t    held;          /* an array role: byte i is 1 when it holds
                                   the i-th role of tenant_roles */
    ngx_str_t    home;          /* the token's own tenant, when another
                                   was selected */
} ngx_http_tenant_identity_t;


typedef enum {
    NGX_HTTP_TENANT_IDENTITY_OK = 0,
    NGX_HTTP_TENANT_IDENTITY_NO_TENANT,
    NGX_HTTP_TENANT_IDENTITY_BAD_TENANT,
    NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS,
    NGX_HTTP_TENANT_IDENTITY_NOT_MEMBER
} ngx_http_tenant_identity_rc_e;


const char *ngx_http_tenant_claim_valid(ngx_str_t *name);
ngx_http_tenant_claim_t *ngx_http_tenant_claim_compile(ngx_pool_t *pool,
    ngx_str_t *name);
json_t *ngx_http_tenant_claim_find(json_t *object,
    ngx_http_tenant_claim_t *claim);
json_t *ngx_http_tenant_claim_find_name(json_t *object, u_char *name,
    size_t len);
ngx_int_t ngx_http_tenant_claim_text(json_t *value, ngx_pool_t *pool,
    ngx_str_t *text);

ngx_int_t ngx_http_tenant_claims_require(json_t *payload,
    ngx_array_t *claims, ngx_pool_t *pool, const char **err);

ngx_http_tenant_identity_rc_e ngx_http_tenant_identity_extract(
    json_t *payload, ngx_http_tenant_claim_names_t *names,
    ngx_array_t *roles, ngx_pool_t *pool, ngx_http_tenant_identity_t *id,
    const char **err);

ngx_http_tenant_identity_rc_e ngx_http_tenant_identity_select(
    json_t *payload, ngx_http_tenant_claim_names_t *names,
    ngx_array_t *roles, ngx_str_t *org, ngx_pool_t *pool,
    ngx_http_tenant_identity_t *id, const char **err);

ngx_int_t ngx_http_tenant_id_valid(const u_char *p, size_t len);
ngx_int_t ngx_http_tenant_header_safe(const u_char *p, size_t len);
ngx_flag_t ngx_http_tenant_has_control(const u_char *p, size_t len);

ngx_int_t ngx_http_tenant_claim_jti(json_t *payload, ngx_str_t *jti);
ngx_int_t ngx_http_tenant_claim_seconds(json_t *payload, const char *name,
    uint64_t *n);


#endif /* _NGX_HTTP_TENANT_CLAIMS_H_INCLUDED_ */
