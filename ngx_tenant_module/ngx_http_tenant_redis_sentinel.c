
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_redis_conn.h"
#include "ngx_http_tenant_redis_sentinel.h"


/* a lost subscription is made again on the next Sentinel after this */
#define NGX_HTTP_TENANT_SENTINEL_REWATCH  1000


struct ngx_http_tenant_redis_sentinel_s {
    ngx_http_tenant_redis_conf_t      *conf;
    ngx_http_tenant_redis_peer_t      *peers;
    ngx_uint_t                         npeers;
    ngx_log_t                         *log;

    ngx_http_tenant_redis_master_pt    handler;
    void                              *data;

    ngx_http_tenant_redis_conn_t      *ask;
    ngx_uint_t                         ask_peer;   /* being asked */
    ngx_uint_t                         asked;      /* in this round */
    ngx_event_t                        next;       /* posted */

    ngx_http_tenant_redis_conn_t      *watch;
    ngx_uint_t                         watch_peer;
    ngx_event_t                        rewatch;

    ngx_sockaddr_t                     master;
    socklen_t                          master_len;

    unsigned                           asking:1;
    unsigned                           found:1;    /* for "next" */
};


static void ngx_http_tenant_sentinel_next(ngx_event_t *ev);
static void ngx_http_tenant_sentinel_ask_one(
    ngx_http_tenant_redis_sentinel_t *s);
