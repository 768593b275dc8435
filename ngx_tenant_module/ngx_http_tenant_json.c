
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>

#include "ngx_http_tenant_json.h"


/*
 * Beyond these the parse is left to jansson: the recursion stays shallow
 * and the escaped strings and numbers fit a buffer on the stack.
 */
#define NGX_HTTP_TENANT_JSON_DEPTH    32
#define NGX_HTTP_TENANT_JSON_STR_MAX  512
#define NGX_HTTP_TENANT_JSON_NUM_MAX  64


typedef struct {
    const u_char  *p;
    const u_char  *end;
    ngx_uint_t     depth;
    size_t         flags;
} ngx_http_tenant_json_parser_t;


static json_t *ngx_http_tenant_json_value(ngx_http_tenant_json_parser_t *jp);
static json_t *ngx_http_tenant_json_members(
    ngx_http_tenant_json_parser_t *jp);
static json_t *ngx_http_tenant_json_elements(
    ngx_http_tenant_json_parser_t *jp);
static ngx_int_t ngx_http_tenant_json_key(ngx_http_tenant_json_parser_t *jp,
    const u_char **key, size_t *len);
static json_t *ngx_http_tenant_json_string(ngx_http_tenant_json_parser_t *jp);
static json_t *ngx_http_tenant_json_escaped(ngx_http_tenant_json_parser_t *jp);
static ngx_int_t ngx_http_tenant_json_unicode(ngx_http_tenant_json_parser_t *jp,
    uint32_t *cp);
static ngx_int_t ngx_http_tenant_json_hex4(const u_char *p, uint32_t *v);
static size_t ngx_http_tenant_json_utf8(const u_char *p, const u_char *end);
static json_t *ngx_http_tenant_json_number(ngx_http_tenant_json_parser_t *jp);
static json_t *ngx_http_tenant_json_literal(
    ngx_http_tenant_json_parser_t *jp);
static void ngx_http_tenant_json_space(ngx_http_tenant_json_parser_t *jp);


json_t *
ngx_http_tenant_json_object(const u_char *data, size_t len, size_t flags)
{
    json_t                         *json;
    ngx_http_tenant_json_parser_t   jp;

    jp.p = data;
    jp.end = data + len;
    jp.depth = 0;
    jp.flags = flags;

    ngx_http_tenant_json_space(&jp);

    if (jp.p == jp.end || *jp.p != '{') {
        return NULL;
    }

    json = ngx_http_tenant_json_value(&jp);
    if (json == NULL) {
        return NULL;
    }

    ngx_http_tenant_json_space(&jp);

    if (jp.p != jp.end) {
        json_decref(json);
        return NULL;
    }

    return json;
}


static json_t *
ngx_http_tenant_json_value(ngx_http_tenant_json_parser_t *jp)
{
    json_t  *json;

    if (jp->p == jp->end || ++jp->depth > NGX_HTTP_TENANT_JSON_DEPTH) {
        return NULL;
    }

    switch (*jp->p) {

    case '{':
        jp->p++;
        json = ngx_http_tenant_json_members(jp);
        break;

    case '[':
        jp->p++;
        json = ngx_http_tenant_json_elements(jp);
        break;

    case '"':
        json = ngx_http_tenant_json_string(jp);
        break;

    case 't':
    case 'f':
    case 'n':
        json = ngx_http_tenant_json_literal(jp);
        break;

    default:
        json = ngx_http_tenant_json_number(jp);
        break;
    }

    jp->depth--;

    return json;
}


static json_t *
ngx_http_tenant_json_members(ngx_http_tenant_json_parser_t *jp)
{
    size_t         len;
    json_t        *object, *value;
    const u_char  *key;

    object = json_object();
    if (object == NULL) {
        return NULL;
    }

    ngx_http_tenant_json_space(jp);

    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return object;
    }

    for ( ;; ) {
        if (ngx_http_tenant_json_key(jp, &key, &len) != NGX_OK
            || json_object_getn(object, (const char *) key, len) != NULL)
        {
            goto failed;
        }

        ngx_http_tenant_json_space(jp);

        if (jp->p == jp->end || *jp->p != ':') {
            goto failed;
        }

        jp->p++;
        ngx_http_tenant_json_space(jp);

        value = ngx_http_tenant_json_value(jp);

        if (value == NULL
            || json_object_setn_new_nocheck(object, (const char *) key, len,
                                            value)
               != 0)
        {
            goto failed;
        }

        ngx_http_tenant_json_space(jp);

        if (jp->p == jp->end) {
            goto failed;
        }

        if (*jp->p == '}') {
            jp->p++;
            return object;
        }

        if (*jp->p != ',') {
            goto failed;
        }

        jp->p++;
        ngx_http_tenant_json_space(jp);
    }

