
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <hiredis/hiredis.h>

#include "ngx_http_tenant_redis_conn.h"


/*
 * A connect, TLS handshake and AUTH that have not completed in a second
 * are not going to: Redis is expected on the same host or LAN, or a
 * managed service in the same region.  Requests never wait that long
 * (they have their own timer); this bounds how long a black-holed
 * address delays the next attempt.
 */
#define NGX_HTTP_TENANT_REDIS_CONNECT_TIMEOUT  1000

/*
 * No reply at all for this long while commands are outstanding: the peer
 * is gone without a reset (a partition, a frozen host), and only a new
 * connection will tell.  Longer than any sane blocking command, so a
 * Redis that is merely slow keeps its link and late replies are
 * delivered or dropped as usual.
 */
#define NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT    3000

#define NGX_HTTP_TENANT_REDIS_OUT_SIZE         4096
#define NGX_HTTP_TENANT_REDIS_READ_SIZE        16384
#define NGX_HTTP_TENANT_REDIS_ERROR_LEN        256


typedef enum {
    NGX_HTTP_TENANT_REDIS_IDLE = 0,
    NGX_HTTP_TENANT_REDIS_WAITING,        /* for an address: Sentinel */
    NGX_HTTP_TENANT_REDIS_RESOLVING,
    NGX_HTTP_TENANT_REDIS_CONNECTING,
    NGX_HTTP_TENANT_REDIS_HANDSHAKING,
    NGX_HTTP_TENANT_REDIS_READY
} ngx_http_tenant_redis_state_e;


/* a command sent, waiting for its reply */
typedef struct {
    ngx_queue_t                           queue;
    ngx_http_tenant_redis_conn_reply_pt   handler;
    void                                 *data;
} ngx_http_tenant_redis_pending_t;


struct ngx_http_tenant_redis_conn_s {
    ngx_http_tenant_redis_state_e         state;
    ngx_http_tenant_redis_peer_t         *peer;
    ngx_peer_connection_t                 pc;
    ngx_resolver_ctx_t                   *resolving;
    redisReader                          *reader;

    u_char                               *out;       /* commands to send */
    size_t                                out_sent;
    size_t                                out_len;
    size_t                                out_size;

    ngx_queue_t                           pending;
    ngx_queue_t                           free;
    ngx_uint_t                            npending;

    ngx_http_tenant_redis_conn_reply_pt   push;
    void                                 *push_data;
    ngx_http_tenant_redis_conn_down_pt    down;
    void                                 *data;

    ngx_event_t                           connect_timer;
    ngx_event_t                           stall_timer;
    ngx_event_t                           flush;
    ngx_log_t                             log;

    ngx_ssl_session_t                    *session;   /* to resume TLS */

    ngx_sockaddr_t                        sockaddr;
    socklen_t                             socklen;
    ngx_str_t                             address;
    u_char                                address_text[NGX_SOCKADDR_STRLEN];
    u_char                         error[NGX_HTTP_TENANT_REDIS_ERROR_LEN];

    unsigned                              opening:1;
};


static ngx_int_t ngx_http_tenant_redis_conn_handshake(
    ngx_http_tenant_redis_conn_t *rc);
static void ngx_http_tenant_redis_conn_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_tenant_redis_conn_connect(
    ngx_http_tenant_redis_conn_t *rc);
static void ngx_http_tenant_redis_conn_connected(
    ngx_http_tenant_redis_conn_t *rc);
static ngx_int_t ngx_http_tenant_redis_conn_test_connect(ngx_connection_t *c);
static void ngx_http_tenant_redis_conn_ssl_start(
    ngx_http_tenant_redis_conn_t *rc);
static void ngx_http_tenant_redis_conn_ssl_done(ngx_connection_t *c);
static void ngx_http_tenant_redis_conn_ssl_save(ngx_connection_t *c);
static ngx_int_t ngx_http_tenant_redis_conn_ssl_verify(
    ngx_http_tenant_redis_conn_t *rc, ngx_connection_t *c);
static ngx_int_t ngx_http_tenant_redis_conn_check_name(ngx_connection_t *c,
    ngx_str_t *name);
static void ngx_http_tenant_redis_conn_ready(ngx_http_tenant_redis_conn_t *rc);
static void ngx_http_tenant_redis_conn_fail(ngx_http_tenant_redis_conn_t *rc,
    ngx_err_t err, const char *fmt, ...);
