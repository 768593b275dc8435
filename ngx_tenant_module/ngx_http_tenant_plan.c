
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_period.h"


static ngx_int_t ngx_http_tenant_plan_name(ngx_str_t *name);
static ngx_int_t ngx_http_tenant_plan_gcra(ngx_conf_t *cf,
    ngx_http_tenant_plan_t *plan);
static ngx_int_t ngx_http_tenant_plan_count(ngx_str_t *value,
    ngx_http_tenant_count_t *count);
static ngx_int_t ngx_http_tenant_plan_number(u_char *p, size_t len);
static u_char *ngx_http_tenant_plan_field(u_char *p, ngx_str_t *value);


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

    if (ngx_http_tenant_plan_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid plan name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

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

    if (ngx_http_tenant_plan_gcra(cf, plan) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* a word the script can find in its list of plans: no space, no ";" */

static ngx_int_t
ngx_http_tenant_plan_name(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] <= ' ' || name->data[i] == ';'
            || name->data[i] == 0x7f)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the emission interval and tolerance of the plan's rate, in microseconds */

static ngx_int_t
ngx_http_tenant_plan_gcra(ngx_conf_t *cf, ngx_http_tenant_plan_t *plan)
{
    u_char    *p, unit;
    uint64_t   per, n, interval;

    if (plan->rate.len == 0) {
        return NGX_OK;
    }

    unit = plan->rate.data[plan->rate.len - 1];
    per = (unit == 's') ? 1000000 : (unit == 'm') ? 60000000 : 3600000000;

    plan->per.data = plan->rate.data;
    plan->per.len = plan->rate.len - 3;

    n = ngx_atoi(plan->per.data, plan->per.len);
    plan->rate_limit = n;
    interval = ngx_max(per / n, 1);

    p = ngx_pnalloc(cf->pool, 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    plan->interval.data = p;
    plan->interval.len = ngx_sprintf(p, "%uL", interval) - p;

    p += plan->interval.len;

    plan->tolerance.data = p;
    plan->tolerance.len = ngx_sprintf(p, "%uL",
                              interval * ngx_atoi(plan->burst.data,
                                                  plan->burst.len))
                          - p;

    return NGX_OK;
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
ngx_http_tenant_plan_count(ngx_str_t *value, ngx_http_tenant_count_t *count)
{
    u_char     *slash;
    ngx_str_t   unit;

    slash = ngx_strlchr(value->data, value->data + value->len, '/');
    if (slash == NULL) {
        return NGX_ERROR;
    }

    count->value = ngx_http_tenant_plan_number(value->data,
                                               slash - value->data);
    if (count->value <= 0) {
        return NGX_ERROR;
    }

    unit.data = slash + 1;
    unit.len = value->data + value->len - unit.data;

    if (unit.len == 4 && ngx_strncmp(unit.data, "hour", 4) == 0) {
        count->unit = NGX_HTTP_TENANT_HOUR;

    } else if (unit.len == 3 && ngx_strncmp(unit.data, "day", 3) == 0) {
        count->unit = NGX_HTTP_TENANT_DAY;

    } else if (unit.len == 5 && ngx_strncmp(unit.data, "month", 5) == 0) {
        count->unit = NGX_HTTP_TENANT_MONTH;

    } else {
        return NGX_ERROR;
    }

    count->text = *value;
    count->count.data = value->data;
    count->count.len = slash - value->data;

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


ngx_http_tenant_meter_t *
ngx_http_tenant_plan_meter(ngx_http_tenant_plan_t *plan, ngx_str_t *meter)
{
    ngx_uint_t                i;
    ngx_http_tenant_meter_t  *m;

    m = plan->meters.elts;

    for (i = 0; i < plan->meters.nelts; i++) {
        if (m[i].name.len == meter->len
            && ngx_strncmp(m[i].name.data, meter->data, meter->len) == 0)
        {
            return &m[i];
        }
    }

    return NULL;
}


/*
 * ";NAME RATE BURST QUOTA METER" for each plan, "-" for a limit it does
 * not have: what the script needs when a tenant's hash names another
 * plan or overrides a limit.  METER is the limit of the meter counted
 * where this text is used.
 */

ngx_int_t
ngx_http_tenant_plan_script_text(ngx_conf_t *cf, ngx_array_t *plans,
    ngx_str_t *meter, ngx_str_t *text)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                *limit, none;
    ngx_uint_t                i;
    ngx_http_tenant_plan_t   *plan;
    ngx_http_tenant_meter_t  *m;

    ngx_str_null(&none);

    plan = plans->elts;
    len = 0;

    for (i = 0; i < plans->nelts; i++) {
        m = meter->len ? ngx_http_tenant_plan_meter(&plan[i], meter) : NULL;
        limit = m ? &m->limit.text : &none;

        len += sizeof("; - - - -") + plan[i].name.len + plan[i].rate.len
               + plan[i].burst.len + plan[i].quota.text.len + limit->len;
    }

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    for (i = 0; i < plans->nelts; i++) {
        m = meter->len ? ngx_http_tenant_plan_meter(&plan[i], meter) : NULL;
        limit = m ? &m->limit.text : &none;

        *p++ = ';';
        p = ngx_cpymem(p, plan[i].name.data, plan[i].name.len);
        *p++ = ' ';
        p = ngx_http_tenant_plan_field(p, &plan[i].rate);
        *p++ = ' ';
        p = ngx_http_tenant_plan_field(p, &plan[i].burst);
        *p++ = ' ';
        p = ngx_http_tenant_plan_field(p, &plan[i].quota.text);
        *p++ = ' ';
        p = ngx_http_tenant_plan_field(p, limit);
    }

    text->len = p - text->data;

    return NGX_OK;
}


static u_char *
ngx_http_tenant_plan_field(u_char *p, ngx_str_t *value)
{
    if (value->len == 0) {
        *p++ = '-';
        return p;
    }

    return ngx_cpymem(p, value->data, value->len);
}
