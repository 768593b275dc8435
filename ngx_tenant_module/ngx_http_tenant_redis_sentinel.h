
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_SENTINEL_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_SENTINEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_redis.h"


/*
 * The master's address from Redis Sentinel: asked for with SENTINEL
 * get-master-addr-by-name, one Sentinel after the other until one knows,
 * and followed through +switch-master, which one Sentinel is subscribed
 * to for as long as the worker runs.
 */

typedef struct ngx_http_tenant_redis_sentinel_s
    ngx_http_tenant_redis_sentinel_t;

/* the master's address; NULL: no Sentinel could say */
typedef void (*ngx_http_tenant_redis_master_pt)(void *data,
    struct sockaddr *sockaddr, socklen_t socklen);


ngx_http_tenant_redis_sentinel_t *ngx_http_tenant_redis_sentinel_create(
    ngx_log_t *log, ngx_http_tenant_redis_conf_t *rcf,
    ngx_http_tenant_redis_master_pt handler, void *data);
void ngx_http_tenant_redis_sentinel_destroy(
    ngx_http_tenant_redis_sentinel_t *s);

/* the handler is called later, never from within */
void ngx_http_tenant_redis_sentinel_ask(ngx_http_tenant_redis_sentinel_t *s);


#endif /* _NGX_HTTP_TENANT_REDIS_SENTINEL_H_INCLUDED_ */