static void ngx_http_tenant_redis_conn_auth_done(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_conn_select_done(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_conn_refused(
    ngx_http_tenant_redis_conn_t *rc, const char *command,
    ngx_http_tenant_redis_reply_t *reply);

static void ngx_http_tenant_redis_conn_read_handler(ngx_event_t *rev);
static void ngx_http_tenant_redis_conn_write_handler(ngx_event_t *wev);
static void ngx_http_tenant_redis_conn_flush_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_conn_flush(ngx_http_tenant_redis_conn_t *rc);
static ngx_int_t ngx_http_tenant_redis_conn_dispatch(
    ngx_http_tenant_redis_conn_t *rc, ngx_connection_t *c);
static void ngx_http_tenant_redis_conn_answered(
    ngx_http_tenant_redis_conn_t *rc);
static void ngx_http_tenant_redis_conn_connect_timeout(ngx_event_t *ev);
static void ngx_http_tenant_redis_conn_stall_timeout(ngx_event_t *ev);
static u_char *ngx_http_tenant_redis_conn_log_handler(ngx_log_t *log,
    u_char *buf, size_t len);


/* one read buffer for every link of the worker: reads never nest */
static u_char  ngx_http_tenant_redis_conn_buf[NGX_HTTP_TENANT_REDIS_READ_SIZE];


ngx_http_tenant_redis_conn_t *
ngx_http_tenant_redis_conn_create(ngx_log_t *log,
    ngx_http_tenant_redis_conn_down_pt down, void *data)
{
    ngx_http_tenant_redis_conn_t  *rc;

    rc = ngx_calloc(sizeof(ngx_http_tenant_redis_conn_t), log);
    if (rc == NULL) {
        return NULL;
    }

    rc->log = *log;
    rc->log.handler = ngx_http_tenant_redis_conn_log_handler;
    rc->log.data = rc;
    rc->log.action = NULL;
    rc->log.connection = 0;

    rc->down = down;
    rc->data = data;

    ngx_queue_init(&rc->pending);
    ngx_queue_init(&rc->free);

    ngx_str_set(&rc->address, "(not opened yet)");

    /* cancelable: a worker that is shutting down does not wait for them */

    rc->connect_timer.handler = ngx_http_tenant_redis_conn_connect_timeout;
    rc->connect_timer.data = rc;
    rc->connect_timer.log = &rc->log;
    rc->connect_timer.cancelable = 1;

    rc->stall_timer.handler = ngx_http_tenant_redis_conn_stall_timeout;
    rc->stall_timer.data = rc;
    rc->stall_timer.log = &rc->log;
    rc->stall_timer.cancelable = 1;

    rc->flush.handler = ngx_http_tenant_redis_conn_flush_handler;
    rc->flush.data = rc;
    rc->flush.log = &rc->log;

    return rc;
}


void
ngx_http_tenant_redis_conn_destroy(ngx_http_tenant_redis_conn_t *rc)
{
    ngx_queue_t  *q;

    ngx_http_tenant_redis_conn_close(rc, 1);

    while (!ngx_queue_empty(&rc->free)) {
        q = ngx_queue_head(&rc->free);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_tenant_redis_pending_t, queue));
    }

    if (rc->session) {
        ngx_ssl_free_session(rc->session);
    }

    ngx_free(rc->out);
    ngx_free(rc);
}


ngx_int_t
ngx_http_tenant_redis_conn_open(ngx_http_tenant_redis_conn_t *rc,
    ngx_http_tenant_redis_peer_t *peer)
{
    ngx_int_t                  rv;
    ngx_resolver_ctx_t        *ctx;

    if (rc->state != NGX_HTTP_TENANT_REDIS_IDLE) {
        return NGX_OK;
    }

    rc->peer = peer;
    rc->error[0] = '\0';
    rc->out_len = 0;
    rc->out_sent = 0;

    rc->reader = ngx_http_tenant_redis_reader_create();
    if (rc->reader == NULL) {
        return NGX_ERROR;
    }

    /* open from here: commands can be queued */
    rc->state = NGX_HTTP_TENANT_REDIS_CONNECTING;

    /* queued first, so they leave ahead of anything sent meanwhile */
    if (ngx_http_tenant_redis_conn_handshake(rc) != NGX_OK) {
        ngx_http_tenant_redis_conn_close(rc, 1);
        return NGX_ERROR;
    }

    if (peer->sockaddr == NULL && peer->resolver == NULL) {
        /* the owner learns the address later: commands queue meanwhile */
        rc->state = NGX_HTTP_TENANT_REDIS_WAITING;
        ngx_str_set(&rc->address, "(address not known yet)");
        return NGX_OK;
    }

    rc->opening = 1;

    ngx_add_timer(&rc->connect_timer, NGX_HTTP_TENANT_REDIS_CONNECT_TIMEOUT);

    if (peer->sockaddr) {
        ngx_memcpy(&rc->sockaddr, peer->sockaddr, peer->socklen);
        rc->socklen = peer->socklen;

        rv = ngx_http_tenant_redis_conn_connect(rc);

    } else {
        rc->state = NGX_HTTP_TENANT_REDIS_RESOLVING;

        rc->address = peer->host;

        ctx = ngx_resolve_start(peer->resolver, NULL);
        if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
            ngx_http_tenant_redis_conn_fail(rc, 0, "cannot resolve \"%V\"",
                                            &peer->host);
            rc->opening = 0;
            return NGX_ERROR;
        }

        ctx->name = peer->host;
        ctx->handler = ngx_http_tenant_redis_conn_resolved;
        ctx->data = rc;
        ctx->timeout = peer->resolver_timeout;

        /* a worker that is shutting down does not wait for DNS */
        ctx->cancelable = 1;

        rc->resolving = ctx;

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &rc->log, 0,
                       "tenant redis resolving \"%V\"", &peer->host);

        /* the handler may run right here, with a cached answer */
        rv = ngx_resolve_name(ctx);

        if (rv != NGX_OK) {
            rc->resolving = NULL;
            ngx_http_tenant_redis_conn_fail(rc, 0, "cannot resolve \"%V\"",
                                            &peer->host);
        }
    }

    rc->opening = 0;

    if (rc->state == NGX_HTTP_TENANT_REDIS_IDLE) {
        return NGX_ERROR;
    }

    return rv == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/* the address of a link opened without one; NGX_ERROR as for _open() */

