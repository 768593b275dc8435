
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_memo.h"


/*
 * The identity of a cached token, kept beside it: extracting it again
 * (claim lookups, tenant ID validation, the permissions join) was most
 * of what a repeated token still cost.  The identity is a function of
 * the claims, of the claim names and of tenant_roles (one per cache: a
 * reload starts empty caches), so it is recalled when the names are the
 * same ones; a location that reads other claims extracts its own, and
 * its identity replaces the one kept.
 *
 * One allocation: the claim names it was extracted with, the lengths,
 * then the strings.  A request never points into it: the cache may drop
 * the entry while the request still runs, so the strings are copied into
 * the request's pool.
 */

#define NGX_HTTP_TENANT_MEMO_FIELDS  6


typedef struct {
    ngx_http_tenant_claim_names_t  names;
    size_t                         len[NGX_HTTP_TENANT_MEMO_FIELDS];
} ngx_http_tenant_memo_t;


static void ngx_http_tenant_memo_fields(ngx_http_tenant_identity_t *id,
    ngx_str_t **fields);


u_char *
ngx_http_tenant_memo_create(ngx_http_tenant_claim_names_t *names,
    ngx_http_tenant_identity_t *id, ngx_log_t *log)
{
    u_char                  *p;
    size_t                   size;
    ngx_str_t               *field[NGX_HTTP_TENANT_MEMO_FIELDS];
    ngx_uint_t               i;
    ngx_http_tenant_memo_t  *memo;

    ngx_http_tenant_memo_fields(id, field);

    size = sizeof(ngx_http_tenant_memo_t);

    for (i = 0; i < NGX_HTTP_TENANT_MEMO_FIELDS; i++) {
        size += field[i]->len;
    }

    memo = ngx_alloc(size, log);
    if (memo == NULL) {
        return NULL;
    }

    memo->names = *names;
    p = (u_char *) (memo + 1);

    for (i = 0; i < NGX_HTTP_TENANT_MEMO_FIELDS; i++) {
        memo->len[i] = field[i]->len;

        if (field[i]->len) {
            p = ngx_cpymem(p, field[i]->data, field[i]->len);
        }
    }

    return (u_char *) memo;
}


/* NGX_OK: id holds the identity kept, copied; NGX_DECLINED: extract it */

ngx_int_t
ngx_http_tenant_memo_recall(u_char *data,
    ngx_http_tenant_claim_names_t *names, ngx_pool_t *pool,
    ngx_http_tenant_identity_t *id)
{
    u_char                  *p, *copy;
    size_t                   size;
    ngx_str_t               *field[NGX_HTTP_TENANT_MEMO_FIELDS];
    ngx_uint_t               i;
    ngx_http_tenant_memo_t  *memo;

    memo = (ngx_http_tenant_memo_t *) data;

    if (memo == NULL
        || ngx_memcmp(&memo->names, names,
                      sizeof(ngx_http_tenant_claim_names_t))
           != 0)
    {
        return NGX_DECLINED;
    }

    size = 0;

    for (i = 0; i < NGX_HTTP_TENANT_MEMO_FIELDS; i++) {
        size += memo->len[i];
    }

    copy = ngx_pnalloc(pool, size);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    if (size) {
        ngx_memcpy(copy, memo + 1, size);
    }

    ngx_memzero(id, sizeof(ngx_http_tenant_identity_t));
    ngx_http_tenant_memo_fields(id, field);

    p = copy;

    for (i = 0; i < NGX_HTTP_TENANT_MEMO_FIELDS; i++) {
        field[i]->len = memo->len[i];
        field[i]->data = memo->len[i] ? p : NULL;
        p += memo->len[i];
    }

    return NGX_OK;
}


static void
ngx_http_tenant_memo_fields(ngx_http_tenant_identity_t *id,
    ngx_str_t **fields)
{
    fields[0] = &id->tenant_id;
    fields[1] = &id->user;
    fields[2] = &id->role;
    fields[3] = &id->plan;
    fields[4] = &id->permissions;
    fields[5] = &id->held;
}
