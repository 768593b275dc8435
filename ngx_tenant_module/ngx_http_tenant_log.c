
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tenant_log.h"


/*
 * nginx ends each error log line of a request with its context, written
 * by the main request's log_handler: server, request line, host and
 * referrer.  The module puts its own handler in front, which lets nginx's
 * write the context and then masks the request's tokens in it.  What the
 * handler needs hangs off the main request's pool, the only place both a
 * subrequest and its main request reach.
 */

/* a request rarely has more than one: after a redirect, a subrequest */
#define NGX_HTTP_TENANT_LOG_TOKENS  4

/* a tail this long that starts a token is masked: the line was cut there */
#define NGX_HTTP_TENANT_LOG_CUT     8

#define NGX_HTTP_TENANT_LOG_MASK    "***"


typedef struct {
    ngx_http_log_handler_pt        next;
    ngx_str_t                      tokens[NGX_HTTP_TENANT_LOG_TOKENS];
    ngx_uint_t                     ntokens;
} ngx_http_tenant_log_t;


static ngx_http_tenant_log_t *ngx_http_tenant_log_find(ngx_pool_t *pool);
static u_char *ngx_http_tenant_log_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static u_char *ngx_http_tenant_log_mask(u_char *start, u_char *end,
    ngx_str_t *token);
static u_char *ngx_http_tenant_log_replace(u_char *at, size_t len,
    u_char *end);
static void ngx_http_tenant_log_cleanup(void *data);


ngx_int_t
ngx_http_tenant_log_hide(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_uint_t              i;
    ngx_pool_cleanup_t     *cln;
    ngx_http_request_t     *mr;
    ngx_http_tenant_log_t  *lg;

    mr = r->main;

    if (token->len == 0 || mr->log_handler == NULL) {
        return NGX_OK;
    }

    lg = ngx_http_tenant_log_find(mr->pool);

    if (lg == NULL) {
        cln = ngx_pool_cleanup_add(mr->pool, sizeof(ngx_http_tenant_log_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_tenant_log_cleanup;

        lg = cln->data;
        ngx_memzero(lg, sizeof(ngx_http_tenant_log_t));

        lg->next = mr->log_handler;
        mr->log_handler = ngx_http_tenant_log_handler;
    }

    for (i = 0; i < lg->ntokens; i++) {
        if (lg->tokens[i].len == token->len
            && ngx_memcmp(lg->tokens[i].data, token->data, token->len) == 0)
        {
            return NGX_OK;
        }
    }

    /* the latest token takes the last place when all are taken */
    if (lg->ntokens < NGX_HTTP_TENANT_LOG_TOKENS) {
        lg->ntokens++;
    }

    /* the token's bytes live as long as the request: headers, arguments */
    lg->tokens[lg->ntokens - 1] = *token;

    return NGX_OK;
}


static ngx_http_tenant_log_t *
ngx_http_tenant_log_find(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_tenant_log_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static u_char *
ngx_http_tenant_log_handler(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                 *p;
    ngx_uint_t              i;
    ngx_http_tenant_log_t  *lg;

    lg = ngx_http_tenant_log_find(r->pool);
    if (lg == NULL) {
        return buf;
    }

    p = lg->next(r, sr, buf, len);

    for (i = 0; i < lg->ntokens; i++) {
        p = ngx_http_tenant_log_mask(buf, p, &lg->tokens[i]);
    }

    return p;
}


/* every whole token in [start, end), and one cut at the end; the new end */

static u_char *
ngx_http_tenant_log_mask(u_char *start, u_char *end, ngx_str_t *token)
{
    u_char  *p;

    p = start;

    while ((size_t) (end - p) >= token->len) {
        if (*p != token->data[0]
            || ngx_memcmp(p, token->data, token->len) != 0)
        {
            p++;
            continue;
        }

        end = ngx_http_tenant_log_replace(p, token->len, end);
        p += ngx_min(token->len, sizeof(NGX_HTTP_TENANT_LOG_MASK) - 1);
    }

    /*
     * a line too long for the buffer may end in the token's first bytes:
     * the longest such tail goes
     */
    if ((size_t) (end - start) < token->len) {
        p = start;

    } else {
        p = end - (token->len - 1);
    }

    for ( /* void */ ; end - p >= NGX_HTTP_TENANT_LOG_CUT; p++) {
        if (*p == token->data[0]
            && ngx_memcmp(p, token->data, end - p) == 0)
        {
            return ngx_http_tenant_log_replace(p, end - p, end);
        }
    }

    return end;
}


/* len bytes at "at" become the mask, or as many '*'; the new end */

static u_char *
ngx_http_tenant_log_replace(u_char *at, size_t len, u_char *end)
{
    size_t  mask;

    mask = sizeof(NGX_HTTP_TENANT_LOG_MASK) - 1;

    if (len <= mask) {
        ngx_memset(at, '*', len);
        return end;
    }

    ngx_memcpy(at, NGX_HTTP_TENANT_LOG_MASK, mask);
    ngx_memmove(at + mask, at + len, end - (at + len));

    return end - (len - mask);
}


/* nothing to free: the cleanup only marks where the handler's data is */

static void
ngx_http_tenant_log_cleanup(void *data)
{
}
