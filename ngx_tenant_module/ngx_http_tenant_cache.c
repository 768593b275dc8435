
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_cache.h"
#include "ngx_http_tenant_metrics.h"


/* a token without "exp" is verified again after this long */
#define NGX_HTTP_TENANT_CACHE_MAX_TTL  300


typedef struct ngx_http_tenant_cache_entry_s  ngx_http_tenant_cache_entry_t;

struct ngx_http_tenant_cache_entry_s {
    ngx_http_tenant_cache_entry_t  *next;    /* bucket chain */
    ngx_queue_t                     lru;
    uint32_t                        hash;
    void                           *owner;
    ngx_uint_t                      gen;     /* of the owner's keys */
    time_t                          expires;
    ngx_http_tenant_cached_t        value;
    size_t                          len;
    u_char                          token[1];
};


struct ngx_http_tenant_cache_s {
    ngx_http_tenant_cache_entry_t **buckets;
    ngx_uint_t                      mask;
    ngx_uint_t                      count;
    ngx_uint_t                      size;
    ngx_queue_t                     lru;      /* most recent first */
    ngx_log_t                      *log;
};


static ngx_http_tenant_cache_entry_t **ngx_http_tenant_cache_find(
    ngx_http_tenant_cache_t *cache, uint32_t hash, void *owner,
    const u_char *token, size_t len);
static void ngx_http_tenant_cache_remove(ngx_http_tenant_cache_t *cache,
    ngx_http_tenant_cache_entry_t **link);
static uint32_t ngx_http_tenant_cache_hash(const u_char *token, size_t len);


ngx_http_tenant_cache_t *
ngx_http_tenant_cache_create(ngx_uint_t size, ngx_log_t *log)
{
    ngx_uint_t                buckets;
    ngx_http_tenant_cache_t  *cache;

    cache = ngx_calloc(sizeof(ngx_http_tenant_cache_t), log);
    if (cache == NULL) {
        return NULL;
    }

    for (buckets = 16; buckets < size; buckets <<= 1) { /* void */ }

    cache->buckets = ngx_calloc(buckets * sizeof(void *), log);
    if (cache->buckets == NULL) {
        ngx_free(cache);
        return NULL;
    }

    cache->mask = buckets - 1;
    cache->size = size;
    cache->log = log;
    ngx_queue_init(&cache->lru);

    return cache;
}


void
ngx_http_tenant_cache_destroy(ngx_http_tenant_cache_t *cache)
{
    ngx_queue_t                    *q;
    ngx_http_tenant_cache_entry_t  *e;

    while (!ngx_queue_empty(&cache->lru)) {
        q = ngx_queue_head(&cache->lru);
        ngx_queue_remove(q);

        e = ngx_queue_data(q, ngx_http_tenant_cache_entry_t, lru);
        json_decref(e->value.header);
        json_decref(e->value.payload);
        ngx_free(e->value.memo);
        ngx_free(e);
    }

    ngx_free(cache->buckets);
    ngx_free(cache);
}


/*
 * A token ends with its signature: its last bytes tell tokens apart as
 * well as the whole would, at a tenth of the cost.  Only verified tokens
 * are stored, so nobody picks those bytes to crowd one bucket; lookups
 * compare whole tokens anyway.
 */

static uint32_t
ngx_http_tenant_cache_hash(const u_char *token, size_t len)
{
    size_t  n;

    n = ngx_min(len, 48);

    return ngx_murmur_hash2((u_char *) token + len - n, n);
}


