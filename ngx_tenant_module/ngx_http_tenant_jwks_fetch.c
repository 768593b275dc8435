
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_tenant_jwks_fetch.h"


/* the answer's head: a JWK Set's server says little about itself */
#define NGX_HTTP_TENANT_JWKS_HEAD_MAX  16384
#define NGX_HTTP_TENANT_JWKS_READ      16384
#define NGX_HTTP_TENANT_JWKS_ERR_LEN   256


struct ngx_http_tenant_jwks_fetch_s {
    ngx_pool_t                     *pool;
    ngx_log_t                       log;
    ngx_http_tenant_jwks_client_t  *client;
    ngx_http_tenant_jwks_url_t     *url;
    ngx_http_tenant_jwks_fetch_pt   handler;
    void                           *data;

    ngx_peer_connection_t           pc;
    ngx_resolver_ctx_t             *resolving;
    ngx_addr_t                     *addrs;      /* the name's, in turn */
    ngx_uint_t                      naddrs;
    ngx_uint_t                      next;
    ngx_sockaddr_t                  sockaddr;
    socklen_t                       socklen;
    ngx_str_t                       address;
    u_char                          address_text[NGX_SOCKADDR_STRLEN];

    ngx_event_t                     timer;
    ngx_buf_t                      *out;
    u_char                         *in;
    size_t                          in_len;
    size_t                          in_size;

    u_char                          err[NGX_HTTP_TENANT_JWKS_ERR_LEN];
    unsigned                        starting:1;
    unsigned                        failed:1;
};


static void ngx_http_tenant_jwks_fetch_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_tenant_jwks_fetch_addrs(
    ngx_http_tenant_jwks_fetch_t *f, ngx_resolver_ctx_t *ctx);
static void ngx_http_tenant_jwks_fetch_connect(
    ngx_http_tenant_jwks_fetch_t *f);
static void ngx_http_tenant_jwks_fetch_refused(
    ngx_http_tenant_jwks_fetch_t *f, ngx_err_t err);
static void ngx_http_tenant_jwks_fetch_connected(ngx_event_t *wev);
static void ngx_http_tenant_jwks_fetch_ssl_done(ngx_connection_t *c);
static ngx_int_t ngx_http_tenant_jwks_fetch_request(
    ngx_http_tenant_jwks_fetch_t *f);
static void ngx_http_tenant_jwks_fetch_write(ngx_event_t *wev);
static void ngx_http_tenant_jwks_fetch_read(ngx_event_t *rev);
static void ngx_http_tenant_jwks_fetch_parse(ngx_http_tenant_jwks_fetch_t *f);
static time_t ngx_http_tenant_jwks_max_age(u_char *p, u_char *end);
static ngx_int_t ngx_http_tenant_jwks_header(u_char *p, u_char *end,
    const char *name, ngx_str_t *value);
static void ngx_http_tenant_jwks_fetch_timeout(ngx_event_t *ev);
static void ngx_http_tenant_jwks_fetch_fail(ngx_http_tenant_jwks_fetch_t *f,
    ngx_err_t err, const char *fmt, ...);
static void ngx_http_tenant_jwks_fetch_finish(ngx_http_tenant_jwks_fetch_t *f,
    ngx_http_tenant_jwks_reply_t *reply);
static void ngx_http_tenant_jwks_fetch_close(ngx_http_tenant_jwks_fetch_t *f);


/*
 * http:// or https://, a host, an optional port, a path.  With resolve,
 * a name is resolved now, in the master process (there is no resolver
 * at the http level); otherwise at each fetch.
 */

