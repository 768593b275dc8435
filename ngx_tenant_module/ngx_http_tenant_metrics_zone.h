
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_METRICS_ZONE_H_INCLUDED_
#define _NGX_HTTP_TENANT_METRICS_ZONE_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_metrics.h"


/*
 * What tenant_metrics_zone holds, as the handler reads it.  At most
 * "tenants" tenants have counters of their own: those with the most
 * requests, by space-saving (Metwally et al.): a tenant not in the full
 * table replaces the one of the smallest weight and starts at that
 * weight plus one, so a tenant that is new but busy climbs past the
 * stale ones.  The weight only chooses whom to evict; the counts are
 * exact since the tenant got its entry, and an evicted tenant's counts
 * are added to "_other" at once: for every result, the sum over the
 * tenants, "_other" and "_none" is the node's exact count.
 */


#define NGX_HTTP_TENANT_METRICS_DEFAULT_TENANTS  1000
#define NGX_HTTP_TENANT_METRICS_BUCKETS          12   /* with +Inf */


typedef struct {
    ngx_rbtree_node_t               node;      /* key: hash of the ID */
    uint64_t                        weight;
    uint64_t                        count[NGX_HTTP_TENANT_NREASONS];
    u_char                          len;
    u_char                          id[NGX_HTTP_TENANT_ID_MAX];
} ngx_http_tenant_metrics_tenant_t;


/*
 * The layout of the zone, first in it so that any build finds it: a
 * reload may load another build of the module, whose counters by reason
 * or tenant entries differ, and must not take over a zone it would read
 * and write past.
 */
#define NGX_HTTP_TENANT_METRICS_LAYOUT                                       \
    ((sizeof(ngx_http_tenant_metrics_sh_t) << 32)                            \
     | (sizeof(ngx_http_tenant_metrics_tenant_t) << 16)                      \
     | NGX_HTTP_TENANT_NREASONS)


typedef struct {
    uint64_t                        layout;

    /* under the zone's lock */
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_uint_t                      capacity;  /* tenants= */
    ngx_uint_t                      used;
    uint64_t                        evicted;
    uint64_t                        other[NGX_HTTP_TENANT_NREASONS];
    uint64_t                        none[NGX_HTTP_TENANT_NREASONS];
    ngx_http_tenant_metrics_tenant_t  *tenants;

    /* without it: each word on its own */
    ngx_atomic_t      jwt[NGX_HTTP_TENANT_NREASONS];
    ngx_atomic_t      jwt_cache_hits;
    ngx_atomic_t      redis[NGX_HTTP_TENANT_METRICS_REDIS_NRESULTS];
    ngx_atomic_t      redis_bucket[NGX_HTTP_TENANT_METRICS_BUCKETS];
    ngx_atomic_t      redis_us;             /* sum of the durations */
    ngx_atomic_t      redis_reconnects;
    u_char            redis_up[NGX_MAX_PROCESSES];  /* by ngx_worker */
} ngx_http_tenant_metrics_sh_t;


/* the metrics module's main configuration, and its zone's data */
typedef struct {
    ngx_shm_zone_t                 *zone;      /* NULL: no metrics */
    ngx_uint_t                      capacity;
    ngx_slab_pool_t                *shpool;
    ngx_http_tenant_metrics_sh_t   *sh;
    ngx_http_tenant_where_t         handler;   /* a tenant_metrics */
} ngx_http_tenant_metrics_conf_t;


/* the tenant entries and the "_other", "_none" counts, at one instant */
typedef struct {
    ngx_uint_t                      capacity;
    ngx_uint_t                      used;
    uint64_t                        evicted;
    uint64_t                        other[NGX_HTTP_TENANT_NREASONS];
    uint64_t                        none[NGX_HTTP_TENANT_NREASONS];
    ngx_http_tenant_metrics_tenant_t  *tenants;
} ngx_http_tenant_metrics_snapshot_t;


/* upper bounds of the duration buckets, microseconds; the last is +Inf */
extern uint64_t  ngx_http_tenant_metrics_bounds[];

extern ngx_module_t  ngx_http_tenant_metrics_module;


size_t ngx_http_tenant_metrics_zone_size(ngx_uint_t tenants);
ngx_int_t ngx_http_tenant_metrics_zone_init(ngx_shm_zone_t *zone,
    void *data);
ngx_int_t ngx_http_tenant_metrics_snapshot(ngx_http_tenant_metrics_conf_t *mcf,
    ngx_pool_t *pool, ngx_http_tenant_metrics_snapshot_t *snap);


#endif /* _NGX_HTTP_TENANT_METRICS_ZONE_H_INCLUDED_ */
