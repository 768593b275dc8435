
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * fuzz_claims: identity extraction on arbitrary JSON.  The input is a few
 * optional lines naming the claims, as the tenant_*_claim directives would
 * (t=tenant u=user r=role p=plan P=permissions o=orgs, and s= the
 * organization tenant_select picks), then a JSON object parsed as a token
 * payload is.  Each result of the module's code is held against a plain
 * re-statement of the rule it follows.  The roles "viewer editor admin"
 * are declared, as tenant_roles would, so a role may be an array.  A name
 * in brackets (["a.b"].c) is checked by writing its parts in brackets
 * again: the same parts, and the same claim found.
 */


#include "fuzz.h"
#include <jansson.h>

#include "ngx_http_tenant_claims.h"


#define FUZZ_NAMES  6


typedef struct {
    ngx_http_tenant_claim_t  *claim;
    json_t                   *value;
} fuzz_claim_t;


static json_t *fuzz_find(json_t *object, ngx_str_t *name);
static void fuzz_compile_check(ngx_http_tenant_claim_t *claim,
    ngx_str_t *name);
static void fuzz_text_check(json_t *value, ngx_pool_t *pool);
static ngx_int_t fuzz_value(json_t *v, u_char *buf, ngx_str_t *text);
static ngx_flag_t fuzz_safe(ngx_str_t *text);
static ngx_int_t fuzz_join(json_t *v, u_char *buf, ngx_str_t *joined);
static ngx_flag_t fuzz_name_ok(ngx_str_t *name);
static ngx_flag_t fuzz_role_ok(json_t *v, u_char *buf, ngx_str_t *text);
static void fuzz_brackets_check(ngx_str_t *name, json_t *payload,
    ngx_pool_t *pool);
static void fuzz_extract_check(json_t *payload, fuzz_claim_t *c,
    ngx_pool_t *pool);
static void fuzz_select_check(json_t *payload, fuzz_claim_t *c,
    ngx_str_t *org, ngx_pool_t *pool);


static ngx_str_t  fuzz_defaults[FUZZ_NAMES] = {
    ngx_string("org_id"), ngx_string("sub"), ngx_string("role"),
    ngx_string("plan"), ngx_string("permissions"), ngx_string("orgs")
};

static const char  fuzz_keys[] = "turpPo";

static ngx_str_t    fuzz_role_names[] = {
    ngx_string("viewer"), ngx_string("editor"), ngx_string("admin")
};

static ngx_array_t  fuzz_roles = {
    fuzz_role_names, 3, sizeof(ngx_str_t), 3, NULL
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *k;
    u_char       *p, *end, *eol;
    json_t       *payload, *orgs, *first;
    ngx_str_t     names[FUZZ_NAMES], org;
    ngx_uint_t    i;
    ngx_pool_t   *pool;
    fuzz_claim_t  c[FUZZ_NAMES];

    p = (u_char *) data;
    end = p + size;

    for (i = 0; i < FUZZ_NAMES; i++) {
        names[i] = fuzz_defaults[i];
    }

    org.data = NULL;
    org.len = 0;

    /* "t=org.id\n" lines, up to the JSON */
    while (p + 1 < end && p[1] == '=') {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            return 0;
        }

        k = strchr(fuzz_keys, p[0]);

        if (k != NULL && p[0] != '\0') {
            names[k - fuzz_keys].data = p + 2;
            names[k - fuzz_keys].len = eol - p - 2;

        } else if (p[0] == 's') {
            org.data = p + 2;
            org.len = eol - p - 2;
        }

        p = eol + 1;
    }

    /* the token's payload flags (ngx_http_tenant_jwt.c) */
    payload = json_loadb((char *) p, end - p,
                         JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);

    if (!json_is_object(payload)) {
        json_decref(payload);
        return 0;
    }

    pool = fuzz_pool();

    for (i = 0; i < FUZZ_NAMES; i++) {
        if (names[i].len && names[i].len < 256
            && ngx_strnstr(names[i].data, "[\"", names[i].len))
        {
            fuzz_brackets_check(&names[i], payload, pool);
        }

        if (!fuzz_name_ok(&names[i])) {
            names[i] = fuzz_defaults[i];
        }

        c[i].claim = ngx_http_tenant_claim_compile(pool, &names[i]);
        fuzz_assert(c[i].claim != NULL);
        fuzz_compile_check(c[i].claim, &names[i]);

        c[i].value = ngx_http_tenant_claim_find(payload, c[i].claim);
        fuzz_assert(c[i].value == fuzz_find(payload, &names[i]));

        /* $jwt_claim_NAME looks the whole name up, never a path */
        fuzz_assert(ngx_http_tenant_claim_find_name(payload, names[i].data,
                                                    names[i].len)
                    == (names[i].len < 256
                        ? json_object_get(payload,
                                          (char *) c[i].claim->name.data)
                        : NULL));

        if (c[i].value) {
            fuzz_text_check(c[i].value, pool);
        }
    }

    fuzz_extract_check(payload, c, pool);

    if (org.data == NULL) {
        /* by default pick the first listed organization: a member */
        orgs = c[5].value;
        first = json_is_array(orgs) ? json_array_get(orgs, 0) : NULL;

        if (json_is_object(first)) {
            first = json_object_get(first, "id");
        }

        if (json_is_string(first)) {
            org.data = (u_char *) json_string_value(first);
            org.len = json_string_length(first);
        }
    }

    if (org.data) {
        fuzz_select_check(payload, c, &org, pool);
    }

    ngx_destroy_pool(pool);
    json_decref(payload);

    return 0;
}


