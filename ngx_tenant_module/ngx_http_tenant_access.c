
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_ctx.h"
#include "ngx_http_tenant_memo.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_cache.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_typ.h"
#include "ngx_http_tenant_policy.h"
#include "ngx_http_tenant_keyed.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_headers.h"
#include "ngx_http_tenant_error.h"
#include "ngx_http_tenant_log.h"
#include "ngx_http_tenant_jwks_source.h"
#include "ngx_http_tenant_jwks_wait.h"
#include "ngx_http_tenant_metrics.h"


static ngx_int_t ngx_http_tenant_find_token(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *token);
static ngx_int_t ngx_http_tenant_bearer(ngx_table_elt_t *h,
    ngx_str_t *token);
static ngx_http_tenant_reason_e ngx_http_tenant_verify(
    ngx_http_request_t *r, ngx_http_tenant_loc_conf_t *tlcf,
    ngx_http_tenant_ctx_t *ctx, ngx_str_t *token, const char **err);
static ngx_http_tenant_identity_rc_e ngx_http_tenant_identity(
    ngx_http_request_t *r, ngx_http_tenant_loc_conf_t *tlcf,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_cached_t *cached,
    const char **err);
static ngx_int_t ngx_http_tenant_verify_signature(
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_ctx_t *ctx,
    ngx_str_t *token, ngx_http_tenant_cached_t **cached, const char **err);
