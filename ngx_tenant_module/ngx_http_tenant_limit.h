
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_
#define _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_script.h"


/* $tenant_limit_status */
typedef enum {
    NGX_HTTP_TENANT_LIMIT_NONE = 0,
    NGX_HTTP_TENANT_LIMIT_PASSED,
    NGX_HTTP_TENANT_LIMIT_REJECTED,
    NGX_HTTP_TENANT_LIMIT_DRY_RUN,
    NGX_HTTP_TENANT_LIMIT_UNAVAILABLE
} ngx_http_tenant_limit_status_e;


/* "100/month": a count per calendar hour, day or month (UTC) */
typedef struct {
    ngx_str_t                  text;      /* "100/month", or "" */
    ngx_str_t                  count;     /* "100" */
    ngx_int_t                  value;     /* 100 */
    ngx_uint_t                 unit;      /* NGX_HTTP_TENANT_MONTH */
} ngx_http_tenant_count_t;


typedef struct {
    ngx_str_t                  name;
    ngx_http_tenant_count_t    limit;
} ngx_http_tenant_meter_t;


/*
 * Limits as written (the script parses them only when a tenant's hash
 * overrides them) and worked out once for the script's common case.
 */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  rate;      /* "100r/m", or "" */
    ngx_str_t                  burst;     /* decimal */
    ngx_http_tenant_count_t    quota;
    ngx_array_t                meters;    /* ngx_http_tenant_meter_t */

    ngx_str_t                  per;       /* 100 of "100r/m" */
    ngx_int_t                  rate_limit;    /* the same, a number */
    ngx_str_t                  interval;  /* GCRA: microseconds between */
    ngx_str_t                  tolerance; /* interval * burst */
} ngx_http_tenant_plan_t;


/* what nginx told the script: the reply does not repeat it */
typedef struct {
    ngx_str_t                  plan;
    ngx_int_t                  rate_limit;
    ngx_int_t                  quota_limit;
    time_t                     quota_end;
} ngx_http_tenant_limit_sent_t;


typedef struct {
    ngx_http_tenant_verdict_e  verdict;
    ngx_str_t                  status;    /* $tenant_status */
    ngx_str_t                  plan;      /* effective plan */
    ngx_int_t                  rate_limit;
    ngx_int_t                  rate_remaining;
    ngx_int_t                  rate_reset;
    ngx_int_t                  retry_after;
    ngx_int_t                  quota_limit;
    ngx_int_t                  quota_used;
    ngx_int_t                  quota_reset;
} ngx_http_tenant_limit_result_t;


char *ngx_http_tenant_plan_parse(ngx_conf_t *cf, ngx_array_t *plans);
ngx_int_t ngx_http_tenant_plan_rate(ngx_str_t *value, ngx_str_t *rate);
ngx_http_tenant_plan_t *ngx_http_tenant_plan_find(ngx_array_t *plans,
    ngx_str_t *name);
ngx_http_tenant_meter_t *ngx_http_tenant_plan_meter(
    ngx_http_tenant_plan_t *plan, ngx_str_t *meter);
ngx_int_t ngx_http_tenant_plan_script_text(ngx_conf_t *cf, ngx_array_t *plans,
    ngx_str_t *meter, ngx_str_t *text);


#endif /* _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_ */
