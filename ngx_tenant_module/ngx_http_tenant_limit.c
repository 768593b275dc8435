
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_lease.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_wait.h"
#include "ngx_http_tenant_override.h"


static ngx_int_t ngx_http_tenant_limit_failure(
    ngx_http_tenant_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tenant_limit_needed(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_apply_t *apply);
static void ngx_http_tenant_limit_reply(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_int_t ngx_http_tenant_limit_parse(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply);


/*
 * Sends the tenant's one EVALSHA and suspends the request.  NGX_AGAIN:
 * waiting; NGX_OK: the outcome is already known (Redis is down, or the
 * decision was taken in an earlier pass of this request); NGX_ERROR.
 */

ngx_int_t
ngx_http_tenant_limit_start(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_http_tenant_apply_t       apply;
    ngx_http_tenant_redis_cmd_t  *cmd;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (ngx_http_tenant_limit_needed(ctx, tlcf, &apply) != NGX_OK) {
        return NGX_OK;
    }

    /* a unit of a lease this worker holds: no round trip */
    switch (ngx_http_tenant_lease_take(r, ctx, tlcf)) {

    case NGX_OK:
        ctx->applied_limit |= apply.limit;
        ctx->applied_meter = apply.meter;
        return NGX_OK;

    case NGX_AGAIN:
        /* behind the grant this worker asked for: it starts again then */
        return ngx_http_tenant_wait_suspend(r, ctx, &ctx->limit_state);

    default:
        break;
    }

    ctx->applied_limit |= apply.limit;

    if (apply.meter.len) {
        ctx->applied_meter = apply.meter;
    }

    cmd = ngx_http_tenant_limit_command(r, ctx, tlcf, &apply);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    ctx->op = cmd ? ngx_http_tenant_redis_send(tmcf->redis_client, cmd,
                                               ngx_http_tenant_limit_reply, r)
                  : NULL;
    if (ctx->op == NULL) {
        ngx_http_tenant_redis_log_failure(r->connection->log,
                                          "redis is not connected");
        ctx->limit_state = NGX_HTTP_TENANT_LIMIT_FAILED;
        return NGX_OK;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant decision: sent, limit:%i meter:\"%V\"",
                   apply.limit, &apply.meter);

    return ngx_http_tenant_wait_suspend(r, ctx, &ctx->limit_state);
}


/*
 * What this pass must ask Redis for.  An internal redirect runs the access
 * phase again: what an earlier pass applied is never counted twice, what
 * it did not apply (tenant_limit, another meter) is asked for now.
 */

static ngx_int_t
ngx_http_tenant_limit_needed(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_apply_t *apply)
{
    ngx_str_t  *done;

    done = &ctx->applied_meter;

    apply->limit = tlcf->limit && !ctx->applied_limit;
    apply->meter = tlcf->meter;
    apply->meter_field = tlcf->meter_field;
    apply->plans = tlcf->require_plans_text;
    apply->limit_plans = tlcf->limit_plans;

    if (done->len == apply->meter.len
        && (done->len == 0
            || ngx_strncmp(done->data, apply->meter.data, done->len) == 0))
    {
        ngx_str_null(&apply->meter);
        ngx_str_null(&apply->meter_field);
    }

    if (ctx->limit_state == NGX_HTTP_TENANT_LIMIT_IDLE
        || apply->limit || apply->meter.len)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * After the reply (or the failure): NGX_OK admits, anything else is the
 * reason to refuse the request with.
 */

ngx_int_t
ngx_http_tenant_limit_verdict(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_http_tenant_limit_result_t  *res;

    res = &ctx->limit;
    ctx->limited = tlcf->limit ? 1 : 0;

    /* no answer to a lease's renewal: units the worker holds still admit */
    if (ctx->limit_state == NGX_HTTP_TENANT_LIMIT_FAILED
        && ngx_http_tenant_lease_refused(r, ctx) == NGX_OK)
    {
        ctx->limit_state = NGX_HTTP_TENANT_LIMIT_DONE;
    }

    if (ctx->limit_state == NGX_HTTP_TENANT_LIMIT_FAILED) {
        ctx->limit_status = NGX_HTTP_TENANT_LIMIT_UNAVAILABLE;
        ctx->limited = 0;

        return ngx_http_tenant_limit_failure(tlcf);
    }

    /* the plan may be overridden in Redis: it is the one to forward */
    if (res->plan.len) {
        if (ngx_http_tenant_header_safe(res->plan.data, res->plan.len)
            == NGX_OK)
        {
            ctx->identity.plan = res->plan;

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tenant: plan of tenant \"%V\" in redis is not "
                          "a safe header value, ignored",
                          &ctx->identity.tenant_id);
        }
    }

    switch (res->verdict) {

    case NGX_HTTP_TENANT_VERDICT_SUSPENDED:
        ctx->limit_status = tlcf->limit ? NGX_HTTP_TENANT_LIMIT_REJECTED
                                        : NGX_HTTP_TENANT_LIMIT_NONE;
        return NGX_HTTP_TENANT_SUSPENDED;

    case NGX_HTTP_TENANT_VERDICT_PLAN:
        ctx->limit_status = NGX_HTTP_TENANT_LIMIT_NONE;
        return NGX_HTTP_TENANT_PLAN_REQUIRED;

    case NGX_HTTP_TENANT_VERDICT_REVOKED:
        ctx->limit_status = tlcf->limit ? NGX_HTTP_TENANT_LIMIT_REJECTED
                                        : NGX_HTTP_TENANT_LIMIT_NONE;
        return NGX_HTTP_TENANT_TOKEN_REVOKED;

    case NGX_HTTP_TENANT_VERDICT_RATE:
    case NGX_HTTP_TENANT_VERDICT_QUOTA:

        if (tlcf->limit_dry_run) {
            ngx_log_error(tlcf->log_level, r->connection->log, 0,
                          "tenant: dry run, would reject tenant \"%V\" "
                          "with \"%s\"", &ctx->identity.tenant_id,
                          res->verdict == NGX_HTTP_TENANT_VERDICT_RATE
                          ? "rate_limited" : "quota_exceeded");

            ctx->limit_status = NGX_HTTP_TENANT_LIMIT_DRY_RUN;
            return NGX_OK;
        }

        ctx->limit_status = NGX_HTTP_TENANT_LIMIT_REJECTED;
        ctx->retry_after = res->retry_after;

        return (res->verdict == NGX_HTTP_TENANT_VERDICT_RATE)
               ? NGX_HTTP_TENANT_RATE_LIMITED
               : NGX_HTTP_TENANT_QUOTA_EXCEEDED;

    default: /* NGX_HTTP_TENANT_VERDICT_PASS */
        ctx->limit_status = tlcf->limit ? NGX_HTTP_TENANT_LIMIT_PASSED
                                        : NGX_HTTP_TENANT_LIMIT_NONE;
        return NGX_OK;
    }
}


/*
 * Redis did not answer: tenant_redis_failure decides for the limits this
 * location counts, tenant_registry_failure for the suspension and the
 * revocations every request is checked for.  Where both refuse, the
 * limits' code is kept, as before the registry had a policy of its own.
 */

static ngx_int_t
ngx_http_tenant_limit_failure(ngx_http_tenant_loc_conf_t *tlcf)
{
    if ((tlcf->limit || tlcf->meter.len)
        && tlcf->redis_failure == NGX_HTTP_TENANT_FAILURE_DENY)
    {
        return NGX_HTTP_TENANT_LIMITER_UNAVAILABLE;
    }

    if (ngx_http_tenant_registry_failure(tlcf)
        == NGX_HTTP_TENANT_FAILURE_DENY)
    {
        return NGX_HTTP_TENANT_REGISTRY_UNAVAILABLE;
    }

    return NGX_OK;
}


static void
ngx_http_tenant_limit_reply(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_request_t *r = data;

    ngx_int_t               rc;
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_tenant_wait_done(r);

    rc = reply ? ngx_http_tenant_limit_parse(r, ctx, reply) : NGX_ERROR;

    if (rc == NGX_OK) {
        ctx->limit_state = NGX_HTTP_TENANT_LIMIT_DONE;

    } else {
        ngx_http_tenant_redis_log_failure(r->connection->log,
                                          reply == NULL
                                          ? "redis request failed"
                                          : (rc == NGX_DECLINED)
                                          ? "redis ran the script after the "
                                            "request's deadline, nothing "
                                            "counted"
                                          : "unexpected script reply");
        ctx->limit_state = NGX_HTTP_TENANT_LIMIT_FAILED;
    }

    ngx_http_tenant_wait_resume(r);
}


static ngx_int_t
ngx_http_tenant_limit_parse(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_redis_reply_t *reply)
{
    size_t                           first;
    ngx_http_tenant_redis_reply_t   *verdict;
    ngx_http_tenant_limit_sent_t    *sent;
    ngx_http_tenant_limit_result_t  *res;

    if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY
        || reply->elements < NGX_HTTP_TENANT_REPLY_MIN)
    {
        return NGX_ERROR;
    }

    verdict = reply->element[NGX_HTTP_TENANT_REPLY_VERDICT];

    if (verdict->type != NGX_HTTP_TENANT_REDIS_INTEGER
        || verdict->integer < NGX_HTTP_TENANT_VERDICT_PASS
        || verdict->integer > NGX_HTTP_TENANT_VERDICT_PLAN)
    {
        return NGX_ERROR;
    }

    if (verdict->integer == NGX_HTTP_TENANT_VERDICT_LATE) {
        /* the failure policy answers, as if the reply had not come */
        return NGX_DECLINED;
    }

    if (ctx->leasing) {
        /* a refusal for the plan may be long, with ignored overrides */
        if (reply->elements >= NGX_HTTP_TENANT_REPLY_LEASE
            && verdict->integer != NGX_HTTP_TENANT_VERDICT_PLAN)
        {
            return ngx_http_tenant_lease_parse(r, ctx, reply);
        }

        /* what the script counted comes with the lease's reply, always */
        if (verdict->integer == NGX_HTTP_TENANT_VERDICT_PASS
            || verdict->integer == NGX_HTTP_TENANT_VERDICT_RATE
            || verdict->integer == NGX_HTTP_TENANT_VERDICT_QUOTA)
        {
            return NGX_ERROR;
        }

        /* refused before anything was counted: the short reply */
        ngx_http_tenant_lease_drop(r, ctx);
    }

    res = &ctx->limit;

    res->verdict = verdict->integer;
    sent = &ctx->limit_sent;

    if (reply->elements == NGX_HTTP_TENANT_REPLY_ACTIVE) {
        /* an active tenant on the plan sent: neither is repeated */
        ngx_str_set(&res->status, "active");
        res->plan = sent->plan;
        first = NGX_HTTP_TENANT_REPLY_ACTIVE_NUMBERS;

    } else {
        if (ngx_http_tenant_limit_reply_str(r,
                                reply->element[NGX_HTTP_TENANT_REPLY_STATUS],
                                &res->status)
            != NGX_OK
            || ngx_http_tenant_limit_reply_str(r,
                                  reply->element[NGX_HTTP_TENANT_REPLY_PLAN],
                                  &res->plan)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        first = NGX_HTTP_TENANT_REPLY_NUMBERS;
    }

    ngx_http_tenant_limit_numbers(res, reply, first);

    if (reply->elements != NGX_HTTP_TENANT_REPLY_ACTIVE
        && reply->elements != NGX_HTTP_TENANT_REPLY_SENT_LIMITS)
    {
        /* a short answer (nothing counted), or the limits it worked out */
        ngx_http_tenant_limit_ignored(r, ctx, reply,
                                      NGX_HTTP_TENANT_REPLY_IGNORED);
        return NGX_OK;
    }

    /* the limits are the ones nginx sent */

    res->rate_limit = sent->rate_limit;
    res->quota_limit = sent->quota_limit;

    if (sent->quota_limit != -1) {
        res->quota_reset = ngx_max(sent->quota_end - ngx_time(), 0);
    }

    return NGX_OK;
}


/* the overrides the script could not use: FIELD, VALUE from first on */

void
ngx_http_tenant_limit_ignored(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply,
    size_t first)
{
    size_t                          i;
    ngx_str_t                       field, value;
    ngx_http_tenant_redis_reply_t  *f, *v;

    for (i = first; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != NGX_HTTP_TENANT_REDIS_STRING
            || v->type != NGX_HTTP_TENANT_REDIS_STRING)
        {
            return;
        }

        field.len = f->len;
        field.data = f->str;
        value.len = v->len;
        value.data = v->str;

        ngx_http_tenant_override_ignored(r->connection->log,
                                         &ctx->identity.tenant_id,
                                         &field, &value);
    }
}


/*
 * The seven numbers from the reply's element first on: -1 ("no such
 * limit") for one missing, not an integer, or beyond what a Lua script
 * computes exactly.
 */

void
ngx_http_tenant_limit_numbers(ngx_http_tenant_limit_result_t *res,
    ngx_http_tenant_redis_reply_t *reply, size_t first)
{
    size_t                          i;
    ngx_int_t                      *field[NGX_HTTP_TENANT_REPLY_NNUMBERS];
    ngx_http_tenant_redis_reply_t  *e;

    field[NGX_HTTP_TENANT_REPLY_RATE_REMAINING] = &res->rate_remaining;
    field[NGX_HTTP_TENANT_REPLY_RATE_RESET] = &res->rate_reset;
    field[NGX_HTTP_TENANT_REPLY_RETRY_AFTER] = &res->retry_after;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_USED] = &res->quota_used;
    field[NGX_HTTP_TENANT_REPLY_RATE_LIMIT] = &res->rate_limit;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_LIMIT] = &res->quota_limit;
    field[NGX_HTTP_TENANT_REPLY_QUOTA_RESET] = &res->quota_reset;

    for (i = 0; i < NGX_HTTP_TENANT_REPLY_NNUMBERS; i++) {
        *field[i] = -1;

        if (first + i >= reply->elements) {
            continue;
        }

        e = reply->element[first + i];

        if (e->type == NGX_HTTP_TENANT_REDIS_INTEGER
            && e->integer <= NGX_HTTP_TENANT_REPLY_NUMBER_MAX
            && e->integer >= -NGX_HTTP_TENANT_REPLY_NUMBER_MAX)
        {
            *field[i] = e->integer;
        }
    }
}


