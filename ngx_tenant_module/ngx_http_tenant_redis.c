
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_sha1.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_tenant_redis.h"


#define NGX_HTTP_TENANT_REDIS_PORT             6379
#define NGX_HTTP_TENANT_REDIS_TIMEOUT          50

/*
 * A connect that has not completed in a second is not going to: Redis is
 * expected on the same host or LAN, where the handshake takes well under
 * a millisecond.  Requests never wait that long (they have their own
 * timer); this only bounds how long a black-holed address delays the
 * next attempt.
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

#define NGX_HTTP_TENANT_REDIS_BACKOFF_MIN      100
/* a Redis that is back is in use again within half a second */
#define NGX_HTTP_TENANT_REDIS_BACKOFF_MAX      500

/* commands outstanding after a read that make it worth reading again */
#define NGX_HTTP_TENANT_REDIS_BACKLOG          32
#define NGX_HTTP_TENANT_REDIS_READS            16

#define NGX_HTTP_TENANT_REDIS_AUTH             1
#define NGX_HTTP_TENANT_REDIS_SELECT           2
#define NGX_HTTP_TENANT_REDIS_LOAD             3


typedef struct {
    ngx_http_tenant_redis_conf_t  *conf;
    redisAsyncContext             *ac;        /* NULL: down */
    ngx_log_t                      log;

    ngx_event_t                    reconnect;
    ngx_event_t                    connect;
    ngx_event_t                    stall;
    ngx_event_t                    flush;
    ngx_msec_t                     backoff;
    ngx_uint_t                     pending;   /* commands sent, unanswered */

    ngx_str_t                      script;
    u_char                         sha1[40];

    ngx_http_tenant_redis_cmd_t    cmd;       /* the command being written */
    u_char                        *cmd_buf;
    size_t                         cmd_size;
    char                           host[NGX_SOCKADDR_STRLEN + 1];
    int                            port;

    unsigned                       initialized:1;
    unsigned                       connected:1;
    unsigned                       healthy:1;
    unsigned                       failed:1;
    unsigned                       closed:1;
    unsigned                       exiting:1;
    unsigned                       flushing:1;
} ngx_http_tenant_redis_worker_t;


/*
 * A command in flight.  Its arguments are kept, in RESP, for the one
 * retry as EVAL after NOSCRIPT.
 */

struct ngx_http_tenant_redis_op_s {
    ngx_http_tenant_redis_handler_pt   handler;
    void                              *data;
    ngx_uint_t                         args;
    ngx_str_t                          body;
    unsigned                           cancelled:1;
    unsigned                           retried:1;
};


/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n" fits in front of the arguments */
#define NGX_HTTP_TENANT_REDIS_HEADER                                          \
    (1 + NGX_SIZE_T_LEN + 2 + sizeof("$7\r\nEVALSHA\r\n$40\r\n") - 1 + 40 + 2)


static void ngx_http_tenant_redis_connect(ngx_http_tenant_redis_worker_t *w);
static ngx_int_t ngx_http_tenant_redis_buffer(
    ngx_http_tenant_redis_worker_t *w, size_t size);
static u_char *ngx_http_tenant_redis_header(u_char *p, ngx_uint_t args,
    ngx_str_t *command, ngx_str_t *what);
static ngx_int_t ngx_http_tenant_redis_retry(
    ngx_http_tenant_redis_worker_t *w, ngx_http_tenant_redis_op_t *op);
static void ngx_http_tenant_redis_down(ngx_http_tenant_redis_worker_t *w,
    redisAsyncContext *ac);
static ngx_int_t ngx_http_tenant_redis_handshake(
    ngx_http_tenant_redis_worker_t *w, redisAsyncContext *ac);
static ngx_int_t ngx_http_tenant_redis_step(ngx_http_tenant_redis_worker_t *w,
    redisAsyncContext *ac, ngx_uint_t step, int argc, const char **argv,
    const size_t *len);