ngx_int_t
ngx_http_tenant_jwks_url_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_tenant_jwks_url_t *url, ngx_flag_t resolve, char **err)
{
    size_t     skip;
    ngx_url_t  u;

    ngx_memzero(url, sizeof(ngx_http_tenant_jwks_url_t));
    ngx_memzero(&u, sizeof(ngx_url_t));

    url->text = *text;

    if (text->len > 8 && ngx_strncasecmp(text->data, (u_char *) "https://", 8)
                         == 0)
    {
        skip = 8;
        url->https = 1;
        u.default_port = 443;

    } else if (text->len > 7
               && ngx_strncasecmp(text->data, (u_char *) "http://", 7) == 0)
    {
        skip = 7;
        u.default_port = 80;

    } else {
        *err = "the URL must start with \"http://\" or \"https://\"";
        return NGX_ERROR;
    }

    u.url.data = text->data + skip;
    u.url.len = text->len - skip;
    u.uri_part = 1;
    u.no_resolve = !resolve;

    if (ngx_parse_url(pool, &u) != NGX_OK) {
        *err = u.err ? u.err : "invalid URL";
        return NGX_ERROR;
    }

    if (u.host.len == 0 || ngx_strlchr(u.host.data, u.host.data + u.host.len,
                                       '@'))
    {
        *err = "invalid host in the URL";
        return NGX_ERROR;
    }

    url->host = u.host;
    url->port = u.port;

    if (u.uri.len) {
        url->path = u.uri;

    } else {
        ngx_str_set(&url->path, "/");
    }

    if (u.naddrs) {
        url->addrs = u.addrs;
        url->naddrs = u.naddrs;
        return NGX_OK;
    }

    /* a literal address needs no resolver */
    url->addrs = ngx_pcalloc(pool, sizeof(ngx_addr_t));
    if (url->addrs == NULL) {
        return NGX_ERROR;
    }

    if (ngx_parse_addr_port(pool, url->addrs, u.host.data, u.host.len)
        == NGX_OK)
    {
        ngx_inet_set_port(url->addrs->sockaddr, u.port);
        url->naddrs = 1;
        return NGX_OK;
    }

    url->addrs = NULL;

    if (resolve) {
        *err = "host not found";
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_http_tenant_jwks_fetch_t *
ngx_http_tenant_jwks_fetch_start(ngx_http_tenant_jwks_client_t *client,
    ngx_http_tenant_jwks_url_t *url, ngx_msec_t timeout,
    ngx_http_tenant_jwks_fetch_pt handler, void *data, ngx_log_t *log)
{
    ngx_pool_t                    *pool;
    ngx_resolver_ctx_t            *ctx;
    ngx_http_tenant_jwks_fetch_t  *f;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_http_tenant_jwks_fetch_t));
    if (f == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    f->pool = pool;
    f->client = client;
    f->url = url;
    f->handler = handler;
    f->data = data;

    /*
     * nginx's own lines about this connection (connect() refused, a TLS
     * alert) are left out: the caller logs one line per failure, at most
     * once a minute, instead of one per attempt.
     */
    f->log = *log;
    f->log.log_level = NGX_LOG_EMERG;
    f->log.handler = NULL;
    f->log.data = NULL;

    f->timer.handler = ngx_http_tenant_jwks_fetch_timeout;
    f->timer.data = f;
    f->timer.log = log;
    f->timer.cancelable = 1;

    ngx_add_timer(&f->timer, timeout);

    f->starting = 1;

    if (url->addrs) {
        f->addrs = url->addrs;
        f->naddrs = url->naddrs;

        ngx_http_tenant_jwks_fetch_connect(f);

    } else if (client->resolver == NULL) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "\"%V\" needs \"resolver\" at "
                                        "the http level", &url->host);

    } else {
        ctx = ngx_resolve_start(client->resolver, NULL);

        if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
            ngx_http_tenant_jwks_fetch_fail(f, 0, "cannot resolve \"%V\"",
                                            &url->host);

        } else {
            ctx->name = url->host;
            ctx->handler = ngx_http_tenant_jwks_fetch_resolved;
            ctx->data = f;
            ctx->timeout = client->resolver_timeout;

            f->resolving = ctx;

            /* the handler may run right here, with a cached answer */
            if (ngx_resolve_name(ctx) != NGX_OK) {
                f->resolving = NULL;
                ngx_http_tenant_jwks_fetch_fail(f, 0, "cannot resolve \"%V\"",
                                                &url->host);
            }
        }
    }

    f->starting = 0;

    if (f->failed) {
        /* the caller is called back from the event loop, never from here */
        if (f->timer.timer_set) {
            ngx_del_timer(&f->timer);
        }

        ngx_add_timer(&f->timer, 1);
    }

    return f;
}


/* the handler is not called: what was fetched is dropped */

void
ngx_http_tenant_jwks_fetch_cancel(ngx_http_tenant_jwks_fetch_t *f)
{
    ngx_http_tenant_jwks_fetch_close(f);
    ngx_destroy_pool(f->pool);
}


