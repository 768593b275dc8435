
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_claims.h"


#define NGX_HTTP_TENANT_CLAIM_NAME_MAX  256
#define NGX_HTTP_TENANT_JTI_MAX         128


static ngx_int_t ngx_http_tenant_identity_value(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_identity_tenant(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_permissions_join(json_t *value,
    ngx_pool_t *pool, ngx_str_t *joined);
static ngx_int_t ngx_http_tenant_permission_add(const u_char *p, size_t len,
    ngx_str_t *joined);


ngx_http_tenant_claim_t *
ngx_http_tenant_claim_compile(ngx_pool_t *pool, ngx_str_t *name)
{
    u_char                   *p, *start, *end;
    ngx_uint_t                n;
    ngx_http_tenant_claim_t  *claim;

    claim = ngx_pcalloc(pool, sizeof(ngx_http_tenant_claim_t));
    if (claim == NULL) {
        return NULL;
    }

    claim->name.len = name->len;
    claim->name.data = ngx_pnalloc(pool, name->len + 1);
    if (claim->name.data == NULL) {
        return NULL;
    }

    ngx_memcpy(claim->name.data, name->data, name->len);
    claim->name.data[name->len] = '\0';

    end = name->data + name->len;

    for (n = 1, p = name->data; p < end; p++) {
        n += (*p == '.');
    }

    if (n == 1) {
        return claim;
    }

    claim->parts = ngx_palloc(pool, n * sizeof(char *));
    if (claim->parts == NULL) {
        return NULL;
    }

    /* split a private copy: "org.id" -> "org", "id" */

    start = ngx_pnalloc(pool, name->len + 1);
    if (start == NULL) {
        return NULL;
    }

    ngx_memcpy(start, claim->name.data, name->len + 1);

    claim->parts[0] = (char *) start;
    claim->nparts = 1;

    for (p = start; *p; p++) {
        if (*p == '.') {
            *p = '\0';
            claim->parts[claim->nparts++] = (char *) p + 1;
        }
    }

    return claim;
}


/*
 * The whole name first, so that names that contain dots, like
 * "https://example.com/org", still work; then the dotted path.
 */

json_t *
ngx_http_tenant_claim_find(json_t *object, ngx_http_tenant_claim_t *claim)
{
    json_t      *v;
    ngx_uint_t   i;

    v = json_object_get(object, (char *) claim->name.data);

    if (v != NULL || claim->nparts == 0) {
        return v;
    }

    v = object;

    for (i = 0; i < claim->nparts; i++) {
        if (!json_is_object(v)) {
            return NULL;
        }

        v = json_object_get(v, claim->parts[i]);
    }

    return v;
}


json_t *
ngx_http_tenant_claim_find_name(json_t *object, u_char *name, size_t len)
{
    u_char  buf[NGX_HTTP_TENANT_CLAIM_NAME_MAX];

    if (len >= sizeof(buf)) {
        return NULL;
    }

    ngx_memcpy(buf, name, len);
    buf[len] = '\0';

    return json_object_get(object, (char *) buf);
}


/*
 * The text of any claim, for $jwt_claim_*: strings as they are, numbers
 * and booleans as JSON writes them, arrays and objects as compact JSON.
 * A string with a control character, or an array or object holding one,
 * has no text: a variable must not carry CR or LF into a header.
 */

ngx_int_t
ngx_http_tenant_claim_text(json_t *value, ngx_pool_t *pool, ngx_str_t *text)
{
    char    *dump;
    size_t   len;

    switch (json_typeof(value)) {

    case JSON_STRING:
        text->data = (u_char *) json_string_value(value);
        text->len = json_string_length(value);

        return ngx_http_tenant_has_control(text->data, text->len)
               ? NGX_DECLINED : NGX_OK;

    case JSON_NULL:
        return NGX_DECLINED;

    default:
        dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (dump == NULL) {
            return NGX_ERROR;
        }

        len = ngx_strlen(dump);

        text->data = ngx_pnalloc(pool, len);
        if (text->data == NULL) {
            free(dump);
            return NGX_ERROR;
        }

        ngx_memcpy(text->data, dump, len);
        text->len = len;
        free(dump);

        /* JSON escapes C0 only: DEL and C1 inside a string stay raw */
        return ngx_http_tenant_has_control(text->data, text->len)
               ? NGX_DECLINED : NGX_OK;
    }
}


ngx_http_tenant_identity_rc_e
ngx_http_tenant_identity_extract(json_t *payload,
    ngx_http_tenant_claim_names_t *names, ngx_pool_t *pool,
    ngx_http_tenant_identity_t *id, const char **err)
{
    ngx_int_t  rc;
    json_t    *perms;

    rc = ngx_http_tenant_identity_tenant(payload, names->tenant, pool,
                                         &id->tenant_id);
    if (rc == NGX_DECLINED) {
        *err = "token has no tenant claim";
        return NGX_HTTP_TENANT_IDENTITY_NO_TENANT;
    }

    if (rc != NGX_OK) {
        *err = "tenant claim is not a valid tenant ID";
        return NGX_HTTP_TENANT_IDENTITY_BAD_TENANT;
    }

    if (ngx_http_tenant_identity_value(payload, names->user, pool, &id->user)
        != NGX_OK
        || ngx_http_tenant_identity_value(payload, names->role, pool,
                                          &id->role)
           != NGX_OK
        || ngx_http_tenant_identity_value(payload, names->plan, pool,
                                          &id->plan)
           != NGX_OK)
    {
        *err = "user, role or plan claim is not a safe header value";
        return NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
    }

    ngx_str_null(&id->permissions);

    perms = ngx_http_tenant_claim_find(payload, names->permissions);

    if (perms != NULL && !json_is_null(perms)
        && ngx_http_tenant_permissions_join(perms, pool, &id->permissions)
           != NGX_OK)
    {
        *err = "permissions claim is not a list of safe names";
        return NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
    }

    return NGX_HTTP_TENANT_IDENTITY_OK;
}


/*
 * Organization switching: the tenant becomes ORG if the token lists it
 * among the user's memberships, either as a plain ID or as an object
 * {"id": ..., "role": ..., "plan": ..., "permissions": ...}.  Role, plan
 * and permissions come from that membership only: the token's top-level
 * ones describe another organization, so a bare ID carries none.
 */

ngx_http_tenant_identity_rc_e
ngx_http_tenant_identity_select(json_t *payload,
    ngx_http_tenant_claim_names_t *names, ngx_str_t *org, ngx_pool_t *pool,
    ngx_http_tenant_identity_t *id, const char **err)
{
    json_t                    *orgs, *member, *mid;
    size_t                     i;
    ngx_http_tenant_claim_t    claim;

    if (ngx_http_tenant_id_valid(org->data, org->len) != NGX_OK) {
        *err = "selected organization is not a valid tenant ID";
        return NGX_HTTP_TENANT_IDENTITY_BAD_TENANT;
    }

    orgs = ngx_http_tenant_claim_find(payload, names->orgs);

    if (!json_is_array(orgs)) {
        *err = "token lists no organizations";
        return NGX_HTTP_TENANT_IDENTITY_NOT_MEMBER;
    }

    json_array_foreach(orgs, i, member) {
        mid = json_is_object(member) ? json_object_get(member, "id") : member;

        if (json_is_string(mid) && json_string_length(mid) == org->len
            && ngx_strncmp(json_string_value(mid), org->data, org->len) == 0)
        {
            break;
        }
    }

    if (i == json_array_size(orgs)) {
        *err = "selected organization is not one of the token's";
        return NGX_HTTP_TENANT_IDENTITY_NOT_MEMBER;
    }

    ngx_memzero(id, sizeof(ngx_http_tenant_identity_t));

    id->tenant_id = *org;

    /* the token is revoked where it was issued: its own tenant's keys */
    if (ngx_http_tenant_identity_tenant(payload, names->tenant, pool,
                                        &id->home)
        != NGX_OK
        || (id->home.len == org->len
            && ngx_strncmp(id->home.data, org->data, org->len) == 0))
    {
        ngx_str_null(&id->home);
    }

    ngx_memzero(&claim, sizeof(ngx_http_tenant_claim_t));

    if (ngx_http_tenant_identity_value(payload, names->user, pool, &id->user)
        != NGX_OK)
    {
        goto invalid;
    }

    if (!json_is_object(member)) {
        return NGX_HTTP_TENANT_IDENTITY_OK;
    }

    ngx_str_set(&claim.name, "role");

    if (ngx_http_tenant_identity_value(member, &claim, pool, &id->role)
        != NGX_OK)
    {
        goto invalid;
    }

    ngx_str_set(&claim.name, "plan");

    if (ngx_http_tenant_identity_value(member, &claim, pool, &id->plan)
        != NGX_OK)
    {
        goto invalid;
    }

    member = json_object_get(member, "permissions");

    if (member != NULL && !json_is_null(member)
        && ngx_http_tenant_permissions_join(member, pool, &id->permissions)
           != NGX_OK)
    {
        goto invalid;
    }

    return NGX_HTTP_TENANT_IDENTITY_OK;

invalid:

    *err = "membership claims are not safe header values";

    return NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
}


/* NGX_DECLINED: no claim; NGX_ERROR: a claim that is not a tenant ID */

static ngx_int_t
ngx_http_tenant_identity_tenant(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value)
{
    json_t  *v;

    v = ngx_http_tenant_claim_find(payload, claim);

    if (v == NULL || json_is_null(v)) {
        return NGX_DECLINED;
    }

    if (!json_is_string(v) && !json_is_integer(v)) {
        return NGX_ERROR;
    }

    if (ngx_http_tenant_identity_value(payload, claim, pool, value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tenant_id_valid(value->data, value->len);
}


/* a string or an integer claim, fit to travel in a header; absent is "" */

static ngx_int_t
ngx_http_tenant_identity_value(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value)
{
    u_char      *p;
    json_t      *v;
    json_int_t   n;

    ngx_str_null(value);

    v = ngx_http_tenant_claim_find(payload, claim);

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (json_is_string(v)) {
        value->data = (u_char *) json_string_value(v);
        value->len = json_string_length(v);

    } else if (json_is_integer(v)) {
        value->data = ngx_pnalloc(pool, NGX_INT64_LEN);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        /* "%L" negates a negative number: INT64_MIN would overflow */
        n = json_integer_value(v);
        p = value->data;

        if (n < 0) {
            *p++ = '-';
        }

        value->len = ngx_sprintf(p, "%uL",
                                 n < 0 ? 0 - (uint64_t) n : (uint64_t) n)
                     - value->data;

    } else {
        return NGX_ERROR;
    }

    return ngx_http_tenant_header_safe(value->data, value->len);
}


/* a JSON array of names, or one string of space-separated names */

static ngx_int_t
ngx_http_tenant_permissions_join(json_t *value, ngx_pool_t *pool,
    ngx_str_t *joined)
{
    u_char        *p, *end, *start;
    size_t         i;
    json_t        *v;
    const u_char  *s;

    joined->len = 0;
    joined->data = ngx_pnalloc(pool, NGX_HTTP_TENANT_HEADER_VALUE_MAX);
    if (joined->data == NULL) {
        return NGX_ERROR;
    }

    if (json_is_array(value)) {
        json_array_foreach(value, i, v) {
            if (!json_is_string(v)) {
                return NGX_ERROR;
            }

            s = (const u_char *) json_string_value(v);

            if (ngx_http_tenant_permission_add(s, json_string_length(v),
                                               joined)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    if (!json_is_string(value)) {
        return NGX_ERROR;
    }

    p = (u_char *) json_string_value(value);
    end = p + json_string_length(value);

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        start = p;

        while (p < end && *p != ' ') {
            p++;
        }

        if (p > start
            && ngx_http_tenant_permission_add(start, p - start, joined)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_permission_add(const u_char *p, size_t len, ngx_str_t *joined)
{
    size_t  need;

    /* a comma inside a name would read as two names downstream */
    if (len == 0 || ngx_strlchr((u_char *) p, (u_char *) p + len, ',')
        || ngx_http_tenant_header_safe(p, len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    need = len + (joined->len ? 1 : 0);

    if (joined->len + need > NGX_HTTP_TENANT_HEADER_VALUE_MAX) {
        return NGX_ERROR;
    }

    if (joined->len) {
        joined->data[joined->len++] = ',';
    }

    ngx_memcpy(joined->data + joined->len, p, len);
    joined->len += len;

    return NGX_OK;
}


ngx_int_t
ngx_http_tenant_id_valid(const u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_TENANT_ID_MAX) {
        return NGX_ERROR;
    }

    /* "." and ".." would walk a path such as "/data/$tenant_id/" */
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z')
              || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '.' || p[i] == '_' || p[i] == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* no control character (CR, LF, NUL, ...), and short enough for a header */

ngx_int_t
ngx_http_tenant_header_safe(const u_char *p, size_t len)
{
    if (len > NGX_HTTP_TENANT_HEADER_VALUE_MAX
        || ngx_http_tenant_has_control(p, len))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * C0 controls and DEL, and, in UTF-8, the C1 controls (NEL, U+0085, among
 * them) and U+2028 and U+2029: line breaks for some readers of headers
 * and logs
 */

ngx_flag_t
ngx_http_tenant_has_control(const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 1;
        }

        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80
            && p[i + 1] <= 0x9f)
        {
            return 1;
        }

        if (p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x80
            && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
        {
            return 1;
        }
    }

    return 0;
}


/* a jti fit to be part of a key; any other token just cannot be revoked */

ngx_int_t
ngx_http_tenant_claim_jti(json_t *payload, ngx_str_t *jti)
{
    json_t  *v;

    v = json_object_get(payload, "jti");

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    jti->data = (u_char *) json_string_value(v);
    jti->len = json_string_length(v);

    if (jti->len == 0 || jti->len > NGX_HTTP_TENANT_JTI_MAX
        || ngx_http_tenant_has_control(jti->data, jti->len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a time claim (iat) fit to compare with Redis's numbers, or NGX_DECLINED */

ngx_int_t
ngx_http_tenant_claim_seconds(json_t *payload, const char *name, uint64_t *n)
{
    json_t  *v;

    v = json_object_get(payload, name);

    if (!json_is_number(v) || json_number_value(v) < 0
        || json_number_value(v) > NGX_MAX_INT32_VALUE * 4.0)
    {
        return NGX_DECLINED;
    }

    *n = (uint64_t) json_number_value(v);

    return NGX_OK;
}