static void ngx_http_tenant_redis_handshake_done(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_tenant_redis_op_done(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_tenant_redis_sent(ngx_http_tenant_redis_worker_t *w);
static void ngx_http_tenant_redis_received(ngx_http_tenant_redis_worker_t *w,
    redisReply *reply);
static void ngx_http_tenant_redis_connected(const redisAsyncContext *ac,
    int status);

static void ngx_http_tenant_redis_read_handler(ngx_event_t *rev);
static void ngx_http_tenant_redis_write_handler(ngx_event_t *wev);
static void ngx_http_tenant_redis_add_read(void *privdata);
static void ngx_http_tenant_redis_del_read(void *privdata);
static void ngx_http_tenant_redis_add_write(void *privdata);
static void ngx_http_tenant_redis_del_write(void *privdata);
static void ngx_http_tenant_redis_cleanup(void *privdata);

static void ngx_http_tenant_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_connect_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_stall_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_flush_handler(ngx_event_t *ev);
static u_char *ngx_http_tenant_redis_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);


/* one connection per worker: the state is the worker's own */
static ngx_http_tenant_redis_worker_t  ngx_http_tenant_redis_worker;

static time_t                          ngx_http_tenant_redis_log_time;
static ngx_uint_t                      ngx_http_tenant_redis_log_skipped;


char *
ngx_http_tenant_redis_parse(ngx_conf_t *cf, ngx_http_tenant_redis_conf_t *rcf)
{
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_url_t    u;
    ngx_uint_t   i;
#if (NGX_HAVE_UNIX_DOMAIN)
    size_t               len;
    struct sockaddr_un  *saun;
#endif

    value = cf->args->elts;

    if (cf->args->nelts < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "missing redis address");
        return NGX_CONF_ERROR;
    }

    rcf->address = value[1];
    rcf->timeout = NGX_HTTP_TENANT_REDIS_TIMEOUT;
    rcf->db = 0;
    ngx_str_null(&rcf->password);
    ngx_str_null(&rcf->unix_path);
    ngx_str_set(&rcf->prefix, "tenant:");

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = NGX_HTTP_TENANT_REDIS_PORT;

    /* resolved here, in the master: a worker never waits for DNS */
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in redis address \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.uri.len || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    /* only the first address of a name is used: one connection */
    rcf->addr = &u.addrs[0];

#if (NGX_HAVE_UNIX_DOMAIN)

    if (u.family == AF_UNIX) {
        saun = (struct sockaddr_un *) rcf->addr->sockaddr;
        len = ngx_strlen(saun->sun_path);

        rcf->unix_path.data = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rcf->unix_path.data, saun->sun_path, len + 1);
        rcf->unix_path.len = len;
    }

#endif

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            rcf->timeout = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            if (value[i].len == 9) {
                goto invalid;
            }

            rcf->password.data = value[i].data + 9;
            rcf->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf->prefix.data = value[i].data + 7;
            rcf->prefix.len = value[i].len - 7;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
        /* the value is a secret even when it is wrong */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"password=\"");

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
    }

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_tenant_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script)
{
    u_char                           *p, hash[20];
    ngx_sha1_t                        sha1;
    ngx_http_tenant_redis_worker_t   *w;

    w = &ngx_http_tenant_redis_worker;

    ngx_memzero(w, sizeof(ngx_http_tenant_redis_worker_t));

    w->conf = rcf;

    w->log = *cycle->log;
    w->log.handler = ngx_http_tenant_redis_log_handler;
    w->log.data = w;
    w->log.action = NULL;
    w->log.connection = 0;

    /* kept for EVAL after a SCRIPT FLUSH and for each new connection */
    w->script.data = ngx_alloc(script->len, cycle->log);
    if (w->script.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(w->script.data, script->data, script->len);
    w->script.len = script->len;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, script->data, script->len);
    ngx_sha1_final(hash, &sha1);
    ngx_hex_dump(w->sha1, hash, 20);

    if (rcf->unix_path.len == 0) {
        /* the address text for hiredis: numeric, so nothing is looked up */
        p = (u_char *) w->host;
        p += ngx_sock_ntop(rcf->addr->sockaddr, rcf->addr->socklen, p,
                           NGX_SOCKADDR_STRLEN, 0);
        *p = '\0';

        w->port = ngx_inet_get_port(rcf->addr->sockaddr);
    }

    /* cancelable: a worker that is shutting down does not wait for them */

    w->reconnect.handler = ngx_http_tenant_redis_reconnect_handler;
    w->reconnect.data = w;
    w->reconnect.log = &w->log;
    w->reconnect.cancelable = 1;

    w->connect.handler = ngx_http_tenant_redis_connect_handler;
    w->connect.data = w;
    w->connect.log = &w->log;
    w->connect.cancelable = 1;

    w->stall.handler = ngx_http_tenant_redis_stall_handler;
    w->stall.data = w;
    w->stall.log = &w->log;
    w->stall.cancelable = 1;

    w->flush.handler = ngx_http_tenant_redis_flush_handler;
    w->flush.data = w;
    w->flush.log = &w->log;

    w->backoff = NGX_HTTP_TENANT_REDIS_BACKOFF_MIN;

    /*
     * Until the first attempt fails, commands queue behind the connect:
     * a fresh worker (after a reload) serves its first requests normally.
     */
    w->healthy = 1;
    w->initialized = 1;

    ngx_http_tenant_redis_connect(w);

    return NGX_OK;
}