static void
ngx_http_tenant_jwks_fetch_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_tenant_jwks_fetch_t *f = ctx->data;

    f->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_http_tenant_jwks_fetch_fail(f, 0,
                                  "\"%V\" could not be resolved (%i: %s)",
                                  &ctx->name, ctx->state,
                                  ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        return;
    }

    if (ngx_http_tenant_jwks_fetch_addrs(f, ctx) != NGX_OK) {
        ngx_resolve_name_done(ctx);
        ngx_http_tenant_jwks_fetch_fail(f, 0, "out of memory");
        return;
    }

    ngx_resolve_name_done(ctx);

    ngx_http_tenant_jwks_fetch_connect(f);
}


/* the resolver's answer goes with the context: the fetch keeps a copy */

static ngx_int_t
ngx_http_tenant_jwks_fetch_addrs(ngx_http_tenant_jwks_fetch_t *f,
    ngx_resolver_ctx_t *ctx)
{
    ngx_uint_t   i;
    ngx_addr_t  *a;

    a = ngx_pcalloc(f->pool, ctx->naddrs * sizeof(ngx_addr_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->naddrs; i++) {
        a[i].sockaddr = ngx_palloc(f->pool, ctx->addrs[i].socklen);
        if (a[i].sockaddr == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(a[i].sockaddr, ctx->addrs[i].sockaddr,
                   ctx->addrs[i].socklen);
        a[i].socklen = ctx->addrs[i].socklen;
        ngx_inet_set_port(a[i].sockaddr, f->url->port);
    }

    f->addrs = a;
    f->naddrs = ctx->naddrs;

    return NGX_OK;
}


static void
ngx_http_tenant_jwks_fetch_connect(ngx_http_tenant_jwks_fetch_t *f)
{
    ngx_int_t          rv;
    ngx_addr_t        *a;
    ngx_connection_t  *c;

    a = &f->addrs[f->next++];

    ngx_memcpy(&f->sockaddr, a->sockaddr, a->socklen);
    f->socklen = a->socklen;

    f->address.data = f->address_text;
    f->address.len = ngx_sock_ntop(&f->sockaddr.sockaddr, f->socklen,
                                   f->address_text, NGX_SOCKADDR_STRLEN, 1);

    f->pc.sockaddr = &f->sockaddr.sockaddr;
    f->pc.socklen = f->socklen;
    f->pc.name = &f->address;
    f->pc.get = ngx_event_get_peer;
    f->pc.log = &f->log;
    f->pc.log_error = NGX_ERROR_INFO;

    rv = ngx_event_connect_peer(&f->pc);

    if (rv == NGX_ERROR || rv == NGX_BUSY || rv == NGX_DECLINED) {
        ngx_http_tenant_jwks_fetch_refused(f, ngx_socket_errno);
        return;
    }

    c = f->pc.connection;

    c->data = f;
    c->log = &f->log;
    c->read->log = &f->log;
    c->write->log = &f->log;
    c->log_error = NGX_ERROR_INFO;
    c->read->handler = ngx_http_tenant_jwks_fetch_read;
    c->write->handler = ngx_http_tenant_jwks_fetch_connected;

    /* the TLS layer keeps its state in the connection's pool */
    c->pool = f->pool;

    if (rv == NGX_OK) {
        ngx_http_tenant_jwks_fetch_connected(c->write);
    }
}


/*
 * A name of several addresses: the next one, as the Redis client does,
 * but within this fetch and its one timeout.
 */

static void
ngx_http_tenant_jwks_fetch_refused(ngx_http_tenant_jwks_fetch_t *f,
    ngx_err_t err)
{
    ngx_connection_t  *c;

    if (f->next == f->naddrs) {
        ngx_http_tenant_jwks_fetch_fail(f, err, "connect() to %V failed",
                                        &f->address);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, f->timer.log, 0,
                   "tenant jwks fetch: connect() to %V failed (%d), "
                   "next address", &f->address, err);

    c = f->pc.connection;
    f->pc.connection = NULL;

    if (c) {
        c->pool = NULL;
        ngx_close_connection(c);
    }

    ngx_http_tenant_jwks_fetch_connect(f);
}


static void
ngx_http_tenant_jwks_fetch_connected(ngx_event_t *wev)
{
    int                            err;
    u_char                         host[256];
    socklen_t                      len;
    ngx_int_t                      rv;
    ngx_connection_t              *c;
    ngx_http_tenant_jwks_fetch_t  *f;

    c = wev->data;
    f = c->data;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_tenant_jwks_fetch_refused(f, err);
        return;
    }

    if (!f->url->https) {
        ngx_http_tenant_jwks_fetch_ssl_done(c);
        return;
    }

    if (f->client->ssl == NULL
        || ngx_ssl_create_connection(f->client->ssl, c, NGX_SSL_CLIENT)
           != NGX_OK)
    {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "TLS setup failed");
        return;
    }

    /* SNI: the URL's host, unless it is an address */
    if (f->url->host.len < sizeof(host)
        && ngx_inet_addr(f->url->host.data, f->url->host.len) == INADDR_NONE
        && f->url->host.data[0] != '[')
    {
        ngx_cpystrn(host, f->url->host.data, f->url->host.len + 1);

        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) host)
            == 0)
        {
            ngx_http_tenant_jwks_fetch_fail(f, 0, "TLS SNI setup failed");
            return;
        }
    }

    rv = ngx_ssl_handshake(c);

    if (rv == NGX_AGAIN) {
        c->ssl->handler = ngx_http_tenant_jwks_fetch_ssl_done;
        return;
    }

    ngx_http_tenant_jwks_fetch_ssl_done(c);
}