ngx_int_t
ngx_http_tenant_redis_conn_connect_to(ngx_http_tenant_redis_conn_t *rc,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_int_t  rv;

    if (rc->state != NGX_HTTP_TENANT_REDIS_WAITING) {
        return NGX_ERROR;
    }

    ngx_memcpy(&rc->sockaddr, sockaddr, socklen);
    rc->socklen = socklen;

    rc->opening = 1;

    ngx_add_timer(&rc->connect_timer, NGX_HTTP_TENANT_REDIS_CONNECT_TIMEOUT);

    rv = ngx_http_tenant_redis_conn_connect(rc);

    rc->opening = 0;

    if (rc->state == NGX_HTTP_TENANT_REDIS_IDLE) {
        return NGX_ERROR;
    }

    return rv;
}


/* AUTH and SELECT, pipelined ahead of every other command */

static ngx_int_t
ngx_http_tenant_redis_conn_handshake(ngx_http_tenant_redis_conn_t *rc)
{
    u_char                        *p, db[NGX_INT_T_LEN], buf[512];
    ngx_str_t                      argv[3];
    ngx_uint_t                     argc;
    ngx_http_tenant_redis_peer_t  *peer;

    peer = rc->peer;

    if (peer->password.len) {
        argc = 0;
        ngx_str_set(&argv[argc], "AUTH"); argc++;

        if (peer->username.len) {
            argv[argc++] = peer->username;
        }

        argv[argc++] = peer->password;

        if (ngx_http_tenant_redis_resp_size(argc, argv) > sizeof(buf)) {
            ngx_http_tenant_redis_conn_fail(rc, 0, "AUTH is too long");
            return NGX_ERROR;
        }

        p = ngx_http_tenant_redis_resp(buf, argc, argv);

        if (ngx_http_tenant_redis_conn_send(rc, buf, p - buf,
                                     ngx_http_tenant_redis_conn_auth_done, rc)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the secret does not stay on the stack */
        ngx_explicit_memzero(buf, sizeof(buf));
    }

    if (peer->db) {
        ngx_str_set(&argv[0], "SELECT");
        argv[1].data = db;
        argv[1].len = ngx_sprintf(db, "%i", peer->db) - db;

        p = ngx_http_tenant_redis_resp(buf, 2, argv);

        if (ngx_http_tenant_redis_conn_send(rc, buf, p - buf,
                                   ngx_http_tenant_redis_conn_select_done, rc)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_tenant_redis_conn_auth_done(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_conn_refused(data, "AUTH", reply);
}


static void
ngx_http_tenant_redis_conn_select_done(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_conn_refused(data, "SELECT", reply);
}


static void
ngx_http_tenant_redis_conn_refused(ngx_http_tenant_redis_conn_t *rc,
    const char *command, ngx_http_tenant_redis_reply_t *reply)
{
    if (reply == NULL || reply->type != NGX_HTTP_TENANT_REDIS_ERROR) {
        return;
    }

    /*
     * WRONGPASS, NOAUTH, a database that does not exist: every command
     * on this link would fail, better to fail them at once and try again
     * later, when Redis or its ACL may have been fixed.
     */
    ngx_http_tenant_redis_conn_fail(rc, 0, "%s failed: \"%*s\"", command,
                                    (size_t) reply->len, reply->str);
}


static void
ngx_http_tenant_redis_conn_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_tenant_redis_conn_t *rc = ctx->data;

    rc->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_http_tenant_redis_conn_fail(rc, 0,
                                  "\"%V\" could not be resolved (%i: %s)",
                                  &ctx->name, ctx->state,
                                  ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        return;
    }

    /* one connection: the first address the name has */
    ngx_memcpy(&rc->sockaddr, ctx->addrs[0].sockaddr, ctx->addrs[0].socklen);
    rc->socklen = ctx->addrs[0].socklen;
    ngx_inet_set_port(&rc->sockaddr.sockaddr, rc->peer->port);

    ngx_resolve_name_done(ctx);

    (void) ngx_http_tenant_redis_conn_connect(rc);
}


static ngx_int_t
ngx_http_tenant_redis_conn_connect(ngx_http_tenant_redis_conn_t *rc)
{
    int                nodelay;
    ngx_int_t          rv;
    ngx_connection_t  *c;

    rc->address.data = rc->address_text;
    rc->address.len = ngx_sock_ntop(&rc->sockaddr.sockaddr, rc->socklen,
                                    rc->address_text, NGX_SOCKADDR_STRLEN, 1);

    ngx_memzero(&rc->pc, sizeof(ngx_peer_connection_t));

    rc->pc.sockaddr = &rc->sockaddr.sockaddr;
    rc->pc.socklen = rc->socklen;
    rc->pc.name = &rc->address;
    rc->pc.get = ngx_event_get_peer;
    rc->pc.log = &rc->log;
    rc->pc.log_error = NGX_ERROR_ERR;

    /* an idle link to a vanished host is noticed */
    rc->pc.so_keepalive = 1;

    rc->state = NGX_HTTP_TENANT_REDIS_CONNECTING;

    rv = ngx_event_connect_peer(&rc->pc);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, &rc->log, 0,
                   "tenant redis connect to %V: %i", &rc->address, rv);

    if (rv == NGX_ERROR || rv == NGX_BUSY || rv == NGX_DECLINED) {
        ngx_http_tenant_redis_conn_fail(rc, ngx_socket_errno,
                                        "connect() failed");
        return NGX_ERROR;
    }

    c = rc->pc.connection;

    c->data = rc;
    c->log = &rc->log;

    /* TLS alerts from Redis at error, as nginx logs its upstreams' */
    c->log_error = NGX_ERROR_ERR;
    c->read->log = &rc->log;
    c->write->log = &rc->log;
    c->read->handler = ngx_http_tenant_redis_conn_read_handler;
    c->write->handler = ngx_http_tenant_redis_conn_write_handler;

    /* the TLS layer keeps its state in the connection's pool */
    c->pool = ngx_create_pool(1024, &rc->log);
    if (c->pool == NULL) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "out of memory");
        return NGX_ERROR;
    }

    rc->log.connection = c->number;

    /*
     * Pipelined batches must leave at once: with Nagle, a batch written
     * while the previous one is unacknowledged would wait for Redis's
     * delayed ACK.
     */
    if (rc->sockaddr.sockaddr.sa_family != AF_UNIX) {
        nodelay = 1;

        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY,
                       (const void *) &nodelay, sizeof(int))
            == -1)
        {
            ngx_log_error(NGX_LOG_WARN, &rc->log, ngx_socket_errno,
                          "setsockopt(TCP_NODELAY) failed");
        }
    }

    if (rv == NGX_OK) {
        ngx_http_tenant_redis_conn_connected(rc);
    }

    return NGX_OK;
}