failed:

    json_decref(object);

    return NULL;
}


static json_t *
ngx_http_tenant_json_elements(ngx_http_tenant_json_parser_t *jp)
{
    json_t  *array, *value;

    array = json_array();
    if (array == NULL) {
        return NULL;
    }

    ngx_http_tenant_json_space(jp);

    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return array;
    }

    for ( ;; ) {
        value = ngx_http_tenant_json_value(jp);

        if (value == NULL || json_array_append_new(array, value) != 0) {
            break;
        }

        ngx_http_tenant_json_space(jp);

        if (jp->p == jp->end) {
            break;
        }

        if (*jp->p == ']') {
            jp->p++;
            return array;
        }

        if (*jp->p != ',') {
            break;
        }

        jp->p++;
        ngx_http_tenant_json_space(jp);
    }

    json_decref(array);

    return NULL;
}


/*
 * A key is used where it stands in the input: one with an escape is left
 * to jansson (a token's claim names have none).  A key can hold no NUL
 * then, which jansson refuses in a key whatever the flags.
 */

static ngx_int_t
ngx_http_tenant_json_key(ngx_http_tenant_json_parser_t *jp,
    const u_char **key, size_t *len)
{
    size_t         n;
    const u_char  *p;

    if (jp->p == jp->end || *jp->p != '"') {
        return NGX_ERROR;
    }

    p = jp->p + 1;
    *key = p;

    for ( ;; ) {
        if (p == jp->end || *p < 0x20 || *p == '\\') {
            return NGX_ERROR;
        }

        if (*p == '"') {
            break;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_http_tenant_json_utf8(p, jp->end);
        if (n == 0) {
            return NGX_ERROR;
        }

        p += n;
    }

    *len = p - *key;
    jp->p = p + 1;

    return NGX_OK;
}


static json_t *
ngx_http_tenant_json_string(ngx_http_tenant_json_parser_t *jp)
{
    size_t         n;
    const u_char  *p, *start;

    start = jp->p + 1;

    for (p = start; p < jp->end; p += n) {

        if (*p == '"') {
            jp->p = p + 1;
            return json_stringn_nocheck((const char *) start, p - start);
        }

        if (*p == '\\') {
            return ngx_http_tenant_json_escaped(jp);
        }

        if (*p < 0x20) {
            return NULL;
        }

        n = (*p < 0x80) ? 1 : ngx_http_tenant_json_utf8(p, jp->end);
        if (n == 0) {
            return NULL;
        }
    }

    return NULL;
}


/* a string with escapes, unescaped into a buffer */

static json_t *
ngx_http_tenant_json_escaped(ngx_http_tenant_json_parser_t *jp)
{
    u_char        *d, buf[NGX_HTTP_TENANT_JSON_STR_MAX];
    size_t         n;
    uint32_t       cp;
    const u_char  *p;

    d = buf;
    p = jp->p + 1;

    for ( ;; ) {
        /* room for the longest thing one step writes: 4 bytes */
        if (p == jp->end || d + 4 > buf + sizeof(buf) || *p < 0x20) {
            return NULL;
        }

        if (*p == '"') {
            break;
        }

        if (*p != '\\') {
            n = (*p < 0x80) ? 1 : ngx_http_tenant_json_utf8(p, jp->end);
            if (n == 0) {
                return NULL;
            }

            d = ngx_cpymem(d, p, n);
            p += n;
            continue;
        }

        if (jp->end - p < 2) {
            return NULL;
        }

        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            *d++ = p[1];
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;

        case 'u':
            jp->p = p;

            if (ngx_http_tenant_json_unicode(jp, &cp) != NGX_OK) {
                return NULL;
            }

            p = jp->p;

            /* the escape's value has been checked: a scalar value */
            if (cp < 0x80) {
                *d++ = (u_char) cp;

            } else if (cp < 0x800) {
                *d++ = (u_char) (0xc0 | (cp >> 6));
                *d++ = (u_char) (0x80 | (cp & 0x3f));

            } else if (cp < 0x10000) {
                *d++ = (u_char) (0xe0 | (cp >> 12));
                *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                *d++ = (u_char) (0x80 | (cp & 0x3f));

            } else {
                *d++ = (u_char) (0xf0 | (cp >> 18));
                *d++ = (u_char) (0x80 | ((cp >> 12) & 0x3f));
                *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                *d++ = (u_char) (0x80 | (cp & 0x3f));
            }

            continue;

        default:
            return NULL;
        }

        p += 2;
    }

    jp->p = p + 1;

    /* "\u0000" is a NUL in the value: only where NULs are let through */
    if (!(jp->flags & JSON_ALLOW_NUL) && ngx_strlchr(buf, d, '\0') != NULL) {
        return NULL;
    }

    return json_stringn_nocheck((const char *) buf, d - buf);
}


