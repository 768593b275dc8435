
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_SOURCE_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_SOURCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_jwks_fetch.h"


/*
 * One URL of keys, as a worker sees it: the node's slot (see
 * ngx_http_tenant_jwks_shm.c) is fetched in the background by whichever
 * worker claims it, and each worker parses what was published into keys
 * of its own.  The structs are shared by the files of keys from URLs:
 * ngx_http_tenant_jwks_url.c configures them, ngx_http_tenant_jwks_wait.c
 * queues requests on them.
 */


typedef struct ngx_http_tenant_jwks_source_s  ngx_http_tenant_jwks_source_t;

/* a fetch ended, well or not: whoever waits for it is told */
typedef void (*ngx_http_tenant_jwks_ended_pt)(
    ngx_http_tenant_jwks_source_t *s);


struct ngx_http_tenant_jwks_source_s {
    ngx_str_t                        name;       /* as configured */
    ngx_flag_t                       discovery;
    ngx_str_t                        issuer;     /* discovery: issuer_url */
    ngx_http_tenant_jwks_url_t       url;        /* set, or discovery doc */
    time_t                           refresh;
    time_t                           min_refresh;
    time_t                           max_stale;
    ngx_msec_t                       timeout;
    ngx_uint_t                       index;      /* the slot */
    struct ngx_http_tenant_jwks_conf_s  *jc;

    /* per worker */
    ngx_pool_t                      *pool;       /* keyset's */
    ngx_http_tenant_keyset_t        *keyset;     /* NULL: none */
    ngx_uint_t                       generation; /* of keyset; 0: none */
    ngx_uint_t                       seen_done;  /* slot->done, polled */
    ngx_event_t                      tick;       /* background refresh */
    ngx_event_t                      poll;       /* requests wait */
    ngx_queue_t                      waiters;
    ngx_http_tenant_jwks_ended_pt    ended;      /* NULL: nobody waits */
    ngx_http_tenant_jwks_fetch_t    *fetch;      /* this worker fetches */
    ngx_http_tenant_jwks_url_t       jwks_uri;   /* discovered */
    ngx_pool_t                      *jwks_pool;
};


struct ngx_http_tenant_jwks_conf_s {
    ngx_array_t                      sources;    /* source * */
    ngx_array_t                      urls;       /* ngx_str_t, slots */
    ngx_flag_t                       ssl_verify;
    ngx_str_t                        ssl_trusted_certificate;
    ngx_http_tenant_jwks_client_t    client;
    ngx_shm_zone_t                  *zone;
    ngx_uint_t                       epoch;      /* any keys changed */
    ngx_log_t                       *log;
};


void ngx_http_tenant_jwks_source_init(ngx_http_tenant_jwks_source_t *s,
    ngx_log_t *log);
void ngx_http_tenant_jwks_source_exit(ngx_http_tenant_jwks_source_t *s);
void ngx_http_tenant_jwks_load(ngx_http_tenant_jwks_source_t *s);
ngx_int_t ngx_http_tenant_jwks_start(ngx_http_tenant_jwks_source_t *s);

ngx_uint_t ngx_http_tenant_jwks_sync(ngx_array_t *sources, ngx_uint_t *algs,
    ngx_flag_t *missing);
ngx_http_tenant_jwt_rc_e ngx_http_tenant_jwks_verify(ngx_array_t *sources,
    ngx_http_tenant_jwt_t *jwt, const u_char *data, const char **err);
ngx_flag_t ngx_http_tenant_jwks_missing(ngx_array_t *sources);
ngx_flag_t ngx_http_tenant_jwks_has_kid(ngx_http_tenant_keyset_t *ks,
    ngx_array_t *sources, ngx_str_t *kid);


#endif /* _NGX_HTTP_TENANT_JWKS_SOURCE_H_INCLUDED_ */
