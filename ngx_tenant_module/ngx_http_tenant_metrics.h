
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_METRICS_H_INCLUDED_
#define _NGX_HTTP_TENANT_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The counters of tenant_metrics_zone, kept in shared memory by the
 * workers of a node (ngx_http_tenant_metrics.c) and exposed by the
 * tenant_metrics handler (ngx_http_tenant_metrics_handler.c).  Each hook
 * is one call where the module already knows what happened; without a
 * tenant_metrics_zone it returns at once.
 */


typedef enum {
    NGX_HTTP_TENANT_METRICS_REDIS_OK = 0,
    NGX_HTTP_TENANT_METRICS_REDIS_ERROR,
    NGX_HTTP_TENANT_METRICS_REDIS_TIMEOUT,
    NGX_HTTP_TENANT_METRICS_REDIS_NRESULTS
} ngx_http_tenant_metrics_redis_e;


/*
 * The module's decision on a request, once per request: result is an
 * ngx_http_tenant_reason_e (ADMITTED or why it was refused); tenant is
 * the token's tenant ID, empty or not valid when none is known.
 */
void ngx_http_tenant_metrics_request(ngx_str_t *tenant, ngx_uint_t result);

/* a token checked: ADMITTED (good) or why it was refused */
void ngx_http_tenant_metrics_jwt(ngx_uint_t result);
void ngx_http_tenant_metrics_jwt_cache_hit(void);

/* a command to Redis: when it left (microseconds, 0 without a zone) */
uint64_t ngx_http_tenant_metrics_redis_start(void);
/* its outcome; start: as above, 0 when it never left */
void ngx_http_tenant_metrics_redis(ngx_uint_t result, uint64_t start);
/* this worker's link to Redis answered (1) or was lost (0) */
void ngx_http_tenant_metrics_redis_link(ngx_uint_t up);
void ngx_http_tenant_metrics_redis_reconnect(void);


#endif /* _NGX_HTTP_TENANT_METRICS_H_INCLUDED_ */