static void
ngx_http_tenant_jwks_fetch_ssl_done(ngx_connection_t *c)
{
    long                           rv;
    ngx_http_tenant_jwks_fetch_t  *f;

    f = c->data;

    if (f->url->https) {
        if (!c->ssl->handshaked) {
            ngx_http_tenant_jwks_fetch_fail(f, 0, "TLS handshake with %V "
                                            "failed", &f->address);
            return;
        }

        if (f->client->verify) {
            rv = SSL_get_verify_result(c->ssl->connection);

            if (rv != X509_V_OK) {
                ngx_http_tenant_jwks_fetch_fail(f, 0,
                                   "TLS certificate verify error: (%l:%s)",
                                   rv, X509_verify_cert_error_string(rv));
                return;
            }

            if (ngx_ssl_check_host(c, &f->url->host) != NGX_OK) {
                ngx_http_tenant_jwks_fetch_fail(f, 0,
                                   "TLS certificate does not match \"%V\"",
                                   &f->url->host);
                return;
            }
        }
    }

    if (ngx_http_tenant_jwks_fetch_request(f) != NGX_OK) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "out of memory");
        return;
    }

    c->read->handler = ngx_http_tenant_jwks_fetch_read;
    c->write->handler = ngx_http_tenant_jwks_fetch_write;

    ngx_http_tenant_jwks_fetch_write(c->write);
}


/* HTTP/1.0: the answer is never chunked and ends with the connection */

static ngx_int_t
ngx_http_tenant_jwks_fetch_request(ngx_http_tenant_jwks_fetch_t *f)
{
    size_t                       len;
    ngx_http_tenant_jwks_url_t  *u;

    u = f->url;

    len = sizeof("GET  HTTP/1.0\r\nHost: :65535\r\n"
                 "Accept: application/json\r\n"
                 "User-Agent: nginx-tenant-module\r\n\r\n")
          + u->path.len + u->host.len;

    f->out = ngx_create_temp_buf(f->pool, len);
    if (f->out == NULL) {
        return NGX_ERROR;
    }

    f->out->last = ngx_sprintf(f->out->last, "GET %V HTTP/1.0\r\nHost: %V",
                               &u->path, &u->host);

    if (u->port != (u->https ? 443 : 80)) {
        f->out->last = ngx_sprintf(f->out->last, ":%d", (int) u->port);
    }

    f->out->last = ngx_cpymem(f->out->last,
                              "\r\nAccept: application/json\r\n"
                              "User-Agent: nginx-tenant-module\r\n\r\n",
                              sizeof("\r\nAccept: application/json\r\n"
                                     "User-Agent: nginx-tenant-module\r\n"
                                     "\r\n") - 1);

    return NGX_OK;
}


