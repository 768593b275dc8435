
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_wait.h"
#include "ngx_http_tenant_jwks_fetch.h"
#include "ngx_http_tenant_jwks_shm.h"
#include "ngx_http_tenant_jwks_url.h"


#define NGX_HTTP_TENANT_JWKS_VERIFY_DEPTH  4

/* a waiting request's worker looks at the node's fetch this often */
#define NGX_HTTP_TENANT_JWKS_POLL          50

/* a background timer sleeps at most this long: a reload moves "next" */
#define NGX_HTTP_TENANT_JWKS_TICK_MAX      60

#define NGX_HTTP_TENANT_JWKS_LOG_LEN       512


typedef struct {
    ngx_str_t                        name;       /* as configured */
    ngx_flag_t                       discovery;
    ngx_str_t                        issuer;     /* discovery: issuer_url */
    ngx_http_tenant_jwks_url_t       url;        /* set, or discovery doc */
    time_t                           refresh;
    time_t                           min_refresh;
    time_t                           max_stale;
    ngx_msec_t                       timeout;
    ngx_uint_t                       index;      /* the slot */
    ngx_http_tenant_jwks_conf_t     *jc;

    /* per worker */
    ngx_pool_t                      *pool;       /* keyset's */
    ngx_http_tenant_keyset_t        *keyset;     /* NULL: none */
    ngx_uint_t                       generation; /* of keyset; 0: none */
    ngx_uint_t                       seen_done;  /* slot->done, polled */
    ngx_event_t                      tick;       /* background refresh */
    ngx_event_t                      poll;       /* requests wait */
    ngx_queue_t                      waiters;
    ngx_http_tenant_jwks_fetch_t    *fetch;      /* this worker fetches */
    ngx_http_tenant_jwks_url_t       jwks_uri;   /* discovered */
    ngx_pool_t                      *jwks_pool;
} ngx_http_tenant_jwks_source_t;


struct ngx_http_tenant_jwks_conf_s {
    ngx_array_t                      sources;    /* source * */
    ngx_array_t                      urls;       /* ngx_str_t, slots */
    ngx_flag_t                       ssl_verify;
    ngx_str_t                        ssl_trusted_certificate;
    ngx_http_tenant_jwks_client_t    client;
    ngx_shm_zone_t                  *zone;
    ngx_uint_t                       epoch;      /* any keys changed */
    ngx_log_t                       *log;
};


/* a request waiting for a fetch */
typedef struct {
    ngx_queue_t                      queue;
    ngx_http_request_t              *r;
    ngx_http_tenant_ctx_t           *ctx;
    ngx_event_t                      timer;
    ngx_http_tenant_jwks_source_t   *source;
} ngx_http_tenant_jwks_waiter_t;


/* what the JWK parser said, for a log line of ours */
typedef struct {
    u_char                           text[NGX_HTTP_TENANT_JWKS_LOG_LEN];
    size_t                           len;
    ngx_log_t                       *forward;    /* warnings, or NULL */
} ngx_http_tenant_jwks_said_t;