static void ngx_http_tenant_sentinel_answer(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_sentinel_give_up(
    ngx_http_tenant_redis_sentinel_t *s, const char *fmt, ...);
static void ngx_http_tenant_sentinel_watch(
    ngx_http_tenant_redis_sentinel_t *s);
static void ngx_http_tenant_sentinel_subscribed(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_sentinel_message(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_sentinel_watch_down(void *data);
static void ngx_http_tenant_sentinel_rewatch(ngx_event_t *ev);
static ngx_int_t ngx_http_tenant_sentinel_send(
    ngx_http_tenant_redis_conn_t *rc, ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_tenant_redis_conn_reply_pt handler, void *data);
static ngx_int_t ngx_http_tenant_sentinel_addr(
    ngx_http_tenant_redis_sentinel_t *s, u_char *host, size_t hlen,
    u_char *port, size_t plen);


ngx_http_tenant_redis_sentinel_t *
ngx_http_tenant_redis_sentinel_create(ngx_log_t *log,
    ngx_http_tenant_redis_conf_t *rcf, ngx_http_tenant_redis_master_pt handler,
    void *data)
{
    ngx_http_tenant_redis_sentinel_t  *s;

    s = ngx_calloc(sizeof(ngx_http_tenant_redis_sentinel_t), log);
    if (s == NULL) {
        return NULL;
    }

    s->conf = rcf;
    s->peers = rcf->sentinels->elts;
    s->npeers = rcf->sentinels->nelts;
    s->log = log;
    s->handler = handler;
    s->data = data;

    s->ask = ngx_http_tenant_redis_conn_create(log, NULL, s);
    s->watch = ngx_http_tenant_redis_conn_create(log,
                                     ngx_http_tenant_sentinel_watch_down, s);

    if (s->ask == NULL || s->watch == NULL) {
        ngx_http_tenant_redis_sentinel_destroy(s);
        return NULL;
    }

    s->next.handler = ngx_http_tenant_sentinel_next;
    s->next.data = s;
    s->next.log = log;

    s->rewatch.handler = ngx_http_tenant_sentinel_rewatch;
    s->rewatch.data = s;
    s->rewatch.log = log;
    s->rewatch.cancelable = 1;

    return s;
}


void
ngx_http_tenant_redis_sentinel_destroy(ngx_http_tenant_redis_sentinel_t *s)
{
    if (s->next.posted) {
        ngx_delete_posted_event(&s->next);
    }

    if (s->rewatch.timer_set) {
        ngx_del_timer(&s->rewatch);
    }

    if (s->ask) {
        ngx_http_tenant_redis_conn_destroy(s->ask);
    }

    if (s->watch) {
        ngx_http_tenant_redis_conn_destroy(s->watch);
    }

    ngx_free(s);
}


void
ngx_http_tenant_redis_sentinel_ask(ngx_http_tenant_redis_sentinel_t *s)
{
    if (s->asking) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "tenant redis asking the Sentinels for \"%V\"",
                   &s->conf->master);

    /* from the Sentinel that answered last: it is likely up */
    s->asking = 1;
    s->asked = 0;
    s->found = 0;

    ngx_post_event(&s->next, &ngx_posted_events);
}


/*
 * Posted, never run under a reply being read: the next Sentinel, the
 * answer to the client, or the verdict that none knew.
 */

static void
ngx_http_tenant_sentinel_next(ngx_event_t *ev)
{
    ngx_http_tenant_redis_sentinel_t *s = ev->data;

    ngx_http_tenant_redis_conn_close(s->ask, 1);

    if (s->found) {
        s->asking = 0;
        s->found = 0;

        if (!ngx_http_tenant_redis_conn_is_open(s->watch)
            && !s->rewatch.timer_set)
        {
            s->watch_peer = s->ask_peer;
            ngx_http_tenant_sentinel_watch(s);
        }

        s->handler(s->data, &s->master.sockaddr, s->master_len);
        return;
    }

    if (s->asked == s->npeers) {
        s->asking = 0;
        s->handler(s->data, NULL, 0);
        return;
    }

    ngx_http_tenant_sentinel_ask_one(s);
}


static void
ngx_http_tenant_sentinel_ask_one(ngx_http_tenant_redis_sentinel_t *s)
{
    ngx_str_t                      argv[3];
    ngx_http_tenant_redis_peer_t  *peer;

    peer = &s->peers[s->ask_peer];
    s->asked++;

    if (ngx_http_tenant_redis_conn_open(s->ask, peer) != NGX_OK) {
        ngx_http_tenant_sentinel_give_up(s, "Sentinel %V: %s", &peer->host,
                                   ngx_http_tenant_redis_conn_error(s->ask));
        return;
    }

    ngx_str_set(&argv[0], "SENTINEL");
    ngx_str_set(&argv[1], "get-master-addr-by-name");
    argv[2] = s->conf->master;

    if (ngx_http_tenant_sentinel_send(s->ask, 3, argv,
                                      ngx_http_tenant_sentinel_answer, s)
        != NGX_OK)
    {
        ngx_http_tenant_sentinel_give_up(s, "Sentinel %V: cannot send",
                                         &peer->host);
    }
}


static void
ngx_http_tenant_sentinel_answer(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_sentinel_t *s = data;

    ngx_str_t                      *name;
    ngx_http_tenant_redis_reply_t  *host, *port;

    name = &s->peers[s->ask_peer].host;

    if (reply == NULL) {
        ngx_http_tenant_sentinel_give_up(s, "Sentinel %V: %s", name,
                                   ngx_http_tenant_redis_conn_error(s->ask));
        return;
    }

    if (reply->type == NGX_HTTP_TENANT_REDIS_ERROR) {
        ngx_http_tenant_sentinel_give_up(s, "Sentinel %V: \"%*s\"", name,
                                         (size_t) reply->len, reply->str);
        return;
    }

    if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY || reply->elements != 2) {
        ngx_http_tenant_sentinel_give_up(s,
                                   "Sentinel %V does not know master \"%V\"",
                                   name, &s->conf->master);
        return;
    }

    host = reply->element[0];
    port = reply->element[1];

    if (host->type != NGX_HTTP_TENANT_REDIS_STRING
        || port->type != NGX_HTTP_TENANT_REDIS_STRING
        || ngx_http_tenant_sentinel_addr(s, host->str, host->len, port->str,
                                         port->len)
           != NGX_OK)
    {
        ngx_http_tenant_sentinel_give_up(s,
                                   "Sentinel %V gave an invalid address",
                                   name);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "tenant redis Sentinel says master is %*s",
                   host->len, host->str);

    s->found = 1;

    if (!s->next.posted) {
        ngx_post_event(&s->next, &ngx_posted_events);
    }
}


/* this Sentinel could not say: logged, and the next one is asked */

static void
ngx_http_tenant_sentinel_give_up(ngx_http_tenant_redis_sentinel_t *s,
    const char *fmt, ...)
{
    u_char   *p, buf[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ngx_http_tenant_redis_log_link(s->log, "redis %*s",
                                   (size_t) (p - buf), buf);

    s->ask_peer = (s->ask_peer + 1) % s->npeers;

    if (!s->next.posted) {
        ngx_post_event(&s->next, &ngx_posted_events);
    }
}


/* one Sentinel tells of failovers as they happen */

static void
ngx_http_tenant_sentinel_watch(ngx_http_tenant_redis_sentinel_t *s)
{
    ngx_str_t  argv[2];

    if (ngx_http_tenant_redis_conn_open(s->watch, &s->peers[s->watch_peer])
        != NGX_OK)
    {
        ngx_http_tenant_sentinel_watch_down(s);
        return;
    }

    ngx_http_tenant_redis_conn_push(s->watch,
                                    ngx_http_tenant_sentinel_message, s);

    ngx_str_set(&argv[0], "SUBSCRIBE");
    ngx_str_set(&argv[1], "+switch-master");

    if (ngx_http_tenant_sentinel_send(s->watch, 2, argv,
                                      ngx_http_tenant_sentinel_subscribed, s)
        != NGX_OK)
    {
        ngx_http_tenant_redis_conn_close(s->watch, 0);
    }
}


static void
ngx_http_tenant_sentinel_subscribed(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_sentinel_t *s = data;

    if (reply == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "tenant redis watching Sentinel %V for +switch-master",
                   &s->peers[s->watch_peer].host);
}


/* "message", "+switch-master", "NAME OLDIP OLDPORT NEWIP NEWPORT" */

static void
ngx_http_tenant_sentinel_message(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_sentinel_t *s = data;

    u_char                         *p, *last, *field[5];
    size_t                          len[5];
    ngx_uint_t                      n;
    ngx_http_tenant_redis_reply_t  *text;

    if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY || reply->elements != 3
        || reply->element[2]->type != NGX_HTTP_TENANT_REDIS_STRING)
    {
        return;
    }

    text = reply->element[2];
    p = text->str;
    last = p + text->len;

    for (n = 0; n < 5 && p < last; n++) {
        field[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - field[n];

        while (p < last && *p == ' ') {
            p++;
        }
    }

    if (n != 5
        || len[0] != s->conf->master.len
        || ngx_strncmp(field[0], s->conf->master.data, len[0]) != 0)
    {
        return;
    }

    if (ngx_http_tenant_sentinel_addr(s, field[3], len[3], field[4], len[4])
        != NGX_OK)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "tenant: Sentinel %V: master \"%V\" switched to %*s:%*s",
                  &s->peers[s->watch_peer].host, &s->conf->master,
                  len[3], field[3], len[4], field[4]);

    /* the client leaves the old master; no request is under this read */
    s->handler(s->data, &s->master.sockaddr, s->master_len);
}


static void
ngx_http_tenant_sentinel_watch_down(void *data)
{
    ngx_http_tenant_redis_sentinel_t *s = data;

    s->watch_peer = (s->watch_peer + 1) % s->npeers;

    if (!s->rewatch.timer_set) {
        ngx_add_timer(&s->rewatch, NGX_HTTP_TENANT_SENTINEL_REWATCH);
    }
}


static void
ngx_http_tenant_sentinel_rewatch(ngx_event_t *ev)
{
    ngx_http_tenant_redis_sentinel_t *s = ev->data;

    if (!ngx_http_tenant_redis_conn_is_open(s->watch)) {
        ngx_http_tenant_sentinel_watch(s);
    }

    /* a failover may have been missed meanwhile */
    ngx_http_tenant_redis_sentinel_ask(s);
}


static ngx_int_t
ngx_http_tenant_sentinel_send(ngx_http_tenant_redis_conn_t *rc,
    ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_tenant_redis_conn_reply_pt handler, void *data)
{
    u_char  *p, buf[256];

    if (ngx_http_tenant_redis_resp_size(argc, argv) > sizeof(buf)) {
        return NGX_ERROR;
    }

    p = ngx_http_tenant_redis_resp(buf, argc, argv);

    return ngx_http_tenant_redis_conn_send(rc, buf, p - buf, handler, data);
}


/* an address as Sentinel writes it: an IPv4 or IPv6 text and a port */

static ngx_int_t
ngx_http_tenant_sentinel_addr(ngx_http_tenant_redis_sentinel_t *s,
    u_char *host, size_t hlen, u_char *port, size_t plen)
{
    ngx_int_t             n;
    in_addr_t             inaddr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    n = ngx_atoi(port, plen);

    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    ngx_memzero(&s->master, sizeof(ngx_sockaddr_t));

    inaddr = ngx_inet_addr(host, hlen);

    if (inaddr != INADDR_NONE) {
        sin = &s->master.sockaddr_in;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = inaddr;
        s->master_len = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (ngx_inet6_addr(host, hlen,
                              s->master.sockaddr_in6.sin6_addr.s6_addr)
               == NGX_OK)
    {
        sin6 = &s->master.sockaddr_in6;
        sin6->sin6_family = AF_INET6;
        s->master_len = sizeof(struct sockaddr_in6);
#endif

    } else {
        return NGX_ERROR;
    }

    ngx_inet_set_port(&s->master.sockaddr, (in_port_t) n);

    return NGX_OK;
}
