
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_NODE_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_NODE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_redis_conn.h"


/*
 * One node of a Redis Cluster, as the cluster names it ("host:port" in
 * CLUSTER SLOTS and MOVED), and the worker's link to it: opened when a
 * command first needs it, with tenant_redis's parameters and the script
 * loaded ahead of any EVALSHA, made again after a backoff while the
 * node serves slots.  Used by the cluster map only.
 */

typedef struct ngx_http_tenant_redis_node_s  ngx_http_tenant_redis_node_t;

/* the link was lost, or could not be made: the owner's map may be stale */
typedef void (*ngx_http_tenant_redis_node_lost_pt)(void *data);

/* the link answers again (or for the first time); reconnected: after a loss */
typedef void (*ngx_http_tenant_redis_node_ready_pt)(void *data,
    ngx_uint_t reconnected);

struct ngx_http_tenant_redis_node_s {
    ngx_str_t                             name;
    ngx_http_tenant_redis_peer_t          peer;

    /* the owner's */
    ngx_uint_t                            index;
    ngx_http_tenant_redis_node_lost_pt    lost;
    ngx_http_tenant_redis_node_ready_pt   ready;
    void                                 *data;
    unsigned                              master:1;   /* serves a slot */

    /* the node's own */
    unsigned                              healthy:1;  /* answered, or new */
    unsigned                              failed:1;   /* since a success */
    unsigned                              exiting:1;
    ngx_str_t                            *script;
    u_char                               *sha1;
    ngx_log_t                            *log;
    ngx_sockaddr_t                        sockaddr;
    ngx_http_tenant_redis_conn_t         *link;
    ngx_event_t                           reconnect;
    ngx_msec_t                            backoff;
};


/*
 * name is "host:port", its first hostlen bytes the host; seed: a seed of
 * tenant_redis_cluster, already resolved, or NULL: an address, or a name
 * for the resolver of the http level.
 */
ngx_http_tenant_redis_node_t *ngx_http_tenant_redis_node_create(
    ngx_log_t *log, ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script,
    u_char *sha1, ngx_str_t *name, size_t hostlen, in_port_t port,
    ngx_http_tenant_redis_peer_t *seed);

/* commands still waiting fail, and no handler of the owner is called */
void ngx_http_tenant_redis_node_destroy(ngx_http_tenant_redis_node_t *node);

/*
 * A node that serves no slot any more (a demoted master, one removed):
 * its link is closed once nothing waits on it, and not made again.
 */
void ngx_http_tenant_redis_node_retire(ngx_http_tenant_redis_node_t *node);

/* the link, opened now if need be; NULL: not to be used now */
ngx_http_tenant_redis_conn_t *ngx_http_tenant_redis_node_link(
    ngx_http_tenant_redis_node_t *node);


#endif /* _NGX_HTTP_TENANT_REDIS_NODE_H_INCLUDED_ */
