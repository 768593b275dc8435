
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_metrics_zone.h"
#include "ngx_http_tenant_claims.h"


static ngx_http_tenant_metrics_sh_t *ngx_http_tenant_metrics_sh(void);
static ngx_http_tenant_metrics_tenant_t *ngx_http_tenant_metrics_lookup(
    ngx_http_tenant_metrics_sh_t *sh, uint32_t hash, ngx_str_t *tenant);
static ngx_http_tenant_metrics_tenant_t *ngx_http_tenant_metrics_add(
    ngx_http_tenant_metrics_sh_t *sh, uint32_t hash, ngx_str_t *tenant);
static void ngx_http_tenant_metrics_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_tenant_metrics_reserved(ngx_str_t *tenant);


/*
 * Round trips to Redis on loopback or in a data centre take from a tenth
 * of a millisecond to a few; a stalled one ends at tenant_redis timeout=.
 */

uint64_t  ngx_http_tenant_metrics_bounds[NGX_HTTP_TENANT_METRICS_BUCKETS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    1000000, (uint64_t) -1
};


/*
 * What the zone needs for this many tenants: its header and the table,
 * one allocation, plus the slab allocator's own: its header and page
 * descriptors, and a page of rounding.
 */

size_t
ngx_http_tenant_metrics_zone_size(ngx_uint_t tenants)
{
    size_t  size;

    size = sizeof(ngx_http_tenant_metrics_sh_t)
           + tenants * sizeof(ngx_http_tenant_metrics_tenant_t);

    size = ngx_align(size, ngx_pagesize);

    return size + size / ngx_pagesize * sizeof(ngx_slab_page_t)
           + 8 * ngx_pagesize;
}


/*
 * A reload with the same name and size keeps the zone and its counters:
 * a counter that went back to zero would read as a restart.
 */

ngx_int_t
ngx_http_tenant_metrics_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_tenant_metrics_conf_t *omcf = data;

    ngx_http_tenant_metrics_sh_t    *sh;
    ngx_http_tenant_metrics_conf_t  *mcf;

    mcf = zone->data;

    if (omcf) {
        if (omcf->sh->layout != NGX_HTTP_TENANT_METRICS_LAYOUT) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "tenant_metrics_zone \"%V\" was laid out by "
                          "another build of the module: give it another "
                          "name or size to start it afresh",
                          &zone->shm.name);
            return NGX_ERROR;
        }

        if (omcf->sh->capacity != mcf->capacity) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "tenant_metrics_zone \"%V\" has tenants=%ui, "
                          "it had tenants=%ui: give it another name or "
                          "size to start it afresh",
                          &zone->shm.name, mcf->capacity,
                          omcf->sh->capacity);
            return NGX_ERROR;
        }

        mcf->shpool = omcf->shpool;
        mcf->sh = omcf->sh;

        /* the module may be another build: its insert function with it */
        mcf->sh->rbtree.insert = ngx_http_tenant_metrics_rbtree_insert_value;

        return NGX_OK;
    }

    mcf->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        mcf->sh = mcf->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(mcf->shpool, sizeof(ngx_http_tenant_metrics_sh_t)
                         + mcf->capacity
                           * sizeof(ngx_http_tenant_metrics_tenant_t));
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "tenant_metrics_zone \"%V\" is too small for "
                      "tenants=%ui: it needs %uz bytes",
                      &zone->shm.name, mcf->capacity,
                      ngx_http_tenant_metrics_zone_size(mcf->capacity));
        return NGX_ERROR;
    }

    sh->layout = NGX_HTTP_TENANT_METRICS_LAYOUT;
    sh->capacity = mcf->capacity;
    sh->tenants = (ngx_http_tenant_metrics_tenant_t *) (sh + 1);

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_tenant_metrics_rbtree_insert_value);

    mcf->sh = sh;
    mcf->shpool->data = sh;

    mcf->shpool->log_nomem = 0;

    return NGX_OK;
}


/* the zone of the configuration the process runs, or NULL */

static ngx_http_tenant_metrics_sh_t *
ngx_http_tenant_metrics_sh(void)
{
    ngx_http_tenant_metrics_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_tenant_metrics_module);

    return mcf ? mcf->sh : NULL;
}