static ngx_int_t ngx_http_tenant_access_anonymous(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tenant_access_tenant(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tenant_access_finish(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);


/*
 * The access phase runs every request through a fixed order: token and
 * identity, policy (no I/O), keyed limits and lockout, the tenant's one
 * EVALSHA, the plan check, header hygiene.  A step that waits on Redis
 * returns NGX_AGAIN and the handler is run again when the reply comes.
 */

ngx_int_t
ngx_http_tenant_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_tenant_ctx_t        *ctx;
    ngx_http_tenant_loc_conf_t   *tlcf;
    ngx_http_tenant_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    if (!tlcf->jwt && tlcf->zones == NULL && tlcf->lockout == NULL) {
        return ngx_http_tenant_access_anonymous(r, tlcf);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    if (ctx == NULL) {
        ctx = ngx_http_tenant_ctx_get(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ctx->waiting) {
        /* woken by a write event before Redis answered */
        return NGX_AGAIN;
    }

    /*
     * With a token, keyed limits run on the verified identity, so that
     * $tenant_user and the like can key them; without one, at once.
     */

    if (tlcf->jwt && !ctx->pass_verified) {
        rc = ngx_http_tenant_access_tenant(r, ctx, tlcf);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->pass_verified = 1;
    }

    if (!ctx->keyed_done) {
        rc = ngx_http_tenant_keyed_run(r, ctx, tlcf);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the revocation check in the token's own tenant is among them */
        if (rc == NGX_HTTP_TENANT_TOKEN_REVOKED
            || rc == NGX_HTTP_TENANT_REGISTRY_UNAVAILABLE)
        {
            return ngx_http_tenant_reject(r, ctx, rc,
                                          "refused by the tenant registry "
                                          "of the token's own tenant");
        }

        if (rc != NGX_OK) {
            return ngx_http_tenant_reject(r, ctx, rc,
                                          "refused by a keyed limit");
        }

        ctx->keyed_done = 1;
    }

    if (!tlcf->jwt) {
        ngx_http_tenant_ctx_decided(ctx);
        return ngx_http_tenant_access_anonymous(r, tlcf);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    /* an internal redirect counts nothing twice: see limit_start() */
    if (tmcf->redis && !ctx->decision_started) {
        ctx->decision_started = 1;

        rc = ngx_http_tenant_limit_start(r, ctx, tlcf);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }
    }

    return ngx_http_tenant_access_finish(r, ctx, tlcf);
}


/* a location without tenant_jwt: only the spoofed headers go */

static ngx_int_t
ngx_http_tenant_access_anonymous(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf)
{
    if (tlcf->headers == 1 && ngx_http_tenant_headers_strip(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* token, identity, policy: NGX_OK, or the request has been answered */

static ngx_int_t
ngx_http_tenant_access_tenant(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_int_t                  rc;
    ngx_str_t                  token;
    const char                *err;
    ngx_http_tenant_reason_e   reason;

    if (ngx_http_tenant_find_token(r, tlcf, &token) != NGX_OK) {
        return ngx_http_tenant_reject(r, ctx, NGX_HTTP_TENANT_MISSING_TOKEN,
                                      "no bearer token");
    }

    /* nginx writes the request line, not the headers, into error lines */
    if (tlcf->token && ngx_http_tenant_log_hide(r, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reason = ngx_http_tenant_verify(r, tlcf, ctx, &token, &err);

    /* no key for the token: a fetch of the keys' URLs may bring one */
    if (reason == NGX_HTTP_TENANT_KEYS_UNAVAILABLE) {
        rc = ngx_http_tenant_jwks_wait(r, ctx, tlcf->jwks);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* all the URLs have keys, none for this token: it is not ours */
        if (!ngx_http_tenant_jwks_missing(tlcf->jwks)) {
            reason = NGX_HTTP_TENANT_INVALID_TOKEN;
        }
    }

    ngx_http_tenant_metrics_jwt(ctx->verified ? NGX_HTTP_TENANT_ADMITTED
                                              : reason);

    if (reason != NGX_HTTP_TENANT_ADMITTED) {
        return ngx_http_tenant_reject(r, ctx, reason, err);
    }

    /* from here on a refusal keeps the identity, for the logs */
    ctx->identified = 1;

    rc = ngx_http_tenant_policy_check(r, ctx, tlcf, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_tenant_reject(r, ctx, rc, err);
    }

    return NGX_OK;
}


/* the Redis verdict, if any, then the headers the upstream may trust */

static ngx_int_t
ngx_http_tenant_access_finish(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf)
{
    ngx_int_t                     reason;
    ngx_str_t                    *plan;
    ngx_flag_t                    headers;
    const char                   *err;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (ctx->limit_state != NGX_HTTP_TENANT_LIMIT_IDLE) {
        reason = ngx_http_tenant_limit_verdict(r, ctx, tlcf);

        if (reason != NGX_OK) {
            return ngx_http_tenant_reject(r, ctx, reason,
                                          "refused by the tenant registry");
        }

    }

    if (ctx->limit_state != NGX_HTTP_TENANT_LIMIT_DONE) {
        /*
         * no word from Redis (none configured, or down under "allow"):
         * the token's plan if it is one, else the default plan
         */
        tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);
        plan = &ctx->identity.plan;

        if (tmcf->default_plan.len
            && (plan->len == 0
                || ngx_http_tenant_plan_find(&tmcf->plans, plan) == NULL))
        {
            *plan = tmcf->default_plan;
        }
    }

    reason = ngx_http_tenant_policy_plan(ctx, tlcf, &err);

    if (reason != NGX_OK) {
        return ngx_http_tenant_reject(r, ctx, reason, err);
    }

    headers = (tlcf->headers == NGX_CONF_UNSET) ? tlcf->jwt : tlcf->headers;

    if (headers
        && (ngx_http_tenant_headers_strip(r) != NGX_OK
            || ngx_http_tenant_headers_inject(r, &ctx->identity) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_tenant_ctx_decided(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_find_token(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *token)
{
    if (tlcf->token) {
        if (ngx_http_complex_value(r, tlcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_tenant_bearer(r->headers_in.authorization, token);
}


/* "Bearer" is case-insensitive (RFC 7235 2.1), the token follows spaces */

static ngx_int_t
ngx_http_tenant_bearer(ngx_table_elt_t *h, ngx_str_t *token)
{
    u_char  *p, *end;

    p = h->value.data;
    end = p + h->value.len;

    if (h->value.len < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NGX_DECLINED;
    }

    for (p += 7; p < end && *p == ' '; p++) { /* void */ }

    while (end > p && end[-1] == ' ') {
        end--;
    }

    token->data = p;
    token->len = end - p;

    return token->len ? NGX_OK : NGX_DECLINED;
}


static ngx_http_tenant_reason_e
ngx_http_tenant_verify(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_ctx_t *ctx,
    ngx_str_t *token, const char **err)
{
    ngx_http_tenant_jwt_rc_e       rc;
    ngx_http_tenant_jwt_rules_t    rules;
    ngx_str_t                      org;
    ngx_http_tenant_cached_t      *cached;
    ngx_http_tenant_main_conf_t   *tmcf;
    ngx_http_tenant_identity_rc_e  irc;

    switch (ngx_http_tenant_verify_signature(tlcf, ctx, token, &cached, err))
    {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return NGX_HTTP_TENANT_KEYS_UNAVAILABLE;
    default:
        return NGX_HTTP_TENANT_INVALID_TOKEN;
    }

    /* per location, so after the cache, which is shared by locations */
    if (tlcf->types
        && ngx_http_tenant_typ_check(ctx->header, tlcf->types, err) != NGX_OK)
    {
        return NGX_HTTP_TENANT_INVALID_TOKEN;
    }

    if (tlcf->required
        && ngx_http_tenant_claims_require(ctx->payload, tlcf->required,
                                          r->pool, err)
           != NGX_OK)
    {
        return NGX_HTTP_TENANT_INVALID_TOKEN;
    }

    rules.now = ngx_time();
    rules.leeway = tlcf->leeway;
    rules.issuers = tlcf->issuers;
    rules.audiences = tlcf->audiences;

    rc = ngx_http_tenant_jwt_check_claims(ctx->payload, &rules, err);

    if (rc == NGX_HTTP_TENANT_JWT_EXPIRED) {
        return NGX_HTTP_TENANT_TOKEN_EXPIRED;
    }

    if (rc != NGX_HTTP_TENANT_JWT_OK) {
        return NGX_HTTP_TENANT_INVALID_TOKEN;
    }

    ctx->verified = 1;

    org.len = 0;

    if (tlcf->select
        && ngx_http_complex_value(r, tlcf->select, &org) != NGX_OK)
    {
        *err = "cannot evaluate tenant_select";
        return NGX_HTTP_TENANT_INVALID_CLAIMS;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    if (org.len) {
        irc = ngx_http_tenant_identity_select(ctx->payload, &tlcf->claims,
                                              &tmcf->roles, &org, r->pool,
                                              &ctx->identity, err);

    } else {
        irc = ngx_http_tenant_identity(r, tlcf, ctx, cached, err);
    }

    switch (irc) {
    case NGX_HTTP_TENANT_IDENTITY_OK:
        return NGX_HTTP_TENANT_ADMITTED;
    case NGX_HTTP_TENANT_IDENTITY_NO_TENANT:
        return NGX_HTTP_TENANT_MISSING_TENANT;
    case NGX_HTTP_TENANT_IDENTITY_BAD_TENANT:
        return NGX_HTTP_TENANT_INVALID_TENANT;
    case NGX_HTTP_TENANT_IDENTITY_NOT_MEMBER:
        return NGX_HTTP_TENANT_NOT_A_MEMBER;
    default:
        return NGX_HTTP_TENANT_INVALID_CLAIMS;
    }
}


/*
 * The identity of a cached token is kept with it, for the next request
 * with the same token and the same claim names.  cached is the token's
 * entry, or NULL; nothing has used the cache since it was looked up.
 */

static ngx_http_tenant_identity_rc_e
ngx_http_tenant_identity(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_cached_t *cached, const char **err)
{
    u_char                         *memo;
    ngx_http_tenant_main_conf_t    *tmcf;
    ngx_http_tenant_identity_rc_e   irc;

    if (cached
        && ngx_http_tenant_memo_recall(cached->memo, &tlcf->claims, r->pool,
                                       &ctx->identity)
           == NGX_OK)
    {
        return NGX_HTTP_TENANT_IDENTITY_OK;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    irc = ngx_http_tenant_identity_extract(ctx->payload, &tlcf->claims,
                                           &tmcf->roles, r->pool,
                                           &ctx->identity, err);

    if (irc == NGX_HTTP_TENANT_IDENTITY_OK && cached) {
        memo = ngx_http_tenant_memo_create(&tlcf->claims, &ctx->identity,
                                           r->connection->log);
        if (memo) {
            ngx_http_tenant_cache_memo(cached, memo);
        }
    }

    return irc;
}


/*
 * The signature, through the per-worker cache of verified tokens.  On
 * success ctx holds one reference to the header and the payload, and
 * *cached points to the token's cache entry, if it has one.
 * NGX_DECLINED: no key for the token, and the keys' URLs may bring one.
 */

static ngx_int_t
ngx_http_tenant_verify_signature(ngx_http_tenant_loc_conf_t *tlcf,
    ngx_http_tenant_ctx_t *ctx, ngx_str_t *token,
    ngx_http_tenant_cached_t **cachedp, const char **err)
{
    ngx_int_t                     rc;
    ngx_uint_t                    allowed, gen, fetched_algs;
    ngx_flag_t                    missing;
    ngx_http_tenant_jwt_t         jwt;
    ngx_http_tenant_cached_t     *cached, value;
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_tenant_module);

    gen = 0;
    fetched_algs = 0;
    missing = 0;

    if (tlcf->jwks) {
        gen = ngx_http_tenant_jwks_sync(tlcf->jwks, &fetched_algs, &missing);
    }

    allowed = (tlcf->algorithms != NGX_CONF_UNSET_UINT)
              ? tlcf->algorithms : tlcf->keyset->algs | fetched_algs;

    cached = NULL;
    *cachedp = NULL;

    if (tmcf->cache) {
        cached = ngx_http_tenant_cache_get(tmcf->cache, tlcf->keyset, gen,
                                           token->data, token->len,
                                           ngx_time());
    }

    if (cached) {
        if ((allowed & NGX_HTTP_TENANT_ALG_BIT(cached->alg)) == 0) {
            *err = "token \"alg\" is not allowed here";
            return NGX_ERROR;
        }

        ctx->header = json_incref(cached->header);
        ctx->payload = json_incref(cached->payload);
        *cachedp = cached;

        return NGX_OK;
    }

    rc = NGX_ERROR;

    if (ngx_http_tenant_jwt_decode(token->data, token->len, &jwt, err)
        != NGX_HTTP_TENANT_JWT_OK)
    {
        goto failed;
    }

    /* the allow-list is checked before any key is touched */
    if ((allowed & NGX_HTTP_TENANT_ALG_BIT(jwt.alg)) == 0) {
        *err = "token \"alg\" is not allowed here";

        /* the algorithms of keys not loaded yet are not known */
        if (missing && tlcf->algorithms == NGX_CONF_UNSET_UINT) {
            *err = "no keys loaded from the keys' URLs";
            rc = NGX_DECLINED;
        }

        goto failed;
    }

    if (ngx_http_tenant_jwt_verify(tlcf->keyset, &jwt, token->data, err)
        != NGX_HTTP_TENANT_JWT_OK
        && (tlcf->jwks == NULL
            || ngx_http_tenant_jwks_verify(tlcf->jwks, &jwt, token->data, err)
               != NGX_HTTP_TENANT_JWT_OK))
    {
        if (tlcf->jwks
            && (missing
                || (jwt.kid.len
                    && !ngx_http_tenant_jwks_has_kid(tlcf->keyset, tlcf->jwks,
                                                     &jwt.kid))))
        {
            *err = missing ? "no keys loaded from the keys' URLs"
                           : "token \"kid\" matches no key";
            rc = NGX_DECLINED;
        }

        goto failed;
    }

    if (tmcf->cache) {
        value.header = jwt.header;
        value.payload = jwt.payload;
        value.alg = jwt.alg;
        value.memo = NULL;

        *cachedp = ngx_http_tenant_cache_put(tmcf->cache, tlcf->keyset, gen,
                                      token->data, token->len, &value,
                                      ngx_http_tenant_jwt_expires(jwt.payload));
    }

    ctx->header = jwt.header;
    ctx->payload = jwt.payload;

    return NGX_OK;

failed:

    ngx_http_tenant_jwt_release(&jwt);

    return rc;
}