/*
 * "\uXXXX" at jp->p, or a surrogate pair of two: the code point, and
 * jp->p past it.  A lone surrogate is refused, as jansson refuses it.
 */

static ngx_int_t
ngx_http_tenant_json_unicode(ngx_http_tenant_json_parser_t *jp, uint32_t *cp)
{
    uint32_t       hi, lo;
    const u_char  *p;

    p = jp->p;

    if (jp->end - p < 6 || ngx_http_tenant_json_hex4(p + 2, &hi) != NGX_OK) {
        return NGX_ERROR;
    }

    p += 6;

    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return NGX_ERROR;
    }

    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (jp->end - p < 6 || p[0] != '\\' || p[1] != 'u'
            || ngx_http_tenant_json_hex4(p + 2, &lo) != NGX_OK
            || lo < 0xdc00 || lo > 0xdfff)
        {
            return NGX_ERROR;
        }

        p += 6;
        hi = ((hi - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
    }

    *cp = hi;
    jp->p = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_json_hex4(const u_char *p, uint32_t *v)
{
    u_char      c;
    ngx_uint_t  i;

    *v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return NGX_ERROR;
        }

        *v = (*v << 4) | c;
    }

    return NGX_OK;
}


/*
 * The length of the well-formed UTF-8 sequence at p, or 0: no overlong
 * form, no surrogate, nothing above U+10FFFF (jansson's utf8_check_full)
 */

static size_t
ngx_http_tenant_json_utf8(const u_char *p, const u_char *end)
{
    size_t    n, i;
    uint32_t  cp;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff)
        || (n == 3 && cp < 0x800)
        || (n == 4 && cp < 0x10000))
    {
        return 0;
    }

    return n;
}


/*
 * RFC 8259's grammar, read as jansson reads it: an integer when there is
 * neither a fraction nor an exponent (strtoll, refused out of range),
 * otherwise a real (strtod, refused on overflow)
 */

static json_t *
ngx_http_tenant_json_number(ngx_http_tenant_json_parser_t *jp)
{
    u_char         buf[NGX_HTTP_TENANT_JSON_NUM_MAX];
    char          *e;
    double         real;
    size_t         len;
    ngx_uint_t     is_real;
    long long      integer;
    const u_char  *p, *end;

    p = jp->p;
    end = jp->end;
    is_real = 0;

    if (*p == '-') {
        p++;
    }

    if (p == end || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p++ == '0') {
        if (p < end && *p >= '0' && *p <= '9') {
            return NULL;
        }

    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && *p == '.') {
        p++;

        if (p == end || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        is_real = 1;
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == end || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        is_real = 1;
    }

    len = p - jp->p;

    if (len >= sizeof(buf)) {
        return NULL;
    }

    ngx_memcpy(buf, jp->p, len);
    buf[len] = '\0';

    errno = 0;

    if (!is_real) {
        integer = strtoll((char *) buf, &e, 10);

        if (errno == ERANGE || e != (char *) buf + len) {
            return NULL;
        }

        jp->p = p;

        return json_integer(integer);
    }

    real = strtod((char *) buf, &e);

    /* a locale with another decimal point stops strtod() short */
    if (((real == HUGE_VAL || real == -HUGE_VAL) && errno == ERANGE)
        || e != (char *) buf + len)
    {
        return NULL;
    }

    jp->p = p;

    return json_real(real);
}


static json_t *
ngx_http_tenant_json_literal(ngx_http_tenant_json_parser_t *jp)
{
    size_t  left;

    left = jp->end - jp->p;

    if (left >= 4 && ngx_strncmp(jp->p, "true", 4) == 0) {
        jp->p += 4;
        return json_true();
    }

    if (left >= 5 && ngx_strncmp(jp->p, "false", 5) == 0) {
        jp->p += 5;
        return json_false();
    }

    if (left >= 4 && ngx_strncmp(jp->p, "null", 4) == 0) {
        jp->p += 4;
        return json_null();
    }

    return NULL;
}


static void
ngx_http_tenant_json_space(ngx_http_tenant_json_parser_t *jp)
{
    while (jp->p < jp->end
           && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n'
               || *jp->p == '\r'))
    {
        jp->p++;
    }
}