static void
ngx_http_tenant_jwks_fetch_write(ngx_event_t *wev)
{
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_tenant_jwks_fetch_t  *f;

    c = wev->data;
    f = c->data;

    while (f->out->pos < f->out->last) {
        n = c->send(c, f->out->pos, f->out->last - f->out->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_tenant_jwks_fetch_fail(f, 0, "cannot watch the "
                                                "socket");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_tenant_jwks_fetch_fail(f, ngx_socket_errno,
                                            "send() to %V failed",
                                            &f->address);
            return;
        }

        f->out->pos += n;
    }

    ngx_http_tenant_jwks_fetch_read(c->read);
}


static void
ngx_http_tenant_jwks_fetch_read(ngx_event_t *rev)
{
    u_char                        *in;
    size_t                         size;
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_tenant_jwks_fetch_t  *f;

    c = rev->data;
    f = c->data;

    if (f->out == NULL || f->out->pos < f->out->last) {
        /* readable before the request has left: later */
        return;
    }

    for ( ;; ) {
        if (f->in_len == f->in_size) {
            if (f->in_size >= NGX_HTTP_TENANT_JWKS_BODY_MAX
                              + NGX_HTTP_TENANT_JWKS_HEAD_MAX)
            {
                ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer is larger "
                                                "than %uz bytes",
                                                (size_t)
                                                NGX_HTTP_TENANT_JWKS_BODY_MAX);
                return;
            }

            size = f->in_size ? 2 * f->in_size : NGX_HTTP_TENANT_JWKS_READ;
            size = ngx_min(size, NGX_HTTP_TENANT_JWKS_BODY_MAX
                                 + NGX_HTTP_TENANT_JWKS_HEAD_MAX);

            in = ngx_alloc(size, &f->log);
            if (in == NULL) {
                ngx_http_tenant_jwks_fetch_fail(f, 0, "out of memory");
                return;
            }

            if (f->in) {
                ngx_memcpy(in, f->in, f->in_len);
                ngx_free(f->in);
            }

            f->in = in;
            f->in_size = size;
        }

        n = c->recv(c, f->in + f->in_len, f->in_size - f->in_len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_tenant_jwks_fetch_fail(f, 0, "cannot watch the "
                                                "socket");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_tenant_jwks_fetch_fail(f, ngx_socket_errno,
                                            "recv() from %V failed",
                                            &f->address);
            return;
        }

        if (n == 0) {
            ngx_http_tenant_jwks_fetch_parse(f);
            return;
        }

        f->in_len += n;
    }
}


static void
ngx_http_tenant_jwks_fetch_parse(ngx_http_tenant_jwks_fetch_t *f)
{
    u_char                        *p, *head_end, *end;
    ngx_str_t                      value;
    ngx_int_t                      length;
    ngx_http_tenant_jwks_reply_t   reply;

    p = f->in;
    end = f->in + f->in_len;

    if (f->in_len < 12 || ngx_strncmp(p, "HTTP/1.", 7) != 0
        || p[8] != ' ')
    {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer is not HTTP");
        return;
    }

    head_end = ngx_strlcasestrn(p, end, (u_char *) "\r\n\r\n", 4 - 1);

    if (head_end == NULL) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer has no end of "
                                        "header");
        return;
    }

    ngx_memzero(&reply, sizeof(ngx_http_tenant_jwks_reply_t));

    reply.status = ngx_atoi(p + 9, 3);

    if (reply.status == (ngx_uint_t) NGX_ERROR) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer has no status");
        return;
    }

    /* a redirect is not followed: the configured URL must be the final */
    if (reply.status != 200) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "%V answered %ui%s",
                        &f->url->text, reply.status,
                        (reply.status >= 300 && reply.status < 400)
                        ? " (redirects are not followed)" : "");
        return;
    }

    if (ngx_http_tenant_jwks_header(p, head_end, "transfer-encoding", &value)
        == NGX_OK)
    {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer has a "
                                        "Transfer-Encoding to HTTP/1.0");
        return;
    }

    reply.body.data = head_end + 4;
    reply.body.len = end - reply.body.data;

    if (ngx_http_tenant_jwks_header(p, head_end, "content-length", &value)
        == NGX_OK)
    {
        length = ngx_atoi(value.data, value.len);

        if (length == NGX_ERROR || (size_t) length > reply.body.len) {
            ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer is cut short");
            return;
        }

        reply.body.len = length;
    }

    if (reply.body.len > NGX_HTTP_TENANT_JWKS_BODY_MAX) {
        ngx_http_tenant_jwks_fetch_fail(f, 0, "the answer is larger than %uz "
                                        "bytes",
                                        (size_t) NGX_HTTP_TENANT_JWKS_BODY_MAX);
        return;
    }

    reply.max_age = -1;

    if (ngx_http_tenant_jwks_header(p, head_end, "cache-control", &value)
        == NGX_OK)
    {
        reply.max_age = ngx_http_tenant_jwks_max_age(value.data,
                                                     value.data + value.len);
    }

    reply.rc = NGX_OK;

    ngx_http_tenant_jwks_fetch_finish(f, &reply);
}


