
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JWKS_SHM_H_INCLUDED_
#define _NGX_HTTP_TENANT_JWKS_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_jwks_fetch.h"


/*
 * The JWK Sets fetched from URLs, shared by the workers of a node: one
 * slot per URL holds the raw JSON of the last good set and when to fetch
 * it again; a worker claims a slot to fetch it, so the node fetches a
 * set once, not once per worker.  Each worker parses the JSON into keys
 * of its own when the slot's generation moves.
 *
 * The words read on every request (generation, fetched, owner, done) are
 * read without the lock: a stale value only delays a decision until the
 * next request; what is copied or changed is under the zone's lock.
 */

#define NGX_HTTP_TENANT_JWKS_URL_MAX   1024


typedef struct {
    ngx_uint_t                  generation;  /* of data; 0: none ever */
    time_t                      fetched;     /* data's last good fetch */
    ngx_msec_t                  attempted;   /* the last fetch started, */
    ngx_flag_t                  tried;       /* in ngx_current_msec */
    time_t                      next;        /* background fetch due */
    time_t                      logged;      /* last failure logged */
    ngx_pid_t                   owner;       /* fetching now, or 0 */
    time_t                      deadline;    /* owner gone after this */
    ngx_uint_t                  done;        /* fetches finished */
    ngx_uint_t                  failures;    /* of those, failed */
    size_t                      url_len;
    u_char                      url[NGX_HTTP_TENANT_JWKS_URL_MAX];
    size_t                      len;
    u_char                      data[NGX_HTTP_TENANT_JWKS_BODY_MAX];
} ngx_http_tenant_jwks_slot_t;


/* what tenant_metrics shows of a slot */
typedef struct {
    ngx_str_t                   url;
    ngx_uint_t                  fetched_ok;
    ngx_uint_t                  failed;
    time_t                      last_success;  /* 0: never */
} ngx_http_tenant_jwks_stats_t;


typedef enum {
    NGX_HTTP_TENANT_JWKS_CLAIM_BACKGROUND = 0,  /* only when due */
    NGX_HTTP_TENANT_JWKS_CLAIM_NOW              /* unless min_refresh */
} ngx_http_tenant_jwks_claim_e;


ngx_shm_zone_t *ngx_http_tenant_jwks_shm_add(ngx_conf_t *cf,
    ngx_array_t *urls);
ngx_http_tenant_jwks_slot_t *ngx_http_tenant_jwks_shm_slot(
    ngx_shm_zone_t *zone, ngx_uint_t i, ngx_str_t *url);
ngx_int_t ngx_http_tenant_jwks_shm_claim(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_http_tenant_jwks_claim_e how,
    time_t min_refresh, time_t timeout);
void ngx_http_tenant_jwks_shm_publish(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_str_t *url, u_char *data,
    size_t len, time_t next);
ngx_flag_t ngx_http_tenant_jwks_shm_failed(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_str_t *url, time_t next);
ngx_int_t ngx_http_tenant_jwks_shm_stats(ngx_shm_zone_t *zone,
    ngx_uint_t i, ngx_http_tenant_jwks_stats_t *stats);
u_char *ngx_http_tenant_jwks_shm_copy(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_uint_t *generation,
    time_t *fetched, size_t *len, ngx_log_t *log);


#endif /* _NGX_HTTP_TENANT_JWKS_SHM_H_INCLUDED_ */
