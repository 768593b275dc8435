
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_redis_node.h"


/* as for a single Redis: one that is back is in use within half a second */
#define NGX_HTTP_TENANT_NODE_BACKOFF_MIN    100
#define NGX_HTTP_TENANT_NODE_BACKOFF_MAX    500


static ngx_int_t ngx_http_tenant_redis_node_address(
    ngx_http_tenant_redis_node_t *node);
static void ngx_http_tenant_redis_node_open(ngx_http_tenant_redis_node_t *node);
static void ngx_http_tenant_redis_node_loaded(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_redis_node_down(void *data);
static void ngx_http_tenant_redis_node_retry_later(
    ngx_http_tenant_redis_node_t *node, u_char *reason);
static void ngx_http_tenant_redis_node_reconnect(ngx_event_t *ev);


ngx_http_tenant_redis_node_t *
ngx_http_tenant_redis_node_create(ngx_log_t *log,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script, u_char *sha1,
    ngx_str_t *name, size_t hostlen, in_port_t port,
    ngx_http_tenant_redis_peer_t *seed)
{
    ngx_http_tenant_redis_node_t  *node;

    node = ngx_calloc(sizeof(ngx_http_tenant_redis_node_t) + name->len, log);
    if (node == NULL) {
        return NULL;
    }

    node->log = log;
    node->script = script;
    node->sha1 = sha1;

    node->name.data = (u_char *) (node + 1);
    node->name.len = name->len;
    ngx_memcpy(node->name.data, name->data, name->len);

    node->peer.host.data = node->name.data;
    node->peer.host.len = hostlen;
    node->peer.port = port;
    node->peer.username = rcf->username;
    node->peer.password = rcf->password;
    node->peer.tls = rcf->tls_ctx;

    if (seed) {
        /* resolved when the configuration was read */
        node->peer.sockaddr = seed->sockaddr;
        node->peer.socklen = seed->socklen;

    } else if (ngx_http_tenant_redis_node_address(node) != NGX_OK) {
        node->peer.resolver = rcf->resolver;
        node->peer.resolver_timeout = rcf->resolver_timeout;
    }

    node->link = ngx_http_tenant_redis_conn_create(log,
                                       ngx_http_tenant_redis_node_down, node);
    if (node->link == NULL) {
        ngx_free(node);
        return NULL;
    }

    node->reconnect.handler = ngx_http_tenant_redis_node_reconnect;
    node->reconnect.data = node;
    node->reconnect.log = log;
    node->reconnect.cancelable = 1;

    node->backoff = NGX_HTTP_TENANT_NODE_BACKOFF_MIN;

    /* until a first attempt fails, commands queue behind the connect */
    node->healthy = 1;

    return node;
}


void
ngx_http_tenant_redis_node_destroy(ngx_http_tenant_redis_node_t *node)
{
    node->exiting = 1;

    ngx_http_tenant_redis_conn_destroy(node->link);

    if (node->reconnect.timer_set) {
        ngx_del_timer(&node->reconnect);
    }

    ngx_free(node);
}


void
ngx_http_tenant_redis_node_retire(ngx_http_tenant_redis_node_t *node)
{
    if (node->reconnect.timer_set) {
        ngx_del_timer(&node->reconnect);
    }

    if (ngx_http_tenant_redis_conn_is_open(node->link)
        && ngx_http_tenant_redis_conn_pending(node->link) == 0)
    {
        ngx_http_tenant_redis_conn_close(node->link, 1);
    }
}


/* an IP address: no resolver needed; NGX_DECLINED: a name */

static ngx_int_t
ngx_http_tenant_redis_node_address(ngx_http_tenant_redis_node_t *node)
{
    in_addr_t             addr;
    ngx_str_t            *host;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    host = &node->peer.host;

    addr = ngx_inet_addr(host->data, host->len);

    if (addr != INADDR_NONE) {
        sin = &node->sockaddr.sockaddr_in;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(node->peer.port);
        sin->sin_addr.s_addr = addr;

        node->peer.sockaddr = &node->sockaddr.sockaddr;
        node->peer.socklen = sizeof(struct sockaddr_in);
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    sin6 = &node->sockaddr.sockaddr_in6;

    if (ngx_inet6_addr(host->data, host->len, sin6->sin6_addr.s6_addr)
        == NGX_OK)
    {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(node->peer.port);

        node->peer.sockaddr = &node->sockaddr.sockaddr;
        node->peer.socklen = sizeof(struct sockaddr_in6);
        return NGX_OK;
    }
#endif

    return NGX_DECLINED;
}


ngx_http_tenant_redis_conn_t *
ngx_http_tenant_redis_node_link(ngx_http_tenant_redis_node_t *node)
{
    if (node->peer.sockaddr == NULL && node->peer.resolver == NULL) {
        ngx_http_tenant_redis_log_link(node->log,
                                       "redis cluster node \"%V\" is named, "
                                       "not addressed: it needs a "
                                       "\"resolver\" at the http level",
                                       &node->name);
        return NULL;
    }

    if (!ngx_http_tenant_redis_conn_is_open(node->link)) {

        if (node->reconnect.timer_set) {
            return NULL;
        }

        ngx_http_tenant_redis_node_open(node);

        if (!ngx_http_tenant_redis_conn_is_open(node->link)) {
            return NULL;
        }
    }

    /* after a failure, commands wait for no connect: the policy applies */

    if (!ngx_http_tenant_redis_conn_is_ready(node->link) && !node->healthy) {
        return NULL;
    }

    return node->link;
}


/* SCRIPT LOAD leaves right behind AUTH, ahead of any EVALSHA */

static void
ngx_http_tenant_redis_node_open(ngx_http_tenant_redis_node_t *node)
{
    u_char     *p, *buf;
    ngx_str_t   argv[3];

    if (ngx_http_tenant_redis_conn_open(node->link, &node->peer) != NGX_OK) {
        ngx_http_tenant_redis_node_retry_later(node,
                                ngx_http_tenant_redis_conn_error(node->link));
        return;
    }

    ngx_str_set(&argv[0], "SCRIPT");
    ngx_str_set(&argv[1], "LOAD");
    argv[2] = *node->script;

    buf = ngx_alloc(ngx_http_tenant_redis_resp_size(3, argv), node->log);

    if (buf == NULL) {
        ngx_http_tenant_redis_conn_close(node->link, 0);
        return;
    }

    p = ngx_http_tenant_redis_resp(buf, 3, argv);

    if (ngx_http_tenant_redis_conn_send(node->link, buf, p - buf,
                                        ngx_http_tenant_redis_node_loaded,
                                        node)
        != NGX_OK)
    {
        ngx_http_tenant_redis_conn_close(node->link, 0);
    }

    ngx_free(buf);
}


static void
ngx_http_tenant_redis_node_loaded(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_node_t *node = data;

    if (reply == NULL || node->exiting) {
        /* the link is going away; ngx_http_tenant_redis_node_down() tells */
        return;
    }

    if (reply->type == NGX_HTTP_TENANT_REDIS_ERROR) {
        /* each EVAL will fail the same way and say so */
        ngx_http_tenant_redis_log_link(node->log,
                                       "redis cluster node %V: SCRIPT LOAD "
                                       "failed: \"%*s\"", &node->name,
                                       (size_t) reply->len, reply->str);

    } else if (reply->type != NGX_HTTP_TENANT_REDIS_STRING
               || reply->len != 40
               || ngx_strncmp(reply->str, node->sha1, 40) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, node->log, 0,
                      "tenant: redis cluster node %V: SCRIPT LOAD returned "
                      "an unexpected reply, EVALSHA will fall back to EVAL",
                      &node->name);
    }

    node->backoff = NGX_HTTP_TENANT_NODE_BACKOFF_MIN;
    node->healthy = 1;

    if (node->failed) {
        node->failed = 0;

        ngx_log_error(NGX_LOG_WARN, node->log, 0,
                      "tenant: redis cluster node %V: connection restored",
                      &node->name);

        node->ready(node->data, 1);
        return;
    }

    node->ready(node->data, 0);
}


static void
ngx_http_tenant_redis_node_down(void *data)
{
    ngx_http_tenant_redis_node_t *node = data;

    ngx_http_tenant_redis_node_retry_later(node,
                                ngx_http_tenant_redis_conn_error(node->link));
}


/*
 * A master lost, or not reached, may have failed over: the map is read
 * again at once, and again at each failed attempt, until it says so.
 */

static void
ngx_http_tenant_redis_node_retry_later(ngx_http_tenant_redis_node_t *node,
    u_char *reason)
{
    ngx_msec_t  delay;

    if (node->exiting || node->reconnect.timer_set) {
        return;
    }

    delay = node->backoff;
    node->backoff = ngx_min(node->backoff * 2,
                            NGX_HTTP_TENANT_NODE_BACKOFF_MAX);
    node->healthy = 0;
    node->failed = 1;

    ngx_http_tenant_redis_log_link(node->log,
                                   "redis cluster node %V: %s, retrying in "
                                   "%Mms", &node->name,
                                   reason[0] ? (char *) reason
                                             : "connection lost",
                                   delay);

    /* a node that serves no slot waits for the next command instead */
    ngx_add_timer(&node->reconnect, delay);

    if (node->master) {
        node->lost(node->data);
    }
}


static void
ngx_http_tenant_redis_node_reconnect(ngx_event_t *ev)
{
    ngx_http_tenant_redis_node_t *node = ev->data;

    if (!node->exiting && node->master
        && !ngx_http_tenant_redis_conn_is_open(node->link))
    {
        ngx_http_tenant_redis_node_open(node);
    }
}