void
ngx_http_tenant_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_tenant_redis_worker_t  *w;

    w = &ngx_http_tenant_redis_worker;

    if (!w->initialized) {
        return;
    }

    /* the requests that wait are being torn down: no handler is called */
    w->exiting = 1;

    if (w->ac) {
        redisAsyncFree(w->ac);
    }

    if (w->reconnect.timer_set) {
        ngx_del_timer(&w->reconnect);
    }

    if (w->flush.posted) {
        ngx_delete_posted_event(&w->flush);
    }

    ngx_free(w->script.data);
    ngx_free(w->cmd_buf);

    w->cmd_buf = NULL;
    w->cmd_size = 0;
    w->initialized = 0;
}


ngx_http_tenant_redis_cmd_t *
ngx_http_tenant_redis_cmd(size_t size)
{
    ngx_http_tenant_redis_worker_t  *w;

    w = &ngx_http_tenant_redis_worker;

    if (w->ac == NULL
        || w->exiting
        || (!w->connected && !w->healthy)
        || (w->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NULL;
    }

    if (ngx_http_tenant_redis_buffer(w, NGX_HTTP_TENANT_REDIS_HEADER + size)
        != NGX_OK)
    {
        return NULL;
    }

    /* the arguments go after the room the header will take */

    ngx_http_tenant_redis_cmd_init(&w->cmd,
                                   w->cmd_buf + NGX_HTTP_TENANT_REDIS_HEADER,
                                   w->cmd_buf + w->cmd_size);

    return &w->cmd;
}


ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_send(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_redis_handler_pt handler, void *data)
{
    u_char                          *p, header[NGX_HTTP_TENANT_REDIS_HEADER];
    size_t                           len;
    ngx_str_t                        command, sha1;
    ngx_http_tenant_redis_op_t      *op;
    ngx_http_tenant_redis_worker_t  *w;

    w = &ngx_http_tenant_redis_worker;

    if (cmd->failed || cmd->args == 0) {
        ngx_log_error(NGX_LOG_ALERT, &w->log, 0,
                      "tenant: a redis command did not fit its buffer");
        return NULL;
    }

    len = cmd->pos - cmd->start;

    op = ngx_alloc(sizeof(ngx_http_tenant_redis_op_t) + len, &w->log);
    if (op == NULL) {
        return NULL;
    }

    op->handler = handler;
    op->data = data;
    op->args = cmd->args;
    op->body.len = len;
    op->body.data = (u_char *) (op + 1);
    op->cancelled = 0;
    op->retried = 0;

    ngx_memcpy(op->body.data, cmd->start, len);

    /* the header, right in front of the arguments: one piece for hiredis */

    ngx_str_set(&command, "EVALSHA");
    sha1.len = sizeof(w->sha1);
    sha1.data = w->sha1;

    p = ngx_http_tenant_redis_header(header, cmd->args, &command, &sha1);
    len = p - header;

    ngx_memcpy(cmd->start - len, header, len);

    if (redisAsyncFormattedCommand(w->ac, ngx_http_tenant_redis_op_done, op,
                                   (char *) cmd->start - len,
                                   cmd->pos - cmd->start + len)
        != REDIS_OK)
    {
        ngx_free(op);
        return NULL;
    }

    ngx_http_tenant_redis_sent(w);

    return op;
}


ngx_http_tenant_redis_op_t *
ngx_http_tenant_redis_eval(int argc, const char **argv,
    const size_t *argvlen, ngx_http_tenant_redis_handler_pt handler,
    void *data)
{
    int                           i;
    size_t                        size;
    ngx_http_tenant_redis_cmd_t  *cmd;

    size = 0;

    for (i = 0; i < argc; i++) {
        size += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    cmd = ngx_http_tenant_redis_cmd(size);
    if (cmd == NULL) {
        return NULL;
    }

    for (i = 0; i < argc; i++) {
        ngx_http_tenant_redis_arg(cmd, (u_char *) argv[i], argvlen[i]);
    }

    return ngx_http_tenant_redis_send(cmd, handler, data);
}


/* the worker's command buffer holds at least size bytes */

static ngx_int_t
ngx_http_tenant_redis_buffer(ngx_http_tenant_redis_worker_t *w, size_t size)
{
    if (size <= w->cmd_size) {
        return NGX_OK;
    }

    ngx_free(w->cmd_buf);

    w->cmd_size = ngx_max(size, 4096);
    w->cmd_buf = ngx_alloc(w->cmd_size, &w->log);

    if (w->cmd_buf == NULL) {
        w->cmd_size = 0;
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
ngx_http_tenant_redis_retry(ngx_http_tenant_redis_worker_t *w,
    ngx_http_tenant_redis_op_t *op)
{
    u_char     *p;
    ngx_str_t   command;

    if (ngx_http_tenant_redis_buffer(w, NGX_HTTP_TENANT_REDIS_HEADER
                                        + w->script.len + op->body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&command, "EVAL");

    p = ngx_http_tenant_redis_header(w->cmd_buf, op->args, &command,
                                     &w->script);
    p = ngx_cpymem(p, op->body.data, op->body.len);

    if (redisAsyncFormattedCommand(w->ac, ngx_http_tenant_redis_op_done, op,
                                   (char *) w->cmd_buf, p - w->cmd_buf)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_tenant_redis_sent(w);

    return NGX_OK;
}


void
ngx_http_tenant_redis_cancel(ngx_http_tenant_redis_op_t *op)
{
    /* the op stays in hiredis' queue: its reply is still on the way */
    op->cancelled = 1;
    op->handler = NULL;
    op->data = NULL;
}


void
ngx_http_tenant_redis_log_failure(ngx_log_t *log, const char *fmt, ...)
{
    u_char   *p, buf[NGX_MAX_ERROR_STR];
    time_t    now;
    va_list   args;

    /* a dead Redis fails every request: one line a second is enough */

    now = ngx_time();

    if (now == ngx_http_tenant_redis_log_time) {
        ngx_http_tenant_redis_log_skipped++;
        return;
    }

    ngx_http_tenant_redis_log_time = now;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (ngx_http_tenant_redis_log_skipped) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tenant: %*s (%ui more failures not logged)",
                      (size_t) (p - buf), buf,
                      ngx_http_tenant_redis_log_skipped);

        ngx_http_tenant_redis_log_skipped = 0;
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0, "tenant: %*s", (size_t) (p - buf),
                  buf);
}


static void
ngx_http_tenant_redis_connect(ngx_http_tenant_redis_worker_t *w)
{
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    if (w->conf->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) w->conf->unix_path.data);

    } else {
        ac = redisAsyncConnect(w->host, w->port);
    }

    if (ac == NULL) {
        ngx_http_tenant_redis_down(w, NULL);
        return;
    }

    if (ac->err) {
        ngx_http_tenant_redis_log_failure(&w->log,
                                          "redis connect failed: %s",
                                          ac->errstr);
        redisAsyncFree(ac);
        ngx_http_tenant_redis_down(w, NULL);
        return;
    }

    /* replies are built in the worker's buffer, not one malloc() each */
    ac->c.reader->fn = &ngx_http_tenant_redis_reply_functions;

    if (w->conf->unix_path.len == 0) {
        /* an idle link to a vanished host is noticed */
        (void) redisEnableKeepAlive(&ac->c);
    }

    c = ngx_get_connection(ac->c.fd, &w->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_tenant_redis_down(w, NULL);
        return;
    }

    c->data = ac;
    c->log = &w->log;
    c->read->log = &w->log;
    c->write->log = &w->log;
    c->read->handler = ngx_http_tenant_redis_read_handler;
    c->write->handler = ngx_http_tenant_redis_write_handler;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    w->log.connection = c->number;

    ac->data = w;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_tenant_redis_add_read;
    ac->ev.delRead = ngx_http_tenant_redis_del_read;
    ac->ev.addWrite = ngx_http_tenant_redis_add_write;
    ac->ev.delWrite = ngx_http_tenant_redis_del_write;
    ac->ev.cleanup = ngx_http_tenant_redis_cleanup;

    w->ac = ac;
    w->connected = 0;

    /* hiredis waits for the first write event to learn the outcome */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_tenant_redis_connected);

    ngx_add_timer(&w->connect, NGX_HTTP_TENANT_REDIS_CONNECT_TIMEOUT);

    if (ngx_http_tenant_redis_handshake(w, ac) != NGX_OK) {
        redisAsyncFree(ac);
    }
}


/*
 * Queued before any EVALSHA can be: they leave in the first write, in
 * this order, and Redis answers them in this order.
 */

static ngx_int_t
ngx_http_tenant_redis_handshake(ngx_http_tenant_redis_worker_t *w,
    redisAsyncContext *ac)
{
    u_char       db[NGX_INT_T_LEN];
    size_t       len[3];
    const char  *argv[3];

    if (w->conf->password.len) {
        argv[0] = "AUTH";
        len[0] = sizeof("AUTH") - 1;
        argv[1] = (const char *) w->conf->password.data;
        len[1] = w->conf->password.len;

        if (ngx_http_tenant_redis_step(w, ac, NGX_HTTP_TENANT_REDIS_AUTH, 2,
                                       argv, len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (w->conf->db) {
        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%i", w->conf->db) - db;

        if (ngx_http_tenant_redis_step(w, ac, NGX_HTTP_TENANT_REDIS_SELECT, 2,
                                       argv, len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    argv[0] = "SCRIPT";
    len[0] = sizeof("SCRIPT") - 1;
    argv[1] = "LOAD";
    len[1] = sizeof("LOAD") - 1;
    argv[2] = (const char *) w->script.data;
    len[2] = w->script.len;

    return ngx_http_tenant_redis_step(w, ac, NGX_HTTP_TENANT_REDIS_LOAD, 3,
                                      argv, len);
}


static ngx_int_t
ngx_http_tenant_redis_step(ngx_http_tenant_redis_worker_t *w,
    redisAsyncContext *ac, ngx_uint_t step, int argc, const char **argv,
    const size_t *len)
{
    if (redisAsyncCommandArgv(ac, ngx_http_tenant_redis_handshake_done,
                              (void *) (uintptr_t) step, argc, argv, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_tenant_redis_sent(w);

    return NGX_OK;
}


static void
ngx_http_tenant_redis_handshake_done(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply *reply = r;

    ngx_uint_t                       step;
    ngx_http_tenant_redis_worker_t  *w;

    w = ac->data;
    step = (ngx_uint_t) (uintptr_t) privdata;

    ngx_http_tenant_redis_received(w, reply);

    if (reply == NULL || w->exiting) {
        /* the link is going away; ngx_http_tenant_redis_down() tells */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        if (step == NGX_HTTP_TENANT_REDIS_LOAD) {
            /* each EVAL will fail the same way and say so */
            ngx_http_tenant_redis_log_failure(&w->log,
                                   "redis SCRIPT LOAD failed: \"%*s\"",
                                   reply->len, reply->str);

        } else {
            /*
             * Commands on this link would fail: better to fail them at
             * once, and to retry later, when Redis may have been fixed.
             */
            ngx_http_tenant_redis_log_failure(&w->log,
                                   "redis %s failed: \"%*s\"",
                                   step == NGX_HTTP_TENANT_REDIS_AUTH
                                   ? "AUTH" : "SELECT",
                                   reply->len, reply->str);

            redisAsyncFree(ac);
            return;
        }

    } else if (step == NGX_HTTP_TENANT_REDIS_LOAD
               && (reply->type != REDIS_REPLY_STRING
                   || reply->len != sizeof(w->sha1)
                   || ngx_strncmp(reply->str, w->sha1, sizeof(w->sha1))
                      != 0))
    {
        ngx_log_error(NGX_LOG_WARN, &w->log, 0,
                      "tenant: redis SCRIPT LOAD returned an unexpected "
                      "reply, EVALSHA will fall back to EVAL");
    }

    if (step != NGX_HTTP_TENANT_REDIS_LOAD) {
        return;
    }

    /* the link has answered: it is worth a short backoff next time */

    w->backoff = NGX_HTTP_TENANT_REDIS_BACKOFF_MIN;
    w->healthy = 1;

    if (w->failed) {
        w->failed = 0;
        ngx_log_error(NGX_LOG_NOTICE, &w->log, 0,
                      "tenant: redis connection restored");
    }
}


static void
ngx_http_tenant_redis_op_done(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                  *reply = r;
    ngx_http_tenant_redis_op_t  *op = privdata;

    void                              *data;
    ngx_http_tenant_redis_worker_t    *w;
    ngx_http_tenant_redis_handler_pt   handler;

    w = ac->data;

    ngx_http_tenant_redis_received(w, reply);

    if (op->cancelled || w->exiting) {
        ngx_free(op);
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR) {

        if (!op->retried
            && reply->len >= sizeof("NOSCRIPT") - 1
            && ngx_strncmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1)
               == 0)
        {
            op->retried = 1;

            if (ngx_http_tenant_redis_retry(w, op) == NGX_OK) {
                return;
            }

        } else {
            ngx_http_tenant_redis_log_failure(&w->log, "redis error: \"%*s\"",
                                              reply->len, reply->str);
        }

        reply = NULL;
    }

    handler = op->handler;
    data = op->data;

    /* a cancel from within the handler finds nothing left to do */
    op->handler = NULL;

    handler(data, reply);

    ngx_free(op);
}


static void
ngx_http_tenant_redis_sent(ngx_http_tenant_redis_worker_t *w)
{
    w->pending++;

    if (!w->stall.timer_set) {
        ngx_add_timer(&w->stall, NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT);
    }
}


static void
ngx_http_tenant_redis_received(ngx_http_tenant_redis_worker_t *w,
    redisReply *reply)
{
    w->pending--;

    if (reply == NULL) {
        /* the context is being freed: ngx_http_tenant_redis_down() */
        return;
    }

    if (w->pending) {
        ngx_add_timer(&w->stall, NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT);

    } else if (w->stall.timer_set) {
        ngx_del_timer(&w->stall);
    }
}


static void
ngx_http_tenant_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_tenant_redis_worker_t  *w;

    w = ac->data;

    if (w->connect.timer_set) {
        ngx_del_timer(&w->connect);
    }

    /* on failure hiredis frees the context next, and the cleanup tells */

    if (status == REDIS_OK) {
        w->connected = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, &w->log, 0,
                       "tenant redis connected");
    }
}


/*
 * Called once the context is done with, whatever the cause: a failed
 * connect, a lost link, or redisAsyncFree() from here; ac is NULL when
 * no context got that far.  The pending callbacks have run already.
 */

static void
ngx_http_tenant_redis_down(ngx_http_tenant_redis_worker_t *w,
    redisAsyncContext *ac)
{
    ngx_msec_t  delay;

    w->ac = NULL;
    w->connected = 0;
    w->healthy = 0;
    w->pending = 0;

    if (w->connect.timer_set) {
        ngx_del_timer(&w->connect);
    }

    if (w->stall.timer_set) {
        ngx_del_timer(&w->stall);
    }

    if (w->exiting || w->closed) {
        return;
    }

    delay = w->backoff;
    w->backoff = ngx_min(w->backoff * 2, NGX_HTTP_TENANT_REDIS_BACKOFF_MAX);
    w->failed = 1;

    /* when we freed it ourselves, the reason has been logged already */

    if (ac && !(ac->c.flags & REDIS_FREEING)) {
        if (ac->c.flags & REDIS_CONNECTED) {
            ngx_http_tenant_redis_log_failure(&w->log,
                                    "redis connection lost: %s, "
                                    "reconnecting in %Mms",
                                    ac->c.err ? ac->c.errstr : "closed",
                                    delay);

        } else {
            ngx_http_tenant_redis_log_failure(&w->log,
                                    "redis connect failed: %s, "
                                    "retrying in %Mms",
                                    ac->c.err ? ac->c.errstr : "closed",
                                    delay);
        }
    }

    ngx_add_timer(&w->reconnect, delay);
}


static void
ngx_http_tenant_redis_read_handler(ngx_event_t *rev)
{
#if (NGX_HAVE_FIONREAD)
    int                              n;
#endif
    ngx_uint_t                       i;
    ngx_connection_t                *c;
    redisAsyncContext               *ac;
    ngx_http_tenant_redis_worker_t  *w;

    c = rev->data;
    ac = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: waiting requests get NULL, no retry */
        w = ac->data;
        w->closed = 1;
        redisAsyncFree(ac);
        return;
    }

    w = ac->data;

    /*
     * hiredis reads at most 16 KB a call.  After Redis was paused, the
     * replies to hundreds of requests arrive at once, and the timers of
     * this pass of the event loop would give up on requests whose replies
     * are already here: those would be charged yet answered by the
     * failure policy.  With a backlog, the socket is read until empty.
     */

    for (i = 0; i < NGX_HTTP_TENANT_REDIS_READS; i++) {

        /* the context and c may be gone on return */
        redisAsyncHandleRead(ac);

        if (w->ac != ac || w->pending < NGX_HTTP_TENANT_REDIS_BACKLOG) {
            return;
        }

#if (NGX_HAVE_FIONREAD)
        if (ngx_socket_nread(c->fd, &n) == -1 || n == 0) {
            return;
        }
#else
        return;
#endif
    }
}


static void
ngx_http_tenant_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t                *c;
    redisAsyncContext               *ac;
    ngx_http_tenant_redis_worker_t  *w;

    c = wev->data;
    ac = c->data;
    w = ac->data;

    w->flushing = 1;
    redisAsyncHandleWrite(ac);
    w->flushing = 0;
}


/*
 * The commands of every request that came in one pass of the event loop
 * leave together, in one write(2), once that pass is over: the worker
 * pays one system call per batch instead of a write and two epoll_ctl(2)
 * per request, and Redis reads the batch at once too.
 */

static void
ngx_http_tenant_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_worker_t *w = ev->data;

    ngx_connection_t  *c;

    if (w->ac == NULL || w->ac->ev.data == NULL) {
        return;
    }

    c = w->ac->ev.data;

    ngx_http_tenant_redis_write_handler(c->write);
}


/*
 * Level-triggered events, with epoll too: hiredis reads and writes at
 * most one buffer per call, and under edge triggering whatever is left
 * in the socket would never be reported again.  The events stay
 * registered while hiredis wants them, so "add" and "del" only cost a
 * system call when the interest really changes.
 */

static void
ngx_http_tenant_redis_add_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_tenant_redis_del_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_tenant_redis_add_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    redisAsyncContext               *ac;
    ngx_http_tenant_redis_worker_t  *w;

    ac = c->data;
    w = ac->data;

    if (c->write->active) {
        return;
    }

    /*
     * A new command on a link that can take it: sent with the others of
     * this pass.  The socket only has to be watched while a connect is in
     * progress, or when a write could not take everything.
     */

    if (w->connected && !w->flushing) {
        if (!w->flush.posted) {
            ngx_post_event(&w->flush, &ngx_posted_events);
        }

        return;
    }

    (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
}


static void
ngx_http_tenant_redis_del_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket itself, right after this */

static void
ngx_http_tenant_redis_cleanup(void *privdata)
{
    ngx_connection_t *c = privdata;

    redisAsyncContext               *ac;
    ngx_http_tenant_redis_worker_t  *w;

    ac = c->data;

    /* newer hiredis calls the cleanup twice */
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;
    ac->ev.data = NULL;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    w = ac->data;

    if (w->flush.posted) {
        ngx_delete_posted_event(&w->flush);
    }

    ngx_free_connection(c);

    /* an event already returned for this descriptor is now stale */
    c->fd = (ngx_socket_t) -1;

    ngx_http_tenant_redis_down(w, ac);
}


static void
ngx_http_tenant_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_worker_t *w = ev->data;

    if (w->ac == NULL && !w->exiting) {
        ngx_http_tenant_redis_connect(w);
    }
}


static void
ngx_http_tenant_redis_connect_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_worker_t *w = ev->data;

    if (w->ac == NULL) {
        return;
    }

    ngx_http_tenant_redis_log_failure(&w->log,
                                      "redis connect timed out, "
                                      "retrying in %Mms", w->backoff);

    redisAsyncFree(w->ac);
}


static void
ngx_http_tenant_redis_stall_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_worker_t *w = ev->data;

    if (w->ac == NULL || w->pending == 0) {
        return;
    }

    ngx_http_tenant_redis_log_failure(&w->log,
                                      "redis did not answer for %Mms, "
                                      "reconnecting in %Mms",
                                      (ngx_msec_t)
                                      NGX_HTTP_TENANT_REDIS_STALL_TIMEOUT,
                                      w->backoff);

    redisAsyncFree(w->ac);
}


static u_char *
ngx_http_tenant_redis_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_tenant_redis_worker_t *w = log->data;

    return ngx_snprintf(buf, len, ", redis: %V", &w->conf->address);
}
