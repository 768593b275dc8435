
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_redis.h"


/*
 * The arguments of a command, written straight in RESP where the caller
 * has them: no argument vector, no copy of each argument, no formatting
 * pass.  A decision writes two dozen of them, on every request.  The
 * buffer is the worker's (ngx_http_tenant_redis_cmd()); running out of
 * it marks the command failed, and ngx_http_tenant_redis_send() refuses
 * a failed command.
 */


/* an empty command written between start and end */

void
ngx_http_tenant_redis_cmd_init(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *start, u_char *end)
{
    cmd->start = start;
    cmd->pos = start;
    cmd->end = end;
    cmd->args = 0;
    cmd->failed = 0;
}


void
ngx_http_tenant_redis_arg(ngx_http_tenant_redis_cmd_t *cmd, u_char *data,
    size_t len)
{
    u_char  *p;

    p = ngx_http_tenant_redis_arg_start(cmd, len);

    if (p == NULL) {
        return;
    }

    if (len) {    /* an empty argument may have no data */
        p = ngx_cpymem(p, data, len);
    }

    ngx_http_tenant_redis_arg_end(cmd, p);
}


void
ngx_http_tenant_redis_arg_number(ngx_http_tenant_redis_cmd_t *cmd,
    uint64_t n)
{
    u_char   digits[NGX_INT64_LEN], *end;

    end = ngx_http_tenant_decimal(digits, n);

    ngx_http_tenant_redis_arg(cmd, digits, end - digits);
}


/* arguments already in RESP, args of them */

void
ngx_http_tenant_redis_arg_raw(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_str_t *resp, ngx_uint_t args)
{
    if ((size_t) (cmd->end - cmd->pos) < resp->len) {
        cmd->failed = 1;
        cmd->pos = cmd->end;
        return;
    }

    cmd->pos = ngx_cpymem(cmd->pos, resp->data, resp->len);
    cmd->args += args;
}


/* "$LEN\r\n": the caller writes exactly len bytes at the pointer returned */

u_char *
ngx_http_tenant_redis_arg_start(ngx_http_tenant_redis_cmd_t *cmd, size_t len)
{
    u_char  *p;

    if ((size_t) (cmd->end - cmd->pos) < 1 + NGX_SIZE_T_LEN + 2 + len + 2) {
        cmd->failed = 1;
        cmd->pos = cmd->end;
        return NULL;
    }

    p = cmd->pos;

    *p++ = '$';
    p = ngx_http_tenant_decimal(p, len);
    *p++ = CR; *p++ = LF;

    cmd->args++;

    return p;
}


void
ngx_http_tenant_redis_arg_end(ngx_http_tenant_redis_cmd_t *cmd, u_char *p)
{
    *p++ = CR; *p++ = LF;

    cmd->pos = p;
}


/*
 * An unsigned number in decimal, written in place two digits at a time:
 * a decision writes two dozen numbers (the arguments' lengths, iat, the
 * deadline, the limit headers), where ngx_sprintf() or a copy from a
 * scratch buffer would cost more than the digits.
 */

u_char *
ngx_http_tenant_decimal(u_char *p, uint64_t n)
{
    u_char      *end;
    ngx_uint_t   len, i;

    static const u_char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    static const uint64_t  tens[] = {
        10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
        10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
        100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL,
        10000000000000000000ULL
    };

    if (n < 10) {
        *p++ = (u_char) ('0' + n);
        return p;
    }

    for (len = 1; len < sizeof(tens) / sizeof(tens[0]) && n >= tens[len];
         len++)
    {
        /* void */
    }

    end = p + len + 1;
    p = end;

    while (n >= 100) {
        i = (ngx_uint_t) (n % 100) * 2;
        n /= 100;
        *--p = pairs[i + 1];
        *--p = pairs[i];
    }

    if (n >= 10) {
        i = (ngx_uint_t) n * 2;
        *--p = pairs[i + 1];
        *--p = pairs[i];

    } else {
        *--p = (u_char) ('0' + n);
    }

    return end;
}