static void
ngx_http_tenant_redis_conn_connected(ngx_http_tenant_redis_conn_t *rc)
{
    if (rc->peer->tls) {
        ngx_http_tenant_redis_conn_ssl_start(rc);
        return;
    }

    ngx_http_tenant_redis_conn_ready(rc);
}


static ngx_int_t
ngx_http_tenant_redis_conn_test_connect(ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_set_socket_errno(err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_tenant_redis_conn_ssl_start(ngx_http_tenant_redis_conn_t *rc)
{
    u_char                        host[256];
    ngx_int_t                     rv;
    ngx_str_t                    *name;
    ngx_connection_t             *c;
    ngx_http_tenant_redis_tls_t  *tls;

    c = rc->pc.connection;
    tls = rc->peer->tls;

    if (ngx_ssl_create_connection(&tls->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "TLS setup failed");
        return;
    }

    name = tls->server_name.len ? &tls->server_name : &rc->peer->host;

    if (tls->sni && name->len && name->len < sizeof(host)) {
        ngx_cpystrn(host, name->data, name->len + 1);

        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) host)
            == 0)
        {
            ngx_http_tenant_redis_conn_fail(rc, 0, "TLS SNI setup failed");
            return;
        }
    }

    c->ssl->save_session = ngx_http_tenant_redis_conn_ssl_save;

    if (rc->session && ngx_ssl_set_session(c, rc->session) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "TLS session setup failed");
        return;
    }

    rc->state = NGX_HTTP_TENANT_REDIS_HANDSHAKING;

    rv = ngx_ssl_handshake(c);

    if (rv == NGX_AGAIN) {
        c->ssl->handler = ngx_http_tenant_redis_conn_ssl_done;
        return;
    }

    ngx_http_tenant_redis_conn_ssl_done(c);
}