void
ngx_http_tenant_metrics_request(ngx_str_t *tenant, ngx_uint_t result)
{
    uint32_t                           hash;
    ngx_slab_pool_t                   *shpool;
    ngx_http_tenant_metrics_sh_t      *sh;
    ngx_http_tenant_metrics_conf_t    *mcf;
    ngx_http_tenant_metrics_tenant_t  *t;

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_tenant_metrics_module);

    if (mcf == NULL || mcf->sh == NULL || result >= NGX_HTTP_TENANT_NREASONS) {
        return;
    }

    sh = mcf->sh;
    shpool = mcf->shpool;

    if (tenant->len == 0
        || ngx_http_tenant_id_valid(tenant->data, tenant->len) != NGX_OK)
    {
        ngx_shmtx_lock(&shpool->mutex);
        sh->none[result]++;
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    hash = ngx_crc32_short(tenant->data, tenant->len);

    ngx_shmtx_lock(&shpool->mutex);

    t = ngx_http_tenant_metrics_lookup(sh, hash, tenant);

    if (t == NULL) {
        t = ngx_http_tenant_metrics_add(sh, hash, tenant);
    }

    if (t) {
        t->weight++;
        t->count[result]++;

    } else {
        sh->other[result]++;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_http_tenant_metrics_tenant_t *
ngx_http_tenant_metrics_lookup(ngx_http_tenant_metrics_sh_t *sh,
    uint32_t hash, ngx_str_t *tenant)
{
    ngx_int_t                          rc;
    ngx_rbtree_node_t                 *node, *sentinel;
    ngx_http_tenant_metrics_tenant_t  *t;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        t = (ngx_http_tenant_metrics_tenant_t *) node;

        rc = ngx_memn2cmp(tenant->data, t->id, tenant->len, t->len);

        if (rc == 0) {
            return t;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A tenant not in the table: a free entry, else the entry of the least
 * weight, whose counts go to "_other" and whose weight the newcomer
 * takes over (space-saving).  NULL: the tenant's name is reserved.
 */

static ngx_http_tenant_metrics_tenant_t *
ngx_http_tenant_metrics_add(ngx_http_tenant_metrics_sh_t *sh, uint32_t hash,
    ngx_str_t *tenant)
{
    ngx_uint_t                         i, r;
    ngx_http_tenant_metrics_tenant_t  *t, *min;

    if (ngx_http_tenant_metrics_reserved(tenant) || sh->capacity == 0) {
        return NULL;
    }

    if (sh->used < sh->capacity) {
        t = &sh->tenants[sh->used++];
        t->weight = 0;

    } else {
        min = &sh->tenants[0];

        for (i = 1; i < sh->used; i++) {
            if (sh->tenants[i].weight < min->weight) {
                min = &sh->tenants[i];
            }
        }

        t = min;

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "tenant metrics: \"%V\" takes the entry of \"%*s\", "
                       "weight %uL", tenant, (size_t) t->len, t->id,
                       t->weight);

        for (r = 0; r < NGX_HTTP_TENANT_NREASONS; r++) {
            sh->other[r] += t->count[r];
        }

        sh->evicted++;
        ngx_rbtree_delete(&sh->rbtree, &t->node);
    }

    ngx_memzero(t->count, sizeof(t->count));

    t->node.key = hash;
    t->len = (u_char) tenant->len;
    ngx_memcpy(t->id, tenant->data, tenant->len);

    ngx_rbtree_insert(&sh->rbtree, &t->node);

    return t;
}


/* a tenant of that name would be summed with everyone else's */

static ngx_int_t
ngx_http_tenant_metrics_reserved(ngx_str_t *tenant)
{
    return (tenant->len == sizeof("_other") - 1
            && ngx_strncmp(tenant->data, "_other", tenant->len) == 0)
           || (tenant->len == sizeof("_none") - 1
               && ngx_strncmp(tenant->data, "_none", tenant->len) == 0);
}


static void
ngx_http_tenant_metrics_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                **p;
    ngx_http_tenant_metrics_tenant_t  *t, *tt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            t = (ngx_http_tenant_metrics_tenant_t *) node;
            tt = (ngx_http_tenant_metrics_tenant_t *) temp;

            p = (ngx_memn2cmp(t->id, tt->id, t->len, tt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * The table copied under the lock, so that the tenants, "_other" and
 * "_none" add up in one scrape as they do in the zone.
 */

ngx_int_t
ngx_http_tenant_metrics_snapshot(ngx_http_tenant_metrics_conf_t *mcf,
    ngx_pool_t *pool, ngx_http_tenant_metrics_snapshot_t *snap)
{
    size_t                         size;
    ngx_uint_t                     n;
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = mcf->sh;

    /*
     * Room for the entries in use, allocated outside the lock; "used" only
     * grows: if it grew meanwhile, again with more room.
     */

    for ( ;; ) {
        n = sh->used + 16;
        size = n * sizeof(ngx_http_tenant_metrics_tenant_t);

        snap->tenants = ngx_palloc(pool, size);
        if (snap->tenants == NULL) {
            return NGX_ERROR;
        }

        ngx_shmtx_lock(&mcf->shpool->mutex);

        if (sh->used <= n) {
            break;
        }

        ngx_shmtx_unlock(&mcf->shpool->mutex);

        ngx_pfree(pool, snap->tenants);
    }

    snap->capacity = sh->capacity;
    snap->used = sh->used;
    snap->evicted = sh->evicted;
    ngx_memcpy(snap->other, sh->other, sizeof(sh->other));
    ngx_memcpy(snap->none, sh->none, sizeof(sh->none));
    ngx_memcpy(snap->tenants, sh->tenants,
               sh->used * sizeof(ngx_http_tenant_metrics_tenant_t));

    ngx_shmtx_unlock(&mcf->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_tenant_metrics_jwt(ngx_uint_t result)
{
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = ngx_http_tenant_metrics_sh();

    if (sh && result < NGX_HTTP_TENANT_NREASONS) {
        (void) ngx_atomic_fetch_add(&sh->jwt[result], 1);
    }
}


void
ngx_http_tenant_metrics_jwt_cache_hit(void)
{
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = ngx_http_tenant_metrics_sh();

    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->jwt_cache_hits, 1);
    }
}


/*
 * The monotonic clock, not nginx's cached time: a round trip on loopback
 * is far shorter than the millisecond ngx_current_msec counts in.
 */

uint64_t
ngx_http_tenant_metrics_redis_start(void)
{
    struct timespec  ts;

    if (ngx_http_tenant_metrics_sh() == NULL
        || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}


/* the duration is observed for the commands that had an answer */

void
ngx_http_tenant_metrics_redis(ngx_uint_t result, uint64_t start)
{
    uint64_t                       us;
    ngx_uint_t                     i;
    struct timespec                ts;
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = ngx_http_tenant_metrics_sh();

    if (sh == NULL || result >= NGX_HTTP_TENANT_METRICS_REDIS_NRESULTS) {
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->redis[result], 1);

    if (start == 0 || result == NGX_HTTP_TENANT_METRICS_REDIS_TIMEOUT
        || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    {
        return;
    }

    us = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
    us = (us > start) ? us - start : 0;

    for (i = 0; us > ngx_http_tenant_metrics_bounds[i]; i++) {
        /* void: the last bound is the largest number */
    }

    (void) ngx_atomic_fetch_add(&sh->redis_bucket[i], 1);
    (void) ngx_atomic_fetch_add(&sh->redis_us, us);
}


/*
 * One byte per worker, by its number: the workers of a new configuration
 * take over the numbers of the old ones, which say nothing once exiting.
 */

void
ngx_http_tenant_metrics_redis_link(ngx_uint_t up)
{
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = ngx_http_tenant_metrics_sh();

    if (sh == NULL || ngx_exiting || ngx_terminate || ngx_quit
        || ngx_worker >= NGX_MAX_PROCESSES)
    {
        return;
    }

    sh->redis_up[ngx_worker] = up ? 1 : 0;
}


void
ngx_http_tenant_metrics_redis_reconnect(void)
{
    ngx_http_tenant_metrics_sh_t  *sh;

    sh = ngx_http_tenant_metrics_sh();

    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->redis_reconnects, 1);
    }
}
