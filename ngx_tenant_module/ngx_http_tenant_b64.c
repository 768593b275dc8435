
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


ssize_t
ngx_http_tenant_b64url_decode(u_char *dst, const u_char *src, size_t len)
{
    u_char      *d;
    uint32_t     acc;
    ngx_uint_t   i, bits, v;

    /* one leftover character carries only 6 bits: never a whole byte */
    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_http_tenant_b64url_value[src[i]];

        if (v == NGX_HTTP_TENANT_B64_BAD) {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
        }
    }

    /*
     * the bits left over must be zero: otherwise several encodings would
     * stand for the same bytes
     */
    if (acc & ((1u << bits) - 1)) {
        return -1;
    }

    return d - dst;
}
