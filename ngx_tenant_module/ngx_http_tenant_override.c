
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_crc32.h>

#include "ngx_http_tenant_override.h"


/*
 * A mistyped override is read by every request of its tenant: its line
 * is written once a minute, not once a request.  Each worker remembers
 * when it last wrote the line of a tenant and field in a small table of
 * its own, indexed by their hash; two pairs that share a slot only make
 * each other's line come more often.
 */

#define NGX_HTTP_TENANT_OVERRIDE_SLOTS     64
#define NGX_HTTP_TENANT_OVERRIDE_INTERVAL  60

/* enough of a value to recognize it; the rest is cut */
#define NGX_HTTP_TENANT_OVERRIDE_SHOWN     64


typedef struct {
    uint32_t                       hash;
    time_t                         logged;
} ngx_http_tenant_override_slot_t;


static ngx_uint_t ngx_http_tenant_override_due(ngx_str_t *tenant,
    ngx_str_t *field);
static u_char *ngx_http_tenant_override_printable(u_char *dst,
    ngx_str_t *src, size_t max);


static ngx_http_tenant_override_slot_t
    ngx_http_tenant_override_slots[NGX_HTTP_TENANT_OVERRIDE_SLOTS];


void
ngx_http_tenant_override_ignored(ngx_log_t *log, ngx_str_t *tenant,
    ngx_str_t *field, ngx_str_t *value)
{
    u_char     f[NGX_HTTP_TENANT_OVERRIDE_SHOWN * 4 + 3];
    u_char     v[NGX_HTTP_TENANT_OVERRIDE_SHOWN * 4 + 3];
    ngx_str_t  fs, vs;

    if (!ngx_http_tenant_override_due(tenant, field)) {
        return;
    }

    /* the hash is written by operators: no byte of it reaches a log raw */
    fs.data = f;
    fs.len = ngx_http_tenant_override_printable(f, field,
                                            NGX_HTTP_TENANT_OVERRIDE_SHOWN)
             - f;
    vs.data = v;
    vs.len = ngx_http_tenant_override_printable(v, value,
                                            NGX_HTTP_TENANT_OVERRIDE_SHOWN)
             - v;

    if (field->len == sizeof("plan") - 1
        && ngx_strncmp(field->data, "plan", field->len) == 0)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tenant: registry field \"plan\" of tenant \"%V\" "
                      "names \"%V\", which no \"tenant_plan\" declares: "
                      "ignored", tenant, &vs);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "tenant: registry field \"%V\" of tenant \"%V\" is "
                  "\"%V\", which does not parse: ignored",
                  &fs, tenant, &vs);
}


static ngx_uint_t
ngx_http_tenant_override_due(ngx_str_t *tenant, ngx_str_t *field)
{
    time_t                            now;
    uint32_t                          hash;
    ngx_http_tenant_override_slot_t  *slot;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, tenant->data, tenant->len);
    ngx_crc32_update(&hash, (u_char *) " ", 1);
    ngx_crc32_update(&hash, field->data, field->len);
    ngx_crc32_final(hash);

    slot = &ngx_http_tenant_override_slots[hash
                                           % NGX_HTTP_TENANT_OVERRIDE_SLOTS];
    now = ngx_time();

    if (slot->hash == hash && slot->logged
        && now - slot->logged < NGX_HTTP_TENANT_OVERRIDE_INTERVAL)
    {
        return 0;
    }

    slot->hash = hash;
    slot->logged = now;

    return 1;
}


/* at most max bytes of src, quotes, backslashes and controls as \xHH */

static u_char *
ngx_http_tenant_override_printable(u_char *dst, ngx_str_t *src, size_t max)
{
    size_t   i, n;
    u_char   c;

    static u_char  hex[] = "0123456789abcdef";

    n = ngx_min(src->len, max);

    for (i = 0; i < n; i++) {
        c = src->data[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = 'x';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
            continue;
        }

        *dst++ = c;
    }

    if (n < src->len) {
        dst = ngx_cpymem(dst, "...", 3);
    }

    return dst;
}
