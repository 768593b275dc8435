
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_PLAN_H_INCLUDED_
#define _NGX_HTTP_TENANT_PLAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* tenant_plan: the plans, parsed at configuration time, no request */


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


char *ngx_http_tenant_plan_parse(ngx_conf_t *cf, ngx_array_t *plans);
ngx_int_t ngx_http_tenant_plan_rate(ngx_str_t *value, ngx_str_t *rate);
ngx_http_tenant_plan_t *ngx_http_tenant_plan_find(ngx_array_t *plans,
    ngx_str_t *name);
ngx_http_tenant_meter_t *ngx_http_tenant_plan_meter(
    ngx_http_tenant_plan_t *plan, ngx_str_t *meter);
ngx_int_t ngx_http_tenant_plan_script_text(ngx_conf_t *cf, ngx_array_t *plans,
    ngx_str_t *meter, ngx_str_t *text);


#endif /* _NGX_HTTP_TENANT_PLAN_H_INCLUDED_ */
