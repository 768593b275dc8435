
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_limit_filter.h"
#include "ngx_http_tenant_ctx.h"
#include "ngx_http_tenant_keyed.h"


static ngx_int_t ngx_http_tenant_limit_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_tenant_limit_headers(ngx_http_request_t *r,
    ngx_http_tenant_limit_result_t *res);
static ngx_int_t ngx_http_tenant_add_number(ngx_http_request_t *r,
    ngx_uint_t name, ngx_int_t value, u_char **buf);
static u_char *ngx_http_tenant_put_number(u_char *p, ngx_int_t value);


#define NGX_HTTP_TENANT_RETRY_AFTER          0
#define NGX_HTTP_TENANT_RATELIMIT_LIMIT      1
#define NGX_HTTP_TENANT_RATELIMIT_REMAINING  2
#define NGX_HTTP_TENANT_RATELIMIT_RESET      3
#define NGX_HTTP_TENANT_QUOTA_LIMIT          4
#define NGX_HTTP_TENANT_QUOTA_REMAINING      5
#define NGX_HTTP_TENANT_QUOTA_RESET          6


static ngx_str_t  ngx_http_tenant_limit_header_names[] = {
    ngx_string("Retry-After"),
    ngx_string("RateLimit-Limit"),
    ngx_string("RateLimit-Remaining"),
    ngx_string("RateLimit-Reset"),
    ngx_string("X-Quota-Limit"),
    ngx_string("X-Quota-Remaining"),
    ngx_string("X-Quota-Reset")
};


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
    u_char                          *buf;
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
        found = ctx ? ctx : ngx_http_tenant_ctx_find(r);
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

    if (ctx->reason == NGX_HTTP_TENANT_RATE_LIMITED
        || ctx->reason == NGX_HTTP_TENANT_QUOTA_EXCEEDED
        || ctx->reason == NGX_HTTP_TENANT_LOCKED_OUT)
    {
        buf = NULL;

        if (ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_RETRY_AFTER,
                                       ngx_max(ctx->retry_after, 1), &buf)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->limit_state != NGX_HTTP_TENANT_LIMIT_DONE) {
        return ngx_http_next_header_filter(r);
    }

    res = &ctx->limit;

    if (!ctx->limited || !tlcf->limit_headers) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_tenant_limit_headers(r, res) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* RateLimit-* for the rate, X-Quota-* for the quota: six values, one buffer */

static ngx_int_t
ngx_http_tenant_limit_headers(ngx_http_request_t *r,
    ngx_http_tenant_limit_result_t *res)
{
    u_char  *buf;

    buf = ngx_pnalloc(r->pool, 6 * NGX_INT_T_LEN);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (res->rate_limit >= 0
        && (ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_RATELIMIT_LIMIT,
                                       res->rate_limit, &buf)
            != NGX_OK
            || ngx_http_tenant_add_number(r,
                                          NGX_HTTP_TENANT_RATELIMIT_REMAINING,
                                          ngx_max(res->rate_remaining, 0),
                                          &buf)
               != NGX_OK
            || ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_RATELIMIT_RESET,
                                          ngx_max(res->rate_reset, 0), &buf)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (res->quota_limit >= 0
        && (ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_QUOTA_LIMIT,
                                       res->quota_limit, &buf)
            != NGX_OK
            || ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_QUOTA_REMAINING,
                                          ngx_max(res->quota_limit
                                                  - res->quota_used, 0),
                                          &buf)
               != NGX_OK
            || ngx_http_tenant_add_number(r, NGX_HTTP_TENANT_QUOTA_RESET,
                                          ngx_max(res->quota_reset, 0), &buf)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The header "name: value"; the value goes at *buf, which moves past it
 * (NULL: a buffer of its own).
 */

static ngx_int_t
ngx_http_tenant_add_number(ngx_http_request_t *r, ngx_uint_t name,
    ngx_int_t value, u_char **buf)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (*buf == NULL) {
        *buf = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (*buf == NULL) {
            return NGX_ERROR;
        }
    }

    h->hash = 1;
    h->key = ngx_http_tenant_limit_header_names[name];
    h->lowcase_key = NULL;
    h->value.data = *buf;

    *buf = ngx_http_tenant_put_number(h->value.data, value);

    h->value.len = *buf - h->value.data;

    return NGX_OK;
}


/*
 * The decimal digits of a value that is never negative here: on every
 * response of a limited location, where ngx_sprintf()'s generality is
 * most of the cost of the six headers.
 */

static u_char *
ngx_http_tenant_put_number(u_char *p, ngx_int_t value)
{
    u_char      digits[NGX_INT_T_LEN], *d;
    ngx_uint_t  v;

    if (value < 0) {
        return ngx_sprintf(p, "%i", value);
    }

    v = (ngx_uint_t) value;
    d = digits + NGX_INT_T_LEN;

    do {
        *--d = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return ngx_cpymem(p, d, digits + NGX_INT_T_LEN - d);
}
