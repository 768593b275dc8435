/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LEASE_SLOT_H_INCLUDED_
#define _NGX_HTTP_TENANT_LEASE_SLOT_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease_back.h"


/*
 * Leases are the worker's own, in a small table: a lease is keyed by the
 * location and by everything of the token the decision reads (tenant,
 * user, plan, jti, iat), so that the registry's word on the token comes
 * with every grant.  A lease holds units already counted in Redis: the
 * worker may admit that many requests and no more, whatever the others
 * do; what it does not use goes back at the end of the lease.
 */


#define NGX_HTTP_TENANT_LEASE_SLOTS   256


typedef struct ngx_http_tenant_lease_s  ngx_http_tenant_lease_t;

struct ngx_http_tenant_lease_s {
    ngx_http_tenant_loc_conf_t     *conf;        /* NULL: a free slot */
    ngx_http_tenant_lease_t        *next;        /* in the hash's bucket */
    ngx_str_t                       key;
    uint32_t                        hash;
    ngx_msec_t                      used;        /* least recently: evicted */
    ngx_msec_t                      pending;     /* a grant asked, until */
    ngx_msec_t                      asked;       /* when it was asked */
    ngx_http_request_t             *asker;       /* the grant's request */
    ngx_queue_t                     waiters;     /* requests behind it */
    ngx_event_t                     wake;        /* posted: they go on */
    unsigned                        failed:1;    /* Redis failed the ask */

    ngx_int_t                       units;       /* counted, not admitted */
    ngx_int_t                       low;         /* ask for more at */
    ngx_msec_t                      expires;
    ngx_http_tenant_limit_result_t  res;         /* as granted */
    time_t                          quota_end;
    ngx_http_tenant_lease_back_t    back;        /* the grant's strings */
    ngx_event_t                     timer;
};


/* "TENANT\0USER\0PLAN\0JTI\0IAT": what the decision reads of the token */
ngx_int_t ngx_http_tenant_lease_key(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_str_t *key);

/* the key's lease in this location, or NULL */
ngx_http_tenant_lease_t *ngx_http_tenant_lease_find(
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key);

/* the key's slot, found or made; NULL when every slot is in use */
ngx_http_tenant_lease_t *ngx_http_tenant_lease_slot(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key);

/* the lease ends at l->expires, which is to come */
void ngx_http_tenant_lease_arm(ngx_http_tenant_lease_t *l);

/* its unused units given back, its grant forgotten, its key kept */
void ngx_http_tenant_lease_end(ngx_http_tenant_lease_t *l);


static ngx_inline ngx_int_t
ngx_http_tenant_lease_held(ngx_http_tenant_lease_t *l)
{
    return l->units > 0 && (ngx_msec_int_t) (l->expires - ngx_current_msec) > 0;
}


#endif /* _NGX_HTTP_TENANT_LEASE_SLOT_H_INCLUDED_ */
