
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_headers.h"
#include "ngx_http_tenant_claims.h"


#define NGX_HTTP_TENANT_HEADER_PREFIX      "x-tenant-"
#define NGX_HTTP_TENANT_HEADER_PREFIX_LEN  (sizeof("x-tenant-") - 1)


typedef struct {
    ngx_str_t    name;
    ngx_str_t    lowcase;
    ngx_uint_t   hash;
    size_t       offset;   /* in ngx_http_tenant_identity_t */
} ngx_http_tenant_header_t;


static ngx_flag_t ngx_http_tenant_is_tenant_header(ngx_table_elt_t *h);
static ngx_int_t ngx_http_tenant_header_add(ngx_http_request_t *r,
    ngx_http_tenant_header_t *th, ngx_str_t *value);


static ngx_http_tenant_header_t  ngx_http_tenant_headers[] = {

    { ngx_string("X-Tenant-ID"), ngx_string("x-tenant-id"), 0,
      offsetof(ngx_http_tenant_identity_t, tenant_id) },

    { ngx_string("X-Tenant-User"), ngx_string("x-tenant-user"), 0,
      offsetof(ngx_http_tenant_identity_t, user) },

    { ngx_string("X-Tenant-Role"), ngx_string("x-tenant-role"), 0,
      offsetof(ngx_http_tenant_identity_t, role) },

    { ngx_string("X-Tenant-Plan"), ngx_string("x-tenant-plan"), 0,
      offsetof(ngx_http_tenant_identity_t, plan) },

    { ngx_string("X-Tenant-Permissions"), ngx_string("x-tenant-permissions"),
      0, offsetof(ngx_http_tenant_identity_t, permissions) },

    { ngx_null_string, ngx_null_string, 0, 0 }
};


ngx_int_t
ngx_http_tenant_headers_init(void)
{
    ngx_http_tenant_header_t  *th;

    /* proxy_set_header overrides match on this hash: it must be right */
    for (th = ngx_http_tenant_headers; th->name.len; th++) {
        th->hash = ngx_hash_key(th->lowcase.data, th->lowcase.len);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tenant_headers_strip(ngx_http_request_t *r)
{
    return ngx_http_tenant_headers_remove(&r->headers_in.headers, r->pool,
                                          r->connection->log);
}


/*
 * Removes every header named X-Tenant-*, whatever its case, and
 * X_Tenant_* too: CGI-style upstreams read "_" and "-" alike.  With
 * ignore_invalid_headers off, names such as X.Tenant.ID get here as well,
 * and PHP reads "." as "_": any byte other than a letter or a digit counts
 * as "-".  The list is rebuilt rather than edited in place so that no
 * other module's pointer into it ends up on a different header.  No
 * request here: fuzz/ runs it alone.
 */

ngx_int_t
ngx_http_tenant_headers_remove(ngx_list_t *headers, ngx_pool_t *pool,
    ngx_log_t *log)
{
    ngx_uint_t        i, n, found;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    found = 0;
    n = 0;

    for (part = &headers->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            found += ngx_http_tenant_is_tenant_header(&h[i]);
            n++;
        }
    }

    if (found == 0) {
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "tenant: removing %ui client X-Tenant-* headers", found);

    /*
     * the list's first part lives inside the request and its "last" may
     * point at it: walk a copy, build the new list in place
     */
    old = *headers;

    if (ngx_list_init(headers, pool, n - found + 8, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &old.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_tenant_is_tenant_header(&h[i])) {
                continue;
            }

            copy = ngx_list_push(headers);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = h[i];
        }
    }

    return NGX_OK;
}


static ngx_flag_t
ngx_http_tenant_is_tenant_header(ngx_table_elt_t *h)
{
    u_char      c;
    ngx_uint_t  i;

    if (h->key.len < NGX_HTTP_TENANT_HEADER_PREFIX_LEN) {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_TENANT_HEADER_PREFIX_LEN; i++) {
        c = ngx_tolower(h->key.data[i]);

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            c = '-';
        }

        if (c != NGX_HTTP_TENANT_HEADER_PREFIX[i]) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_tenant_headers_inject(ngx_http_request_t *r,
    ngx_http_tenant_identity_t *id)
{
    ngx_str_t                 *value;
    ngx_http_tenant_header_t  *th;

    for (th = ngx_http_tenant_headers; th->name.len; th++) {
        value = (ngx_str_t *) ((u_char *) id + th->offset);

        if (value->len == 0) {
            continue;
        }

        if (ngx_http_tenant_header_add(r, th, value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_header_add(ngx_http_request_t *r,
    ngx_http_tenant_header_t *th, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = th->hash;
    h->key = th->name;
    h->lowcase_key = th->lowcase.data;
    h->value = *value;

    return NGX_OK;
}
