
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_FETCH_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_FETCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


/*
 * One GET of a JWK Set or a discovery document, on a connection the
 * worker owns: resolve (nginx's resolver), connect, TLS, HTTP/1.0 with
 * "Connection: close", read to the end.  No redirect is followed, no
 * request ever waits on the socket: the caller is called back once.
 */


/* an IdP's answer is bounded; a bigger one is refused, not truncated */
#define NGX_HTTP_TENANT_JWKS_BODY_MAX  (1024 * 1024)


typedef struct {
    ngx_str_t                     text;     /* as configured, for logs */
    ngx_str_t                     host;     /* Host:, SNI, name check */
    in_port_t                     port;
    ngx_str_t                     path;     /* with the query */
    ngx_flag_t                    https;
    ngx_addr_t                   *addrs;    /* NULL: resolve at each fetch */
    ngx_uint_t                    naddrs;
} ngx_http_tenant_jwks_url_t;


/* what every fetch of the node shares: TLS, the http level's resolver */
typedef struct {
    ngx_ssl_t                    *ssl;      /* NULL: no https URL */
    ngx_flag_t                    verify;
    ngx_resolver_t               *resolver; /* NULL: addresses at conf */
    ngx_msec_t                    resolver_timeout;
} ngx_http_tenant_jwks_client_t;


typedef struct {
    ngx_int_t                     rc;       /* NGX_OK: a 200 with a body */
    ngx_uint_t                    status;
    ngx_str_t                     body;     /* valid in the handler only */
    time_t                        max_age;  /* -1: none given */
    u_char                       *err;      /* why not, NUL-terminated */
} ngx_http_tenant_jwks_reply_t;


typedef struct ngx_http_tenant_jwks_fetch_s  ngx_http_tenant_jwks_fetch_t;

typedef void (*ngx_http_tenant_jwks_fetch_pt)(void *data,
    ngx_http_tenant_jwks_reply_t *reply);


ngx_int_t ngx_http_tenant_jwks_url_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_tenant_jwks_url_t *url, ngx_flag_t resolve, char **err);
ngx_http_tenant_jwks_fetch_t *ngx_http_tenant_jwks_fetch_start(
    ngx_http_tenant_jwks_client_t *client, ngx_http_tenant_jwks_url_t *url,
    ngx_msec_t timeout, ngx_http_tenant_jwks_fetch_pt handler, void *data,
    ngx_log_t *log);
void ngx_http_tenant_jwks_fetch_cancel(ngx_http_tenant_jwks_fetch_t *f);


#endif /* _NGX_HTTP_TENANT_JWKS_FETCH_H_INCLUDED_ */
