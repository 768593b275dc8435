
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>

#include "ngx_http_tenant_redis.h"


/*
 * hiredis builds each reply with one calloc() per element and one
 * malloc() per string, and frees them all after the callback: a dozen
 * allocator calls per decision, a tenth of what the gateway adds to a
 * request.  Its reader takes other constructors, so replies are built
 * here in the same redisReply shape, from a buffer of the worker's.
 *
 * hiredis builds one reply at a time and frees it right after its
 * callback, before it reads the next one; the buffer is therefore
 * reused from the start whenever a new reply begins (an object without
 * a parent).  A reply that does not fit is built with malloc(), as
 * hiredis would, and freed the same way.
 */

#define NGX_HTTP_TENANT_REPLY_ARENA  4096


static void *ngx_http_tenant_reply_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_tenant_reply_array(const redisReadTask *task,
    int elements);
static void *ngx_http_tenant_reply_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_tenant_reply_nil(const redisReadTask *task);
static void ngx_http_tenant_reply_free(void *reply);
static redisReply *ngx_http_tenant_reply_object(const redisReadTask *task,
    int type);
static void *ngx_http_tenant_reply_alloc(size_t size);
static ngx_int_t ngx_http_tenant_reply_owned(void *p);


redisReplyObjectFunctions  ngx_http_tenant_redis_reply_functions = {
    ngx_http_tenant_reply_string,
    ngx_http_tenant_reply_array,
    ngx_http_tenant_reply_integer,
    ngx_http_tenant_reply_nil,
    ngx_http_tenant_reply_free
};


/* words, so that every object in it is aligned */
static uintptr_t  ngx_http_tenant_reply_words[NGX_HTTP_TENANT_REPLY_ARENA
                                              / sizeof(uintptr_t)];
static size_t     ngx_http_tenant_reply_used;

#define ngx_http_tenant_reply_arena  ((u_char *) ngx_http_tenant_reply_words)


static void *
ngx_http_tenant_reply_string(const redisReadTask *task, char *str,
    size_t len)
{
    char        *copy;
    redisReply  *r;

    r = ngx_http_tenant_reply_object(task, task->type);
    if (r == NULL) {
        return NULL;
    }

    copy = ngx_http_tenant_reply_alloc(len + 1);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, str, len);
    copy[len] = '\0';

    r->str = copy;
    r->len = len;

    return r;
}


static void *
ngx_http_tenant_reply_array(const redisReadTask *task, int elements)
{
    redisReply  *r;

    r = ngx_http_tenant_reply_object(task, REDIS_REPLY_ARRAY);
    if (r == NULL) {
        return NULL;
    }

    if (elements > 0) {
        r->element = ngx_http_tenant_reply_alloc(elements
                                                 * sizeof(redisReply *));
        if (r->element == NULL) {
            return NULL;
        }

        ngx_memzero(r->element, elements * sizeof(redisReply *));
    }

    r->elements = elements;

    return r;
}


static void *
ngx_http_tenant_reply_integer(const redisReadTask *task, long long value)
{
    redisReply  *r;

    r = ngx_http_tenant_reply_object(task, REDIS_REPLY_INTEGER);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


static void *
ngx_http_tenant_reply_nil(const redisReadTask *task)
{
    return ngx_http_tenant_reply_object(task, REDIS_REPLY_NIL);
}


/* a new object, set in its parent's elements as hiredis does */

static redisReply *
ngx_http_tenant_reply_object(const redisReadTask *task, int type)
{
    redisReply  *r, *parent;

    if (task->parent == NULL) {
        /* a new reply: the previous one has been freed */
        ngx_http_tenant_reply_used = 0;
    }

    r = ngx_http_tenant_reply_alloc(sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(redisReply));
    r->type = type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


static void *
ngx_http_tenant_reply_alloc(size_t size)
{
    void  *p;

    size = ngx_align(size, sizeof(void *));

    if (ngx_http_tenant_reply_used + size > NGX_HTTP_TENANT_REPLY_ARENA) {
        return ngx_alloc(size, ngx_cycle->log);
    }

    p = ngx_http_tenant_reply_arena + ngx_http_tenant_reply_used;
    ngx_http_tenant_reply_used += size;

    return p;
}


static ngx_int_t
ngx_http_tenant_reply_owned(void *p)
{
    return (u_char *) p >= ngx_http_tenant_reply_arena
           && (u_char *) p < ngx_http_tenant_reply_arena
                             + NGX_HTTP_TENANT_REPLY_ARENA;
}


/* only what did not fit was allocated; the buffer itself stays */

static void
ngx_http_tenant_reply_free(void *reply)
{
    size_t       i;
    redisReply  *r = reply;

    if (r == NULL) {
        return;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->element) {
        for (i = 0; i < r->elements; i++) {
            ngx_http_tenant_reply_free(r->element[i]);
        }

        if (!ngx_http_tenant_reply_owned(r->element)) {
            ngx_free(r->element);
        }

    } else if (r->str && !ngx_http_tenant_reply_owned(r->str)) {
        ngx_free(r->str);
    }

    if (!ngx_http_tenant_reply_owned(r)) {
        ngx_free(r);
    }
}
