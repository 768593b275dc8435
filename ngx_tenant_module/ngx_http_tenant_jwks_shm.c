
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_jwks_shm.h"


typedef struct {
    ngx_uint_t                    nslots;
    ngx_http_tenant_jwks_slot_t   slots[1];
} ngx_http_tenant_jwks_sh_t;


/* the zone's data in each process */
typedef struct {
    ngx_array_t                  *urls;       /* ngx_str_t, slot order */
    ngx_slab_pool_t              *shpool;
    ngx_http_tenant_jwks_sh_t    *sh;
} ngx_http_tenant_jwks_zone_t;


static ngx_int_t ngx_http_tenant_jwks_shm_init(ngx_shm_zone_t *zone,
    void *data);
static ngx_flag_t ngx_http_tenant_jwks_shm_ours(
    ngx_http_tenant_jwks_slot_t *slot, ngx_str_t *url);


static ngx_str_t  ngx_http_tenant_jwks_zone_name =
    ngx_string("tenant_jwks");


extern ngx_module_t  ngx_http_tenant_module;


/*
 * One zone for all the URLs of the configuration, sized for a full set
 * per URL.  A reload with as many URLs keeps the zone and what it holds:
 * the new workers do not fetch again what the old ones fetched.
 */

ngx_shm_zone_t *
ngx_http_tenant_jwks_shm_add(ngx_conf_t *cf, ngx_array_t *urls)
{
    size_t                        size;
    ngx_shm_zone_t               *zone;
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_jwks_zone_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->urls = urls;

    size = sizeof(ngx_http_tenant_jwks_sh_t)
           + urls->nelts * sizeof(ngx_http_tenant_jwks_slot_t);

    /* the slab allocator's own pages, and its bookkeeping per page */
    size += size / 32 + 16 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &ngx_http_tenant_jwks_zone_name, size,
                                 &ngx_http_tenant_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_tenant_jwks_shm_init;
    zone->data = ctx;

    return zone;
}


static ngx_int_t
ngx_http_tenant_jwks_shm_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_tenant_jwks_zone_t *octx = data;

    ngx_str_t                    *url;
    ngx_uint_t                    i;
    ngx_http_tenant_jwks_sh_t    *sh;
    ngx_http_tenant_jwks_zone_t  *ctx;
    ngx_http_tenant_jwks_slot_t  *slot;

    ctx = zone->data;
    ctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (octx) {
        sh = octx->sh;

    } else {
        sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_tenant_jwks_sh_t)
                      + ctx->urls->nelts * sizeof(ngx_http_tenant_jwks_slot_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        sh->nslots = 0;
    }

    ctx->sh = sh;

    url = ctx->urls->elts;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < ctx->urls->nelts; i++) {
        slot = &sh->slots[i];

        if (i < sh->nslots && ngx_http_tenant_jwks_shm_ours(slot, &url[i])) {
            continue;
        }

        /* a slot of another URL: the old workers see it is not theirs */
        ngx_memzero(slot, offsetof(ngx_http_tenant_jwks_slot_t, data));
        slot->url_len = url[i].len;
        ngx_memcpy(slot->url, url[i].data, url[i].len);
    }

    sh->nslots = ctx->urls->nelts;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* NULL: the slot was given to another URL by a reload */

ngx_http_tenant_jwks_slot_t *
ngx_http_tenant_jwks_shm_slot(ngx_shm_zone_t *zone, ngx_uint_t i,
    ngx_str_t *url)
{
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = zone->data;

    if (i >= ctx->sh->nslots
        || !ngx_http_tenant_jwks_shm_ours(&ctx->sh->slots[i], url))
    {
        return NULL;
    }

    return &ctx->sh->slots[i];
}


static ngx_flag_t
ngx_http_tenant_jwks_shm_ours(ngx_http_tenant_jwks_slot_t *slot,
    ngx_str_t *url)
{
    return slot->url_len == url->len
           && ngx_memcmp(slot->url, url->data, url->len) == 0;
}


/*
 * NGX_OK: this worker fetches now.  Nobody else may be fetching, unless
 * its deadline passed (a worker that died mid-fetch); in the background
 * only when the slot is due, on demand (an unknown "kid", no keys yet)
 * only if no fetch started within min_refresh.  That is measured in
 * milliseconds of the monotonic clock, which all workers share: in whole
 * seconds two fetches could be min_refresh - 1 s apart (a fetch at
 * 100.99 and one at 103.0 are "3 s" apart), with min_refresh=1s at once.
 */