ngx_http_tenant_cached_t *
ngx_http_tenant_cache_get(ngx_http_tenant_cache_t *cache, void *owner,
    ngx_uint_t gen, const u_char *token, size_t len, time_t now)
{
    uint32_t                         hash;
    ngx_http_tenant_cache_entry_t  **link, *e;

    hash = ngx_http_tenant_cache_hash(token, len);

    link = ngx_http_tenant_cache_find(cache, hash, owner, token, len);
    if (link == NULL) {
        return NULL;
    }

    e = *link;

    /* keys fetched from a URL changed: the key that verified it may be gone */
    if (now >= e->expires || e->gen != gen) {
        ngx_http_tenant_cache_remove(cache, link);
        return NULL;
    }

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&cache->lru, &e->lru);

    ngx_http_tenant_metrics_jwt_cache_hit();

    return &e->value;
}


/* the new entry's value, valid until the cache is next used; or NULL */

ngx_http_tenant_cached_t *
ngx_http_tenant_cache_put(ngx_http_tenant_cache_t *cache, void *owner,
    ngx_uint_t gen, const u_char *token, size_t len,
    ngx_http_tenant_cached_t *value, time_t expires)
{
    uint32_t                         hash;
    ngx_queue_t                     *q;
    ngx_http_tenant_cache_entry_t  **link, *e;

    hash = ngx_http_tenant_cache_hash(token, len);

    link = ngx_http_tenant_cache_find(cache, hash, owner, token, len);

    if (link) {
        if ((*link)->gen == gen) {
            return NULL;
        }

        ngx_http_tenant_cache_remove(cache, link);
    }

    if (cache->count >= cache->size) {
        q = ngx_queue_last(&cache->lru);
        e = ngx_queue_data(q, ngx_http_tenant_cache_entry_t, lru);

        link = ngx_http_tenant_cache_find(cache, e->hash, e->owner, e->token,
                                          e->len);
        if (link) {
            ngx_http_tenant_cache_remove(cache, link);
        }
    }

    /* a failed allocation only costs a later re-verification */
    e = ngx_alloc(sizeof(ngx_http_tenant_cache_entry_t) + len, cache->log);
    if (e == NULL) {
        return NULL;
    }

    e->hash = hash;
    e->owner = owner;
    e->gen = gen;
    /* even a long-lived token is verified again now and then */
    e->expires = ngx_time() + NGX_HTTP_TENANT_CACHE_MAX_TTL;

    if (expires && expires < e->expires) {
        e->expires = expires;
    }
    e->value = *value;
    e->value.memo = NULL;
    e->len = len;
    ngx_memcpy(e->token, token, len);

    json_incref(value->header);
    json_incref(value->payload);

    e->next = cache->buckets[hash & cache->mask];
    cache->buckets[hash & cache->mask] = e;

    ngx_queue_insert_head(&cache->lru, &e->lru);
    cache->count++;

    return &e->value;
}


/* what is kept with the entry is freed with it, or when replaced */

void
ngx_http_tenant_cache_memo(ngx_http_tenant_cached_t *cached, u_char *memo)
{
    ngx_free(cached->memo);
    cached->memo = memo;
}


ngx_uint_t
ngx_http_tenant_cache_count(ngx_http_tenant_cache_t *cache)
{
    return cache->count;
}


static ngx_http_tenant_cache_entry_t **
ngx_http_tenant_cache_find(ngx_http_tenant_cache_t *cache, uint32_t hash,
    void *owner, const u_char *token, size_t len)
{
    ngx_http_tenant_cache_entry_t  **link, *e;

    for (link = &cache->buckets[hash & cache->mask]; *link; link = &e->next) {
        e = *link;

        if (e->hash == hash && e->owner == owner && e->len == len
            && ngx_memcmp(e->token, token, len) == 0)
        {
            return link;
        }
    }

    return NULL;
}


static void
ngx_http_tenant_cache_remove(ngx_http_tenant_cache_t *cache,
    ngx_http_tenant_cache_entry_t **link)
{
    ngx_http_tenant_cache_entry_t  *e;

    e = *link;
    *link = e->next;

    ngx_queue_remove(&e->lru);
    cache->count--;

    json_decref(e->value.header);
    json_decref(e->value.payload);
    ngx_free(e->value.memo);
    ngx_free(e);
}
