
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_PERIOD_H_INCLUDED_
#define _NGX_HTTP_TENANT_PERIOD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_TENANT_HOUR   0
#define NGX_HTTP_TENANT_DAY    1
#define NGX_HTTP_TENANT_MONTH  2


typedef struct {
    ngx_str_t   id;          /* "2026-11-22T14", "2026-11-22", "2026-11" */
    time_t      end;         /* first second of the next period */
    ngx_str_t   end_text;
} ngx_http_tenant_period_t;


typedef struct {
    time_t                    now;
    ngx_http_tenant_period_t  hour;
    ngx_http_tenant_period_t  day;
    ngx_http_tenant_period_t  month;
    ngx_str_t                 text;     /* "HOUR END DAY END MONTH END" */
    u_char                    hour_id[sizeof("2026-11-22T14")];
    u_char                    day_id[sizeof("2026-11-22")];
    u_char                    month_id[sizeof("2026-11")];
    u_char                    hour_end[NGX_TIME_T_LEN];
    u_char                    day_end[NGX_TIME_T_LEN];
    u_char                    month_end[NGX_TIME_T_LEN];
    u_char                    text_buf[64 + 3 * NGX_TIME_T_LEN];
} ngx_http_tenant_periods_t;


ngx_http_tenant_periods_t *ngx_http_tenant_periods(time_t now);
ngx_http_tenant_period_t *ngx_http_tenant_period(ngx_http_tenant_periods_t *p,
    ngx_uint_t unit);


#endif /* _NGX_HTTP_TENANT_PERIOD_H_INCLUDED_ */