/* "max-age=N" among the directives; -1 without it */

static time_t
ngx_http_tenant_jwks_max_age(u_char *p, u_char *end)
{
    u_char     *q;
    ngx_int_t   n;

    p = ngx_strlcasestrn(p, end, (u_char *) "max-age=", 8 - 1);
    if (p == NULL) {
        return -1;
    }

    p += 8;

    for (q = p; q < end && *q >= '0' && *q <= '9'; q++) { /* void */ }

    n = ngx_atoi(p, q - p);

    return n == NGX_ERROR ? -1 : (time_t) n;
}


/* the first header of that name, its value trimmed */

static ngx_int_t
ngx_http_tenant_jwks_header(u_char *p, u_char *end, const char *name,
    ngx_str_t *value)
{
    size_t   len;
    u_char  *line, *eol;

    len = ngx_strlen(name);

    for (line = ngx_strlchr(p, end, '\n'); line && line < end; line = eol) {
        line++;

        eol = ngx_strlchr(line, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        if ((size_t) (eol - line) <= len || line[len] != ':'
            || ngx_strncasecmp(line, (u_char *) name, len) != 0)
        {
            continue;
        }

        p = line + len + 1;

        while (p < eol && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (eol > p && (eol[-1] == '\r' || eol[-1] == ' ')) {
            eol--;
        }

        value->data = p;
        value->len = eol - p;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_tenant_jwks_fetch_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_fetch_t *f = ev->data;

    ngx_http_tenant_jwks_reply_t  reply;

    if (!f->failed) {
        ngx_snprintf(f->err, NGX_HTTP_TENANT_JWKS_ERR_LEN - 1,
                     "no answer in time%Z");
    }

    ngx_memzero(&reply, sizeof(ngx_http_tenant_jwks_reply_t));
    reply.rc = NGX_ERROR;
    reply.max_age = -1;

    ngx_http_tenant_jwks_fetch_finish(f, &reply);
}


static void
ngx_http_tenant_jwks_fetch_fail(ngx_http_tenant_jwks_fetch_t *f,
    ngx_err_t err, const char *fmt, ...)
{
    u_char                        *p, *last;
    va_list                        args;
    ngx_http_tenant_jwks_reply_t   reply;

    last = f->err + NGX_HTTP_TENANT_JWKS_ERR_LEN - 1;

    va_start(args, fmt);
    p = ngx_vslprintf(f->err, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: ", err);
        p = ngx_strerror(err, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    *p = '\0';

    f->failed = 1;

    if (f->starting) {
        return;
    }

    ngx_memzero(&reply, sizeof(ngx_http_tenant_jwks_reply_t));
    reply.rc = NGX_ERROR;
    reply.max_age = -1;

    ngx_http_tenant_jwks_fetch_finish(f, &reply);
}


static void
ngx_http_tenant_jwks_fetch_finish(ngx_http_tenant_jwks_fetch_t *f,
    ngx_http_tenant_jwks_reply_t *reply)
{
    reply->err = f->err;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, f->timer.log, 0,
                   "tenant jwks fetch \"%V\": %i \"%s\"", &f->url->text,
                   reply->rc, f->err);

    f->handler(f->data, reply);

    ngx_http_tenant_jwks_fetch_cancel(f);
}


static void
ngx_http_tenant_jwks_fetch_close(ngx_http_tenant_jwks_fetch_t *f)
{
    ngx_connection_t  *c;

    if (f->resolving) {
        ngx_resolve_name_done(f->resolving);
        f->resolving = NULL;
    }

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    c = f->pc.connection;
    f->pc.connection = NULL;

    if (c) {
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        /* the pool is the fetch's: it goes with the fetch */
        c->pool = NULL;
        ngx_close_connection(c);
    }

    if (f->in) {
        ngx_free(f->in);
        f->in = NULL;
    }
}
