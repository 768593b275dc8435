/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LEASE_BACK_H_INCLUDED_
#define _NGX_HTTP_TENANT_LEASE_BACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Giving a lease's unused units back to Redis (the script's mode "G"):
 * what the grant counted, undone for the units no request used.
 */

/* the give-back's keys and fields, in the order of the lease reply */
enum {
    NGX_HTTP_TENANT_LEASE_RATE_KEY = 0,
    NGX_HTTP_TENANT_LEASE_QUOTA_KEY,
    NGX_HTTP_TENANT_LEASE_METER_KEY,
    NGX_HTTP_TENANT_LEASE_USAGE_KEY,
    NGX_HTTP_TENANT_LEASE_REQUESTS,
    NGX_HTTP_TENANT_LEASE_METER,
    NGX_HTTP_TENANT_LEASE_NGIVE
};


typedef struct {
    ngx_int_t    units;
    ngx_int_t    interval;                       /* T, 0 for no rate */
    ngx_str_t    give[NGX_HTTP_TENANT_LEASE_NGIVE];
    u_char      *mem;                            /* where give[] points */
} ngx_http_tenant_lease_back_t;


/*
 * Sends the give-back, or keeps it to send again while Redis cannot be
 * reached; takes b->mem in either case.
 */
void ngx_http_tenant_lease_back(ngx_http_tenant_lease_back_t *b);

/* give-backs still owed are dropped: their units stay counted */
void ngx_http_tenant_lease_back_forget(void);


#endif /* _NGX_HTTP_TENANT_LEASE_BACK_H_INCLUDED_ */
