
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_sha1.h>

#include "ngx_http_tenant_redis_conn.h"
#include "ngx_http_tenant_redis_sentinel.h"
#include "ngx_http_tenant_metrics.h"
#include "ngx_http_tenant_redis_cluster.h"


#define NGX_HTTP_TENANT_REDIS_BACKOFF_MIN      100
/* a Redis that is back is in use again within half a second */
#define NGX_HTTP_TENANT_REDIS_BACKOFF_MAX      500

/* MOVED, ASK and TRYAGAIN a command may meet before it fails */
#define NGX_HTTP_TENANT_REDIS_REDIRECTS        5
/* TRYAGAIN: a half-migrated slot, sent again after this pause */
#define NGX_HTTP_TENANT_REDIS_TRYAGAIN_PAUSE   20


/*
 * The worker's client: one link to the master, the script it runs, the
 * buffer commands are written in, and the reconnect timer.  With
 * Sentinel, the master's address comes from the Sentinels and changes
 * when they say so.  With Redis Cluster, there is no one master: each
 * command goes to the link the cluster map gives for its keys' slot.
 */

struct ngx_http_tenant_redis_s {
    ngx_http_tenant_redis_conf_t      *conf;
    ngx_http_tenant_redis_conn_t      *master;
    ngx_http_tenant_redis_peer_t       peer;
    ngx_http_tenant_redis_sentinel_t  *sentinel;   /* NULL: none */
    ngx_http_tenant_redis_cluster_t   *cluster;    /* NULL: none */
    ngx_queue_t                        paused;     /* ops after TRYAGAIN */
    ngx_sockaddr_t                     sockaddr;   /* from the Sentinels */
    ngx_uint_t                         next_addr;  /* of the conf's */
    ngx_log_t                          log;

    ngx_event_t                        reconnect;
    ngx_msec_t                         backoff;

    ngx_str_t                          script;
    u_char                             sha1[40];

    ngx_http_tenant_redis_cmd_t        cmd;        /* being written */
    u_char                            *cmd_buf;
    size_t                             cmd_size;

    unsigned                           healthy:1;  /* answered, or new */
    unsigned                           failed:1;   /* since last success */
    unsigned                           exiting:1;
    unsigned                           asking:1;   /* the Sentinels */
};


/*
 * A command in flight.  Its arguments are kept, in RESP, for the one
 * retry as EVAL after NOSCRIPT and, in a cluster, for sending it again
 * after a redirect: a redirect is an answer given before the command
 * ran, so the command still counts once; after a lost link or a timeout
 * it may have run, and it is never sent again.  The arguments go again
 * as they were: the deadline in them is still the request's.
 */

struct ngx_http_tenant_redis_op_s {
    ngx_http_tenant_redis_t           *redis;
    ngx_http_tenant_redis_handler_pt   handler;
    void                              *data;
    ngx_http_tenant_redis_conn_t      *link;       /* sent on */
    ngx_uint_t                         args;
    ngx_str_t                          body;
    uint64_t                           sent;       /* for the metrics */

    /* a cluster's */
    ngx_uint_t                         slot;
    ngx_uint_t                         redirects;
    ngx_event_t                        pause;      /* TRYAGAIN */
    ngx_queue_t                        queue;      /* in redis->paused */

    unsigned                           cancelled:1;
    unsigned                           retried:1;
    unsigned                           asking:1;   /* after ASK */
};


/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n" fits in front of the arguments */
#define NGX_HTTP_TENANT_REDIS_HEADER                                          \
    (1 + NGX_SIZE_T_LEN + 2 + sizeof("$7\r\nEVALSHA\r\n$40\r\n") - 1 + 40 + 2)


static void ngx_http_tenant_redis_connect(ngx_http_tenant_redis_t *redis);
static void ngx_http_tenant_redis_open(ngx_http_tenant_redis_t *redis);
static void ngx_http_tenant_redis_master_found(void *data,
    struct sockaddr *sockaddr, socklen_t socklen);
