
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * fuzz_headers: the input is a list of request headers, "Name: value" a
 * line; its first byte sets how many headers each part of the nginx list
 * holds, so that the list has one part or many.  After the strip no
 * header named X-Tenant-* remains, whatever its case and whatever stands
 * for its dashes; every other header is still there, in its order; after
 * the injection the trusted headers follow, exactly.
 */


#include "fuzz.h"
#include <ngx_http.h>

#include "ngx_http_tenant_headers.h"


#define FUZZ_MAX_HEADERS  512


typedef struct {
    ngx_str_t   name;
    size_t      offset;
} fuzz_trusted_t;


static fuzz_trusted_t  fuzz_trusted[] = {
    { ngx_string("X-Tenant-ID"),
      offsetof(ngx_http_tenant_identity_t, tenant_id) },
    { ngx_string("X-Tenant-User"),
      offsetof(ngx_http_tenant_identity_t, user) },
    { ngx_string("X-Tenant-Role"),
      offsetof(ngx_http_tenant_identity_t, role) },
    { ngx_string("X-Tenant-Plan"),
      offsetof(ngx_http_tenant_identity_t, plan) },
    { ngx_string("X-Tenant-Permissions"),
      offsetof(ngx_http_tenant_identity_t, permissions) },
    { ngx_null_string, 0 }
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();

    fuzz_assert(ngx_http_tenant_headers_init() == NGX_OK);

    return 0;
}


/*
 * The rule, restated: the first nine bytes, lowercased, with any byte but
 * a letter or a digit read as "-", spell "x-tenant-".  "_" is how CGI
 * and PHP see "-", "." too for PHP; with ignore_invalid_headers off any
 * byte can get here.
 */

static ngx_flag_t
fuzz_is_tenant(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len < 9) {
        return 0;
    }

    for (i = 0; i < 9; i++) {
        c = name->data[i];

        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            c = '-';
        }

        if (c != "x-tenant-"[i]) {
            return 0;
        }
    }

    return 1;
}


/* as X-Tenant-ID or x_tenant_id would be spelled: always a tenant header */

static ngx_flag_t
fuzz_is_plain_tenant(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len < 9) {
        return 0;
    }

    for (i = 0; i < 9; i++) {
        c = ngx_tolower(name->data[i]);

        if (c == '_') {
            c = '-';
        }

        if (c != "x-tenant-"[i]) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *p, *end, *eol, *colon, *copy;
    ngx_str_t                   *value;
    ngx_uint_t                   i, n, nkept, nalloc, total;
    ngx_list_t                  *list, before;
    ngx_pool_t                  *pool;
    ngx_table_elt_t             *h, *all[FUZZ_MAX_HEADERS];
    ngx_table_elt_t             *kept[FUZZ_MAX_HEADERS];
    ngx_list_part_t             *part, *last;
    ngx_http_request_t          *r;
    ngx_http_tenant_identity_t   id;

    if (size == 0) {
        return 0;
    }

    pool = fuzz_pool();

    /* nginx starts with 20; fewer makes the list grow parts */
    nalloc = data[0] % 24 + 1;

    /*
     * the list lives in the request, as nginx's does: its first part is
     * inside the request and "last" may point at it
     */
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    fuzz_assert(r != NULL);
    r->pool = pool;
    list = &r->headers_in.headers;

    fuzz_assert(ngx_list_init(list, pool, nalloc, sizeof(ngx_table_elt_t))
                == NGX_OK);

    /* the bytes in a pool of their own, not NUL-terminated */
    copy = ngx_pnalloc(pool, size);
    fuzz_assert(copy != NULL);
    ngx_memcpy(copy, data, size);

    p = copy + 1;
    end = copy + size;
    n = 0;

    while (p < end && n < FUZZ_MAX_HEADERS) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        colon = memchr(p, ':', eol - p);

        h = ngx_list_push(list);
        fuzz_assert(h != NULL);
        ngx_memzero(h, sizeof(ngx_table_elt_t));

        h->key.data = p;
        h->key.len = (colon ? colon : eol) - p;
        h->value.data = colon ? colon + 1 : eol;
        h->value.len = eol - h->value.data;

        h->lowcase_key = ngx_pnalloc(pool, h->key.len + 1);
        fuzz_assert(h->lowcase_key != NULL);
        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

        all[n++] = h;
        p = eol + 1;
    }

    /* what must stay, by what it pointed at: copies keep their bytes */
    nkept = 0;

    for (i = 0; i < n; i++) {
        if (fuzz_is_plain_tenant(&all[i]->key)) {
            fuzz_assert(fuzz_is_tenant(&all[i]->key));
        }

        if (!fuzz_is_tenant(&all[i]->key)) {
            kept[nkept++] = all[i];
        }
    }

    before = *list;

    fuzz_assert(ngx_http_tenant_headers_remove(list, pool, fuzz_log)
                == NGX_OK);

    if (nkept == n) {
        /* nothing to remove: the list is untouched */
        fuzz_assert(ngx_memcmp(list, &before, sizeof(ngx_list_t)) == 0);
    }

    /* the list is whole, and holds exactly the headers kept, in order */
    total = 0;
    last = NULL;

    for (part = &list->part; part; part = part->next) {
        fuzz_assert(part->nelts <= list->nalloc);
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            fuzz_assert(total < nkept);
            fuzz_assert(!fuzz_is_tenant(&h[i].key));
            fuzz_assert(h[i].key.data == kept[total]->key.data
                        && h[i].key.len == kept[total]->key.len
                        && h[i].value.data == kept[total]->value.data
                        && h[i].value.len == kept[total]->value.len
                        && h[i].hash == kept[total]->hash);
            total++;
        }

        last = part;
    }

    fuzz_assert(total == nkept);
    fuzz_assert(last == list->last);

    /* then the trusted headers go in: those with a value, after the rest */
    ngx_memzero(&id, sizeof(ngx_http_tenant_identity_t));
    ngx_str_set(&id.tenant_id, "acme");
    ngx_str_set(&id.role, "admin");

    if (data[0] & 0x80) {
        ngx_str_set(&id.user, "user-1");
        ngx_str_set(&id.permissions, "read,write");
    }

    fuzz_assert(ngx_http_tenant_headers_inject(r, &id) == NGX_OK);

    total = 0;
    n = 0;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++, total++) {
            if (total < nkept) {
                fuzz_assert(h[i].key.data == kept[total]->key.data);
                continue;
            }

            /* the next trusted header that has a value */
            while (fuzz_trusted[n].name.len) {
                value = (ngx_str_t *) ((u_char *) &id
                                       + fuzz_trusted[n].offset);
                if (value->len) {
                    break;
                }

                n++;
            }

            fuzz_assert(fuzz_trusted[n].name.len != 0);

            value = (ngx_str_t *) ((u_char *) &id + fuzz_trusted[n].offset);

            fuzz_assert(h[i].key.len == fuzz_trusted[n].name.len
                        && ngx_memcmp(h[i].key.data,
                                      fuzz_trusted[n].name.data,
                                      h[i].key.len) == 0);
            fuzz_assert(ngx_strncasecmp(h[i].lowcase_key, h[i].key.data,
                                        h[i].key.len) == 0);
            fuzz_assert(h[i].hash
                        == ngx_hash_key(h[i].lowcase_key, h[i].key.len));
            fuzz_assert(h[i].value.len == value->len
                        && ngx_memcmp(h[i].value.data, value->data,
                                      value->len) == 0);
            n++;
        }
    }

    fuzz_assert(total == nkept + 2 + ((data[0] & 0x80) ? 2 : 0));

    ngx_destroy_pool(pool);

    return 0;
}