static ngx_http_tenant_jwks_conf_t *ngx_http_tenant_jwks_conf(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_tenant_jwks_param(ngx_conf_t *cf, ngx_str_t *v,
    ngx_http_tenant_jwks_source_t *s);
static ngx_http_tenant_jwks_source_t *ngx_http_tenant_jwks_find(
    ngx_http_tenant_jwks_conf_t *jc, ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_load(ngx_http_tenant_jwks_source_t *s);
static ngx_http_tenant_keyset_t *ngx_http_tenant_jwks_parse(
    ngx_http_tenant_jwks_source_t *s, u_char *data, size_t len,
    ngx_pool_t **pool, ngx_http_tenant_jwks_said_t *said);
static void ngx_http_tenant_jwks_said(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_http_tenant_jwks_drop(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_tick(ngx_event_t *ev);
static void ngx_http_tenant_jwks_schedule(ngx_http_tenant_jwks_source_t *s);
static ngx_int_t ngx_http_tenant_jwks_start(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_discovered(void *data,
    ngx_http_tenant_jwks_reply_t *reply);
static void ngx_http_tenant_jwks_fetched(void *data,
    ngx_http_tenant_jwks_reply_t *reply);
static void ngx_http_tenant_jwks_failed(ngx_http_tenant_jwks_source_t *s,
    const char *fmt, u_char *why);
static void ngx_http_tenant_jwks_poll(ngx_event_t *ev);
static void ngx_http_tenant_jwks_wake(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_wait_timeout(ngx_event_t *ev);
static void ngx_http_tenant_jwks_wait_cleanup(void *data);
static ngx_flag_t ngx_http_tenant_jwks_keyset_has(
    ngx_http_tenant_keyset_t *ks, ngx_str_t *kid);


/*
 * tenant_jwt_jwks_url url [refresh=10m] [min_refresh=30s] [max_stale=24h]
 *     [timeout=5s];
 * tenant_jwt_discovery issuer_url [the same parameters];
 */

char *
ngx_http_tenant_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    u_char                          *p;
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
        /* OpenID Connect Discovery 1.0, 4: the issuer, no trailing "/" */
        s->issuer = s->name;

        while (doc.len && doc.data[doc.len - 1] == '/') {
            doc.len--;
        }

        p = ngx_pnalloc(cf->pool, doc.len
                              + sizeof("/.well-known/openid-configuration"));
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        doc.data = p;
        p = ngx_cpymem(p, s->name.data, doc.len);
        p = ngx_cpymem(p, "/.well-known/openid-configuration",
                       sizeof("/.well-known/openid-configuration"));
        doc.len = p - doc.data - 1;
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
    ngx_http_tenant_jwks_source_t  **sp, *s;

    jc = tmcf->jwks_conf;

    if (jc == NULL) {
        return NGX_OK;
    }

    jc->log = cycle->log;
    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        s = sp[i];

        ngx_queue_init(&s->waiters);

        s->tick.handler = ngx_http_tenant_jwks_tick;
        s->tick.data = s;
        s->tick.log = cycle->log;
        s->tick.cancelable = 1;

        s->poll.handler = ngx_http_tenant_jwks_poll;
        s->poll.data = s;
        s->poll.log = cycle->log;
        s->poll.cancelable = 1;

        ngx_add_timer(&s->tick, 1);
    }

    return NGX_OK;
}


void
ngx_http_tenant_jwks_exit_process(ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_conf_t     *jc;
    ngx_http_tenant_jwks_source_t  **sp, *s;

    jc = tmcf->jwks_conf;

    if (jc == NULL) {
        return;
    }

    sp = jc->sources.elts;

    for (i = 0; i < jc->sources.nelts; i++) {
        s = sp[i];

        if (s->fetch) {
            ngx_http_tenant_jwks_fetch_cancel(s->fetch);
            s->fetch = NULL;
        }

        if (s->pool) {
            ngx_destroy_pool(s->pool);
            s->pool = NULL;
            s->keyset = NULL;
        }

        if (s->jwks_pool) {
            ngx_destroy_pool(s->jwks_pool);
            s->jwks_pool = NULL;
        }
    }
}


/*
 * Each request of a location with URLs brings their keys up to date with
 * the node's: a word compared per URL, a parse when a set changed.  The
 * return value changes whenever keys of this worker changed: it binds
 * the verified-token cache entries to the keys that were there.
 */

ngx_uint_t
ngx_http_tenant_jwks_sync(ngx_array_t *sources, ngx_uint_t *algs,
    ngx_flag_t *missing)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_source_t  **sp, *s;

    sp = sources->elts;
    s = NULL;

    *algs = 0;
    *missing = 0;

    for (i = 0; i < sources->nelts; i++) {
        s = sp[i];

        ngx_http_tenant_jwks_load(s);

        if (s->keyset) {
            *algs |= s->keyset->algs;

        } else {
            *missing = 1;
        }
    }

    return s ? s->jc->epoch : 0;
}


static void
ngx_http_tenant_jwks_load(ngx_http_tenant_jwks_source_t *s)
{
    u_char                        *data;
    size_t                         len;
    time_t                         fetched;
    ngx_pool_t                    *pool;
    ngx_uint_t                     generation;
    ngx_http_tenant_keyset_t      *ks;
    ngx_http_tenant_jwks_slot_t   *slot;
    ngx_http_tenant_jwks_said_t    said;

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);
    if (slot == NULL || slot->generation == 0) {
        return;
    }

    if (ngx_time() - slot->fetched > s->max_stale) {
        if (s->keyset) {
            ngx_http_tenant_jwks_drop(s);
        }

        return;
    }

    if (slot->generation == s->generation) {
        return;
    }

    generation = s->generation;

    data = ngx_http_tenant_jwks_shm_copy(s->jc->zone, slot, &generation,
                                         &fetched, &len, s->jc->log);
    if (data == NULL) {
        return;
    }

    /* what the fetch checked parses here too; if not, the old keys stay */
    s->generation = generation;

    said.forward = NULL;

    ks = ngx_http_tenant_jwks_parse(s, data, len, &pool, &said);

    ngx_free(data);

    if (ks == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->jc->log, 0,
                      "tenant: keys from \"%V\" not loaded: %*s",
                      &s->name, said.len, said.text);
        return;
    }

    if (s->pool) {
        ngx_destroy_pool(s->pool);
    }

    s->pool = pool;
    s->keyset = ks;
    s->jc->epoch++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, s->jc->log, 0,
                   "tenant jwks \"%V\": generation %ui, %ui keys",
                   &s->name, generation, ks->keys.nelts);
}


