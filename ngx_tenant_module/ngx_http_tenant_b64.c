
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_b64.h"


#define NGX_HTTP_TENANT_B64_BAD  0xff


static const u_char  ngx_http_tenant_b64url_value[256] = {
#define X NGX_HTTP_TENANT_B64_BAD
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
#undef X
};


/*
 * Four characters make three bytes, so the loop takes them four at a
 * time, with one test for the four: a bad character has the high bits
 * set (NGX_HTTP_TENANT_B64_BAD), every good one is below 64.  A new token
 * is decoded whole on every request, its signature included.
 */

ssize_t
ngx_http_tenant_b64url_decode(u_char *dst, const u_char *src, size_t len)
{
    u_char        *d;
    ngx_uint_t     a, b, c, e;
    const u_char  *end, *last;

    /* one leftover character carries only 6 bits: never a whole byte */
    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    end = src + len;
    last = src + (len & ~((size_t) 3));

    while (src < last) {
        a = ngx_http_tenant_b64url_value[src[0]];
        b = ngx_http_tenant_b64url_value[src[1]];
        c = ngx_http_tenant_b64url_value[src[2]];
        e = ngx_http_tenant_b64url_value[src[3]];

        if ((a | b | c | e) & 0xc0) {
            return -1;
        }

        d[0] = (u_char) (a << 2 | b >> 4);
        d[1] = (u_char) (b << 4 | c >> 2);
        d[2] = (u_char) (c << 6 | e);

        src += 4;
        d += 3;
    }

    if (src == end) {
        return d - dst;
    }

    /*
     * two or three characters left: one or two bytes, and the bits left
     * over must be zero, otherwise several encodings would stand for the
     * same bytes
     */

    a = ngx_http_tenant_b64url_value[src[0]];
    b = ngx_http_tenant_b64url_value[src[1]];
    c = (end - src == 3) ? ngx_http_tenant_b64url_value[src[2]] : 0;

    if ((a | b | c) & 0xc0) {
        return -1;
    }

    *d++ = (u_char) (a << 2 | b >> 4);

    if (end - src == 2) {
        return (b & 0x0f) ? -1 : d - dst;
    }

    *d++ = (u_char) (b << 4 | c >> 2);

    return (c & 0x03) ? -1 : d - dst;
}
