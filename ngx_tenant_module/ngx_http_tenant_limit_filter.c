
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"


static ngx_int_t ngx_http_tenant_limit_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_tenant_add_number(ngx_http_request_t *r,
    const char *name, ngx_int_t value);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_tenant_limit_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tenant_limit_header_filter;

    return NGX_OK;
}


/*
 * Every response of a limited location, admitted or not, tells the client
 * where it stands; a refusal for rate or quota says when to come back.
 */

static ngx_int_t
ngx_http_tenant_limit_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                        remaining;
    ngx_http_tenant_ctx_t           *ctx, *found;
    ngx_http_tenant_lockout_t       *lockout;
    ngx_http_tenant_loc_conf_t      *tlcf;
    ngx_http_tenant_limit_result_t  *res;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED) {
        /* an error_page may have moved the 401 to another location */
        found = ctx ? ctx : ngx_http_tenant_find_ctx(r);
        lockout = tlcf->lockout ? tlcf->lockout
                                : (found ? found->lockout : NULL);

        /* counting a failure never delays the response: no reply awaited */
        if (lockout) {
            ngx_http_tenant_lockout_count(r, lockout,
                                          (found && found->lockout == lockout)
                                          ? &found->lockout_key : NULL);
        }
    }

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if ((ctx->reason == NGX_HTTP_TENANT_RATE_LIMITED
         || ctx->reason == NGX_HTTP_TENANT_QUOTA_EXCEEDED
         || ctx->reason == NGX_HTTP_TENANT_LOCKED_OUT)
        && ngx_http_tenant_add_number(r, "Retry-After",
                                      ngx_max(ctx->retry_after, 1))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->limit_state != NGX_HTTP_TENANT_LIMIT_DONE) {
        return ngx_http_next_header_filter(r);
    }

    res = &ctx->limit;

    if (!ctx->limited || !tlcf->limit_headers) {
        return ngx_http_next_header_filter(r);
    }

    if (res->rate_limit >= 0
        && (ngx_http_tenant_add_number(r, "RateLimit-Limit", res->rate_limit)
            != NGX_OK
            || ngx_http_tenant_add_number(r, "RateLimit-Remaining",
                                          ngx_max(res->rate_remaining, 0))
               != NGX_OK
            || ngx_http_tenant_add_number(r, "RateLimit-Reset",
                                          ngx_max(res->rate_reset, 0))
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (res->quota_limit >= 0) {
        remaining = ngx_max(res->quota_limit - res->quota_used, 0);

        if (ngx_http_tenant_add_number(r, "X-Quota-Limit", res->quota_limit)
            != NGX_OK
            || ngx_http_tenant_add_number(r, "X-Quota-Remaining", remaining)
               != NGX_OK
            || ngx_http_tenant_add_number(r, "X-Quota-Reset",
                                          ngx_max(res->quota_reset, 0))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_tenant_add_number(ngx_http_request_t *r, const char *name,
    ngx_int_t value)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->lowcase_key = NULL;
    p = h->value.data;

    if (value < 0) {
        *p++ = '-';
    }

    h->value.len = ngx_http_tenant_decimal(p, (value < 0)
                                              ? (uint64_t) 0 - (uint64_t) value
                                              : (uint64_t) value)
                   - h->value.data;

    return NGX_OK;
}
