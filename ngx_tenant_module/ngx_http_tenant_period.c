
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_period.h"


static void ngx_http_tenant_period_text(ngx_http_tenant_period_t *period,
    u_char *buf);
static time_t ngx_http_tenant_utc(ngx_uint_t year, ngx_uint_t mon,
    ngx_uint_t mday, ngx_uint_t hour);


/*
 * Quota periods are calendar periods in UTC: "2026-11" ends on the first
 * of December, whatever the length of November.  Computed once a second.
 */

ngx_http_tenant_periods_t *
ngx_http_tenant_periods(time_t now)
{
    struct tm                         tm;
    ngx_uint_t                        year, mon;
    static ngx_http_tenant_periods_t  p;

    if (p.now == now && p.hour.id.len) {
        return &p;
    }

    /* libc, not ngx_gmtime(): this file must build without nginx's core */
    gmtime_r(&now, &tm);

    year = tm.tm_year + 1900;
    mon = tm.tm_mon + 1;

    p.now = now;

    p.hour.id.data = p.hour_id;
    p.hour.id.len = snprintf((char *) p.hour_id, sizeof(p.hour_id),
                             "%04u-%02u-%02uT%02u", (unsigned) year,
                             (unsigned) mon, (unsigned) tm.tm_mday,
                             (unsigned) tm.tm_hour);
    p.hour.end = ngx_http_tenant_utc(year, mon, tm.tm_mday, tm.tm_hour)
                 + 3600;

    p.day.id.data = p.day_id;
    p.day.id.len = 10;
    p.day.end = ngx_http_tenant_utc(year, mon, tm.tm_mday, 0) + 86400;

    p.month.id.data = p.month_id;
    p.month.id.len = 7;
    p.month.end = (mon == 12) ? ngx_http_tenant_utc(year + 1, 1, 1, 0)
                              : ngx_http_tenant_utc(year, mon + 1, 1, 0);

    ngx_memcpy(p.day_id, p.hour_id, 10);
    ngx_memcpy(p.month_id, p.hour_id, 7);

    ngx_http_tenant_period_text(&p.hour, p.hour_end);
    ngx_http_tenant_period_text(&p.day, p.day_end);
    ngx_http_tenant_period_text(&p.month, p.month_end);

    /* for the script, when a tenant's own quota names another unit */
    p.text.data = p.text_buf;
    p.text.len = snprintf((char *) p.text_buf, sizeof(p.text_buf),
                          "%.*s %.*s %.*s %.*s %.*s %.*s",
                          (int) p.hour.id.len, p.hour_id,
                          (int) p.hour.end_text.len, p.hour_end,
                          (int) p.day.id.len, p.day_id,
                          (int) p.day.end_text.len, p.day_end,
                          (int) p.month.id.len, p.month_id,
                          (int) p.month.end_text.len, p.month_end);

    return &p;
}


ngx_http_tenant_period_t *
ngx_http_tenant_period(ngx_http_tenant_periods_t *p, ngx_uint_t unit)
{
    switch (unit) {

    case NGX_HTTP_TENANT_HOUR:
        return &p->hour;

    case NGX_HTTP_TENANT_DAY:
        return &p->day;

    default:
        return &p->month;
    }
}


static void
ngx_http_tenant_period_text(ngx_http_tenant_period_t *period, u_char *buf)
{
    period->end_text.data = buf;
    period->end_text.len = snprintf((char *) buf, NGX_TIME_T_LEN, "%lld",
                                    (long long) period->end);
}


/* days from the civil date, proleptic Gregorian; no timezone involved */

static time_t
ngx_http_tenant_utc(ngx_uint_t year, ngx_uint_t mon, ngx_uint_t mday,
    ngx_uint_t hour)
{
    ngx_uint_t  days;

    /* March-based year, the way ngx_gmtime() counts, so Feb 29 is last */
    if (mon <= 2) {
        mon += 12;
        year--;
    }

    days = 365 * year + year / 4 - year / 100 + year / 400
           + 367 * (mon - 2) / 12 - 30 + mday - 1
           - 719527 + 31 + 28;

    return (time_t) days * 86400 + hour * 3600;
}