/*
 * The JWK parser of tenant_jwt_jwks_file, given a configuration of its
 * own: a pool the keys live in, and a log that keeps what it says.
 */

static ngx_http_tenant_keyset_t *
ngx_http_tenant_jwks_parse(ngx_http_tenant_jwks_source_t *s, u_char *data,
    size_t len, ngx_pool_t **pool, ngx_http_tenant_jwks_said_t *said)
{
    char                      *rv;
    ngx_log_t                  log;
    ngx_conf_t                 cf;
    ngx_pool_t                *temp;
    ngx_http_tenant_keyset_t  *ks;

    said->len = 0;

    ngx_memzero(&log, sizeof(ngx_log_t));
    log.log_level = NGX_LOG_WARN;
    log.writer = ngx_http_tenant_jwks_said;
    log.wdata = said;

    *pool = ngx_create_pool(16384, s->jc->log);
    temp = ngx_create_pool(16384, s->jc->log);

    if (*pool == NULL || temp == NULL) {
        goto failed;
    }

    /* ngx_conf_log_error() logs a line without a file name */
    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = *pool;
    cf.temp_pool = temp;
    cf.log = &log;
    cf.cycle = (ngx_cycle_t *) ngx_cycle;

    ks = ngx_http_tenant_keyset_create(&cf);
    if (ks == NULL) {
        goto failed;
    }

    rv = ngx_http_tenant_jwks_load_buf(&cf, ks, &s->name, data, len);

    ngx_destroy_pool(temp);

    if (rv != NGX_CONF_OK) {
        ngx_destroy_pool(*pool);
        *pool = NULL;
        return NULL;
    }

    return ks;

failed:

    if (temp) {
        ngx_destroy_pool(temp);
    }

    if (*pool) {
        ngx_destroy_pool(*pool);
        *pool = NULL;
    }

    return NULL;
}


/* the first error is kept for our line; warnings go on to the log */

