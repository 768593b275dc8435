/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_lease.h"
#include "ngx_http_tenant_lease_slot.h"
#include "ngx_http_tenant_lease_back.h"
#include "ngx_http_tenant_claims.h"


static u_char *ngx_http_tenant_lease_part(u_char *p, ngx_str_t *s);
static ngx_http_tenant_lease_t *ngx_http_tenant_lease_lookup(
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key, uint32_t hash);
static ngx_uint_t ngx_http_tenant_lease_busy(ngx_http_tenant_lease_t *l);
static void ngx_http_tenant_lease_unlink(ngx_http_tenant_lease_t *l);
static void ngx_http_tenant_lease_expire(ngx_event_t *ev);


/* the slots, and a hash of them by key */
static ngx_http_tenant_lease_t
    ngx_http_tenant_leases[NGX_HTTP_TENANT_LEASE_SLOTS];
static ngx_http_tenant_lease_t
    *ngx_http_tenant_lease_buckets[NGX_HTTP_TENANT_LEASE_SLOTS];


/* "TENANT\0USER\0PLAN\0JTI\0IAT": what the decision reads of the token */

ngx_int_t
ngx_http_tenant_lease_key(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_str_t *key)
{
    u_char      *p;
    uint64_t     iat;
    ngx_str_t    jti;

    if (ngx_http_tenant_claim_jti(ctx->payload, &jti) != NGX_OK) {
        ngx_str_null(&jti);
    }

    if (ngx_http_tenant_claim_seconds(ctx->payload, "iat", &iat) != NGX_OK) {
        iat = 0;
    }

    key->data = ngx_pnalloc(r->pool, ctx->identity.tenant_id.len
                                     + ctx->identity.user.len
                                     + ctx->identity.plan.len + jti.len
                                     + 4 + NGX_INT64_LEN);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_tenant_lease_part(key->data, &ctx->identity.tenant_id);
    p = ngx_http_tenant_lease_part(p, &ctx->identity.user);
    p = ngx_http_tenant_lease_part(p, &ctx->identity.plan);
    p = ngx_http_tenant_lease_part(p, &jti);
    p = ngx_sprintf(p, "%uL", iat);

    key->len = p - key->data;

    return NGX_OK;
}


/* a part of the key and its '\0'; an absent one (NULL) is empty */

static u_char *
ngx_http_tenant_lease_part(u_char *p, ngx_str_t *s)
{
    if (s->len) {
        p = ngx_cpymem(p, s->data, s->len);
    }

    *p++ = '\0';

    return p;
}


ngx_http_tenant_lease_t *
ngx_http_tenant_lease_find(ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key)
{
    return ngx_http_tenant_lease_lookup(tlcf, key,
                                        ngx_murmur_hash2(key->data, key->len));
}


static ngx_http_tenant_lease_t *
ngx_http_tenant_lease_lookup(ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_tenant_lease_t  *l;

    for (l = ngx_http_tenant_lease_buckets[hash % NGX_HTTP_TENANT_LEASE_SLOTS];
         l;
         l = l->next)
    {
        if (l->hash == hash && l->conf == tlcf && l->key.len == key->len
            && ngx_memcmp(l->key.data, key->data, key->len) == 0)
        {
            return l;
        }
    }

    return NULL;
}


/* the key's slot: found, free, or the least recently used idle one's */

