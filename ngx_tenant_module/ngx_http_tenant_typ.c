
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * Explicit typing (RFC 8725 3.11): tenant_jwt_type admits only tokens
 * whose JOSE header "typ" is one of the media types listed, so that a
 * token the same issuer signed for another use (an ID token, a logout
 * token) is not taken for an access token.  Media types compare without
 * regard to case, and a "typ" without "/" means "application/" followed
 * by it (RFC 7515 4.1.9): "at+jwt", "AT+JWT" and "application/at+jwt"
 * are one type.  No request here: fuzz/ can run it alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_typ.h"


#define NGX_HTTP_TENANT_TYP_PREFIX  "application/"


static ngx_int_t ngx_http_tenant_typ_valid(u_char *p, size_t len);


/* a configured type, lowercase and with its "application/" written out */

ngx_int_t
ngx_http_tenant_typ_compile(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *type)
{
    u_char  *p;
    size_t   prefix;

    if (ngx_http_tenant_typ_valid(value->data, value->len) != NGX_OK) {
        return NGX_DECLINED;
    }

    prefix = ngx_strlchr(value->data, value->data + value->len, '/')
             ? 0 : sizeof(NGX_HTTP_TENANT_TYP_PREFIX) - 1;

    p = ngx_pnalloc(pool, prefix + value->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    type->data = p;
    type->len = prefix + value->len;

    p = ngx_cpymem(p, NGX_HTTP_TENANT_TYP_PREFIX, prefix);
    ngx_strlow(p, value->data, value->len);

    return NGX_OK;
}


/*
 * type/subtype, or a subtype alone: visible ASCII, at most one "/", not
 * at either end.  Parameters (";") are not part of a "typ" anyone sends.
 */

static ngx_int_t
ngx_http_tenant_typ_valid(u_char *p, size_t len)
{
    size_t      i;
    ngx_uint_t  slashes;

    if (len == 0 || len > 127 || p[0] == '/' || p[len - 1] == '/') {
        return NGX_DECLINED;
    }

    slashes = 0;

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == ';' || p[i] == ',') {
            return NGX_DECLINED;
        }

        slashes += (p[i] == '/');
    }

    return slashes <= 1 ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_tenant_typ_check(json_t *header, ngx_array_t *types,
    const char **err)
{
    size_t       len, prefix;
    json_t      *typ;
    u_char      *s;
    ngx_str_t   *type;
    ngx_uint_t   i;

    typ = json_object_get(header, "typ");

    if (typ == NULL) {
        *err = "token has no \"typ\", and tenant_jwt_type requires one";
        return NGX_DECLINED;
    }

    if (!json_is_string(typ)) {
        *err = "token \"typ\" is not a string";
        return NGX_DECLINED;
    }

    s = (u_char *) json_string_value(typ);
    len = json_string_length(typ);

    prefix = ngx_strlchr(s, s + len, '/')
             ? 0 : sizeof(NGX_HTTP_TENANT_TYP_PREFIX) - 1;

    type = types->elts;

    for (i = 0; i < types->nelts; i++) {
        if (type[i].len == prefix + len
            && ngx_strncmp(type[i].data, NGX_HTTP_TENANT_TYP_PREFIX, prefix)
               == 0
            && ngx_strncasecmp(type[i].data + prefix, s, len) == 0)
        {
            return NGX_OK;
        }
    }

    *err = "token \"typ\" is not accepted";

    return NGX_DECLINED;
}