/* what the configuration accepts (ngx_http_tenant_claim in module.c) */

static ngx_flag_t
fuzz_name_ok(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0 || name->len > 255
        || name->data[0] == '.' || name->data[name->len - 1] == '.'
        || ngx_strnstr(name->data, "[\"", name->len) != NULL)
    {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] == '\0'
            || (name->data[i] == '.' && name->data[i + 1] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_compile_check(ngx_http_tenant_claim_t *claim, ngx_str_t *name)
{
    size_t      len, dots;
    ngx_uint_t  i;
    u_char      buf[512];

    fuzz_assert(claim->name.len == name->len
                && ngx_memcmp(claim->name.data, name->data, name->len) == 0
                && claim->name.data[name->len] == '\0');

    dots = 0;

    for (i = 0; i < name->len; i++) {
        dots += (name->data[i] == '.');
    }

    if (dots == 0) {
        fuzz_assert(claim->nparts == 0);
        return;
    }

    fuzz_assert(claim->nparts == dots + 1);

    /* the parts, joined by dots again, are the name */
    len = 0;

    for (i = 0; i < claim->nparts; i++) {
        fuzz_assert(claim->parts[i][0] != '\0');
        len += ngx_sprintf(buf + len, "%s%s", i ? "." : "", claim->parts[i])
               - (buf + len);
    }

    fuzz_assert(len == name->len && ngx_memcmp(buf, name->data, len) == 0);
}


/* the whole name first, then the dotted path, split here by hand */

static json_t *
fuzz_find(json_t *object, ngx_str_t *name)
{
    char    part[256];
    u_char *p, *dot, *end;
    json_t *v;

    ngx_memcpy(part, name->data, name->len);
    part[name->len] = '\0';

    v = json_object_get(object, part);

    if (v != NULL || memchr(name->data, '.', name->len) == NULL) {
        return v;
    }

    v = object;
    p = name->data;
    end = p + name->len;

    while (p < end) {
        dot = memchr(p, '.', end - p);
        if (dot == NULL) {
            dot = end;
        }

        if (!json_is_object(v)) {
            return NULL;
        }

        ngx_memcpy(part, p, dot - p);
        part[dot - p] = '\0';

        v = json_object_get(v, part);
        p = dot + 1;
    }

    return v;
}


static void
fuzz_text_check(json_t *value, ngx_pool_t *pool)
{
    char       *dump;
    json_t     *back;
    ngx_int_t   rc;
    ngx_str_t   text;

    rc = ngx_http_tenant_claim_text(value, pool, &text);

    if (json_is_null(value)) {
        fuzz_assert(rc == NGX_DECLINED);
        return;
    }

    if (json_is_string(value)) {
        /* a C0 control, CR and LF among them, never reaches a variable */
        if (fuzz_has_c0((u_char *) json_string_value(value),
                        json_string_length(value)))
        {
            fuzz_assert(rc == NGX_DECLINED);
        }

        fuzz_assert(rc == (ngx_http_tenant_has_control(
                               (u_char *) json_string_value(value),
                               json_string_length(value))
                           ? NGX_DECLINED : NGX_OK));

        if (rc == NGX_OK) {
            fuzz_assert(text.len == json_string_length(value)
                        && ngx_memcmp(text.data, json_string_value(value),
                                      text.len) == 0);
        }

        return;
    }

    /*
     * anything else is its compact JSON, which reads back the same, unless
     * a string inside holds what JSON leaves raw and a header must not
     * carry: DEL, or what the module counts as a control beyond C0
     */
    if (rc == NGX_DECLINED) {
        dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        fuzz_assert(dump != NULL);
        fuzz_assert(ngx_http_tenant_has_control((u_char *) dump,
                                                strlen(dump)));
        free(dump);
        return;
    }

    fuzz_assert(rc == NGX_OK);
    fuzz_assert(!fuzz_has_c0(text.data, text.len));
    fuzz_assert(!ngx_http_tenant_has_control(text.data, text.len));

    back = json_loadb((char *) text.data, text.len,
                      JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    fuzz_assert(back != NULL);
    fuzz_assert(json_equal(back, value));
    json_decref(back);
}


/* a claim's text as a header would carry it: NGX_DECLINED when absent */

static ngx_int_t
fuzz_value(json_t *v, u_char *buf, ngx_str_t *text)
{
    text->len = 0;
    text->data = buf;

    if (v == NULL || json_is_null(v)) {
        return NGX_DECLINED;
    }

    if (json_is_string(v)) {
        text->data = (u_char *) json_string_value(v);
        text->len = json_string_length(v);
        return NGX_OK;
    }

    if (json_is_integer(v)) {
        text->len = snprintf((char *) buf, 32, "%lld",
                             (long long) json_integer_value(v));
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * What may travel in a header.  What counts as a control beyond C0 and
 * DEL is the module's to say; that C0 and DEL always do is checked here.
 */

static ngx_flag_t
fuzz_safe(ngx_str_t *text)
{
    if (fuzz_has_c0(text->data, text->len)) {
        fuzz_assert(ngx_http_tenant_has_control(text->data, text->len));
    }

    fuzz_assert(ngx_http_tenant_header_safe(text->data, text->len)
                == ((text->len <= NGX_HTTP_TENANT_HEADER_VALUE_MAX
                     && !ngx_http_tenant_has_control(text->data, text->len))
                    ? NGX_OK : NGX_ERROR));

    return text->len <= NGX_HTTP_TENANT_HEADER_VALUE_MAX
           && !ngx_http_tenant_has_control(text->data, text->len);
}


static ngx_int_t
fuzz_join_one(const u_char *p, size_t len, ngx_str_t *joined)
{
    ngx_str_t  name;

    name.data = (u_char *) p;
    name.len = len;

    if (len == 0 || memchr(p, ',', len) != NULL || !fuzz_safe(&name)) {
        return NGX_ERROR;
    }

    if (joined->len + (joined->len ? 1 : 0) + len
        > NGX_HTTP_TENANT_HEADER_VALUE_MAX)
    {
        return NGX_ERROR;
    }

    if (joined->len) {
        joined->data[joined->len++] = ',';
    }

    ngx_memcpy(joined->data + joined->len, p, len);
    joined->len += len;

    return NGX_OK;
}


/* permissions: an array of names, or a string of space-separated names */

static ngx_int_t
fuzz_join(json_t *v, u_char *buf, ngx_str_t *joined)
{
    size_t         i, j, n;
    json_t        *e;
    const u_char  *s;

    joined->data = buf;
    joined->len = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)
                || fuzz_join_one((u_char *) json_string_value(e),
                                 json_string_length(e), joined)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    s = (u_char *) json_string_value(v);
    n = json_string_length(v);

    for (i = 0; i < n; i = j) {
        for (j = i; j < n && s[j] != ' '; j++) { /* void */ }

        if (j > i && fuzz_join_one(s + i, j - i, joined) != NGX_OK) {
            return NGX_ERROR;
        }

        if (j == i) {
            j++;
        }
    }

    return NGX_OK;
}


/* the tenant claim's text, if it is a valid tenant ID */

static ngx_int_t
fuzz_tenant(json_t *v, u_char *buf, ngx_str_t *text)
{
    ngx_int_t  rc;

    rc = fuzz_value(v, buf, text);

    if (rc != NGX_OK) {
        return rc;
    }

    return fuzz_tenant_id_ok(text->data, text->len) ? NGX_OK : NGX_ERROR;
}


static ngx_flag_t
fuzz_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


/* user, role, plan: absent is "", otherwise a safe string or integer */

static ngx_flag_t
fuzz_field_ok(json_t *v, u_char *buf, ngx_str_t *text)
{
    ngx_int_t  rc;

    rc = fuzz_value(v, buf, text);

    if (rc == NGX_DECLINED) {
        text->len = 0;
        return 1;
    }

    return rc == NGX_OK && fuzz_safe(text);
}


/* an array: its highest declared role, strings only, 256 at most */

static ngx_flag_t
fuzz_role_ok(json_t *v, u_char *buf, ngx_str_t *text)
{
    size_t      i;
    json_t     *e;
    ngx_int_t   best;
    ngx_uint_t  r;

    if (!json_is_array(v)) {
        return fuzz_field_ok(v, buf, text);
    }

    if (json_array_size(v) > 256) {
        return 0;
    }

    best = -1;

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            return 0;
        }

        for (r = 0; r < 3; r++) {
            if (json_string_length(e) == fuzz_role_names[r].len
                && ngx_memcmp(json_string_value(e), fuzz_role_names[r].data,
                              fuzz_role_names[r].len) == 0
                && (ngx_int_t) r > best)
            {
                best = r;
            }
        }
    }

    if (best < 0) {
        text->len = 0;

    } else {
        *text = fuzz_role_names[best];
    }

    return 1;
}


/*
 * A name with brackets: refused, or compiled to exact parts that, each
 * written in brackets again, compile to the same parts and find the same
 * claim, by a walk restated here.
 */

static void
fuzz_brackets_check(ngx_str_t *name, json_t *payload, ngx_pool_t *pool)
{
    u_char                   *p, *s, buf[2048];
    json_t                   *v;
    ngx_str_t                 again;
    ngx_uint_t                i;
    ngx_http_tenant_claim_t  *claim, *claim2;

    if (ngx_http_tenant_claim_valid(name) != NULL) {
        return;
    }

    claim = ngx_http_tenant_claim_compile(pool, name);
    fuzz_assert(claim != NULL && claim->exact && claim->nparts > 0);

    p = buf;

    for (i = 0; i < claim->nparts; i++) {
        fuzz_assert(claim->parts[i][0] != '\0');

        *p++ = '[';
        *p++ = '"';

        for (s = (u_char *) claim->parts[i]; *s; s++) {
            if (*s == '"' || *s == '\\') {
                *p++ = '\\';
            }

            *p++ = *s;
        }

        *p++ = '"';
        *p++ = ']';
    }

    again.data = buf;
    again.len = p - buf;

    if (again.len > 255) {
        return;
    }

    fuzz_assert(ngx_http_tenant_claim_valid(&again) == NULL);

    claim2 = ngx_http_tenant_claim_compile(pool, &again);
    fuzz_assert(claim2 != NULL && claim2->nparts == claim->nparts);

    v = payload;

    for (i = 0; i < claim->nparts; i++) {
        fuzz_assert(ngx_strcmp(claim->parts[i], claim2->parts[i]) == 0);

        v = json_is_object(v) ? json_object_get(v, claim->parts[i]) : NULL;
    }

    fuzz_assert(ngx_http_tenant_claim_find(payload, claim) == v);
    fuzz_assert(ngx_http_tenant_claim_find(payload, claim2) == v);
}


static void
fuzz_extract_check(json_t *payload, fuzz_claim_t *c, ngx_pool_t *pool)
{
    u_char                          ibuf[4][32], pbuf[512];
    ngx_int_t                       trc, prc;
    ngx_str_t                       tenant, field[3], perms;
    ngx_uint_t                      i;
    const char                     *err;
    ngx_http_tenant_identity_t      id;
    ngx_http_tenant_identity_rc_e   rc, expect;
    ngx_http_tenant_claim_names_t   names;

    names.tenant = c[0].claim;
    names.user = c[1].claim;
    names.role = c[2].claim;
    names.plan = c[3].claim;
    names.permissions = c[4].claim;
    names.orgs = c[5].claim;

    err = NULL;
    rc = ngx_http_tenant_identity_extract(payload, &names, &fuzz_roles,
                                          pool, &id, &err);

    /* the rule, restated: tenant, then user/role/plan, then permissions */
    trc = fuzz_tenant(c[0].value, ibuf[0], &tenant);
    prc = NGX_OK;
    perms.len = 0;

    if (trc == NGX_DECLINED) {
        expect = NGX_HTTP_TENANT_IDENTITY_NO_TENANT;

    } else if (trc != NGX_OK) {
        expect = NGX_HTTP_TENANT_IDENTITY_BAD_TENANT;

    } else {
        expect = NGX_HTTP_TENANT_IDENTITY_OK;

        for (i = 0; i < 3; i++) {
            if (!(i == 1 ? fuzz_role_ok : fuzz_field_ok)(c[i + 1].value,
                                                         ibuf[i + 1],
                                                         &field[i]))
            {
                expect = NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
            }
        }

        if (c[4].value && !json_is_null(c[4].value)) {
            prc = fuzz_join(c[4].value, pbuf, &perms);
        }

        if (prc != NGX_OK) {
            expect = NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
        }
    }

    fuzz_assert(rc == expect);

    if (rc != NGX_HTTP_TENANT_IDENTITY_OK) {
        fuzz_assert(err != NULL);
        return;
    }

    fuzz_assert(fuzz_same(&id.tenant_id, &tenant));
    fuzz_assert(fuzz_same(&id.user, &field[0]));
    fuzz_assert(fuzz_same(&id.role, &field[1]));
    fuzz_assert(fuzz_same(&id.plan, &field[2]));
    fuzz_assert(fuzz_same(&id.permissions, &perms));
}


static void
fuzz_select_check(json_t *payload, fuzz_claim_t *c, ngx_str_t *org,
    ngx_pool_t *pool)
{
    u_char                          ibuf[2][32], pbuf[512];
    size_t                          i;
    json_t                         *member, *mid, *m;
    ngx_str_t                       home, user, role, plan, perms;
    ngx_flag_t                      ok;
    const char                     *err;
    ngx_http_tenant_identity_t      id;
    ngx_http_tenant_identity_rc_e   rc;
    ngx_http_tenant_claim_names_t   names;

    names.tenant = c[0].claim;
    names.user = c[1].claim;
    names.role = c[2].claim;
    names.plan = c[3].claim;
    names.permissions = c[4].claim;
    names.orgs = c[5].claim;

    err = NULL;
    rc = ngx_http_tenant_identity_select(payload, &names, &fuzz_roles, org,
                                         pool, &id, &err);

    if (!fuzz_tenant_id_ok(org->data, org->len)) {
        fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_BAD_TENANT);
        return;
    }

    /* the first membership whose ID is the organization */
    member = NULL;

    if (json_is_array(c[5].value)) {
        json_array_foreach(c[5].value, i, m) {
            mid = json_is_object(m) ? json_object_get(m, "id") : m;

            if (json_is_string(mid) && json_string_length(mid) == org->len
                && ngx_memcmp(json_string_value(mid), org->data, org->len)
                   == 0)
            {
                member = m;
                break;
            }
        }
    }

    if (member == NULL) {
        fuzz_assert(rc == NGX_HTTP_TENANT_IDENTITY_NOT_MEMBER);
        fuzz_assert(err != NULL);
        return;
    }

    ok = fuzz_field_ok(c[1].value, ibuf[0], &user);
    role.len = 0;
    plan.len = 0;
    perms.len = 0;

    /* a bare ID carries no role, plan or permissions of its own */
    if (ok && json_is_object(member)) {
        ok = fuzz_role_ok(json_object_get(member, "role"), ibuf[1], &role)
             && fuzz_field_ok(json_object_get(member, "plan"), ibuf[1] + 16,
                              &plan);

        m = json_object_get(member, "permissions");

        if (ok && m && !json_is_null(m)) {
            ok = (fuzz_join(m, pbuf, &perms) == NGX_OK);
        }
    }

    fuzz_assert(rc == (ok ? NGX_HTTP_TENANT_IDENTITY_OK
                          : NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS));

    if (!ok) {
        fuzz_assert(err != NULL);
        return;
    }

    fuzz_assert(fuzz_same(&id.tenant_id, org));
    fuzz_assert(fuzz_same(&id.user, &user));
    fuzz_assert(fuzz_same(&id.role, &role));
    fuzz_assert(fuzz_same(&id.plan, &plan));
    fuzz_assert(fuzz_same(&id.permissions, &perms));

    /* home: the token's own tenant, when valid and not the one selected */
    if (fuzz_tenant(c[0].value, ibuf[0], &home) != NGX_OK
        || fuzz_same(&home, org))
    {
        home.len = 0;
    }

    fuzz_assert(fuzz_same(&id.home, &home));
}
