
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_jwks_fetch.h"
#include "ngx_http_tenant_jwks_shm.h"
#include "ngx_http_tenant_jwks_discovery.h"
#include "ngx_http_tenant_jwks_source.h"
#include "ngx_http_tenant_jwks_wait.h"
#include "ngx_http_tenant_jwks_url.h"


#define NGX_HTTP_TENANT_JWKS_VERIFY_DEPTH  4


static ngx_http_tenant_jwks_conf_t *ngx_http_tenant_jwks_conf(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_tenant_jwks_param(ngx_conf_t *cf, ngx_str_t *v,
    ngx_http_tenant_jwks_source_t *s);
static ngx_http_tenant_jwks_source_t *ngx_http_tenant_jwks_find(
    ngx_http_tenant_jwks_conf_t *jc, ngx_http_tenant_jwks_source_t *s);


/*
 * tenant_jwt_jwks_url url [refresh=10m] [min_refresh=30s] [max_stale=24h]
 *     [timeout=5s];
 * tenant_jwt_discovery issuer_url [the same parameters];
 */

char *
ngx_http_tenant_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_str_t                       *value, doc, *url;
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_conf_t     *jc;
    ngx_http_tenant_jwks_source_t   *s, *found, **sp;

    jc = ngx_http_tenant_jwks_conf(cf);
    if (jc == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_jwks_source_t));
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    s->name = value[1];
    s->discovery = (cmd->name.len == sizeof("tenant_jwt_discovery") - 1);
    s->refresh = 600;
    s->min_refresh = 30;
    s->max_stale = 86400;
    s->timeout = 5000;
    s->jc = jc;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_tenant_jwks_param(cf, &value[i], s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (s->min_refresh > s->refresh || s->refresh > s->max_stale) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"min_refresh\" must not exceed \"refresh\", "
                           "nor \"refresh\" \"max_stale\"");
        return NGX_CONF_ERROR;
    }

    doc = s->name;

    if (s->discovery) {
        s->issuer = s->name;

        if (ngx_http_tenant_jwks_discovery_url(cf->pool, &s->issuer, &doc)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (doc.len >= NGX_HTTP_TENANT_JWKS_URL_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "URL \"%V\" is too long",
                           &doc);
        return NGX_CONF_ERROR;
    }

    /* parsed when the http level is read: see ngx_http_tenant_jwks_init_main */
    s->url.text = doc;

    found = ngx_http_tenant_jwks_find(jc, s);

    if (found == NULL) {
        return NGX_CONF_ERROR;
    }

    if (found == s) {
        url = ngx_array_push(&jc->urls);
        if (url == NULL) {
            return NGX_CONF_ERROR;
        }

        *url = s->url.text;
    }

    if (tlcf->jwks == NULL) {
        tlcf->jwks = ngx_array_create(cf->pool, 2, sizeof(void *));
        if (tlcf->jwks == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    sp = tlcf->jwks->elts;

    for (i = 0; i < tlcf->jwks->nelts; i++) {
        if (sp[i] == found) {
            return "is duplicate";
        }
    }

    sp = ngx_array_push(tlcf->jwks);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = found;

    /* the level's own keys: those of its files, if any, and these */
    if (tlcf->keyset == NULL) {
        tlcf->keyset = ngx_http_tenant_keyset_create(cf);
        if (tlcf->keyset == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tenant_jwks_param(ngx_conf_t *cf, ngx_str_t *v,
    ngx_http_tenant_jwks_source_t *s)
{
    time_t      *t;
    ngx_str_t    arg;
    ngx_msec_t   ms;

    t = NULL;

    if (ngx_strncmp(v->data, "refresh=", 8) == 0) {
        t = &s->refresh;
        arg.data = v->data + 8;
        arg.len = v->len - 8;

    } else if (ngx_strncmp(v->data, "min_refresh=", 12) == 0) {
        t = &s->min_refresh;
        arg.data = v->data + 12;
        arg.len = v->len - 12;

    } else if (ngx_strncmp(v->data, "max_stale=", 10) == 0) {
        t = &s->max_stale;
        arg.data = v->data + 10;
        arg.len = v->len - 10;

    } else if (ngx_strncmp(v->data, "timeout=", 8) == 0) {
        arg.data = v->data + 8;
        arg.len = v->len - 8;

        ms = ngx_parse_time(&arg, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        s->timeout = ms;
        return NGX_OK;

    } else {
        goto invalid;
    }

    *t = ngx_parse_time(&arg, 1);

    if (*t == (time_t) NGX_ERROR || *t <= 0) {
        goto invalid;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", v);

    return NGX_ERROR;
}


/* one source per URL in the configuration, whatever levels name it */

static ngx_http_tenant_jwks_source_t *
ngx_http_tenant_jwks_find(ngx_http_tenant_jwks_conf_t *jc,
    ngx_http_tenant_jwks_source_t *s)
{
    ngx_uint_t                      i;
    ngx_http_tenant_jwks_source_t  **sp, *o;

    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        o = sp[i];

        if (o->url.text.len != s->url.text.len
            || ngx_strncmp(o->url.text.data, s->url.text.data,
                           s->url.text.len) != 0)
        {
            continue;
        }

        if (o->discovery != s->discovery || o->refresh != s->refresh
            || o->min_refresh != s->min_refresh
            || o->max_stale != s->max_stale || o->timeout != s->timeout)
        {
            ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                          "\"%V\" is configured twice with different "
                          "parameters", &s->name);
            return NULL;
        }

        return o;
    }

    s->index = jc->sources.nelts;

    sp = ngx_array_push(&jc->sources);
    if (sp == NULL) {
        return NULL;
    }

    *sp = s;

    return s;
}


static ngx_http_tenant_jwks_conf_t *
ngx_http_tenant_jwks_conf(ngx_conf_t *cf)
{
    ngx_http_tenant_main_conf_t  *tmcf;
    ngx_http_tenant_jwks_conf_t  *jc;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);

    if (tmcf->jwks_conf) {
        return tmcf->jwks_conf;
    }

    jc = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_jwks_conf_t));
    if (jc == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jc->sources, cf->pool, 2, sizeof(void *)) != NGX_OK
        || ngx_array_init(&jc->urls, cf->pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NULL;
    }

    jc->ssl_verify = NGX_CONF_UNSET;
    jc->log = cf->log;

    tmcf->jwks_conf = jc;

    return jc;
}


char *
ngx_http_tenant_jwks_ssl_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                    *value;
    ngx_http_tenant_jwks_conf_t  *jc;

    jc = ngx_http_tenant_jwks_conf(cf);
    if (jc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (jc->ssl_verify != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        jc->ssl_verify = 1;

    } else if (ngx_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        jc->ssl_verify = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"on\" or "
                           "\"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_tenant_jwks_ssl_trusted(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                    *value;
    ngx_http_tenant_jwks_conf_t  *jc;

    jc = ngx_http_tenant_jwks_conf(cf);
    if (jc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (jc->ssl_trusted_certificate.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    jc->ssl_trusted_certificate = value[1];

    return NGX_CONF_OK;
}


/*
 * A level's keys, from files and URLs, are one: a level with either
 * replaces the parent's.  A discovered issuer is required of the tokens
 * unless tenant_jwt_issuer says otherwise.
 */

char *
ngx_http_tenant_jwks_merge(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev)
{
    ngx_str_t                       *issuer;
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_source_t  **sp;

    if (conf->keyset == NULL) {
        conf->keyset = prev->keyset;
        conf->jwks = prev->jwks;
    }

    /* tenant_jwt_issuer at this level or above says otherwise */
    if (conf->issuers || prev->issuers || conf->jwks == NULL) {
        return NGX_CONF_OK;
    }

    sp = conf->jwks->elts;

    for (i = 0; i < conf->jwks->nelts; i++) {
        if (!sp[i]->discovery) {
            continue;
        }

        if (conf->issuers == NULL) {
            conf->issuers = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
            if (conf->issuers == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        issuer = ngx_array_push(conf->issuers);
        if (issuer == NULL) {
            return NGX_CONF_ERROR;
        }

        *issuer = sp[i]->issuer;
    }

    return NGX_CONF_OK;
}


/* the http level is read: the TLS context, the shared zone */

char *
ngx_http_tenant_jwks_init_main(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf)
{
    char                            *err;
    ngx_str_t                        text;
    ngx_uint_t                       i, https;
    ngx_pool_cleanup_t              *cln;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_tenant_jwks_conf_t     *jc;
    ngx_http_tenant_jwks_source_t  **sp;

    jc = tmcf->jwks_conf;

    if (jc == NULL) {
        return NGX_CONF_OK;
    }

    if (jc->sources.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tenant_jwt_ssl_*\" directives need "
                           "\"tenant_jwt_jwks_url\" or "
                           "\"tenant_jwt_discovery\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_value(jc->ssl_verify, 1);

    /*
     * With a "resolver" at the http level, names are resolved at each
     * fetch, so that a DNS change is followed; without one, now, in the
     * master process, once.
     */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver && clcf->resolver->connections.nelts) {
        jc->client.resolver = clcf->resolver;
        jc->client.resolver_timeout =
                             clcf->resolver_timeout != NGX_CONF_UNSET_MSEC
                             ? clcf->resolver_timeout : 30000;
    }

    https = 0;
    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        text = sp[i]->url.text;

        if (ngx_http_tenant_jwks_url_parse(cf->pool, &text, &sp[i]->url,
                                           jc->client.resolver == NULL, &err)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"", err,
                               &text);
            return NGX_CONF_ERROR;
        }

        /* a discovered jwks_uri may be https too */
        https |= sp[i]->url.https || sp[i]->discovery;
    }

    if (https && jc->ssl_verify && jc->ssl_trusted_certificate.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "keys from https URLs with "
                           "\"tenant_jwt_ssl_verify on\" need "
                           "\"tenant_jwt_ssl_trusted_certificate\" "
                           "(/etc/ssl/certs/ca-certificates.crt for the "
                           "public CAs)");
        return NGX_CONF_ERROR;
    }

    if (https) {
        jc->client.ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (jc->client.ssl == NULL) {
            return NGX_CONF_ERROR;
        }

        jc->client.ssl->log = cf->log;
        jc->client.verify = jc->ssl_verify;

        if (ngx_ssl_create(jc->client.ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3,
                           NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(jc->client.ssl);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = jc->client.ssl;

        if (jc->ssl_trusted_certificate.len
            && ngx_ssl_trusted_certificate(cf, jc->client.ssl,
                                           &jc->ssl_trusted_certificate,
                                           NGX_HTTP_TENANT_JWKS_VERIFY_DEPTH)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    jc->zone = ngx_http_tenant_jwks_shm_add(cf, &jc->urls);
    if (jc->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the first fetch is a worker's, after start: nginx starts without IdP */

ngx_int_t
ngx_http_tenant_jwks_init_process(ngx_cycle_t *cycle,
    ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_conf_t     *jc;
    ngx_http_tenant_jwks_source_t  **sp;

    jc = tmcf->jwks_conf;

    if (jc == NULL) {
        return NGX_OK;
    }

    jc->log = cycle->log;
    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        ngx_http_tenant_jwks_wait_init(sp[i], cycle->log);
        ngx_http_tenant_jwks_source_init(sp[i], cycle->log);
    }

    return NGX_OK;
}


void
ngx_http_tenant_jwks_exit_process(ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_conf_t     *jc;
    ngx_http_tenant_jwks_source_t  **sp;

    jc = tmcf->jwks_conf;

    if (jc == NULL) {
        return;
    }

    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        ngx_http_tenant_jwks_source_exit(sp[i]);
    }
}