static void
ngx_http_tenant_jwks_said(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    u_char                       *p, *end;
    ngx_http_tenant_jwks_said_t  *said;

    said = log->wdata;
    end = buf + len;

    p = ngx_strlcasestrn(buf, end, (u_char *) "tenant: ", 8 - 1);
    if (p == NULL) {
        p = buf;

    } else {
        p += 8;
    }

    while (end > p && (end[-1] == '\n' || end[-1] == '\r')) {
        end--;
    }

    if (level == NGX_LOG_WARN) {
        if (said->forward) {
            ngx_log_error(NGX_LOG_WARN, said->forward, 0, "tenant: %*s",
                          end - p, p);
        }

        return;
    }

    if (said->len == 0) {
        said->len = ngx_min((size_t) (end - p), NGX_HTTP_TENANT_JWKS_LOG_LEN);
        ngx_memcpy(said->text, p, said->len);
    }
}


static void
ngx_http_tenant_jwks_drop(ngx_http_tenant_jwks_source_t *s)
{
    ngx_log_error(NGX_LOG_ERR, s->jc->log, 0,
                  "tenant: keys from \"%V\" dropped: not fetched for "
                  "longer than max_stale=%T", &s->name, s->max_stale);

    ngx_destroy_pool(s->pool);

    s->pool = NULL;
    s->keyset = NULL;
    s->generation = 0;
    s->jc->epoch++;
}


/* the background refresh: each worker looks, one fetches */

static void
ngx_http_tenant_jwks_tick(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_source_t *s = ev->data;

    ngx_http_tenant_jwks_slot_t  *slot;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_tenant_jwks_load(s);

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);
    if (slot == NULL) {
        return;
    }

    if (s->fetch == NULL
        && ngx_http_tenant_jwks_shm_claim(s->jc->zone, slot,
                                          NGX_HTTP_TENANT_JWKS_CLAIM_BACKGROUND,
                                          s->min_refresh,
                                          s->timeout / 1000 * 2 + 1)
           == NGX_OK)
    {
        (void) ngx_http_tenant_jwks_start(s);
    }

    ngx_http_tenant_jwks_schedule(s);
}


static void
ngx_http_tenant_jwks_schedule(ngx_http_tenant_jwks_source_t *s)
{
    time_t                        delay;
    ngx_http_tenant_jwks_slot_t  *slot;

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);
    if (slot == NULL) {
        return;
    }

    delay = slot->next - ngx_time();

    /* someone fetches: its result is looked at soon */
    if (slot->owner || delay < 1) {
        delay = 1;
    }

    if (delay > NGX_HTTP_TENANT_JWKS_TICK_MAX) {
        delay = NGX_HTTP_TENANT_JWKS_TICK_MAX;
    }

    if (s->tick.timer_set) {
        ngx_del_timer(&s->tick);
    }

    ngx_add_timer(&s->tick, (ngx_msec_t) delay * 1000);
}


/* this worker has claimed the slot: the fetch starts */

static ngx_int_t
ngx_http_tenant_jwks_start(ngx_http_tenant_jwks_source_t *s)
{
    ngx_http_tenant_jwks_fetch_pt  handler;

    handler = s->discovery ? ngx_http_tenant_jwks_discovered
                           : ngx_http_tenant_jwks_fetched;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->jc->log, 0,
                   "tenant jwks \"%V\": fetch", &s->url.text);

    s->fetch = ngx_http_tenant_jwks_fetch_start(&s->jc->client, &s->url,
                                                s->timeout, handler, s,
                                                s->jc->log);
    if (s->fetch == NULL) {
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "out of memory");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the discovery document: its issuer must be ours, its jwks_uri next */