/* the reply is only valid during the callback: keep a copy */

ngx_int_t
ngx_http_tenant_limit_reply_str(ngx_http_request_t *r,
    ngx_http_tenant_redis_reply_t *reply, ngx_str_t *s)
{
    if (reply->type != NGX_HTTP_TENANT_REDIS_STRING) {
        return NGX_ERROR;
    }

    s->len = reply->len;
    s->data = ngx_pnalloc(r->pool, reply->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, reply->str, reply->len);

    return NGX_OK;
}


/*
 * tenant_limit, tenant_meter and their companions; the plans' text that
 * every decision may need (a tenant's hash can name another plan).
 */

char *
ngx_http_tenant_limit_merge(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev)
{
    ngx_flag_t                    here;
    ngx_http_tenant_main_conf_t  *tmcf;

    here = (conf->limit == 1 || conf->meter.len);

    if (conf->limit_where.name == NULL) {
        conf->limit_where = prev->limit_where;
    }

    ngx_conf_merge_value(conf->limit, prev->limit, 0);
    ngx_conf_merge_value(conf->limit_dry_run, prev->limit_dry_run, 0);
    ngx_conf_merge_value(conf->limit_headers, prev->limit_headers, 1);
    ngx_conf_merge_uint_value(conf->redis_failure, prev->redis_failure,
                              NGX_HTTP_TENANT_FAILURE_ALLOW);

    /* unset stays unset: it follows this level's tenant_redis_failure */
    ngx_conf_merge_uint_value(conf->registry_failure, prev->registry_failure,
                              NGX_CONF_UNSET_UINT);
    ngx_conf_merge_str_value(conf->meter, prev->meter, "");
    ngx_http_tenant_lease_merge(conf, prev);

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);

    /* every decision may need the plans: a tenant's hash can name one */

    if (prev->limit_plans.data && conf->meter.data == prev->meter.data) {
        conf->limit_plans = prev->limit_plans;

    } else if (tmcf->redis
               && ngx_http_tenant_plan_script_text(cf, &tmcf->plans,
                                                   &conf->meter,
                                                   &conf->limit_plans)
                  != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the tenant's hash field that overrides the meter's limit */
    if (conf->meter.len) {
        conf->meter_field.len = sizeof("meter:") - 1 + conf->meter.len;
        conf->meter_field.data = ngx_pnalloc(cf->pool, conf->meter_field.len);
        if (conf->meter_field.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(conf->meter_field.data, "meter:%V", &conf->meter);
    }

    if (!conf->limit && conf->meter.len == 0) {
        return NGX_CONF_OK;
    }

    /* a limit nobody can enforce would be a silent hole */
    if (tmcf->redis == NULL) {
        ngx_http_tenant_where_error(cf, &conf->limit_where,
                           "\"tenant_limit\" and \"tenant_meter\" need "
                           "\"tenant_redis\": declare the Redis server at "
                           "the http level");
        return NGX_CONF_ERROR;
    }

    /*
     * without a token there is no tenant to limit: an error where the
     * limit is written, no effect where it is only inherited (/healthz)
     */
    if (!conf->jwt && here) {
        ngx_http_tenant_where_error(cf, &conf->limit_where,
                           "\"tenant_limit\" and \"tenant_meter\" need "
                           "\"tenant_jwt on\" to know the tenant: turn it "
                           "on where the limit is written");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
