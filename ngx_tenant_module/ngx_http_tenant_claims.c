
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_claims.h"


#define NGX_HTTP_TENANT_CLAIM_NAME_MAX  256
#define NGX_HTTP_TENANT_JTI_MAX         128


static ngx_flag_t ngx_http_tenant_claim_bracketed(ngx_str_t *name);
static const char *ngx_http_tenant_claim_split(ngx_str_t *name, u_char *buf,
    ngx_http_tenant_claim_t *claim);
static ngx_int_t ngx_http_tenant_identity_value(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_identity_text(json_t *v, ngx_pool_t *pool,
    ngx_str_t *value);
static ngx_int_t ngx_http_tenant_identity_role(json_t *v, ngx_array_t *roles,
    ngx_pool_t *pool, ngx_http_tenant_identity_t *id);
static ngx_int_t ngx_http_tenant_identity_tenant(json_t *payload,
    ngx_http_tenant_claim_t *claim, ngx_pool_t *pool, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_permissions_join(json_t *value,
    ngx_pool_t *pool, ngx_str_t *joined);
static ngx_int_t ngx_http_tenant_permission_add(const u_char *p, size_t len,
    ngx_str_t *joined);


/*
 * NULL if the configuration may name a claim so, else why not.  A name
 * that holds ["...] is a path in brackets: Auth0's claims are named by
 * URLs, whose dots and slashes a dotted path would split.
 */

const char *
ngx_http_tenant_claim_valid(ngx_str_t *name)
{
    if (name->len == 0 || name->len > NGX_HTTP_TENANT_CLAIM_NAME_MAX - 1) {
        return "a name has 1 to 255 characters";
    }

    if (ngx_strlchr(name->data, name->data + name->len, '\0') != NULL) {
        return "a name holds no NUL";
    }

    if (ngx_http_tenant_claim_bracketed(name)) {
        return ngx_http_tenant_claim_split(name, NULL, NULL);
    }

    if (name->data[0] == '.' || name->data[name->len - 1] == '.'
        || ngx_strnstr(name->data, "..", name->len) != NULL)
    {
        return "a dotted name neither starts nor ends with a dot nor holds "
               "two in a row";
    }

    return NULL;
}


ngx_http_tenant_claim_t *
ngx_http_tenant_claim_compile(ngx_pool_t *pool, ngx_str_t *name)
{
    u_char                   *p, *start, *end;
    ngx_uint_t                n;
    ngx_flag_t                bracketed;
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
    bracketed = ngx_http_tenant_claim_bracketed(name);

    /* at most one part more than separators */
    for (n = 1, p = name->data; p < end; p++) {
        n += (*p == '.' || (bracketed && *p == '['));
    }

    if (n == 1) {
        return claim;
    }

    claim->parts = ngx_palloc(pool, n * sizeof(char *));
    if (claim->parts == NULL) {
        return NULL;
    }

    /* the parts are written to a private copy, each ended by a NUL */

    start = ngx_pnalloc(pool, name->len + 1);
    if (start == NULL) {
        return NULL;
    }

    if (bracketed) {
        claim->exact = 1;

        /* checked by ngx_http_tenant_claim_valid() */
        if (ngx_http_tenant_claim_split(name, start, claim) != NULL) {
            return NULL;
        }

        return claim;
    }

    /* "org.id" -> "org", "id" */

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


static ngx_flag_t
ngx_http_tenant_claim_bracketed(ngx_str_t *name)
{
    return ngx_strnstr(name->data, "[\"", name->len) != NULL;
}


/*
 * A path in brackets: segments, each a plain name (no "." "[" "]" or
 * '"') or a quoted one in brackets, ["..."], where \" and \\ are the only
 * escapes.  A plain segment after another is preceded by a dot; a quoted
 * one may be.  With buf NULL the name is only checked.
 */

static const char *
ngx_http_tenant_claim_split(ngx_str_t *name, u_char *buf,
    ngx_http_tenant_claim_t *claim)
{
    u_char  *p, *end;
    size_t   seg, n;

    p = name->data;
    end = p + name->len;
    n = 0;                      /* where the next byte goes in buf */

    for ( ;; ) {
        seg = n;

        if (p < end && *p == '[') {
            if (++p == end || *p != '"') {
                return "a \"[\" is followed by a quoted name";
            }

            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\') {
                    if (++p == end || (*p != '"' && *p != '\\')) {
                        return "the only escapes in a quoted name are \\\" "
                               "and \\\\";
                    }
                }

                if (*p < 0x20 || *p == 0x7f) {
                    return "a quoted name holds no control character";
                }

                if (buf) {
                    buf[n] = *p;
                }

                n++;
            }

            if (p == end) {
                return "a quoted name is not closed";
            }

            if (n == seg) {
                return "a quoted name is not empty";
            }

            if (++p == end || *p != ']') {
                return "a quoted name is followed by \"]\"";
            }

            p++;

        } else {
            for ( /* void */ ; p < end && *p != '.' && *p != '['; p++) {
                if (*p == ']' || *p == '"') {
                    return "a name outside quotes holds no \"]\" or '\"'";
                }

                if (buf) {
                    buf[n] = *p;
                }

                n++;
            }

            if (n == seg) {
                return "a path has no empty name";
            }
        }

        if (buf) {
            buf[n] = '\0';
            claim->parts[claim->nparts++] = (char *) buf + seg;
        }

        n++;

        if (p == end) {
            return NULL;
        }

        if (*p == '.') {
            if (++p == end) {
                return "a path does not end with a dot";
            }

        } else if (*p != '[') {
            return "a quoted name is followed by \".\", \"[\" or the end";
        }
    }
}


/*
 * A plain name, whole first, so that names that contain dots, like
 * "https://example.com/org", still work; then the dotted path.  A name
 * in brackets is its path only.
 */

json_t *
ngx_http_tenant_claim_find(json_t *object, ngx_http_tenant_claim_t *claim)
{
    json_t      *v;
    ngx_uint_t   i;

    if (!claim->exact) {
        v = json_object_get(object, (char *) claim->name.data);

        if (v != NULL || claim->nparts == 0) {
            return v;
        }
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


/*
 * tenant_jwt_require_claims: each claim present, with any value but JSON
 * null, which the identity reads as absent too.  The refusal names the
 * claim as configured: the configuration is no secret, the token is.
 */

ngx_int_t
ngx_http_tenant_claims_require(json_t *payload, ngx_array_t *claims,
    ngx_pool_t *pool, const char **err)
{
    u_char                    *p;
    json_t                    *v;
    ngx_uint_t                 i;
    ngx_http_tenant_claim_t  **claim;

    claim = claims->elts;

    for (i = 0; i < claims->nelts; i++) {
        v = ngx_http_tenant_claim_find(payload, claim[i]);

        if (v != NULL && !json_is_null(v)) {
            continue;
        }

        p = ngx_pnalloc(pool, sizeof("token has no required claim \"\"")
                              + claim[i]->name.len);
        if (p == NULL) {
            *err = "token has no required claim";
            return NGX_ERROR;
        }

        *ngx_sprintf(p, "token has no required claim \"%V\"",
                     &claim[i]->name) = '\0';
        *err = (const char *) p;

        return NGX_DECLINED;
    }

    return NGX_OK;
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


/* roles: tenant_roles, lowest first, or NULL where none is declared */

ngx_http_tenant_identity_rc_e
ngx_http_tenant_identity_extract(json_t *payload,
    ngx_http_tenant_claim_names_t *names, ngx_array_t *roles,
    ngx_pool_t *pool, ngx_http_tenant_identity_t *id, const char **err)
{
    json_t     *perms, *role;
    ngx_int_t   rc;

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
        || ngx_http_tenant_identity_value(payload, names->plan, pool,
                                          &id->plan)
           != NGX_OK)
    {
        *err = "user, role or plan claim is not a safe header value";
        return NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
    }

    role = ngx_http_tenant_claim_find(payload, names->role);

    rc = ngx_http_tenant_identity_role(role, roles, pool, id);

    if (rc == NGX_DECLINED) {
        *err = "role claim is an array, and no tenant_roles are declared";
        return NGX_HTTP_TENANT_IDENTITY_BAD_CLAIMS;
    }

    if (rc != NGX_OK) {
        *err = json_is_array(role)
               ? "role array holds a non-string or more than 256 elements"
               : "user, role or plan claim is not a safe header value";
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
    ngx_http_tenant_claim_names_t *names, ngx_array_t *roles,
    ngx_str_t *org, ngx_pool_t *pool, ngx_http_tenant_identity_t *id,
    const char **err)
{
    json_t  *orgs, *member, *mid;
    size_t   i;

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

    if (ngx_http_tenant_identity_value(payload, names->user, pool, &id->user)
        != NGX_OK)
    {
        goto invalid;
    }

    if (!json_is_object(member)) {
        return NGX_HTTP_TENANT_IDENTITY_OK;
    }

    /* a membership's role may be an array too, read as the token's is */
    if (ngx_http_tenant_identity_role(json_object_get(member, "role"), roles,
                                      pool, id)
        != NGX_OK
        || ngx_http_tenant_identity_text(json_object_get(member, "plan"),
                                         pool, &id->plan)
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
    return ngx_http_tenant_identity_text(
                               ngx_http_tenant_claim_find(payload, claim),
                               pool, value);
}


static ngx_int_t
ngx_http_tenant_identity_text(json_t *v, ngx_pool_t *pool, ngx_str_t *value)
{
    u_char      *p;
    json_int_t   n;

    ngx_str_null(value);

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


/*
 * A role is a string or an integer, as the user is; or, with tenant_roles
 * declared, an array of names, as Keycloak, Cognito, Okta and Entra ID
 * send them.  The role of an array is the highest declared role in it,
 * and every declared one is noted in id->held for tenant_require_role.
 * Names not declared grant nothing, so they are skipped; an element that
 * is not a string means the claim is not what it was taken for, and is
 * refused.  An array without a declared role is no role.
 *
 * NGX_DECLINED: an array where no roles are declared; NGX_ERROR: unsafe.
 */

static ngx_int_t
ngx_http_tenant_identity_role(json_t *v, ngx_array_t *roles,
    ngx_pool_t *pool, ngx_http_tenant_identity_t *id)
{
    size_t       i, len;
    json_t      *e;
    ngx_int_t    best;
    ngx_str_t   *role;
    ngx_uint_t   r;
    const char  *s;

    ngx_str_null(&id->held);

    if (!json_is_array(v)) {
        return ngx_http_tenant_identity_text(v, pool, &id->role);
    }

    ngx_str_null(&id->role);

    if (roles == NULL || roles->nelts == 0) {
        return NGX_DECLINED;
    }

    if (json_array_size(v) > NGX_HTTP_TENANT_ROLES_MAX) {
        return NGX_ERROR;
    }

    id->held.len = roles->nelts;
    id->held.data = ngx_pcalloc(pool, roles->nelts);
    if (id->held.data == NULL) {
        return NGX_ERROR;
    }

    role = roles->elts;
    best = -1;

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            return NGX_ERROR;
        }

        s = json_string_value(e);
        len = json_string_length(e);

        for (r = 0; r < roles->nelts; r++) {
            if (role[r].len == len && ngx_memcmp(role[r].data, s, len) == 0) {
                id->held.data[r] = 1;
                best = ngx_max(best, (ngx_int_t) r);
                break;
            }
        }
    }

    if (best >= 0) {
        id->role = role[best];
    }

    return NGX_OK;
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