static void
ngx_http_tenant_jwks_discovered(void *data,
    ngx_http_tenant_jwks_reply_t *reply)
{
    ngx_http_tenant_jwks_source_t *s = data;

    char                        *err;
    json_t                      *doc, *issuer, *uri;
    ngx_str_t                    text;
    ngx_pool_t                  *pool;
    json_error_t                 jerr;
    ngx_http_tenant_jwks_url_t  *u;

    s->fetch = NULL;

    if (reply->rc != NGX_OK) {
        ngx_http_tenant_jwks_failed(s, "%s", reply->err);
        return;
    }

    doc = json_loadb((char *) reply->body.data, reply->body.len, 0, &jerr);

    if (!json_is_object(doc)) {
        json_decref(doc);
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "the discovery "
                                    "document is not a JSON object");
        return;
    }

    issuer = json_object_get(doc, "issuer");
    uri = json_object_get(doc, "jwks_uri");

    if (!json_is_string(issuer)
        || json_string_length(issuer) != s->issuer.len
        || ngx_strncmp(json_string_value(issuer), s->issuer.data,
                       s->issuer.len) != 0)
    {
        json_decref(doc);
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "the discovery "
                                    "document's \"issuer\" is not the "
                                    "configured issuer");
        return;
    }

    if (!json_is_string(uri) || json_string_length(uri) == 0
        || json_string_length(uri) >= NGX_HTTP_TENANT_JWKS_URL_MAX)
    {
        json_decref(doc);
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "the discovery "
                                    "document has no \"jwks_uri\"");
        return;
    }

    pool = ngx_create_pool(1024, s->jc->log);
    if (pool == NULL) {
        json_decref(doc);
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "out of memory");
        return;
    }

    text.len = json_string_length(uri);
    text.data = ngx_pstrdup(pool, &(ngx_str_t) { text.len,
                                     (u_char *) json_string_value(uri) });
    json_decref(doc);

    u = &s->jwks_uri;

    if (text.data == NULL
        || ngx_http_tenant_jwks_url_parse(pool, &text, u, 0, &err) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "the discovery "
                                    "document's \"jwks_uri\" is not an "
                                    "http or https URL");
        return;
    }

    /* without a resolver: the issuer's own host, as resolved at start */
    if (u->addrs == NULL && u->host.len == s->url.host.len
        && ngx_strncasecmp(u->host.data, s->url.host.data, u->host.len) == 0
        && u->port == s->url.port)
    {
        u->addrs = s->url.addrs;
        u->naddrs = s->url.naddrs;
    }

    if (s->jwks_pool) {
        ngx_destroy_pool(s->jwks_pool);
    }

    s->jwks_pool = pool;

    s->fetch = ngx_http_tenant_jwks_fetch_start(&s->jc->client, u,
                                                s->timeout,
                                                ngx_http_tenant_jwks_fetched,
                                                s, s->jc->log);
    if (s->fetch == NULL) {
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) "out of memory");
    }
}


static void
ngx_http_tenant_jwks_fetched(void *data, ngx_http_tenant_jwks_reply_t *reply)
{
    ngx_http_tenant_jwks_source_t *s = data;

    time_t                        ttl;
    ngx_pool_t                   *pool;
    ngx_http_tenant_keyset_t     *ks;
    ngx_http_tenant_jwks_slot_t  *slot;
    ngx_http_tenant_jwks_said_t   said;

    s->fetch = NULL;

    if (reply->rc != NGX_OK) {
        ngx_http_tenant_jwks_failed(s, "%s", reply->err);
        return;
    }

    /* garbage never replaces a good set: it must parse, with a key */
    said.forward = s->jc->log;

    ks = ngx_http_tenant_jwks_parse(s, reply->body.data, reply->body.len,
                                    &pool, &said);
    if (ks == NULL) {
        said.text[ngx_min(said.len, NGX_HTTP_TENANT_JWKS_LOG_LEN - 1)] = '\0';
        ngx_http_tenant_jwks_failed(s, "%s",
                                    said.len ? said.text
                                             : (u_char *) "no usable key");
        return;
    }

    ngx_destroy_pool(pool);

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);
    if (slot == NULL) {
        return;
    }

    /* the IdP's max-age, within what the configuration allows */
    ttl = s->refresh;

    if (reply->max_age >= 0) {
        ttl = ngx_max(reply->max_age, s->min_refresh);
        ttl = ngx_min(ttl, s->refresh);
    }

    ngx_http_tenant_jwks_shm_publish(s->jc->zone, slot, &s->url.text,
                                     reply->body.data, reply->body.len,
                                     ngx_time() + ttl);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->jc->log, 0,
                   "tenant jwks \"%V\": published, next in %T",
                   &s->name, ttl);

    ngx_http_tenant_jwks_load(s);
    ngx_http_tenant_jwks_schedule(s);
    ngx_http_tenant_jwks_wake(s);
}


