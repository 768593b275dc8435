
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * What a running nginx would provide: a cycle with a log, and the two
 * logging entry points.  Everything else the targets call is nginx's own
 * code (pool, array, list, hash, string) and the module's.  Messages are
 * formatted with nginx's formatter, so that a bad "%V" argument is found,
 * and written only when FUZZ_LOG is set.
 */


#include "fuzz.h"


static ngx_cycle_t  fuzz_cycle;
static ngx_log_t    fuzz_log_s;
static ngx_flag_t   fuzz_log_print;

volatile ngx_cycle_t  *ngx_cycle = &fuzz_cycle;
ngx_log_t             *fuzz_log = &fuzz_log_s;


static void
fuzz_log_write(ngx_uint_t level, ngx_err_t err, const char *fmt, va_list args)
{
    u_char  *p, *last;
    u_char   errstr[NGX_MAX_ERROR_STR];

    last = errstr + NGX_MAX_ERROR_STR;

    p = ngx_slprintf(errstr, last, "[%ui] ", level);
    p = ngx_vslprintf(p, last, fmt, args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d)", err);
    }

    if (fuzz_log_print) {
        fprintf(stderr, "%.*s\n", (int) (p - errstr), errstr);
    }
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    fuzz_log_write(level, err, fmt, args);
    va_end(args);
}


void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;

    /* configuration happens once, in fuzz_init(): always worth seeing */
    fuzz_log_print = 1;

    va_start(args, fmt);
    fuzz_log_write(level, err, fmt, args);
    va_end(args);

    fuzz_log_print = (getenv("FUZZ_LOG") != NULL);
}


ngx_int_t
fuzz_init(void)
{
    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    /* every level, debug too: the formatting of each message is run */
    fuzz_log_s.log_level = NGX_LOG_DEBUG_ALL | NGX_LOG_DEBUG;
    fuzz_cycle.log = fuzz_log;

    fuzz_log_print = (getenv("FUZZ_LOG") != NULL);

    return NGX_OK;
}


ngx_pool_t *
fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(1024, fuzz_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


/* for what lives as long as the process: a configuration, say */

ngx_pool_t *
fuzz_pool_forever(void)
{
    static ngx_pool_t  *pool;

    if (pool == NULL) {
        pool = fuzz_pool();
    }

    return pool;
}


ngx_conf_t *
fuzz_conf(ngx_pool_t *pool)
{
    ngx_conf_t  *cf;

    cf = ngx_pcalloc(pool, sizeof(ngx_conf_t));
    if (cf == NULL) {
        abort();
    }

    cf->pool = pool;
    cf->temp_pool = pool;
    cf->cycle = &fuzz_cycle;
    cf->log = fuzz_log;

    return cf;
}


ngx_flag_t
fuzz_tenant_id_ok(const u_char *p, size_t len)
{
    size_t  i, dots;

    if (len < 1 || len > 64) {
        return 0;
    }

    dots = 0;

    for (i = 0; i < len; i++) {
        if (strchr("abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-", p[i]) == NULL
            || p[i] == '\0')
        {
            return 0;
        }

        dots += (p[i] == '.');
    }

    /* "." and ".." would name a directory in a path built from the ID */
    return !(dots == len && len <= 2);
}


ngx_flag_t
fuzz_has_c0(const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


size_t
fuzz_b64url_encode(u_char *dst, const u_char *src, size_t len)
{
    size_t         i, n;
    uint32_t       v;
    static u_char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "abcdefghijklmnopqrstuvwxyz0123456789-_";

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
        dst[n++] = abc[(v >> 18) & 63];
        dst[n++] = abc[(v >> 12) & 63];
        dst[n++] = abc[(v >> 6) & 63];
        dst[n++] = abc[v & 63];
    }

    if (len - i == 1) {
        v = src[i] << 16;
        dst[n++] = abc[(v >> 18) & 63];
        dst[n++] = abc[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (src[i] << 16) | (src[i + 1] << 8);
        dst[n++] = abc[(v >> 18) & 63];
        dst[n++] = abc[(v >> 12) & 63];
        dst[n++] = abc[(v >> 6) & 63];
    }

    return n;
}