ngx_http_tenant_lease_t *
ngx_http_tenant_lease_slot(ngx_http_request_t *r,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_str_t *key)
{
    uint32_t                  hash;
    ngx_uint_t                i;
    ngx_http_tenant_lease_t  *l, *lru, **bucket;

    hash = ngx_murmur_hash2(key->data, key->len);

    l = ngx_http_tenant_lease_lookup(tlcf, key, hash);
    if (l) {
        return l;
    }

    lru = NULL;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_SLOTS; i++) {
        l = &ngx_http_tenant_leases[i];

        if (l->conf == NULL) {
            lru = l;
            break;
        }

        /* a live lease is not given back early for another key */
        if (ngx_http_tenant_lease_busy(l) || ngx_http_tenant_lease_held(l)) {
            continue;
        }

        if (lru == NULL || (ngx_msec_int_t) (l->used - lru->used) < 0) {
            lru = l;
        }
    }

    if (lru == NULL) {
        /* every slot holds a lease or waits for one: decided exactly */
        return NULL;
    }

    l = lru;

    if (l->conf) {
        ngx_http_tenant_lease_end(l);
        ngx_http_tenant_lease_unlink(l);
        ngx_free(l->key.data);
    }

    ngx_memzero(l, sizeof(ngx_http_tenant_lease_t));
    ngx_queue_init(&l->waiters);

    l->key.data = ngx_alloc(key->len, r->connection->log);
    if (l->key.data == NULL) {
        return NULL;
    }

    ngx_memcpy(l->key.data, key->data, key->len);
    l->key.len = key->len;
    l->hash = hash;
    l->conf = tlcf;
    l->used = ngx_current_msec;

    bucket = &ngx_http_tenant_lease_buckets[hash % NGX_HTTP_TENANT_LEASE_SLOTS];
    l->next = *bucket;
    *bucket = l;

    return l;
}


/* a slot that a request waits on cannot go to another key */

static ngx_uint_t
ngx_http_tenant_lease_busy(ngx_http_tenant_lease_t *l)
{
    return l->asker != NULL || !ngx_queue_empty(&l->waiters)
           || l->wake.posted;
}


static void
ngx_http_tenant_lease_unlink(ngx_http_tenant_lease_t *l)
{
    ngx_http_tenant_lease_t  **p;

    if (l->conf == NULL) {
        return;
    }

    for (p = &ngx_http_tenant_lease_buckets[l->hash
                                            % NGX_HTTP_TENANT_LEASE_SLOTS];
         *p;
         p = &(*p)->next)
    {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}


/* a lease's timer is not cancelable: a worker that exits waits for it */

void
ngx_http_tenant_lease_arm(ngx_http_tenant_lease_t *l)
{
    l->timer.handler = ngx_http_tenant_lease_expire;
    l->timer.data = l;
    l->timer.log = ngx_cycle->log;
    l->timer.cancelable = 0;

    ngx_add_timer(&l->timer, l->expires - ngx_current_msec);
}


static void
ngx_http_tenant_lease_expire(ngx_event_t *ev)
{
    ngx_http_tenant_lease_end(ev->data);
}


/*
 * The lease's unused units given back, its grant forgotten, its key kept.
 * A worker that shuts down gracefully (reload, quit) waits for its leases
 * to end, their timers not being cancelable: so a reload gives the unused
 * units back.  Only a worker that dies or is terminated leaves them
 * counted.
 */

void
ngx_http_tenant_lease_end(ngx_http_tenant_lease_t *l)
{
    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    if (l->units > 0) {
        l->back.units = l->units;
        ngx_http_tenant_lease_back(&l->back);

    } else {
        ngx_free(l->back.mem);
    }

    ngx_memzero(&l->back, sizeof(ngx_http_tenant_lease_back_t));

    l->units = 0;
    l->low = 0;
    l->expires = 0;
}


/*
 * The leases name configuration by its address and the worker's Redis
 * client: they go with a configuration read again and at exit, their
 * unused units left counted (Redis is gone or going).
 */

void
ngx_http_tenant_lease_forget(void)
{
    ngx_int_t                 left;
    ngx_uint_t                i;
    ngx_http_tenant_lease_t  *l;

    left = 0;

    for (i = 0; i < NGX_HTTP_TENANT_LEASE_SLOTS; i++) {
        l = &ngx_http_tenant_leases[i];

        if (l->timer.timer_set) {
            ngx_del_timer(&l->timer);
        }

        if (l->wake.posted) {
            ngx_delete_posted_event(&l->wake);
        }

        left += l->units;

        ngx_free(l->back.mem);
        ngx_free(l->key.data);
        ngx_memzero(l, sizeof(ngx_http_tenant_lease_t));
    }

    ngx_memzero(ngx_http_tenant_lease_buckets,
                sizeof(ngx_http_tenant_lease_buckets));

    ngx_http_tenant_lease_back_forget();

    if (left) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tenant: %i leased units not given back stay counted",
                      left);
    }
}