static void
ngx_http_tenant_jwks_failed(ngx_http_tenant_jwks_source_t *s,
    const char *fmt, u_char *why)
{
    time_t                        age;
    ngx_http_tenant_jwks_slot_t  *slot;

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);

    if (slot
        && ngx_http_tenant_jwks_shm_failed(s->jc->zone, slot, &s->url.text,
                                           ngx_time() + s->min_refresh))
    {
        if (s->keyset) {
            age = ngx_time() - slot->fetched;

            ngx_log_error(NGX_LOG_ERR, s->jc->log, 0,
                          "tenant: cannot fetch keys from \"%V\": %s; the "
                          "keys fetched %T s ago are kept until "
                          "max_stale=%T", &s->name, why, age, s->max_stale);

        } else {
            ngx_log_error(NGX_LOG_ERR, s->jc->log, 0,
                          "tenant: cannot fetch keys from \"%V\": %s; "
                          "no keys", &s->name, why);
        }
    }

    if (slot) {
        ngx_http_tenant_jwks_schedule(s);
    }

    ngx_http_tenant_jwks_wake(s);
}


/*
 * A token's "kid" no key has, or no keys at all: the request waits for a
 * fetch of its URLs, one this worker starts (at most once per
 * min_refresh per URL and node) or one under way in any worker.
 * NGX_DECLINED: there is none to wait for.  A request waits once.
 */

ngx_int_t
ngx_http_tenant_jwks_wait(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_array_t *sources)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_http_cleanup_t              *cln;
    ngx_http_tenant_jwks_slot_t     *slot;
    ngx_http_tenant_jwks_waiter_t   *w;
    ngx_http_tenant_jwks_source_t  **sp, *s, *wait;

    if (ctx->jwks_waited) {
        return NGX_DECLINED;
    }

    sp = sources->elts;
    wait = NULL;

    for (i = 0; i < sources->nelts; i++) {
        s = sp[i];

        slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                             &s->url.text);
        if (slot == NULL) {
            continue;
        }

        if (s->fetch) {
            rc = NGX_BUSY;

        } else {
            rc = ngx_http_tenant_jwks_shm_claim(s->jc->zone, slot,
                                                NGX_HTTP_TENANT_JWKS_CLAIM_NOW,
                                                s->min_refresh,
                                                s->timeout / 1000 * 2 + 1);

            if (rc == NGX_OK && ngx_http_tenant_jwks_start(s) != NGX_OK) {
                continue;
            }
        }

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (wait == NULL) {
            wait = s;
            s->seen_done = slot->done;
        }
    }

    if (wait == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_tenant_jwks_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tenant_jwks_wait_cleanup;
    cln->data = w;

    w->r = r;
    w->ctx = ctx;
    w->source = wait;
    w->timer.handler = ngx_http_tenant_jwks_wait_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    ngx_queue_insert_tail(&wait->waiters, &w->queue);
    ngx_add_timer(&w->timer, wait->timeout);

    /* a fetch of another worker ends unseen: look at the node's */
    if (wait->fetch == NULL && !wait->poll.timer_set) {
        ngx_add_timer(&wait->poll, NGX_HTTP_TENANT_JWKS_POLL);
    }

    ctx->jwks_waited = 1;
    ctx->waiting = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant jwks \"%V\": request waits, timeout %M",
                   &wait->name, wait->timeout);

    return NGX_AGAIN;
}


