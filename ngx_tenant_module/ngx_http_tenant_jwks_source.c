
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_jwks_fetch.h"
#include "ngx_http_tenant_jwks_shm.h"
#include "ngx_http_tenant_jwks_discovery.h"
#include "ngx_http_tenant_jwks_source.h"


/* a background timer sleeps at most this long: a reload moves "next" */
#define NGX_HTTP_TENANT_JWKS_TICK_MAX      60

#define NGX_HTTP_TENANT_JWKS_LOG_LEN       512


/* what the JWK parser said, for a log line of ours */
typedef struct {
    u_char                           text[NGX_HTTP_TENANT_JWKS_LOG_LEN];
    size_t                           len;
    ngx_log_t                       *forward;    /* warnings, or NULL */
} ngx_http_tenant_jwks_said_t;


static ngx_http_tenant_keyset_t *ngx_http_tenant_jwks_parse(
    ngx_http_tenant_jwks_source_t *s, u_char *data, size_t len,
    ngx_pool_t **pool, ngx_http_tenant_jwks_said_t *said);
static void ngx_http_tenant_jwks_said(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_http_tenant_jwks_drop(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_tick(ngx_event_t *ev);
static void ngx_http_tenant_jwks_schedule(ngx_http_tenant_jwks_source_t *s);
static void ngx_http_tenant_jwks_discovered(void *data,
    ngx_http_tenant_jwks_reply_t *reply);
static void ngx_http_tenant_jwks_fetched(void *data,
    ngx_http_tenant_jwks_reply_t *reply);
static void ngx_http_tenant_jwks_failed(ngx_http_tenant_jwks_source_t *s,
    const char *fmt, u_char *why);
static void ngx_http_tenant_jwks_ended(ngx_http_tenant_jwks_source_t *s);
static ngx_flag_t ngx_http_tenant_jwks_keyset_has(
    ngx_http_tenant_keyset_t *ks, ngx_str_t *kid);


/* the first fetch is a worker's, after start: nginx starts without IdP */

void
ngx_http_tenant_jwks_source_init(ngx_http_tenant_jwks_source_t *s,
    ngx_log_t *log)
{
    s->tick.handler = ngx_http_tenant_jwks_tick;
    s->tick.data = s;
    s->tick.log = log;
    s->tick.cancelable = 1;

    ngx_add_timer(&s->tick, 1);
}


void
ngx_http_tenant_jwks_source_exit(ngx_http_tenant_jwks_source_t *s)
{
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


/* the node's set, when it moved, becomes this worker's keys */

void
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

ngx_int_t
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

    ngx_int_t                    rc;
    ngx_pool_t                  *pool;
    const char                  *why;
    ngx_http_tenant_jwks_url_t   u;

    s->fetch = NULL;

    if (reply->rc != NGX_OK) {
        ngx_http_tenant_jwks_failed(s, "%s", reply->err);
        return;
    }

    ngx_memzero(&u, sizeof(ngx_http_tenant_jwks_url_t));

    rc = ngx_http_tenant_jwks_discovery_parse(&reply->body, &s->issuer,
                                              &s->url, &u, &pool, &why,
                                              s->jc->log);
    if (rc != NGX_OK) {
        ngx_http_tenant_jwks_failed(s, "%s", (u_char *) why);
        return;
    }

    if (s->jwks_pool) {
        ngx_destroy_pool(s->jwks_pool);
    }

    s->jwks_pool = pool;
    s->jwks_uri = u;

    s->fetch = ngx_http_tenant_jwks_fetch_start(&s->jc->client, &s->jwks_uri,
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
    ngx_http_tenant_jwks_ended(s);
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

    ngx_http_tenant_jwks_ended(s);
}


/* who waits for the fetch is told it ended: ngx_http_tenant_jwks_wait.c */

static void
ngx_http_tenant_jwks_ended(ngx_http_tenant_jwks_source_t *s)
{
    if (s->ended) {
        s->ended(s);
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
