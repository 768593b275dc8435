
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_variables.h"
#include "ngx_http_tenant_ctx.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_error.h"


static ngx_int_t ngx_http_tenant_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, json_t *object, ngx_str_t *name,
    size_t prefix);
static ngx_http_tenant_ctx_t *ngx_http_tenant_variable_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tenant_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tenant_limit_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_TENANT_RATE_REMAINING   0
#define NGX_HTTP_TENANT_QUOTA_USED       1
#define NGX_HTTP_TENANT_QUOTA_REMAINING  2


static ngx_str_t  ngx_http_tenant_limit_statuses[] = {
    ngx_string(""),
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("DRY_RUN"),
    ngx_string("UNAVAILABLE")
};


#define ngx_http_tenant_identity_field(field)                                 \
    offsetof(ngx_http_tenant_identity_t, field)


/*
 * Not cacheable: the values appear in the access phase, and a variable
 * read earlier (in "set", say) must not stick at "not found".
 */

static ngx_http_variable_t  ngx_http_tenant_vars[] = {

    { ngx_string("tenant_id"), NULL, ngx_http_tenant_identity_variable,
      ngx_http_tenant_identity_field(tenant_id), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("tenant_user"), NULL, ngx_http_tenant_identity_variable,
      ngx_http_tenant_identity_field(user), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_role"), NULL, ngx_http_tenant_identity_variable,
      ngx_http_tenant_identity_field(role), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_plan"), NULL, ngx_http_tenant_identity_variable,
      ngx_http_tenant_identity_field(plan), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_permissions"), NULL,
      ngx_http_tenant_identity_variable,
      ngx_http_tenant_identity_field(permissions), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("tenant_reject_reason"), NULL,
      ngx_http_tenant_reason_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_limit_status"), NULL,
      ngx_http_tenant_limit_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_status"), NULL, ngx_http_tenant_status_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_rate_remaining"), NULL,
      ngx_http_tenant_limit_number_variable, NGX_HTTP_TENANT_RATE_REMAINING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_quota_used"), NULL,
      ngx_http_tenant_limit_number_variable, NGX_HTTP_TENANT_QUOTA_USED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tenant_quota_remaining"), NULL,
      ngx_http_tenant_limit_number_variable, NGX_HTTP_TENANT_QUOTA_REMAINING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("jwt_claim_"), NULL, ngx_http_tenant_claim_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwt_header_"), NULL, ngx_http_tenant_jwt_header_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_tenant_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_tenant_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * Subrequests (auth_request, SSI) see the identity of their main request,
 * and so does the request after an internal redirect.
 */

static ngx_http_tenant_ctx_t *
ngx_http_tenant_variable_ctx(ngx_http_request_t *r)
{
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tenant_module);

    /* an internal redirect to a location without tenant_jwt cleared it */
    if (ctx == NULL) {
        ctx = ngx_http_tenant_ctx_find(r->main);
    }

    return ctx;
}


static ngx_int_t
ngx_http_tenant_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *value;
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    /*
     * only the identity of a verified token is ever exposed: the one
     * admitted, or the one refused by policy, limits or the registry
     */
    if (ctx == NULL || !ctx->identified) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((u_char *) &ctx->identity + data);

    v->len = value->len;
    v->data = value->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *code;
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (ctx == NULL || ctx->reason == NGX_HTTP_TENANT_ADMITTED) {
        v->len = 0;
        v->data = (u_char *) "";
        return NGX_OK;
    }

    code = ngx_http_tenant_reason_code(ctx->reason);

    v->len = code->len;
    v->data = code->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    /* claims of a token whose signature did not verify are never shown */
    if (ctx == NULL || ctx->payload == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_tenant_json_variable(r, v, ctx->payload,
                                         (ngx_str_t *) data,
                                         sizeof("jwt_claim_") - 1);
}


static ngx_int_t
ngx_http_tenant_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    if (ctx == NULL || ctx->header == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_tenant_json_variable(r, v, ctx->header,
                                         (ngx_str_t *) data,
                                         sizeof("jwt_header_") - 1);
}


static ngx_int_t
ngx_http_tenant_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, json_t *object, ngx_str_t *name,
    size_t prefix)
{
    json_t     *value;
    ngx_int_t   rc;
    ngx_str_t   text;

    value = ngx_http_tenant_claim_find_name(object, name->data + prefix,
                                            name->len - prefix);
    if (value == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    rc = ngx_http_tenant_claim_text(value, r->pool, &text);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = text.len;
    v->data = text.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *status;
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    status = &ngx_http_tenant_limit_statuses[ctx ? ctx->limit_status : 0];

    v->len = status->len;
    v->data = status->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* "active" or "suspended", as the tenant registry in Redis says */

static ngx_int_t
ngx_http_tenant_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_variable_ctx(r);

    if (ctx == NULL || ctx->limit_state != NGX_HTTP_TENANT_LIMIT_DONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->limit.status.len;
    v->data = ctx->limit.status.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_limit_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t                        n;
    ngx_http_tenant_ctx_t           *ctx;
    ngx_http_tenant_limit_result_t  *res;

    ctx = ngx_http_tenant_variable_ctx(r);

    if (ctx == NULL || ctx->limit_state != NGX_HTTP_TENANT_LIMIT_DONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    res = &ctx->limit;

    switch (data) {

    case NGX_HTTP_TENANT_RATE_REMAINING:
        n = res->rate_remaining;
        break;

    case NGX_HTTP_TENANT_QUOTA_USED:
        n = res->quota_used;
        break;

    default: /* NGX_HTTP_TENANT_QUOTA_REMAINING */
        n = (res->quota_limit < 0) ? -1
            : ngx_max(res->quota_limit - res->quota_used, 0);
        break;
    }

    if (n < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(v->data, "%i", n) - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