static void
ngx_http_tenant_jwks_poll(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_source_t *s = ev->data;

    ngx_http_tenant_jwks_slot_t  *slot;

    if (ngx_queue_empty(&s->waiters)) {
        return;
    }

    slot = ngx_http_tenant_jwks_shm_slot(s->jc->zone, s->index,
                                         &s->url.text);

    if (slot == NULL || slot->done != s->seen_done || slot->owner == 0) {
        ngx_http_tenant_jwks_load(s);
        ngx_http_tenant_jwks_wake(s);
        return;
    }

    ngx_add_timer(&s->poll, NGX_HTTP_TENANT_JWKS_POLL);
}


/* the fetch ended, well or not: the waiting requests go on */

static void
ngx_http_tenant_jwks_wake(ngx_http_tenant_jwks_source_t *s)
{
    ngx_queue_t                    *q;
    ngx_http_tenant_jwks_waiter_t  *w;

    if (s->poll.timer_set) {
        ngx_del_timer(&s->poll);
    }

    while (!ngx_queue_empty(&s->waiters)) {
        q = ngx_queue_head(&s->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_tenant_jwks_waiter_t, queue);
        w->source = NULL;

        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }

        w->ctx->waiting = 0;

        ngx_http_tenant_wait_resume(w->r);
    }
}


static void
ngx_http_tenant_jwks_wait_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_jwks_waiter_t *w = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "tenant jwks: wait timed out");

    if (w->source) {
        ngx_queue_remove(&w->queue);
        w->source = NULL;
    }

    w->ctx->waiting = 0;

    ngx_http_tenant_wait_resume(w->r);
}


static void
ngx_http_tenant_jwks_wait_cleanup(void *data)
{
    ngx_http_tenant_jwks_waiter_t *w = data;

    if (w->source) {
        ngx_queue_remove(&w->queue);
        w->source = NULL;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}


/* the keys of the URLs, after the level's files: the first that verifies */

ngx_http_tenant_jwt_rc_e
ngx_http_tenant_jwks_verify(ngx_array_t *sources, ngx_http_tenant_jwt_t *jwt,
    const u_char *data, const char **err)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_source_t  **sp;

    sp = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        if (sp[i]->keyset == NULL) {
            continue;
        }

        if (ngx_http_tenant_jwt_verify(sp[i]->keyset, jwt, data, err)
            == NGX_HTTP_TENANT_JWT_OK)
        {
            return NGX_HTTP_TENANT_JWT_OK;
        }
    }

    return NGX_HTTP_TENANT_JWT_INVALID;
}


/* 1: a URL of the location has no keys (never loaded, or dropped) */

ngx_flag_t
ngx_http_tenant_jwks_missing(ngx_array_t *sources)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_source_t  **sp;

    sp = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        if (sp[i]->keyset == NULL) {
            return 1;
        }
    }

    return 0;
}


ngx_flag_t
ngx_http_tenant_jwks_has_kid(ngx_http_tenant_keyset_t *ks,
    ngx_array_t *sources, ngx_str_t *kid)
{
    ngx_uint_t                       i;
    ngx_http_tenant_jwks_source_t  **sp;

    if (ks && ngx_http_tenant_jwks_keyset_has(ks, kid)) {
        return 1;
    }

    sp = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        if (sp[i]->keyset
            && ngx_http_tenant_jwks_keyset_has(sp[i]->keyset, kid))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_flag_t
ngx_http_tenant_jwks_keyset_has(ngx_http_tenant_keyset_t *ks, ngx_str_t *kid)
{
    ngx_uint_t              k;
    ngx_http_tenant_key_t  *key;

    key = ks->keys.elts;

    for (k = 0; k < ks->keys.nelts; k++) {
        if (key[k].kid.len == kid->len
            && ngx_strncmp(key[k].kid.data, kid->data, kid->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
