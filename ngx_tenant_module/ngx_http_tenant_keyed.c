
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_sha1.h>

#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_complex.h"
#include "ngx_http_tenant_keyed.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_wait.h"


#define NGX_HTTP_TENANT_KEY_RAW_MAX  128
#define NGX_HTTP_TENANT_KEY_HEX_MAX  64


#define ngx_http_tenant_keyed_literal(a, s)                                   \
    ngx_http_tenant_keyed_add(a, (u_char *) s, sizeof(s) - 1)


typedef struct {
    int            n;
    const char    *argv[8];
    size_t         argvlen[8];
} ngx_http_tenant_keyed_args_t;


static ngx_int_t ngx_http_tenant_keyed_failure(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tenant_keyed_send(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tenant_keyed_key(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, const char *kind, ngx_str_t *name,
    ngx_str_t *key);
static ngx_int_t ngx_http_tenant_home_args(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_keyed_args_t *a);
static ngx_int_t ngx_http_tenant_zone_applied(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_zone_t *zone);
static void ngx_http_tenant_keyed_add(ngx_http_tenant_keyed_args_t *a,
    u_char *data, size_t len);
static ngx_http_tenant_redis_op_t *ngx_http_tenant_keyed_eval(
    ngx_http_request_t *r, ngx_http_tenant_keyed_args_t *a,
    ngx_flag_t wait);
static void ngx_http_tenant_keyed_reply(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_int_t ngx_http_tenant_lockout_lock(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *locked);
static void ngx_http_tenant_lockout_counted(void *data,
    ngx_http_tenant_redis_reply_t *reply);


/* tenant_limit_zone NAME key=$variable rate=N r/s|r/m|r/h [burst=N] */

char *
ngx_http_tenant_zone_parse(ngx_conf_t *cf, ngx_array_t *zones)
{
    ngx_str_t                *value, v;
    ngx_uint_t                i;
    ngx_http_tenant_zone_t   *zone;

    value = cf->args->elts;
    zone = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        if (zone[i].name.len == value[1].len
            && ngx_strncmp(zone[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate zone \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    zone = ngx_array_push(zones);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(zone, sizeof(ngx_http_tenant_zone_t));

    zone->name = value[1];
    ngx_str_set(&zone->burst, "0");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0 && value[i].len > 4) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            if (ngx_http_tenant_complex_compile(cf, &v, &zone->key)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;

            if (ngx_http_tenant_plan_rate(&v, &zone->rate) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            zone->burst.data = value[i].data + 6;
            zone->burst.len = value[i].len - 6;

            if (zone->burst.len == 0 || zone->burst.len > 9
                || ngx_atoi(zone->burst.data, zone->burst.len) == NGX_ERROR)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (zone->key.value.data == NULL || zone->rate.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" needs \"key=\" and \"rate=\"",
                           &zone->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* tenant_lockout key=$variable after=N window=TIME duration=TIME */

char *
ngx_http_tenant_lockout_parse(ngx_conf_t *cf,
    ngx_http_tenant_lockout_t **lockout)
{
    ngx_int_t                   n;
    ngx_str_t                  *value, v, *text;
    ngx_uint_t                  i;
    ngx_http_tenant_lockout_t  *lo;

    if (*lockout) {
        return "is duplicate";
    }

    lo = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_lockout_t));
    if (lo == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0 && value[i].len > 4) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            if (ngx_http_tenant_complex_compile(cf, &v, &lo->key)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "after=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n <= 0 || n > 1000000) {
                goto invalid;
            }

            lo->after.data = value[i].data + 6;
            lo->after.len = value[i].len - 6;
            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            v.data = value[i].data + 7;
            v.len = value[i].len - 7;
            text = &lo->window;

        } else if (ngx_strncmp(value[i].data, "duration=", 9) == 0) {
            v.data = value[i].data + 9;
            v.len = value[i].len - 9;
            text = &lo->duration;

        } else {
            goto invalid;
        }

        /* kept in milliseconds, as PEXPIRE and SET PX take them */

        n = ngx_parse_time(&v, 0);
        if (n == NGX_ERROR || n == 0) {
            goto invalid;
        }

        text->data = ngx_pnalloc(cf->pool, NGX_INT_T_LEN);
        if (text->data == NULL) {
            return NGX_CONF_ERROR;
        }

        text->len = ngx_sprintf(text->data, "%i", n) - text->data;
    }

    if (lo->key.value.data == NULL || lo->after.len == 0
        || lo->window.len == 0 || lo->duration.len == 0)
    {
        return "needs \"key=\", \"after=\", \"window=\" and \"duration=\"";
    }

    *lockout = lo;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* tenant_limit_by names zones declared at the http level: found here */

char *
ngx_http_tenant_keyed_merge(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev)
{
    ngx_str_t                     *name;
    ngx_uint_t                     i, j;
    ngx_http_tenant_zone_t        *zone, **z;
    ngx_http_tenant_main_conf_t   *tmcf;

    if (conf->lockout == NULL) {
        conf->lockout = prev->lockout;
        conf->lockout_where = prev->lockout_where;
    }

    if (conf->limit_by == NULL) {
        conf->limit_by = prev->limit_by;
        conf->zones = prev->zones;
        conf->limit_by_where = prev->limit_by_where;
    }

    if (conf->limit_by == NULL && conf->lockout == NULL) {
        return NGX_CONF_OK;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);

    if (tmcf->redis == NULL) {
        ngx_http_tenant_where_error(cf,
                           conf->limit_by ? &conf->limit_by_where
                                          : &conf->lockout_where,
                           "\"tenant_limit_by\" and \"tenant_lockout\" "
                           "need \"tenant_redis\": declare the Redis server "
                           "at the http level");
        return NGX_CONF_ERROR;
    }

    if (conf->limit_by == NULL || conf->zones) {
        return NGX_CONF_OK;
    }

    conf->zones = ngx_array_create(cf->pool, conf->limit_by->nelts,
                                   sizeof(ngx_http_tenant_zone_t *));
    if (conf->zones == NULL) {
        return NGX_CONF_ERROR;
    }

    name = conf->limit_by->elts;
    zone = tmcf->zones.elts;

    for (i = 0; i < conf->limit_by->nelts; i++) {
        for (j = 0; j < tmcf->zones.nelts; j++) {
            if (zone[j].name.len == name[i].len
                && ngx_strncmp(zone[j].name.data, name[i].data,
                               name[i].len) == 0)
            {
                break;
            }
        }

        if (j == tmcf->zones.nelts) {
            ngx_http_tenant_where_error(cf, &conf->limit_by_where,
                               "zone \"%V\" is not declared with "
                               "\"tenant_limit_zone\": declare it at the "
                               "http level", &name[i]);
            return NGX_CONF_ERROR;
        }

        z = ngx_array_push(conf->zones);
        if (z == NULL) {
            return NGX_CONF_ERROR;
        }

        *z = &zone[j];
    }

    return NGX_CONF_OK;
}


/*
 * The keyed checks of a location, one EVALSHA each, in order: the zones
 * of tenant_limit_by, then the lockout.  NGX_OK: all passed; NGX_AGAIN:
 * waiting; a reason to refuse; NGX_ERROR.
 */

ngx_int_t
ngx_http_tenant_keyed_run(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_int_t                     rc;
    ngx_uint_t                    total;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (ctx->keyed_state == NGX_HTTP_TENANT_LIMIT_DONE) {
        ctx->keyed_state = NGX_HTTP_TENANT_LIMIT_IDLE;

        if (ctx->keyed_verdict == NGX_HTTP_TENANT_VERDICT_RATE) {
            ctx->limit_status = NGX_HTTP_TENANT_LIMIT_REJECTED;
            return NGX_HTTP_TENANT_RATE_LIMITED;
        }

        if (ctx->keyed_verdict == NGX_HTTP_TENANT_VERDICT_LOCKED) {
            return NGX_HTTP_TENANT_LOCKED_OUT;
        }

        if (ctx->keyed_verdict == NGX_HTTP_TENANT_VERDICT_REVOKED) {
            return NGX_HTTP_TENANT_TOKEN_REVOKED;
        }

        ctx->keyed_next++;

    } else if (ctx->keyed_state == NGX_HTTP_TENANT_LIMIT_FAILED) {
        ctx->keyed_state = NGX_HTTP_TENANT_LIMIT_IDLE;

        rc = ngx_http_tenant_keyed_failure(ctx, tlcf);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->keyed_next++;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    /*
     * remembered, key and all, for a 401 that an error_page sends from
     * another location, where the arguments may be gone
     */
    if (tlcf->lockout && ctx->lockout != tlcf->lockout) {
        ctx->lockout = tlcf->lockout;

        if (ngx_http_tenant_keyed_key(r, &tlcf->lockout->key, "lockout:",
                                      NULL, &ctx->lockout_key)
            != NGX_OK)
        {
            ngx_str_null(&ctx->lockout_key);
        }
    }

    total = (tlcf->zones ? tlcf->zones->nelts : 0) + (tlcf->lockout ? 1 : 0)
            + ((ctx->identity.home.len && tmcf->redis) ? 1 : 0);

    while (ctx->keyed_next < total) {
        rc = ngx_http_tenant_keyed_send(r, ctx, tlcf);

        if (rc == NGX_AGAIN || rc == NGX_ERROR) {
            return rc;
        }

        if (rc == NGX_BUSY) {
            rc = ngx_http_tenant_keyed_failure(ctx, tlcf);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        /* NGX_DECLINED, an empty key, is not limited, as in limit_req */
        ctx->keyed_next++;
    }

    return NGX_OK;
}


/*
 * Redis did not answer check ctx->keyed_next: a zone or the lockout is a
 * limit (tenant_redis_failure), the revocation check in the token's own
 * tenant is the registry's (tenant_registry_failure).  NGX_OK: go on.
 */

static ngx_int_t
ngx_http_tenant_keyed_failure(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_uint_t  home;

    ctx->limit_status = NGX_HTTP_TENANT_LIMIT_UNAVAILABLE;

    home = (tlcf->zones ? tlcf->zones->nelts : 0) + (tlcf->lockout ? 1 : 0);

    if (ctx->keyed_next == home) {
        return (ngx_http_tenant_registry_failure(tlcf)
                == NGX_HTTP_TENANT_FAILURE_DENY)
               ? NGX_HTTP_TENANT_REGISTRY_UNAVAILABLE : NGX_OK;
    }

    return (tlcf->redis_failure == NGX_HTTP_TENANT_FAILURE_DENY)
           ? NGX_HTTP_TENANT_LIMITER_UNAVAILABLE : NGX_OK;
}


static ngx_int_t
ngx_http_tenant_keyed_send(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_str_t                      key, locked;
    ngx_uint_t                     nzones;
    ngx_http_tenant_zone_t        *zone, **zones;
    ngx_http_tenant_keyed_args_t   a;

    nzones = tlcf->zones ? tlcf->zones->nelts : 0;
    a.n = 0;

    if (ctx->keyed_next < nzones) {
        zones = tlcf->zones->elts;
        zone = zones[ctx->keyed_next];

        /* after an internal redirect, a zone already applied is not again */
        if (ngx_http_tenant_zone_applied(r, ctx, zone) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_http_tenant_keyed_key(r, &zone->key, "zone:", &zone->name,
                                      &key)
            != NGX_OK)
        {
            return key.len ? NGX_ERROR : NGX_DECLINED;
        }

        ngx_http_tenant_keyed_literal(&a, NGX_HTTP_TENANT_SCRIPT_ZONE_KEYS);
        ngx_http_tenant_keyed_add(&a, key.data, key.len);
        ngx_http_tenant_keyed_literal(&a, NGX_HTTP_TENANT_SCRIPT_ZONE);
        ngx_http_tenant_keyed_add(&a, zone->rate.data, zone->rate.len);
        ngx_http_tenant_keyed_add(&a, zone->burst.data, zone->burst.len);

    } else if (ctx->keyed_next == nzones + (tlcf->lockout ? 1 : 0)) {
        if (ngx_http_tenant_home_args(r, ctx, &a) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_tenant_keyed_key(r, &tlcf->lockout->key, "lockout:",
                                      NULL, &key)
            != NGX_OK)
        {
            return key.len ? NGX_ERROR : NGX_DECLINED;
        }

        if (ngx_http_tenant_lockout_lock(r, &key, &locked) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_tenant_keyed_literal(&a,
                                      NGX_HTTP_TENANT_SCRIPT_LOCKOUT_KEYS);
        ngx_http_tenant_keyed_add(&a, key.data, key.len);
        ngx_http_tenant_keyed_add(&a, locked.data, locked.len);
        ngx_http_tenant_keyed_literal(&a, NGX_HTTP_TENANT_SCRIPT_LOCKED);
    }

    ctx->op = ngx_http_tenant_keyed_eval(r, &a, 1);
    if (ctx->op == NULL) {
        return NGX_BUSY;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant keyed: check %ui sent", ctx->keyed_next);

    return ngx_http_tenant_wait_suspend(r, ctx, &ctx->keyed_state);
}


/*
 * A request that selected another organization is still refused if its
 * token was revoked in the tenant that issued it: PREFIX{HOME},
 * PREFIX{HOME}:revoked:JTI and PREFIX{HOME}:user:USER (PREFIX{HOME} again
 * for a token without a user), a slot of their own, hence a call of its
 * own.
 */

static ngx_int_t
ngx_http_tenant_home_args(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_keyed_args_t *a)
{
    u_char                       *p;
    size_t                        len;
    uint64_t                      n;
    ngx_str_t                     jti, iat, *home, *prefix, *user;
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    prefix = &tmcf->redis->prefix;
    home = &ctx->identity.home;
    user = &ctx->identity.user;

    if (ngx_http_tenant_claim_jti(ctx->payload, &jti) != NGX_OK) {
        ngx_str_null(&jti);
    }

    ngx_str_null(&iat);

    if (ngx_http_tenant_claim_seconds(ctx->payload, "iat", &n) == NGX_OK) {
        iat.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (iat.data == NULL) {
            return NGX_ERROR;
        }

        iat.len = ngx_sprintf(iat.data, "%uL", n) - iat.data;
    }

    len = prefix->len + home->len + 2;

    p = ngx_pnalloc(r->pool, 3 * len + sizeof(":revoked:") - 1 + jti.len
                             + sizeof(":user:") - 1 + user->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_tenant_keyed_literal(a, NGX_HTTP_TENANT_SCRIPT_REVOKED_KEYS);

    ngx_sprintf(p, "%V{%V}", prefix, home);
    ngx_http_tenant_keyed_add(a, p, len);

    ngx_sprintf(p + len, "%V{%V}:revoked:%V", prefix, home, &jti);
    ngx_http_tenant_keyed_add(a, p + len,
                              len + sizeof(":revoked:") - 1 + jti.len);

    if (user->len) {
        p += 2 * len + sizeof(":revoked:") - 1 + jti.len;

        ngx_sprintf(p, "%V{%V}:user:%V", prefix, home, user);
        ngx_http_tenant_keyed_add(a, p, len + sizeof(":user:") - 1 + user->len);

    } else {
        ngx_http_tenant_keyed_add(a, p, len);
    }

    ngx_http_tenant_keyed_literal(a, NGX_HTTP_TENANT_SCRIPT_REVOKED);
    ngx_http_tenant_keyed_add(a, iat.data, iat.len);

    if (jti.len) {
        ngx_http_tenant_keyed_literal(a, NGX_HTTP_TENANT_SCRIPT_HAS_JTI);

    } else {
        ngx_http_tenant_keyed_literal(a, "");
    }

    return NGX_OK;
}


/* NGX_OK: first time in this request, now recorded; NGX_DECLINED: seen */

static ngx_int_t
ngx_http_tenant_zone_applied(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_zone_t *zone)
{
    ngx_uint_t               i;
    ngx_http_tenant_zone_t  **seen;

    if (ctx->applied_zones == NULL) {
        ctx->applied_zones = ngx_array_create(r->pool, 2,
                                              sizeof(ngx_http_tenant_zone_t *));
        if (ctx->applied_zones == NULL) {
            return NGX_OK;
        }
    }

    seen = ctx->applied_zones->elts;

    for (i = 0; i < ctx->applied_zones->nelts; i++) {
        if (seen[i] == zone) {
            return NGX_DECLINED;
        }
    }

    seen = ngx_array_push(ctx->applied_zones);
    if (seen != NULL) {
        *seen = zone;
    }

    return NGX_OK;
}


/*
 * PREFIX zone:NAME:{KEY} or PREFIX lockout:{KEY}.  A key of plain
 * characters is used as it is; any other (an address in binary, say) is
 * written in hex, and a long one is hashed, so that no byte of it can
 * reach outside its braces; an encoded key starts with "~".
 * key->len == 0: the variable is empty.
 */

static ngx_int_t
ngx_http_tenant_keyed_key(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    const char *kind, ngx_str_t *name, ngx_str_t *key)
{
    u_char                       *p, digest[20];
    size_t                        i, len;
    ngx_str_t                     raw;
    ngx_sha1_t                    sha1;
    ngx_flag_t                    plain, hashed;
    ngx_http_tenant_main_conf_t  *tmcf;

    key->len = 0;

    if (ngx_http_complex_value(r, cv, &raw) != NGX_OK) {
        key->len = 1;
        return NGX_ERROR;
    }

    if (raw.len == 0) {
        return NGX_DECLINED;
    }

    plain = (raw.len <= NGX_HTTP_TENANT_KEY_RAW_MAX);

    for (i = 0; plain && i < raw.len; i++) {
        plain = (raw.data[i] > 0x20 && raw.data[i] < 0x7f
                 && raw.data[i] != '{' && raw.data[i] != '}'
                 && raw.data[i] != '~');
    }

    /*
     * "~" marks an encoded key and never starts a plain one, so no value
     * can be chosen to share another's key: "~" + hex, "~~" + SHA-1 hex
     */
    hashed = (!plain && raw.len > NGX_HTTP_TENANT_KEY_HEX_MAX);

    if (hashed) {
        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, raw.data, raw.len);
        ngx_sha1_final(digest, &sha1);

        raw.data = digest;
        raw.len = sizeof(digest);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    len = tmcf->redis->prefix.len + ngx_strlen(kind)
          + (name ? name->len + 1 : 0) + 2 + (plain ? raw.len : 2 * raw.len)
          + (plain ? 0 : 1 + hashed);

    key->data = ngx_pnalloc(r->pool, len);
    if (key->data == NULL) {
        key->len = 1;
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, tmcf->redis->prefix.data,
                   tmcf->redis->prefix.len);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));

    if (name) {
        p = ngx_cpymem(p, name->data, name->len);
        *p++ = ':';
    }

    *p++ = '{';

    if (plain) {
        p = ngx_cpymem(p, raw.data, raw.len);

    } else {
        *p++ = '~';

        if (hashed) {
            *p++ = '~';
        }

        p = ngx_hex_dump(p, raw.data, raw.len);
    }

    *p++ = '}';

    key->len = p - key->data;

    return NGX_OK;
}


static void
ngx_http_tenant_keyed_add(ngx_http_tenant_keyed_args_t *a, u_char *data,
    size_t len)
{
    a->argv[a->n] = (const char *) data;
    a->argvlen[a->n] = len;
    a->n++;
}


/*
 * The one place the keyed checks send to Redis: a check the request waits
 * for (the reply comes to ngx_http_tenant_keyed_reply), or a failure
 * counted for the lockout, whose reply nobody waits for.  NULL: not sent.
 */

static ngx_http_tenant_redis_op_t *
ngx_http_tenant_keyed_eval(ngx_http_request_t *r,
    ngx_http_tenant_keyed_args_t *a, ngx_flag_t wait)
{
    ngx_http_tenant_redis_op_t   *op;
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    op = ngx_http_tenant_redis_eval(tmcf->redis_client, a->n, a->argv,
                                    a->argvlen,
                                    wait ? ngx_http_tenant_keyed_reply
                                         : ngx_http_tenant_lockout_counted,
                                    wait ? r : NULL);
    if (op == NULL) {
        ngx_http_tenant_redis_log_failure(r->connection->log,
                                          wait ? "redis is not connected"
                                               : "redis is not connected, a "
                                                 "failed attempt was not "
                                                 "counted");
    }

    return op;
}


static void
ngx_http_tenant_keyed_reply(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_request_t *r = data;

    ngx_http_tenant_redis_reply_t  **e;
    ngx_http_tenant_ctx_t   *ctx;

    ctx = ngx_http_tenant_wait_done(r);

    e = reply ? reply->element : NULL;

    if (reply == NULL || reply->type != NGX_HTTP_TENANT_REDIS_ARRAY
        || reply->elements <= NGX_HTTP_TENANT_REPLY_VERDICT
        || e[NGX_HTTP_TENANT_REPLY_VERDICT]->type
           != NGX_HTTP_TENANT_REDIS_INTEGER)
    {
        ngx_http_tenant_redis_log_failure(r->connection->log,
                                          "unexpected keyed limit reply");
        ctx->keyed_state = NGX_HTTP_TENANT_LIMIT_FAILED;

    } else {
        ctx->keyed_verdict = e[NGX_HTTP_TENANT_REPLY_VERDICT]->integer;
        ctx->retry_after = 0;

        if (reply->elements > NGX_HTTP_TENANT_REPLY_KEYED_RETRY
            && e[NGX_HTTP_TENANT_REPLY_KEYED_RETRY]->type
               == NGX_HTTP_TENANT_REDIS_INTEGER)
        {
            ctx->retry_after = e[NGX_HTTP_TENANT_REPLY_KEYED_RETRY]->integer;
        }

        ctx->keyed_state = NGX_HTTP_TENANT_LIMIT_DONE;
    }

    ngx_http_tenant_wait_resume(r);
}


/*
 * A 401 for the lockout key: counted in Redis while the response goes on;
 * the reply is not waited for.
 */

void
ngx_http_tenant_lockout_count(ngx_http_request_t *r,
    ngx_http_tenant_lockout_t *lo, ngx_str_t *known)
{
    ngx_str_t                      key, locked;
    ngx_http_tenant_keyed_args_t   a;

    if (known && known->len) {
        key = *known;

    } else if (ngx_http_tenant_keyed_key(r, &lo->key, "lockout:", NULL, &key)
               != NGX_OK)
    {
        return;
    }

    if (ngx_http_tenant_lockout_lock(r, &key, &locked) != NGX_OK) {
        return;
    }

    a.n = 0;

    ngx_http_tenant_keyed_literal(&a, NGX_HTTP_TENANT_SCRIPT_LOCKOUT_KEYS);
    ngx_http_tenant_keyed_add(&a, key.data, key.len);
    ngx_http_tenant_keyed_add(&a, locked.data, locked.len);
    ngx_http_tenant_keyed_literal(&a, NGX_HTTP_TENANT_SCRIPT_FAILED);
    ngx_http_tenant_keyed_add(&a, lo->after.data, lo->after.len);
    ngx_http_tenant_keyed_add(&a, lo->window.data, lo->window.len);
    ngx_http_tenant_keyed_add(&a, lo->duration.data, lo->duration.len);

    (void) ngx_http_tenant_keyed_eval(r, &a, 0);
}


/* the lock's key: the counter's, with ":locked" after the braces */

static ngx_int_t
ngx_http_tenant_lockout_lock(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *locked)
{
    locked->len = key->len + sizeof(":locked") - 1;
    locked->data = ngx_pnalloc(r->pool, locked->len);
    if (locked->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(locked->data, key->data, key->len), ":locked",
               sizeof(":locked") - 1);

    return NGX_OK;
}


static void
ngx_http_tenant_lockout_counted(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    /* nothing waits for it; a failure was already logged by the adapter */
}
