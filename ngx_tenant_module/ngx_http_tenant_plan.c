
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_limit.h"


static ngx_int_t ngx_http_tenant_plan_count(ngx_str_t *value,
    ngx_str_t *count);
static ngx_int_t ngx_http_tenant_plan_number(u_char *p, size_t len);


/*
 * tenant_plan NAME [rate=N r/s|r/m|r/h] [burst=N]
 *     [quota=N/hour|day|month] [meter=NAME:N/hour|day|month] ...;
 */

char *
ngx_http_tenant_plan_parse(ngx_conf_t *cf, ngx_array_t *plans)
{
    u_char                   *colon;
    ngx_str_t                *value, v;
    ngx_uint_t                i;
    ngx_http_tenant_plan_t   *plan;
    ngx_http_tenant_meter_t  *meter;

    value = cf->args->elts;

    if (ngx_http_tenant_plan_find(plans, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate plan \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    plan = ngx_array_push(plans);
    if (plan == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(plan, sizeof(ngx_http_tenant_plan_t));

    plan->name = value[1];
    ngx_str_set(&plan->burst, "0");

    if (ngx_array_init(&plan->meters, cf->pool, 2,
                       sizeof(ngx_http_tenant_meter_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;

            if (ngx_http_tenant_plan_rate(&v, &plan->rate) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            plan->burst.data = value[i].data + 6;
            plan->burst.len = value[i].len - 6;

            if (ngx_http_tenant_plan_number(plan->burst.data, plan->burst.len)
                == NGX_ERROR)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "quota=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            if (ngx_http_tenant_plan_count(&v, &plan->quota) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "meter=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            colon = ngx_strlchr(v.data, v.data + v.len, ':');
            if (colon == NULL || colon == v.data) {
                goto invalid;
            }

            meter = ngx_array_push(&plan->meters);
            if (meter == NULL) {
                return NGX_CONF_ERROR;
            }

            meter->name.data = v.data;
            meter->name.len = colon - v.data;

            v.len -= colon + 1 - v.data;
            v.data = colon + 1;

            if (ngx_http_tenant_plan_count(&v, &meter->limit) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* "100r/m" as limit_req writes it; kept as text for the script */

ngx_int_t
ngx_http_tenant_plan_rate(ngx_str_t *value, ngx_str_t *rate)
{
    u_char  *p;

    if (value->len < 4) {
        return NGX_ERROR;
    }

    p = value->data + value->len - 3;

    if (ngx_strncmp(p, "r/s", 3) != 0 && ngx_strncmp(p, "r/m", 3) != 0
        && ngx_strncmp(p, "r/h", 3) != 0)
    {
        return NGX_ERROR;
    }

    if (ngx_http_tenant_plan_number(value->data, p - value->data) <= 0) {
        return NGX_ERROR;
    }

    *rate = *value;

    return NGX_OK;
}


/* "100/month": a count per calendar hour, day or month (UTC) */

static ngx_int_t
ngx_http_tenant_plan_count(ngx_str_t *value, ngx_str_t *count)
{
    u_char     *slash;
    ngx_str_t   unit;

    slash = ngx_strlchr(value->data, value->data + value->len, '/');
    if (slash == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tenant_plan_number(value->data, slash - value->data) <= 0) {
        return NGX_ERROR;
    }

    unit.data = slash + 1;
    unit.len = value->data + value->len - unit.data;

    if (!(unit.len == 4 && ngx_strncmp(unit.data, "hour", 4) == 0)
        && !(unit.len == 3 && ngx_strncmp(unit.data, "day", 3) == 0)
        && !(unit.len == 5 && ngx_strncmp(unit.data, "month", 5) == 0))
    {
        return NGX_ERROR;
    }

    *count = *value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_plan_number(u_char *p, size_t len)
{
    /* keep every figure well inside a Lua double */
    if (len == 0 || len > 9) {
        return NGX_ERROR;
    }

    return ngx_atoi(p, len);
}


ngx_http_tenant_plan_t *
ngx_http_tenant_plan_find(ngx_array_t *plans, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_http_tenant_plan_t  *plan;

    plan = plans->elts;

    for (i = 0; i < plans->nelts; i++) {
        if (plan[i].name.len == name->len
            && ngx_strncmp(plan[i].name.data, name->data, name->len) == 0)
        {
            return &plan[i];
        }
    }

    return NULL;
}


ngx_str_t *
ngx_http_tenant_plan_meter(ngx_http_tenant_plan_t *plan, ngx_str_t *meter)
{
    ngx_uint_t                i;
    ngx_http_tenant_meter_t  *m;

    m = plan->meters.elts;

    for (i = 0; i < plan->meters.nelts; i++) {
        if (m[i].name.len == meter->len
            && ngx_strncmp(m[i].name.data, meter->data, meter->len) == 0)
        {
            return &m[i].limit;
        }
    }

    return NULL;
}
