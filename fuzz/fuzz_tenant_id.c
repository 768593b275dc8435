
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * fuzz_tenant_id: the input is a tenant ID candidate, as a token's tenant
 * claim or tenant_select's value would carry it.  The validation is held
 * against its rule (1 to 64 of A-Z a-z 0-9 . _ -, not "." or ".."), and
 * the identity code must admit it, as the tenant claim, as a dotted one,
 * or as the selected organization, exactly when the rule does.
 */


#include "fuzz.h"
#include <jansson.h>

#include "ngx_http_tenant_claims.h"


static ngx_http_tenant_claim_names_t  fuzz_names;
static ngx_http_tenant_claim_names_t  fuzz_dotted;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_pool_t        *pool;
    static ngx_str_t   names[] = {
        ngx_string("org_id"), ngx_string("sub"), ngx_string("role"),
        ngx_string("plan"), ngx_string("permissions"), ngx_string("orgs"),
        ngx_string("urn:example:claims.org.id")
    };

    fuzz_init();

    pool = fuzz_pool_forever();

    fuzz_names.tenant = ngx_http_tenant_claim_compile(pool, &names[0]);
    fuzz_names.user = ngx_http_tenant_claim_compile(pool, &names[1]);
    fuzz_names.role = ngx_http_tenant_claim_compile(pool, &names[2]);
    fuzz_names.plan = ngx_http_tenant_claim_compile(pool, &names[3]);
    fuzz_names.permissions = ngx_http_tenant_claim_compile(pool, &names[4]);
    fuzz_names.orgs = ngx_http_tenant_claim_compile(pool, &names[5]);

    fuzz_dotted = fuzz_names;
    fuzz_dotted.tenant = ngx_http_tenant_claim_compile(pool, &names[6]);

    return 0;
}


static ngx_flag_t
fuzz_printable(const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_extract(json_t *payload, ngx_http_tenant_claim_names_t *names,
    const uint8_t *data, size_t size, ngx_flag_t valid, ngx_pool_t *pool)
{
    const char                     *err;
    ngx_http_tenant_identity_t      id;
    ngx_http_tenant_identity_rc_e   rc;

    err = NULL;
    rc = ngx_http_tenant_identity_extract(payload, names, NULL, pool, &id,
                                          &err);

    if (!valid) {
        fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_BAD_TENANT);
        fuzz_assert(err != NULL);
        return;
    }

    fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_OK);
    fuzz_assert(id.tenant_id.len == size
                && ngx_memcmp(id.tenant_id.data, data, size) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                           *text;
    json_t                         *payload, *id, *orgs, *member;
    int64_t                         n;
    ngx_str_t                       org;
    ngx_flag_t                      valid;
    ngx_pool_t                     *pool;
    const char                     *err;
    ngx_http_tenant_identity_t      ident;
    ngx_http_tenant_identity_rc_e   rc;

    valid = fuzz_tenant_id_ok(data, size);

    fuzz_assert((ngx_http_tenant_id_valid(data, size) == NGX_OK) == valid);

    /* C0 and DEL are always controls, printable ASCII never */
    if (fuzz_has_c0(data, size)) {
        fuzz_assert(ngx_http_tenant_has_control(data, size));
        fuzz_assert(ngx_http_tenant_header_safe(data, size) == NGX_ERROR);
    }

    if (fuzz_printable(data, size)) {
        fuzz_assert(!ngx_http_tenant_has_control(data, size));
        fuzz_assert(ngx_http_tenant_header_safe(data, size)
                    == (size <= NGX_HTTP_TENANT_HEADER_VALUE_MAX
                        ? NGX_OK : NGX_ERROR));
    }

    /* a valid ID is always fit for a header */
    if (valid) {
        fuzz_assert(ngx_http_tenant_header_safe(data, size) == NGX_OK);
    }

    pool = fuzz_pool();

    /* as the tenant claim, plain and at the end of a dotted path */
    id = json_stringn_nocheck((const char *) data, size);
    fuzz_assert(id != NULL);

    payload = json_object();
    json_object_set(payload, "org_id", id);
    json_object_set_new(payload, "urn:example:claims",
                        json_pack("{s:{s:O}}", "org", "id", id));

    fuzz_extract(payload, &fuzz_names, data, size, valid, pool);
    fuzz_extract(payload, &fuzz_dotted, data, size, valid, pool);

    json_decref(payload);

    /* as the organization selected, listed as an ID and as an object */
    orgs = json_array();
    member = json_pack("{s:O,s:s}", "id", id, "role", "viewer");
    json_array_append_new(orgs, json_string("other"));
    json_array_append_new(orgs, (size & 1) ? json_incref(id) : member);

    if (size & 1) {
        json_decref(member);
    }

    payload = json_pack("{s:s,s:o}", "org_id", "home", "orgs", orgs);
    fuzz_assert(payload != NULL);

    org.data = (u_char *) data;
    org.len = size;
    err = NULL;

    rc = ngx_http_tenant_identity_select(payload, &fuzz_names, NULL, &org,
                                         pool, &ident, &err);

    if (!valid) {
        fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_BAD_TENANT);

    } else {
        fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_OK);
        fuzz_assert(ident.tenant_id.len == size
                    && ngx_memcmp(ident.tenant_id.data, data, size) == 0);
        fuzz_assert(ident.role.len == ((size & 1) ? 0 : 6));

        if (size == 4 && ngx_memcmp(data, "home", 4) == 0) {
            fuzz_assert(ident.home.len == 0);

        } else {
            fuzz_assert(ident.home.len == 4
                        && ngx_memcmp(ident.home.data, "home", 4) == 0);
        }
    }

    json_decref(payload);
    json_decref(id);

    /* an integer tenant claim is its decimal text, always a valid ID */
    if (size >= 1 && size <= 8) {
        n = 0;
        ngx_memcpy(&n, data, size);

        if (size == 8 || data[0] & 1) {
            n = (int64_t) (0 - (uint64_t) n);  /* INT64_MIN among them */
        }

        payload = json_pack("{s:I}", "org_id", (json_int_t) n);
        fuzz_assert(payload != NULL);

        text = malloc(32);
        fuzz_assert(text != NULL);
        snprintf(text, 32, "%lld", (long long) n);

        fuzz_extract(payload, &fuzz_names, (u_char *) text, strlen(text), 1,
                     pool);

        free(text);
        json_decref(payload);
    }

    ngx_destroy_pool(pool);

    return 0;
}
