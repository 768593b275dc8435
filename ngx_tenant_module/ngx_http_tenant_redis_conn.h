
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_CONN_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_CONN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_tenant_redis.h"


/*
 * One link to one Redis server (a master or a Sentinel), on a socket
 * nginx owns: resolved with nginx's resolver, connected with
 * ngx_event_connect_peer(), encrypted with nginx's SSL layer, replies
 * read with hiredis's redisReader.  Commands are pipelined: their bytes
 * are appended to one buffer and leave together once the event loop's
 * pass is over, and replies are matched to them in order.  Used by the
 * worker's client (ngx_http_tenant_redis.c) and by the Sentinel code;
 * nothing above those sees it.
 */

typedef struct ngx_http_tenant_redis_conn_s  ngx_http_tenant_redis_conn_t;


/* made at configuration time from tenant_redis_ssl_* */
struct ngx_http_tenant_redis_tls_s {
    ngx_ssl_t                       ssl;
    ngx_flag_t                      verify;
    ngx_flag_t                      sni;          /* server_name not off */
    ngx_str_t                       server_name;  /* empty: the peer's */
};


/* where to connect and how to introduce ourselves */
typedef struct {
    struct sockaddr                *sockaddr;     /* NULL: resolve host */
    socklen_t                       socklen;
    ngx_str_t                       host;         /* name, for TLS, DNS */
    in_port_t                       port;
    ngx_resolver_t                 *resolver;
    ngx_msec_t                      resolver_timeout;
    ngx_str_t                       username;
    ngx_str_t                       password;
    ngx_int_t                       db;
    ngx_http_tenant_redis_tls_t    *tls;          /* NULL: plain text */
} ngx_http_tenant_redis_peer_t;


/* a reply to a command sent, or NULL when the link went down first */
typedef void (*ngx_http_tenant_redis_conn_reply_pt)(void *data,
    ngx_http_tenant_redis_reply_t *reply);

/* the link went down; the reason is in ngx_http_tenant_redis_conn_error() */
typedef void (*ngx_http_tenant_redis_conn_down_pt)(void *data);


ngx_http_tenant_redis_conn_t *ngx_http_tenant_redis_conn_create(
    ngx_log_t *log, ngx_http_tenant_redis_conn_down_pt down, void *data);
void ngx_http_tenant_redis_conn_destroy(ngx_http_tenant_redis_conn_t *rc);

/*
 * Starts resolving, connecting, the TLS handshake, AUTH and SELECT;
 * commands may be sent at once and leave behind those.  NGX_ERROR: the
 * link failed at once, the reason is in ngx_http_tenant_redis_conn_error()
 * and the down handler is not called.
 */
ngx_int_t ngx_http_tenant_redis_conn_open(ngx_http_tenant_redis_conn_t *rc,
    ngx_http_tenant_redis_peer_t *peer);

/*
 * A peer with neither an address nor a resolver opens a link that waits
 * for its address (from the Sentinels), commands queued; this gives it,
 * and the connect starts.
 */
ngx_int_t ngx_http_tenant_redis_conn_connect_to(
    ngx_http_tenant_redis_conn_t *rc, struct sockaddr *sockaddr,
    socklen_t socklen);

/*
 * Closes the link: every command still waiting gets a NULL reply, then
 * the down handler is called, unless quiet.
 */
void ngx_http_tenant_redis_conn_close(ngx_http_tenant_redis_conn_t *rc,
    ngx_uint_t quiet);

/* a command in RESP, copied; NGX_ERROR: the link is closed */
ngx_int_t ngx_http_tenant_redis_conn_send(ngx_http_tenant_redis_conn_t *rc,
    u_char *data, size_t len, ngx_http_tenant_redis_conn_reply_pt handler,
    void *hdata);

/* replies that no command waits for: messages of a subscription */
void ngx_http_tenant_redis_conn_push(ngx_http_tenant_redis_conn_t *rc,
    ngx_http_tenant_redis_conn_reply_pt handler, void *hdata);

ngx_uint_t ngx_http_tenant_redis_conn_is_open(
    ngx_http_tenant_redis_conn_t *rc);
ngx_uint_t ngx_http_tenant_redis_conn_is_ready(
    ngx_http_tenant_redis_conn_t *rc);

/* commands sent and not answered yet */
ngx_uint_t ngx_http_tenant_redis_conn_pending(
    ngx_http_tenant_redis_conn_t *rc);

/* why the link went down, and the address it was for */
u_char *ngx_http_tenant_redis_conn_error(ngx_http_tenant_redis_conn_t *rc);
ngx_str_t *ngx_http_tenant_redis_conn_address(
    ngx_http_tenant_redis_conn_t *rc);

/* as ngx_http_tenant_redis_log_failure(), for the link's own failures */
void ngx_http_tenant_redis_log_link(ngx_log_t *log, const char *fmt, ...);

/* a command from an argument vector, written into buf in RESP */
u_char *ngx_http_tenant_redis_resp(u_char *p, ngx_uint_t argc,
    ngx_str_t *argv);
size_t ngx_http_tenant_redis_resp_size(ngx_uint_t argc, ngx_str_t *argv);


/* the reader's reply constructors: ngx_http_tenant_redis_reply.c */
void *ngx_http_tenant_redis_reader_create(void);


#endif /* _NGX_HTTP_TENANT_REDIS_CONN_H_INCLUDED_ */
