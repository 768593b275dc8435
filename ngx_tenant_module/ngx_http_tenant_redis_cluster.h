
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_redis_conn.h"


/*
 * Redis Cluster as the worker's client sees it: which master serves a
 * slot, and a link to it.  The slot map is read with CLUSTER SLOTS from
 * one node after the other (the seeds first) when the worker starts,
 * every 30 seconds, after a MOVED and after a link to a master is lost;
 * a link is opened to a master the first time a command needs it, with
 * tenant_redis's parameters (AUTH, TLS) and the script loaded ahead of
 * every command, and made again after a backoff while the node is a
 * master.  Nothing here knows about requests.
 */

typedef struct ngx_http_tenant_redis_cluster_s
    ngx_http_tenant_redis_cluster_t;

#define NGX_HTTP_TENANT_REDIS_SLOTS  16384


ngx_http_tenant_redis_cluster_t *ngx_http_tenant_redis_cluster_create(
    ngx_log_t *log, ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script,
    u_char *sha1);
void ngx_http_tenant_redis_cluster_destroy(
    ngx_http_tenant_redis_cluster_t *cl);

/*
 * The slot of a command's keys, from its arguments in RESP (numkeys
 * first); NGX_ERROR: no key, or keys in different slots, which Redis
 * would refuse.
 */
ngx_int_t ngx_http_tenant_redis_cluster_slot(u_char *args, size_t len);

/* the slot of one key: CRC16 of its hash tag, or of the key without one */
ngx_uint_t ngx_http_tenant_redis_cluster_key_slot(u_char *key, size_t len);

/* the link to the slot's master; NULL: none to use now */
ngx_http_tenant_redis_conn_t *ngx_http_tenant_redis_cluster_link(
    ngx_http_tenant_redis_cluster_t *cl, ngx_uint_t slot);

/*
 * The link to the node a redirect names ("host:port"); moved: the slot
 * is served there from now on, and the map is read again soon.
 */
ngx_http_tenant_redis_conn_t *ngx_http_tenant_redis_cluster_redirect(
    ngx_http_tenant_redis_cluster_t *cl, ngx_uint_t slot, ngx_str_t *node,
    ngx_uint_t moved);

/*
 * The masters of the current map, in the order of the lowest slot each
 * serves, which a failover or a new node elsewhere does not change:
 * how many there are (0: no map yet), and the lowest slot of the i-th,
 * by which a command for that master is routed (NGX_ERROR: no i-th).
 */
ngx_uint_t ngx_http_tenant_redis_cluster_masters(
    ngx_http_tenant_redis_cluster_t *cl);
ngx_int_t ngx_http_tenant_redis_cluster_master_slot(
    ngx_http_tenant_redis_cluster_t *cl, ngx_uint_t i);

/* the map may be out of date: read it again, at most a few times a second */
void ngx_http_tenant_redis_cluster_refresh(
    ngx_http_tenant_redis_cluster_t *cl);


#endif /* _NGX_HTTP_TENANT_REDIS_CLUSTER_H_INCLUDED_ */