ngx_int_t
ngx_http_tenant_jwks_shm_claim(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_http_tenant_jwks_claim_e how,
    time_t min_refresh, time_t timeout)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = zone->data;
    now = ngx_time();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (slot->owner && now <= slot->deadline) {
        rc = NGX_BUSY;
        goto done;
    }

    if (how == NGX_HTTP_TENANT_JWKS_CLAIM_BACKGROUND) {
        if (now < slot->next) {
            goto done;
        }

    } else if (slot->tried
               && ngx_current_msec - slot->attempted
                  < (ngx_msec_t) min_refresh * 1000)
    {
        goto done;
    }

    slot->owner = ngx_pid;
    slot->deadline = now + timeout + 1;
    slot->attempted = ngx_current_msec;
    slot->tried = 1;
    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/* a good set: a new generation only if its bytes changed */

void
ngx_http_tenant_jwks_shm_publish(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_str_t *url, u_char *data,
    size_t len, time_t next)
{
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (ngx_http_tenant_jwks_shm_ours(slot, url)) {

        if (slot->generation == 0 || slot->len != len
            || ngx_memcmp(slot->data, data, len) != 0)
        {
            ngx_memcpy(slot->data, data, len);
            slot->len = len;
            slot->generation++;
        }

        slot->fetched = ngx_time();
        slot->next = next;
        slot->logged = 0;

        if (slot->owner == ngx_pid) {
            slot->owner = 0;
        }

        slot->done++;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* 1: the failure is to be logged, the first in a minute */

ngx_flag_t
ngx_http_tenant_jwks_shm_failed(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_str_t *url, time_t next)
{
    time_t                        now;
    ngx_flag_t                    log;
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = zone->data;
    now = ngx_time();
    log = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (ngx_http_tenant_jwks_shm_ours(slot, url)) {
        slot->next = next;

        if (slot->owner == ngx_pid) {
            slot->owner = 0;
        }

        slot->done++;
        slot->failures++;

        if (slot->logged == 0 || now - slot->logged >= 60) {
            slot->logged = now;
            log = 1;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return log;
}


/*
 * The counts of the i-th URL's fetches, by any worker since the slot was
 * given to its URL.  NGX_DECLINED: no such slot.  stats->url points into
 * the configuration.
 */

ngx_int_t
ngx_http_tenant_jwks_shm_stats(ngx_shm_zone_t *zone, ngx_uint_t i,
    ngx_http_tenant_jwks_stats_t *stats)
{
    ngx_str_t                    *url;
    ngx_http_tenant_jwks_zone_t  *ctx;
    ngx_http_tenant_jwks_slot_t  *slot;

    ctx = zone->data;

    if (i >= ctx->urls->nelts) {
        return NGX_DECLINED;
    }

    url = ctx->urls->elts;
    stats->url = url[i];

    slot = ngx_http_tenant_jwks_shm_slot(zone, i, &url[i]);
    if (slot == NULL) {
        stats->fetched_ok = 0;
        stats->failed = 0;
        stats->last_success = 0;
        return NGX_OK;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    stats->fetched_ok = slot->done - slot->failures;
    stats->failed = slot->failures;
    stats->last_success = slot->fetched;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/*
 * The slot's set, copied out under the lock to be parsed outside it;
 * NULL if its generation is *generation already (or none).  The copy is
 * ngx_alloc()ed: the caller frees it.
 */

u_char *
ngx_http_tenant_jwks_shm_copy(ngx_shm_zone_t *zone,
    ngx_http_tenant_jwks_slot_t *slot, ngx_uint_t *generation,
    time_t *fetched, size_t *len, ngx_log_t *log)
{
    u_char                       *copy;
    ngx_http_tenant_jwks_zone_t  *ctx;

    ctx = zone->data;
    copy = NULL;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    *fetched = slot->fetched;

    if (slot->generation != *generation && slot->generation != 0) {
        copy = ngx_alloc(slot->len + 1, log);

        if (copy) {
            ngx_memcpy(copy, slot->data, slot->len);
            copy[slot->len] = '\0';
            *len = slot->len;
            *generation = slot->generation;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return copy;
}
