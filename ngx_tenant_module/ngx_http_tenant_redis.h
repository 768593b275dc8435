
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_where.h"


/*
 * The Redis client as the decision layer sees it: one per worker, made in
 * init_process and hung off the main configuration.  Nothing here blocks:
 * the connection is nginx's own (resolver, connect, TLS), AUTH, SELECT
 * and SCRIPT LOAD go ahead of the first EVALSHA, a lost link is made
 * again from a timer with a backoff, a script flushed from Redis is sent
 * again as EVAL behind the caller's back, and with Sentinel the master
 * is looked up again when it moves.
 */

typedef struct ngx_http_tenant_redis_s       ngx_http_tenant_redis_t;
typedef struct ngx_http_tenant_redis_op_s    ngx_http_tenant_redis_op_t;
typedef struct ngx_http_tenant_redis_tls_s   ngx_http_tenant_redis_tls_t;
typedef struct ngx_http_tenant_redis_reply_s ngx_http_tenant_redis_reply_t;


/* the parameters of tenant_redis, tenant_redis_ssl_*, _sentinel, _cluster */

typedef struct {
    ngx_str_t                       address;     /* as written */
    ngx_addr_t                     *addrs;       /* NULL: resolve host */
    ngx_uint_t                      naddrs;
    ngx_str_t                       host;        /* for DNS and TLS */
    in_port_t                       port;
    ngx_str_t                       master;      /* sentinel=NAME */
    ngx_msec_t                      timeout;
    ngx_str_t                       username;
    ngx_str_t                       password;
    ngx_int_t                       db;
    ngx_str_t                       prefix;
    ngx_flag_t                      tls;
    ngx_http_tenant_where_t         where;

    ngx_flag_t                      ssl_verify;
    ngx_str_t                       ssl_trusted_certificate;
    ngx_str_t                       ssl_server_name;
    ngx_str_t                       ssl_certificate;
    ngx_str_t                       ssl_certificate_key;
    ngx_uint_t                      ssl_protocols;
    ngx_str_t                       ssl_ciphers;
    ngx_http_tenant_redis_tls_t    *tls_ctx;

    ngx_array_t                    *sentinels;
    ngx_str_t                       sentinel_username;
    ngx_str_t                       sentinel_password;
    ngx_flag_t                      sentinel_tls;

    ngx_flag_t                      cluster;     /* cluster=on */
    ngx_array_t                    *cluster_seeds;
    ngx_http_tenant_where_t         cluster_where;

    ngx_resolver_t                 *resolver;    /* NULL: resolved once */
    ngx_msec_t                      resolver_timeout;
} ngx_http_tenant_redis_conf_t;


/* the types of a reply, as RESP has them */
#define NGX_HTTP_TENANT_REDIS_STRING   1
#define NGX_HTTP_TENANT_REDIS_ARRAY    2
#define NGX_HTTP_TENANT_REDIS_INTEGER  3
#define NGX_HTTP_TENANT_REDIS_NIL      4
#define NGX_HTTP_TENANT_REDIS_STATUS   5
#define NGX_HTTP_TENANT_REDIS_ERROR    6

struct ngx_http_tenant_redis_reply_s {
    ngx_uint_t                      type;
    long long                       integer;
    size_t                          len;
    u_char                         *str;
    size_t                          elements;
    ngx_http_tenant_redis_reply_t **element;
};


/*
 * reply: a reply that is not an error, valid only during the call (copy
 * what is kept); NULL: the command failed (error reply, lost or stalled
 * link), and why has been passed to ngx_http_tenant_redis_log_failure().
 * The handler is never called from within ngx_http_tenant_redis_send().
 */
typedef void (*ngx_http_tenant_redis_handler_pt)(void *data,
    ngx_http_tenant_redis_reply_t *reply);


/*
 * A command's arguments in RESP, written in place by the caller between
 * ngx_http_tenant_redis_cmd() and ngx_http_tenant_redis_send().
 */
typedef struct {
    u_char                         *start;
    u_char                         *pos;
    u_char                         *end;
    ngx_uint_t                      args;
    ngx_uint_t                      failed;       /* ran out of room */
} ngx_http_tenant_redis_cmd_t;


/* configuration: ngx_http_tenant_redis_conf.c */

extern ngx_conf_bitmask_t  ngx_http_tenant_redis_ssl_protocols[];

char *ngx_http_tenant_redis_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
char *ngx_http_tenant_redis_sentinel_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
char *ngx_http_tenant_redis_cluster_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
ngx_int_t ngx_http_tenant_redis_conf_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);


/* the worker's client: ngx_http_tenant_redis.c */

ngx_http_tenant_redis_t *ngx_http_tenant_redis_create(ngx_cycle_t *cycle,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script);
void ngx_http_tenant_redis_destroy(ngx_http_tenant_redis_t *redis);

/*
 * The worker's command buffer, emptied, with room for at least size
 * bytes of arguments; NULL: Redis is down, apply the failure policy now.
 */
ngx_http_tenant_redis_cmd_t *ngx_http_tenant_redis_cmd(
    ngx_http_tenant_redis_t *redis, size_t size);

/*
 * Sends "EVALSHA <sha1 of script>" followed by the command's arguments,
 * numkeys first.  NULL: Redis is down or the command did not fit, apply
 * the failure policy now.  Otherwise the handler is called exactly once,
 * unless the operation is cancelled first; the operation is gone once
 * the handler has returned.
 */
ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_send(
    ngx_http_tenant_redis_t *redis, ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_redis_handler_pt handler, void *data);

/* as ngx_http_tenant_redis_send(), from an argument vector, copied */
ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_eval(
    ngx_http_tenant_redis_t *redis, int argc, const char **argv,
    const size_t *argvlen, ngx_http_tenant_redis_handler_pt handler,
    void *data);

/*
 * The masters a listing (SCAN) must visit one after the other to see
 * every key: 1 without a cluster; with one, those of the slot map, in
 * the order of the lowest slot each serves (0: no map yet, no client).
 */
ngx_uint_t ngx_http_tenant_redis_masters(ngx_http_tenant_redis_t *redis);

/*
 * As ngx_http_tenant_redis_eval(), to the given master of that order,
 * whatever the keys (a script that runs without keys, as SCAN does);
 * NULL also when there is no such master now.
 */
ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_eval_master(
    ngx_http_tenant_redis_t *redis, ngx_uint_t master, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_tenant_redis_handler_pt handler, void *data);

/* the handler will not be called; the reply, when it comes, is dropped */
void ngx_http_tenant_redis_cancel(ngx_http_tenant_redis_op_t *op);

/* logs "tenant: <message>" at error level, once a second per worker */
void ngx_http_tenant_redis_log_failure(ngx_log_t *log, const char *fmt, ...);


/* the command writer: ngx_http_tenant_redis_cmd.c */

void ngx_http_tenant_redis_cmd_init(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *start, u_char *end);
void ngx_http_tenant_redis_arg(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *data, size_t len);
void ngx_http_tenant_redis_arg_number(ngx_http_tenant_redis_cmd_t *cmd,
    uint64_t n);
u_char *ngx_http_tenant_redis_arg_start(ngx_http_tenant_redis_cmd_t *cmd,
    size_t len);
void ngx_http_tenant_redis_arg_end(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *p);
void ngx_http_tenant_redis_arg_raw(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_str_t *resp, ngx_uint_t args);
u_char *ngx_http_tenant_decimal(u_char *p, uint64_t n);


#endif /* _NGX_HTTP_TENANT_REDIS_H_INCLUDED_ */