static void
ngx_http_tenant_redis_conn_ssl_done(ngx_connection_t *c)
{
    ngx_http_tenant_redis_conn_t *rc = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "TLS handshake failed");
        return;
    }

    if (ngx_http_tenant_redis_conn_ssl_verify(rc, c) != NGX_OK) {
        return;
    }

    c->read->handler = ngx_http_tenant_redis_conn_read_handler;
    c->write->handler = ngx_http_tenant_redis_conn_write_handler;

    ngx_http_tenant_redis_conn_ready(rc);
}


static ngx_int_t
ngx_http_tenant_redis_conn_ssl_verify(ngx_http_tenant_redis_conn_t *rc,
    ngx_connection_t *c)
{
    long                          rv;
    ngx_str_t                    *name;
    ngx_http_tenant_redis_tls_t  *tls;

    tls = rc->peer->tls;

    if (!tls->verify) {
        return NGX_OK;
    }

    rv = SSL_get_verify_result(c->ssl->connection);

    if (rv != X509_V_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0,
                                 "TLS certificate verify error: (%l:%s)",
                                 rv, X509_verify_cert_error_string(rv));
        return NGX_ERROR;
    }

    name = tls->server_name.len ? &tls->server_name : &rc->peer->host;

    if (ngx_http_tenant_redis_conn_check_name(c, name) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0,
                                 "TLS certificate does not match \"%V\"",
                                 name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A name is checked against the certificate's DNS names; an address
 * (a Redis known by its IP, as managed services often give it) against
 * its IP addresses, which a name check never matches.
 */

static ngx_int_t
ngx_http_tenant_redis_conn_check_name(ngx_connection_t *c, ngx_str_t *name)
{
    int     rv;
    X509   *cert;
    u_char  text[NGX_SOCKADDR_STRLEN + 1];

    if (name->len == 0 || name->len >= sizeof(text)
        || ngx_strlchr(name->data, name->data + name->len, '/') != NULL)
    {
        return NGX_ERROR;
    }

    ngx_cpystrn(text, name->data, name->len + 1);

    if (ngx_inet_addr(name->data, name->len) == INADDR_NONE
        && ngx_strlchr(name->data, name->data + name->len, ':') == NULL)
    {
        return ngx_ssl_check_host(c, name);
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    rv = X509_check_ip_asc(cert, (const char *) text, 0);

    X509_free(cert);

    return rv == 1 ? NGX_OK : NGX_ERROR;
}


/* TLS 1.3 sends the session after the handshake: kept when it comes */

static void
ngx_http_tenant_redis_conn_ssl_save(ngx_connection_t *c)
{
    ngx_ssl_session_t             *session;
    ngx_http_tenant_redis_conn_t  *rc;

    rc = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (rc->session) {
        ngx_ssl_free_session(rc->session);
    }

    rc->session = session;
}


static void
ngx_http_tenant_redis_conn_ready(ngx_http_tenant_redis_conn_t *rc)
{
    ngx_connection_t  *c;

    c = rc->pc.connection;

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    rc->state = NGX_HTTP_TENANT_REDIS_READY;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &rc->log, 0,
                   "tenant redis link to %V ready", &rc->address);

    /* what was sent while connecting leaves now */
    ngx_http_tenant_redis_conn_flush(rc);

    if (rc->state != NGX_HTTP_TENANT_REDIS_READY) {
        return;
    }

    /*
     * The TLS handshake may leave the read event ready and, with a
     * level-triggered method (poll), no longer watched: it is watched
     * again only once a read has found the socket empty.
     */
    if (c->read->ready) {
        ngx_http_tenant_redis_conn_read_handler(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "cannot watch the socket");
    }
}


ngx_int_t
ngx_http_tenant_redis_conn_send(ngx_http_tenant_redis_conn_t *rc,
    u_char *data, size_t len, ngx_http_tenant_redis_conn_reply_pt handler,
    void *hdata)
{
    u_char                           *out;
    size_t                            size;
    ngx_queue_t                      *q;
    ngx_http_tenant_redis_pending_t  *p;

    if (rc->state == NGX_HTTP_TENANT_REDIS_IDLE) {
        return NGX_ERROR;
    }

    if (rc->out_len + len > rc->out_size) {
        size = ngx_max(rc->out_size * 2, NGX_HTTP_TENANT_REDIS_OUT_SIZE);

        while (size < rc->out_len + len) {
            size *= 2;
        }

        out = ngx_alloc(size, &rc->log);
        if (out == NULL) {
            return NGX_ERROR;
        }

        if (rc->out_len) {
            ngx_memcpy(out, rc->out, rc->out_len);
        }

        ngx_free(rc->out);
        rc->out = out;
        rc->out_size = size;
    }

    if (!ngx_queue_empty(&rc->free)) {
        q = ngx_queue_head(&rc->free);
        ngx_queue_remove(q);
        p = ngx_queue_data(q, ngx_http_tenant_redis_pending_t, queue);

    } else {
        p = ngx_alloc(sizeof(ngx_http_tenant_redis_pending_t), &rc->log);
        if (p == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memcpy(rc->out + rc->out_len, data, len);
    rc->out_len += len;

    p->handler = handler;
    p->data = hdata;
    ngx_queue_insert_tail(&rc->pending, &p->queue);
    rc->npending++;

    if (!rc->stall_timer.timer_set) {
        ngx_add_timer(&rc->stall_timer, NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT);
    }

    /*
     * The commands of every request that came in one pass of the event
     * loop leave together, in one write, once that pass is over: one
     * system call per batch instead of one per request.
     */
    if (rc->state == NGX_HTTP_TENANT_REDIS_READY && !rc->flush.posted) {
        ngx_post_event(&rc->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


void
ngx_http_tenant_redis_conn_push(ngx_http_tenant_redis_conn_t *rc,
    ngx_http_tenant_redis_conn_reply_pt handler, void *hdata)
{
    rc->push = handler;
    rc->push_data = hdata;
}


ngx_uint_t
ngx_http_tenant_redis_conn_is_open(ngx_http_tenant_redis_conn_t *rc)
{
    return rc->state != NGX_HTTP_TENANT_REDIS_IDLE;
}


ngx_uint_t
ngx_http_tenant_redis_conn_is_ready(ngx_http_tenant_redis_conn_t *rc)
{
    return rc->state == NGX_HTTP_TENANT_REDIS_READY;
}


ngx_uint_t
ngx_http_tenant_redis_conn_pending(ngx_http_tenant_redis_conn_t *rc)
{
    return rc->npending;
}


u_char *
ngx_http_tenant_redis_conn_error(ngx_http_tenant_redis_conn_t *rc)
{
    return rc->error;
}


ngx_str_t *
ngx_http_tenant_redis_conn_address(ngx_http_tenant_redis_conn_t *rc)
{
    return &rc->address;
}


void
ngx_http_tenant_redis_conn_close(ngx_http_tenant_redis_conn_t *rc,
    ngx_uint_t quiet)
{
    ngx_pool_t                       *pool;
    ngx_queue_t                       failed, *q;
    ngx_connection_t                 *c;
    ngx_http_tenant_redis_pending_t  *p;

    if (rc->state == NGX_HTTP_TENANT_REDIS_IDLE) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, &rc->log, 0,
                   "tenant redis close link to %V, %ui waiting",
                   &rc->address, rc->npending);

    rc->state = NGX_HTTP_TENANT_REDIS_IDLE;

    if (rc->resolving) {
        ngx_resolve_name_done(rc->resolving);
        rc->resolving = NULL;
    }

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    if (rc->stall_timer.timer_set) {
        ngx_del_timer(&rc->stall_timer);
    }

    if (rc->flush.posted) {
        ngx_delete_posted_event(&rc->flush);
    }

    c = rc->pc.connection;
    rc->pc.connection = NULL;

    if (c) {
        pool = c->pool;

        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        ngx_close_connection(c);

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (rc->reader) {
        redisReaderFree(rc->reader);
        rc->reader = NULL;
    }

    rc->out_len = 0;
    rc->out_sent = 0;
    rc->log.connection = 0;

    /* the waiting commands fail; their handlers may send again elsewhere */

    ngx_queue_init(&failed);

    if (!ngx_queue_empty(&rc->pending)) {
        failed = rc->pending;
        failed.next->prev = &failed;
        failed.prev->next = &failed;
        ngx_queue_init(&rc->pending);
    }

    rc->npending = 0;

    while (!ngx_queue_empty(&failed)) {
        q = ngx_queue_head(&failed);
        ngx_queue_remove(q);
        p = ngx_queue_data(q, ngx_http_tenant_redis_pending_t, queue);

        p->handler(p->data, NULL);

        ngx_queue_insert_tail(&rc->free, q);
    }

    if (!quiet && !rc->opening && rc->down) {
        rc->down(rc->data);
    }
}


/* the reason is kept for the owner to log; the link is closed */

static void
ngx_http_tenant_redis_conn_fail(ngx_http_tenant_redis_conn_t *rc,
    ngx_err_t err, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    last = rc->error + NGX_HTTP_TENANT_REDIS_ERROR_LEN - 1;

    va_start(args, fmt);
    p = ngx_vslprintf(rc->error, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: ", err);
        p = ngx_strerror(err, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    *p = '\0';

    ngx_http_tenant_redis_conn_close(rc, 0);
}


static void
ngx_http_tenant_redis_conn_read_handler(ngx_event_t *rev)
{
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_tenant_redis_conn_t  *rc;

    c = rev->data;
    rc = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: the waiting requests get NULL */
        ngx_http_tenant_redis_conn_fail(rc, 0, "worker is shutting down");
        return;
    }

    if (rc->state == NGX_HTTP_TENANT_REDIS_CONNECTING) {
        ngx_http_tenant_redis_conn_write_handler(c->write);
        return;
    }

    if (rc->state != NGX_HTTP_TENANT_REDIS_READY) {
        return;
    }

    /*
     * Read until the socket is empty: after Redis was paused, the replies
     * to hundreds of requests arrive at once, and the timers of this pass
     * of the event loop would otherwise give up on requests whose replies
     * are already here, charged yet answered by the failure policy.
     */

    for ( ;; ) {
        n = c->recv(c, ngx_http_tenant_redis_conn_buf,
                    NGX_HTTP_TENANT_REDIS_READ_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_tenant_redis_conn_fail(rc, 0,
                                            "connection closed by redis");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_tenant_redis_conn_fail(rc, ngx_socket_errno,
                                            "recv() failed");
            return;
        }

        if (redisReaderFeed(rc->reader,
                            (const char *) ngx_http_tenant_redis_conn_buf,
                            (size_t) n)
            != REDIS_OK)
        {
            ngx_http_tenant_redis_conn_fail(rc, 0, "out of memory");
            return;
        }

        if (ngx_http_tenant_redis_conn_dispatch(rc, c) != NGX_OK) {
            /* the link was closed by a handler, or could not be read */
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "cannot watch the socket");
    }
}


/* hands every complete reply to the command it answers, in order */

static ngx_int_t
ngx_http_tenant_redis_conn_dispatch(ngx_http_tenant_redis_conn_t *rc,
    ngx_connection_t *c)
{
    void                                 *reply, *hdata;
    void                                (*free_reply)(void *reply);
    ngx_queue_t                          *q;
    ngx_http_tenant_redis_pending_t      *p;
    ngx_http_tenant_redis_conn_reply_pt   handler;

    /* a handler may close the link, and the reader with it */
    free_reply = rc->reader->fn->freeObject;

    for ( ;; ) {

        if (redisReaderGetReply(rc->reader, &reply) != REDIS_OK) {
            ngx_http_tenant_redis_conn_fail(rc, 0, "protocol error: %s",
                                            rc->reader->errstr);
            return NGX_ERROR;
        }

        if (reply == NULL) {
            return NGX_OK;
        }

        if (ngx_queue_empty(&rc->pending)) {

            if (rc->push == NULL) {
                free_reply(reply);
                ngx_http_tenant_redis_conn_fail(rc, 0,
                                         "a reply that no command waits for");
                return NGX_ERROR;
            }

            handler = rc->push;
            hdata = rc->push_data;

        } else {
            q = ngx_queue_head(&rc->pending);
            ngx_queue_remove(q);
            ngx_queue_insert_tail(&rc->free, q);

            p = ngx_queue_data(q, ngx_http_tenant_redis_pending_t, queue);
            handler = p->handler;
            hdata = p->data;

            ngx_http_tenant_redis_conn_answered(rc);
        }

        handler(hdata, reply);

        /* a new reply reuses the arena: this one is done with */
        free_reply(reply);

        if (rc->pc.connection != c || rc->state != NGX_HTTP_TENANT_REDIS_READY)
        {
            return NGX_ERROR;
        }
    }
}


static void
ngx_http_tenant_redis_conn_answered(ngx_http_tenant_redis_conn_t *rc)
{
    rc->npending--;

    if (rc->npending) {
        ngx_add_timer(&rc->stall_timer, NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT);

    } else if (rc->stall_timer.timer_set) {
        ngx_del_timer(&rc->stall_timer);
    }
}


static void
ngx_http_tenant_redis_conn_write_handler(ngx_event_t *wev)
{
    ngx_connection_t              *c;
    ngx_http_tenant_redis_conn_t  *rc;

    c = wev->data;
    rc = c->data;

    if (rc->state == NGX_HTTP_TENANT_REDIS_CONNECTING) {

        if (ngx_http_tenant_redis_conn_test_connect(c) != NGX_OK) {
            ngx_http_tenant_redis_conn_fail(rc, ngx_socket_errno,
                                            "connect() failed");
            return;
        }

        ngx_http_tenant_redis_conn_connected(rc);
        return;
    }

    if (rc->state == NGX_HTTP_TENANT_REDIS_READY) {
        ngx_http_tenant_redis_conn_flush(rc);
    }
}


static void
ngx_http_tenant_redis_conn_flush_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_conn_t *rc = ev->data;

    if (rc->state == NGX_HTTP_TENANT_REDIS_READY) {
        ngx_http_tenant_redis_conn_flush(rc);
    }
}


static void
ngx_http_tenant_redis_conn_flush(ngx_http_tenant_redis_conn_t *rc)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = rc->pc.connection;

    while (rc->out_sent < rc->out_len) {
        n = c->send(c, rc->out + rc->out_sent, rc->out_len - rc->out_sent);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            ngx_http_tenant_redis_conn_fail(rc, ngx_socket_errno,
                                            "send() failed");
            return;
        }

        rc->out_sent += n;
    }

    if (rc->out_sent == rc->out_len) {
        rc->out_sent = 0;
        rc->out_len = 0;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_tenant_redis_conn_fail(rc, 0, "cannot watch the socket");
    }
}


static void
ngx_http_tenant_redis_conn_connect_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_redis_conn_t *rc = ev->data;

    ngx_http_tenant_redis_conn_fail(rc, 0, "connect timed out after %Mms",
                                    (ngx_msec_t)
                                    NGX_HTTP_TENANT_REDIS_CONNECT_TIMEOUT);
}


static void
ngx_http_tenant_redis_conn_stall_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_redis_conn_t *rc = ev->data;

    if (rc->npending == 0) {
        return;
    }

    ngx_http_tenant_redis_conn_fail(rc, 0, "did not answer for %Mms",
                                    (ngx_msec_t)
                                    NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT);
}


static u_char *
ngx_http_tenant_redis_conn_log_handler(ngx_log_t *log, u_char *buf,
    size_t len)
{
    ngx_http_tenant_redis_conn_t *rc = log->data;

    return ngx_snprintf(buf, len, ", redis: %V", &rc->address);
}


size_t
ngx_http_tenant_redis_resp_size(ngx_uint_t argc, ngx_str_t *argv)
{
    size_t      size;
    ngx_uint_t  i;

    size = 1 + NGX_INT_T_LEN + 2;

    for (i = 0; i < argc; i++) {
        size += 1 + NGX_SIZE_T_LEN + 2 + argv[i].len + 2;
    }

    return size;
}


u_char *
ngx_http_tenant_redis_resp(u_char *p, ngx_uint_t argc, ngx_str_t *argv)
{
    ngx_uint_t  i;

    p = ngx_sprintf(p, "*%ui\r\n", argc);

    for (i = 0; i < argc; i++) {
        p = ngx_sprintf(p, "$%uz\r\n", argv[i].len);
        p = ngx_cpymem(p, argv[i].data, argv[i].len);
        *p++ = CR; *p++ = LF;
    }

    return p;
}


/*
 * At the bottom: the client, the Sentinel code and the requests log here.
 * A dead Redis fails every request, one line a second is enough; the
 * link's own failures (connect, TLS, AUTH, Sentinel) are counted apart,
 * so that the line that says why is never crowded out by the requests'.
 */

typedef struct {
    time_t       time;
    ngx_uint_t   skipped;
} ngx_http_tenant_redis_limiter_t;


static ngx_http_tenant_redis_limiter_t  ngx_http_tenant_redis_requests_log;
static ngx_http_tenant_redis_limiter_t  ngx_http_tenant_redis_link_log;


static void
ngx_http_tenant_redis_vlog(ngx_http_tenant_redis_limiter_t *limiter,
    ngx_log_t *log, const char *fmt, va_list args)
{
    u_char  *p, buf[NGX_MAX_ERROR_STR];
    time_t   now;

    now = ngx_time();

    if (now == limiter->time) {
        limiter->skipped++;
        return;
    }

    limiter->time = now;

    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);

    if (limiter->skipped) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tenant: %*s (%ui more failures not logged)",
                      (size_t) (p - buf), buf, limiter->skipped);

        limiter->skipped = 0;
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0, "tenant: %*s", (size_t) (p - buf),
                  buf);
}


void
ngx_http_tenant_redis_log_failure(ngx_log_t *log, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_http_tenant_redis_vlog(&ngx_http_tenant_redis_requests_log, log, fmt,
                               args);
    va_end(args);
}


void
ngx_http_tenant_redis_log_link(ngx_log_t *log, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_http_tenant_redis_vlog(&ngx_http_tenant_redis_link_log, log, fmt,
                               args);
    va_end(args);
}