static void ngx_http_tenant_redis_load(ngx_http_tenant_redis_t *redis);
static void ngx_http_tenant_redis_loaded(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_down(void *data);
static void ngx_http_tenant_redis_retry_later(ngx_http_tenant_redis_t *redis,
    u_char *reason);
static ngx_int_t ngx_http_tenant_redis_buffer(ngx_http_tenant_redis_t *redis,
    size_t size);
static u_char *ngx_http_tenant_redis_header(u_char *p, ngx_uint_t args,
    ngx_str_t *command, ngx_str_t *what);
static ngx_int_t ngx_http_tenant_redis_retry(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op);
static void ngx_http_tenant_redis_op_done(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_http_tenant_redis_cmd_t *ngx_http_tenant_redis_write(
    ngx_http_tenant_redis_t *redis, int argc, const char **argv,
    const size_t *argvlen);
static ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_submit(
    ngx_http_tenant_redis_t *redis, ngx_http_tenant_redis_cmd_t *cmd,
    ngx_int_t slot, ngx_http_tenant_redis_handler_pt handler, void *data);
static ngx_int_t ngx_http_tenant_redis_cluster_send(
    ngx_http_tenant_redis_t *redis, ngx_http_tenant_redis_op_t *op,
    ngx_int_t slot);
static ngx_int_t ngx_http_tenant_redis_forward(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_conn_t *link,
    ngx_uint_t asking);
static ngx_int_t ngx_http_tenant_redis_redirect(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_reply_t *reply);
static ngx_int_t ngx_http_tenant_redis_follow(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_reply_t *reply,
    ngx_uint_t moved);
static ngx_uint_t ngx_http_tenant_redis_error_is(
    ngx_http_tenant_redis_reply_t *reply, const char *code);
static void ngx_http_tenant_redis_pause_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_tenant_redis_asking(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_conn_t *link);
static void ngx_http_tenant_redis_asked(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_int_t ngx_http_tenant_redis_not_master(
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_leave(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_reconnect_handler(ngx_event_t *ev);
static u_char *ngx_http_tenant_redis_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);


ngx_http_tenant_redis_t *
ngx_http_tenant_redis_create(ngx_cycle_t *cycle,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script)
{
    u_char                    hash[20];
    ngx_sha1_t                sha1;
    ngx_http_tenant_redis_t  *redis;

    redis = ngx_calloc(sizeof(ngx_http_tenant_redis_t), cycle->log);
    if (redis == NULL) {
        return NULL;
    }

    redis->conf = rcf;

    redis->log = *cycle->log;
    redis->log.handler = ngx_http_tenant_redis_log_handler;
    redis->log.data = redis;
    redis->log.action = NULL;
    redis->log.connection = 0;

    /* kept for EVAL after a SCRIPT FLUSH and for each new connection */
    redis->script.data = ngx_alloc(script->len, cycle->log);
    if (redis->script.data == NULL) {
        goto failed;
    }

    ngx_memcpy(redis->script.data, script->data, script->len);
    redis->script.len = script->len;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, script->data, script->len);
    ngx_sha1_final(hash, &sha1);
    ngx_hex_dump(redis->sha1, hash, 20);

    redis->peer.host = rcf->host;
    redis->peer.port = rcf->port;
    /* the Sentinels give addresses: nothing to resolve */
    redis->peer.resolver = rcf->master.len ? NULL : rcf->resolver;
    redis->peer.resolver_timeout = rcf->resolver_timeout;
    redis->peer.username = rcf->username;
    redis->peer.password = rcf->password;
    redis->peer.db = rcf->db;
    redis->peer.tls = rcf->tls_ctx;

    if (rcf->cluster) {
        ngx_queue_init(&redis->paused);

        redis->cluster = ngx_http_tenant_redis_cluster_create(&redis->log,
                                         rcf, &redis->script, redis->sha1);
        if (redis->cluster == NULL) {
            goto failed;
        }

        return redis;
    }

    redis->master = ngx_http_tenant_redis_conn_create(&redis->log,
                                          ngx_http_tenant_redis_down, redis);
    if (redis->master == NULL) {
        goto failed;
    }

    if (rcf->master.len) {
        redis->sentinel = ngx_http_tenant_redis_sentinel_create(&redis->log,
                                   rcf, ngx_http_tenant_redis_master_found,
                                   redis);
        if (redis->sentinel == NULL) {
            goto failed;
        }
    }

    /* cancelable: a worker that is shutting down does not wait for it */
    redis->reconnect.handler = ngx_http_tenant_redis_reconnect_handler;
    redis->reconnect.data = redis;
    redis->reconnect.log = &redis->log;
    redis->reconnect.cancelable = 1;

    redis->backoff = NGX_HTTP_TENANT_REDIS_BACKOFF_MIN;

    /*
     * Until the first attempt fails, commands queue behind the connect:
     * a fresh worker (after a reload) serves its first requests normally.
     */
    redis->healthy = 1;

    ngx_http_tenant_redis_connect(redis);

    return redis;

failed:

    ngx_http_tenant_redis_destroy(redis);
    return NULL;
}


void
ngx_http_tenant_redis_destroy(ngx_http_tenant_redis_t *redis)
{
    ngx_queue_t                 *q;
    ngx_http_tenant_redis_op_t  *op;

    /* the requests that wait are being torn down: no handler is called */
    redis->exiting = 1;

    if (redis->cluster) {
        ngx_http_tenant_redis_cluster_destroy(redis->cluster);

        while (!ngx_queue_empty(&redis->paused)) {
            q = ngx_queue_head(&redis->paused);
            ngx_queue_remove(q);
            op = ngx_queue_data(q, ngx_http_tenant_redis_op_t, queue);

            ngx_del_timer(&op->pause);
            ngx_free(op);
        }
    }

    if (redis->sentinel) {
        ngx_http_tenant_redis_sentinel_destroy(redis->sentinel);
    }

    if (redis->master) {
        ngx_http_tenant_redis_conn_destroy(redis->master);
    }

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    ngx_free(redis->script.data);
    ngx_free(redis->cmd_buf);
    ngx_free(redis);
}


ngx_http_tenant_redis_cmd_t *
ngx_http_tenant_redis_cmd(ngx_http_tenant_redis_t *redis, size_t size)
{
    /* in a cluster, the key tells the node: it is looked at when sent */
    if (redis == NULL
        || redis->exiting
        || (redis->cluster == NULL
            && (!ngx_http_tenant_redis_conn_is_open(redis->master)
                || (!ngx_http_tenant_redis_conn_is_ready(redis->master)
                    && !redis->healthy))))
    {
        ngx_http_tenant_metrics_redis(NGX_HTTP_TENANT_METRICS_REDIS_ERROR, 0);
        return NULL;
    }

    if (ngx_http_tenant_redis_buffer(redis,
                                     NGX_HTTP_TENANT_REDIS_HEADER + size)
        != NGX_OK)
    {
        return NULL;
    }

    /* the arguments go after the room the header will take */

    ngx_http_tenant_redis_cmd_init(&redis->cmd,
                                   redis->cmd_buf
                                   + NGX_HTTP_TENANT_REDIS_HEADER,
                                   redis->cmd_buf + redis->cmd_size);

    return &redis->cmd;
}


ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_send(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_redis_handler_pt handler, void *data)
{
    /* in a cluster, to the master of the keys' slot */
    return ngx_http_tenant_redis_submit(redis, cmd, NGX_DECLINED, handler,
                                        data);
}


/* slot: where a cluster's command goes; NGX_DECLINED: by its keys */

static ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_submit(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_cmd_t *cmd, ngx_int_t slot,
    ngx_http_tenant_redis_handler_pt handler, void *data)
{
    u_char                      *p, header[NGX_HTTP_TENANT_REDIS_HEADER];
    size_t                       len;
    ngx_str_t                    command, sha1;
    ngx_http_tenant_redis_op_t  *op;

    if (cmd->failed || cmd->args == 0) {
        ngx_log_error(NGX_LOG_ALERT, &redis->log, 0,
                      "tenant: a redis command did not fit its buffer");
        return NULL;
    }

    len = cmd->pos - cmd->start;

    op = ngx_alloc(sizeof(ngx_http_tenant_redis_op_t) + len, &redis->log);
    if (op == NULL) {
        return NULL;
    }

    op->redis = redis;
    op->handler = handler;
    op->data = data;
    op->args = cmd->args;
    op->body.len = len;
    op->body.data = (u_char *) (op + 1);
    op->sent = ngx_http_tenant_metrics_redis_start();
    op->link = redis->master;
    op->cancelled = 0;
    op->retried = 0;

    ngx_memcpy(op->body.data, cmd->start, len);

    if (redis->cluster) {
        if (ngx_http_tenant_redis_cluster_send(redis, op, slot) != NGX_OK) {
            ngx_free(op);
            return NULL;
        }

        return op;
    }

    /* the header, right in front of the arguments: one piece to send */

    ngx_str_set(&command, "EVALSHA");
    sha1.len = sizeof(redis->sha1);
    sha1.data = redis->sha1;

    p = ngx_http_tenant_redis_header(header, cmd->args, &command, &sha1);
    len = p - header;

    ngx_memcpy(cmd->start - len, header, len);

    if (ngx_http_tenant_redis_conn_send(redis->master, cmd->start - len,
                                        cmd->pos - cmd->start + len,
                                        ngx_http_tenant_redis_op_done, op)
        != NGX_OK)
    {
        ngx_http_tenant_metrics_redis(NGX_HTTP_TENANT_METRICS_REDIS_ERROR, 0);
        ngx_free(op);
        return NULL;
    }

    return op;
}


ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_eval(ngx_http_tenant_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_tenant_redis_handler_pt handler, void *data)
{
    ngx_http_tenant_redis_cmd_t  *cmd;

    cmd = ngx_http_tenant_redis_write(redis, argc, argv, argvlen);
    if (cmd == NULL) {
        return NULL;
    }

    return ngx_http_tenant_redis_send(redis, cmd, handler, data);
}


ngx_uint_t
ngx_http_tenant_redis_masters(ngx_http_tenant_redis_t *redis)
{
    if (redis == NULL) {
        return 0;
    }

    if (redis->cluster) {
        return ngx_http_tenant_redis_cluster_masters(redis->cluster);
    }

    return 1;
}


/*
 * In a cluster, the command goes where the master's lowest slot goes:
 * after a MOVED for that slot, to its new master, as any command.
 */

ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_eval_master(ngx_http_tenant_redis_t *redis,
    ngx_uint_t master, int argc, const char **argv, const size_t *argvlen,
    ngx_http_tenant_redis_handler_pt handler, void *data)
{
    ngx_int_t                     slot;
    ngx_http_tenant_redis_cmd_t  *cmd;

    if (master >= ngx_http_tenant_redis_masters(redis)) {
        return NULL;
    }

    slot = NGX_DECLINED;

    if (redis->cluster) {
        slot = ngx_http_tenant_redis_cluster_master_slot(redis->cluster,
                                                         master);
        if (slot == NGX_ERROR) {
            return NULL;
        }
    }

    cmd = ngx_http_tenant_redis_write(redis, argc, argv, argvlen);
    if (cmd == NULL) {
        return NULL;
    }

    return ngx_http_tenant_redis_submit(redis, cmd, slot, handler, data);
}


/* the worker's command buffer, the argument vector written in it */

static ngx_http_tenant_redis_cmd_t *
ngx_http_tenant_redis_write(ngx_http_tenant_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen)
{
    int                           i;
    size_t                        size;
    ngx_http_tenant_redis_cmd_t  *cmd;

    size = 0;

    for (i = 0; i < argc; i++) {
        size += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    cmd = ngx_http_tenant_redis_cmd(redis, size);
    if (cmd == NULL) {
        return NULL;
    }

    for (i = 0; i < argc; i++) {
        ngx_http_tenant_redis_arg(cmd, (u_char *) argv[i], argvlen[i]);
    }

    return cmd;
}


void
ngx_http_tenant_redis_cancel(ngx_http_tenant_redis_op_t *op)
{
    /* a cluster's only: elsewhere the pause is never set, nor zeroed */
    if (op->redis->cluster && op->pause.timer_set) {
        /* between a TRYAGAIN and the command sent again: nothing to wait */
        ngx_del_timer(&op->pause);
        ngx_queue_remove(&op->queue);
        ngx_free(op);
        return;
    }

    /* the op stays queued on the link: its reply is still on the way */
    op->cancelled = 1;
    op->handler = NULL;
    op->data = NULL;
}


/* with Sentinel, the master is asked for first; else straight to it */

static void
ngx_http_tenant_redis_connect(ngx_http_tenant_redis_t *redis)
{
    if (redis->sentinel) {
        /*
         * The link is opened without an address, so that requests queue
         * on it (with the script's loading ahead of them) while the
         * Sentinels are asked, as they would behind a connect.
         */
        redis->peer.sockaddr = NULL;
        ngx_http_tenant_redis_open(redis);

        redis->asking = 1;
        ngx_http_tenant_redis_sentinel_ask(redis->sentinel);
        return;
    }

    ngx_http_tenant_redis_open(redis);
}


static void
ngx_http_tenant_redis_master_found(void *data, struct sockaddr *sockaddr,
    socklen_t socklen)
{
    ngx_http_tenant_redis_t *redis = data;

    u_char     *reason;
    ngx_uint_t  moved;

    if (redis->exiting) {
        return;
    }

    if (sockaddr == NULL) {
        /* none of the Sentinels knew: they have said why */
        redis->asking = 0;
        ngx_http_tenant_redis_conn_close(redis->master, 1);

        reason = (u_char *) "no Sentinel gave the master's address";
        ngx_http_tenant_redis_retry_later(redis, reason);
        return;
    }

    moved = (redis->peer.sockaddr == NULL
             || ngx_cmp_sockaddr(sockaddr, socklen, redis->peer.sockaddr,
                                 redis->peer.socklen, 1)
                != NGX_OK);

    ngx_memcpy(&redis->sockaddr, sockaddr, socklen);
    redis->peer.sockaddr = &redis->sockaddr.sockaddr;
    redis->peer.socklen = socklen;

    if (redis->asking) {
        redis->asking = 0;

        if (ngx_http_tenant_redis_conn_connect_to(redis->master, sockaddr,
                                                  socklen)
            != NGX_OK)
        {
            /* the link closed meanwhile, or the connect failed at once */
            ngx_http_tenant_redis_conn_close(redis->master, 1);
            ngx_http_tenant_redis_retry_later(redis,
                              ngx_http_tenant_redis_conn_error(redis->master));
        }

        return;
    }

    /* +switch-master from a Sentinel: leave the old master at once */

    if (moved && ngx_http_tenant_redis_conn_is_open(redis->master)) {
        ngx_log_error(NGX_LOG_WARN, &redis->log, 0,
                      "tenant: redis master moved, following it");

        ngx_http_tenant_redis_conn_close(redis->master, 1);
        ngx_http_tenant_redis_open(redis);
    }
}


static void
ngx_http_tenant_redis_open(ngx_http_tenant_redis_t *redis)
{
    ngx_http_tenant_redis_conf_t  *rcf;

    rcf = redis->conf;

    if (redis->failed) {
        ngx_http_tenant_metrics_redis_reconnect();
    }

    /* the addresses of the name, in turn, one per attempt */
    if (rcf->naddrs) {
        redis->peer.sockaddr = rcf->addrs[redis->next_addr].sockaddr;
        redis->peer.socklen = rcf->addrs[redis->next_addr].socklen;
        redis->next_addr = (redis->next_addr + 1) % rcf->naddrs;
    }

    if (ngx_http_tenant_redis_conn_open(redis->master, &redis->peer)
        != NGX_OK)
    {
        ngx_http_tenant_redis_retry_later(redis,
                              ngx_http_tenant_redis_conn_error(redis->master));
        return;
    }

    ngx_http_tenant_redis_load(redis);
}


/*
 * SCRIPT LOAD leaves right behind AUTH and SELECT, ahead of any EVALSHA;
 * its answer tells that the link works.
 */

static void
ngx_http_tenant_redis_load(ngx_http_tenant_redis_t *redis)
{
    u_char     *p, *buf;
    ngx_str_t   argv[3];

    ngx_str_set(&argv[0], "SCRIPT");
    ngx_str_set(&argv[1], "LOAD");
    argv[2] = redis->script;

    if (ngx_http_tenant_redis_buffer(redis,
                              ngx_http_tenant_redis_resp_size(3, argv))
        != NGX_OK)
    {
        ngx_http_tenant_redis_conn_close(redis->master, 0);
        return;
    }

    buf = redis->cmd_buf;
    p = ngx_http_tenant_redis_resp(buf, 3, argv);

    if (ngx_http_tenant_redis_conn_send(redis->master, buf, p - buf,
                                        ngx_http_tenant_redis_loaded, redis)
        != NGX_OK)
    {
        ngx_http_tenant_redis_conn_close(redis->master, 0);
    }
}


static void
ngx_http_tenant_redis_loaded(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_t *redis = data;

    if (reply == NULL || redis->exiting) {
        /* the link is going away; ngx_http_tenant_redis_down() tells */
        return;
    }

    if (reply->type == NGX_HTTP_TENANT_REDIS_ERROR) {

        if (ngx_http_tenant_redis_not_master(reply)) {
            ngx_http_tenant_redis_leave(redis, reply);
            return;
        }

        /* each EVAL will fail the same way and say so */
        ngx_http_tenant_redis_log_link(&redis->log,
                                       "redis SCRIPT LOAD failed: \"%*s\"",
                                       (size_t) reply->len, reply->str);

    } else if (reply->type != NGX_HTTP_TENANT_REDIS_STRING
               || reply->len != sizeof(redis->sha1)
               || ngx_strncmp(reply->str, redis->sha1, sizeof(redis->sha1))
                  != 0)
    {
        ngx_log_error(NGX_LOG_WARN, &redis->log, 0,
                      "tenant: redis SCRIPT LOAD returned an unexpected "
                      "reply, EVALSHA will fall back to EVAL");
    }

    /* the link has answered: it is worth a short backoff next time */

    if (redis->conf->naddrs) {
        /* and the same address */
        redis->next_addr = (redis->next_addr + redis->conf->naddrs - 1)
                           % redis->conf->naddrs;
    }

    redis->backoff = NGX_HTTP_TENANT_REDIS_BACKOFF_MIN;
    redis->healthy = 1;
    ngx_http_tenant_metrics_redis_link(1);

    if (redis->failed) {
        redis->failed = 0;

        /* warn: visible at the error_log level Debian ships with */
        ngx_log_error(NGX_LOG_WARN, &redis->log, 0,
                      "tenant: redis connection restored");
    }
}


/* the link to the master went down: try again after the backoff */

static void
ngx_http_tenant_redis_down(void *data)
{
    ngx_http_tenant_redis_t *redis = data;

    if (redis->exiting) {
        return;
    }

    ngx_http_tenant_redis_retry_later(redis,
                              ngx_http_tenant_redis_conn_error(redis->master));
}


static void
ngx_http_tenant_redis_retry_later(ngx_http_tenant_redis_t *redis,
    u_char *reason)
{
    ngx_msec_t  delay;

    if (redis->exiting || redis->reconnect.timer_set) {
        return;
    }

    delay = redis->backoff;
    redis->backoff = ngx_min(redis->backoff * 2,
                             NGX_HTTP_TENANT_REDIS_BACKOFF_MAX);
    redis->healthy = 0;
    redis->failed = 1;
    ngx_http_tenant_metrics_redis_link(0);

    ngx_http_tenant_redis_log_link(&redis->log,
                                   "redis %s, retrying in %Mms",
                                   reason[0] ? (char *) reason
                                             : "connection lost",
                                   delay);

    ngx_add_timer(&redis->reconnect, delay);
}


static void
ngx_http_tenant_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_t *redis = ev->data;

    if (!redis->exiting && !redis->asking
        && !ngx_http_tenant_redis_conn_is_open(redis->master))
    {
        ngx_http_tenant_redis_connect(redis);
    }
}


/* the worker's command buffer holds at least size bytes */

static ngx_int_t
ngx_http_tenant_redis_buffer(ngx_http_tenant_redis_t *redis, size_t size)
{
    if (size <= redis->cmd_size) {
        return NGX_OK;
    }

    ngx_free(redis->cmd_buf);

    redis->cmd_size = ngx_max(size, 4096);
    redis->cmd_buf = ngx_alloc(redis->cmd_size, &redis->log);

    if (redis->cmd_buf == NULL) {
        redis->cmd_size = 0;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n", N counting both */

static u_char *
ngx_http_tenant_redis_header(u_char *p, ngx_uint_t args, ngx_str_t *command,
    ngx_str_t *what)
{
    *p++ = '*';
    p = ngx_http_tenant_decimal(p, args + 2);
    *p++ = CR; *p++ = LF;

    *p++ = '$';
    p = ngx_http_tenant_decimal(p, command->len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, command->data, command->len);
    *p++ = CR; *p++ = LF;

    *p++ = '$';
    p = ngx_http_tenant_decimal(p, what->len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, what->data, what->len);
    *p++ = CR; *p++ = LF;

    return p;
}


/*
 * SCRIPT FLUSH, a restart without persistence, a failover: EVAL with the
 * same arguments loads the script again, so later EVALSHAs succeed.
 */

static ngx_int_t
ngx_http_tenant_redis_retry(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op)
{
    u_char     *p;
    ngx_str_t   command;

    if (ngx_http_tenant_redis_buffer(redis, NGX_HTTP_TENANT_REDIS_HEADER
                                            + redis->script.len
                                            + op->body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&command, "EVAL");

    p = ngx_http_tenant_redis_header(redis->cmd_buf, op->args, &command,
                                     &redis->script);
    p = ngx_cpymem(p, op->body.data, op->body.len);

    /* after ASK, the target serves the slot only to an ASKING command */
    if (op->asking
        && ngx_http_tenant_redis_asking(redis, op->link) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tenant_redis_conn_send(op->link, redis->cmd_buf,
                                           p - redis->cmd_buf,
                                           ngx_http_tenant_redis_op_done, op);
}


static void
ngx_http_tenant_redis_op_done(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_op_t *op = data;

    void                              *hdata;
    ngx_int_t                          rc;
    ngx_http_tenant_redis_t           *redis;
    ngx_http_tenant_redis_handler_pt   handler;

    redis = op->redis;

    if (op->cancelled || redis->exiting) {
        ngx_free(op);
        return;
    }

    if (reply && reply->type == NGX_HTTP_TENANT_REDIS_ERROR) {

        if (!op->retried
            && reply->len >= sizeof("NOSCRIPT") - 1
            && ngx_strncmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1)
               == 0)
        {
            op->retried = 1;

            if (ngx_http_tenant_redis_retry(redis, op) == NGX_OK) {
                return;
            }

        } else if (redis->cluster
                   && (rc = ngx_http_tenant_redis_redirect(redis, op, reply))
                      != NGX_DECLINED)
        {
            if (rc == NGX_OK) {
                /* sent again, or soon: the reply is still to come */
                return;
            }

            /* NGX_ERROR: the failure policy for this one, said why */

        } else if (redis->cluster && ngx_http_tenant_redis_not_master(reply)) {
            ngx_http_tenant_redis_log_link(&redis->log,
                                           "redis cluster node error: "
                                           "\"%*s\"", (size_t) reply->len,
                                           reply->str);
            ngx_http_tenant_redis_cluster_refresh(redis->cluster);

        } else if (ngx_http_tenant_redis_not_master(reply)) {
            /* this request gets the failure policy; the next a master */
            ngx_http_tenant_redis_leave(redis, reply);

        } else {
            ngx_http_tenant_redis_log_link(&redis->log,
                                           "redis error: \"%*s\"",
                                           (size_t) reply->len,
                                           reply->str);

            /* a slot without a master: the map may say who has it now */
            if (redis->cluster
                && ngx_http_tenant_redis_error_is(reply, "CLUSTERDOWN"))
            {
                ngx_http_tenant_redis_cluster_refresh(redis->cluster);
            }
        }

        reply = NULL;
    }

    ngx_http_tenant_metrics_redis(reply ? NGX_HTTP_TENANT_METRICS_REDIS_OK
                                        : NGX_HTTP_TENANT_METRICS_REDIS_ERROR,
                                  op->sent);

    handler = op->handler;
    hdata = op->data;

    /* a cancel from within the handler finds nothing left to do */
    op->handler = NULL;

    handler(hdata, reply);

    ngx_free(op);
}


/*
 * The command's slot, from its keys unless given, and the link to the
 * slot's master.  The keys of one call share a hash tag, so a slot: a
 * call that would span two is refused here, as Redis would refuse it.
 */

static ngx_int_t
ngx_http_tenant_redis_cluster_send(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_int_t slot)
{
    ngx_http_tenant_redis_conn_t  *link;

    if (slot == NGX_DECLINED) {
        slot = ngx_http_tenant_redis_cluster_slot(op->body.data,
                                                  op->body.len);
    }

    if (slot == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, &redis->log, 0,
                      "tenant: a redis command's keys are not in one "
                      "cluster slot");
        return NGX_ERROR;
    }

    op->slot = slot;
    op->redirects = 0;
    op->asking = 0;

    ngx_memzero(&op->pause, sizeof(ngx_event_t));

    link = ngx_http_tenant_redis_cluster_link(redis->cluster, slot);
    if (link == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_tenant_redis_forward(redis, op, link, 0);
}


/* EVALSHA and the arguments on link, behind ASKING after an ASK */

static ngx_int_t
ngx_http_tenant_redis_forward(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_conn_t *link,
    ngx_uint_t asking)
{
    u_char     *p;
    ngx_str_t   command, sha1;

    if (ngx_http_tenant_redis_buffer(redis, NGX_HTTP_TENANT_REDIS_HEADER
                                            + op->body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&command, "EVALSHA");
    sha1.len = sizeof(redis->sha1);
    sha1.data = redis->sha1;

    p = ngx_http_tenant_redis_header(redis->cmd_buf, op->args, &command,
                                     &sha1);
    p = ngx_cpymem(p, op->body.data, op->body.len);

    op->link = link;
    op->asking = asking;

    /* one after the other on the link: nothing comes in between */
    if (asking && ngx_http_tenant_redis_asking(redis, link) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_tenant_redis_conn_send(link, redis->cmd_buf,
                                           p - redis->cmd_buf,
                                           ngx_http_tenant_redis_op_done, op);
}


/*
 * MOVED, ASK, TRYAGAIN: the command did not run, and is sent again, up
 * to a few times, while the request still waits (its own timer cancels
 * the op).  NGX_DECLINED: not a redirect; NGX_ERROR: not sent again.
 */

static ngx_int_t
ngx_http_tenant_redis_redirect(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_uint_t  moved, ask, tryagain;

    moved = ngx_http_tenant_redis_error_is(reply, "MOVED ");
    ask = ngx_http_tenant_redis_error_is(reply, "ASK ");
    tryagain = ngx_http_tenant_redis_error_is(reply, "TRYAGAIN");

    if (!moved && !ask && !tryagain) {
        return NGX_DECLINED;
    }

    if (++op->redirects > NGX_HTTP_TENANT_REDIS_REDIRECTS) {
        ngx_http_tenant_redis_log_link(&redis->log,
                                       "redis cluster: too many redirects "
                                       "for slot %ui, last \"%*s\"",
                                       op->slot, (size_t) reply->len,
                                       reply->str);
        return NGX_ERROR;
    }

    /* another node may lack the script: one EVAL there too */
    op->retried = 0;

    if (tryagain) {
        op->pause.handler = ngx_http_tenant_redis_pause_handler;
        op->pause.data = op;
        op->pause.log = &redis->log;

        ngx_add_timer(&op->pause, NGX_HTTP_TENANT_REDIS_TRYAGAIN_PAUSE);
        ngx_queue_insert_tail(&redis->paused, &op->queue);

        return NGX_OK;
    }

    return ngx_http_tenant_redis_follow(redis, op, reply, moved);
}


/* "MOVED SLOT HOST:PORT" (moved), "ASK SLOT HOST:PORT" */

static ngx_int_t
ngx_http_tenant_redis_follow(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_op_t *op, ngx_http_tenant_redis_reply_t *reply,
    ngx_uint_t moved)
{
    u_char                        *p, *last, *sp;
    ngx_int_t                      slot;
    ngx_str_t                      node;
    ngx_http_tenant_redis_conn_t  *link;

    last = reply->str + reply->len;

    p = ngx_strlchr(reply->str, last, ' ');
    sp = p ? ngx_strlchr(p + 1, last, ' ') : NULL;

    slot = sp ? ngx_atoi(p + 1, sp - p - 1) : NGX_ERROR;

    if (slot == NGX_ERROR || (ngx_uint_t) slot != op->slot) {
        ngx_http_tenant_redis_log_link(&redis->log,
                                       "redis cluster: unexpected redirect "
                                       "\"%*s\" for slot %ui",
                                       (size_t) reply->len, reply->str,
                                       op->slot);
        return NGX_ERROR;
    }

    node.data = sp + 1;
    node.len = last - sp - 1;

    link = ngx_http_tenant_redis_cluster_redirect(redis->cluster, slot, &node,
                                                  moved);
    if (link == NULL) {
        ngx_http_tenant_redis_log_link(&redis->log,
                                       "redis cluster: \"%*s\", and that "
                                       "node cannot be reached now",
                                       (size_t) reply->len, reply->str);
        return NGX_ERROR;
    }

    return ngx_http_tenant_redis_forward(redis, op, link, !moved);
}


static ngx_uint_t
ngx_http_tenant_redis_error_is(ngx_http_tenant_redis_reply_t *reply,
    const char *code)
{
    size_t  len;

    len = ngx_strlen(code);

    return reply->len >= len && ngx_strncmp(reply->str, code, len) == 0;
}


/* after TRYAGAIN: the slot's master again, which may ASK again */

static void
ngx_http_tenant_redis_pause_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_op_t *op = ev->data;

    void                              *hdata;
    ngx_http_tenant_redis_t           *redis;
    ngx_http_tenant_redis_conn_t      *link;
    ngx_http_tenant_redis_handler_pt   handler;

    redis = op->redis;

    ngx_queue_remove(&op->queue);

    link = ngx_http_tenant_redis_cluster_link(redis->cluster, op->slot);

    if (link && ngx_http_tenant_redis_forward(redis, op, link, 0) == NGX_OK) {
        return;
    }

    handler = op->handler;
    hdata = op->data;
    op->handler = NULL;

    handler(hdata, NULL);

    ngx_free(op);
}


/* ASKING, queued right in front of the command that follows an ASK */

static ngx_int_t
ngx_http_tenant_redis_asking(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_conn_t *link)
{
    static u_char  asking[] = "*1\r\n$6\r\nASKING\r\n";

    return ngx_http_tenant_redis_conn_send(link, asking, sizeof(asking) - 1,
                                           ngx_http_tenant_redis_asked,
                                           redis);
}


/*
 * ASKING answers +OK.  A refusal (an ACL user without +asking) leaves the
 * command after it to be redirected again, to no end: the refusal is
 * what the log must name.  It has a once-a-second limit of its own, so
 * that the redirect failures it causes, logged under the link's limit,
 * never hide it.  A link lost meanwhile fails that command.
 */

static void
ngx_http_tenant_redis_asked(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_t *redis = data;

    static time_t  logged;

    if (reply == NULL
        || reply->type != NGX_HTTP_TENANT_REDIS_ERROR
        || logged == ngx_time())
    {
        return;
    }

    logged = ngx_time();

    ngx_log_error(NGX_LOG_ERR, &redis->log, 0,
                  "tenant: redis cluster node refused ASKING: \"%*s\"",
                  (size_t) reply->len, reply->str);
}


/* a replica, a master still loading its data, or one cut from its own */

static ngx_int_t
ngx_http_tenant_redis_not_master(ngx_http_tenant_redis_reply_t *reply)
{
    static ngx_str_t  errors[] = {
        ngx_string("READONLY"),
        ngx_string("LOADING"),
        ngx_string("MASTERDOWN")
    };

    ngx_uint_t  i;

    for (i = 0; i < sizeof(errors) / sizeof(ngx_str_t); i++) {
        if (reply->len >= errors[i].len
            && ngx_strncmp(reply->str, errors[i].data, errors[i].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The server is no master to write to: the link is dropped and, with
 * Sentinel, the master asked for again at once, not after a backoff.
 * Posted, so the link is not closed under the reply being read.
 */

static void
ngx_http_tenant_redis_leave(ngx_http_tenant_redis_t *redis,
    ngx_http_tenant_redis_reply_t *reply)
{
    if (!ngx_http_tenant_redis_conn_is_open(redis->master)) {
        return;
    }

    ngx_http_tenant_redis_log_link(&redis->log,
                                   "redis is not a writable master: "
                                   "\"%*s\", leaving it",
                                   (size_t) reply->len, reply->str);

    redis->healthy = 0;
    redis->failed = 1;
    ngx_http_tenant_metrics_redis_link(0);

    ngx_http_tenant_redis_conn_close(redis->master, 1);

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    redis->backoff = NGX_HTTP_TENANT_REDIS_BACKOFF_MIN;

    if (redis->sentinel) {
        ngx_http_tenant_redis_connect(redis);
        return;
    }

    /* a name may point elsewhere by now; an address is tried again */
    ngx_add_timer(&redis->reconnect, NGX_HTTP_TENANT_REDIS_BACKOFF_MIN);
}


static u_char *
ngx_http_tenant_redis_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_tenant_redis_t *redis = log->data;

    if (redis->master && ngx_http_tenant_redis_conn_is_open(redis->master)) {
        return ngx_snprintf(buf, len, ", redis: %V",
                            ngx_http_tenant_redis_conn_address(redis->master));
    }

    return ngx_snprintf(buf, len, ", redis: %V", &redis->conf->address);
}
