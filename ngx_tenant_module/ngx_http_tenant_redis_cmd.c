
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
 * An unsigned number in decimal: ngx_sprintf() costs ten times as much,
 * and a decision writes a dozen numbers.
 */

u_char *
ngx_http_tenant_decimal(u_char *p, uint64_t n)
{
    u_char   digits[NGX_INT64_LEN], *d;

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
}
