
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>

#include "ngx_http_tenant_redis_conn.h"


/*
 * hiredis's reader parses RESP; it builds each reply with the
 * constructors it is given.  Its own make one calloc() per element and
 * one malloc() per string: a dozen allocator calls per decision, a tenth
 * of what the gateway adds to a request.  These build replies of the
 * module's own type (no hiredis type is seen above the Redis files) from
 * a buffer of the worker's.
 *
 * A reply is taken from the reader, handled, and freed before the next
 * one is asked for; the buffer is therefore reused from the start
 * whenever a new reply begins (an object without a parent).  A reply
 * that does not fit is built with malloc(), and freed the same way.
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
static ngx_http_tenant_redis_reply_t *ngx_http_tenant_reply_object(
    const redisReadTask *task, int type);
static void *ngx_http_tenant_reply_alloc(size_t size);
static ngx_int_t ngx_http_tenant_reply_owned(void *p);


static redisReplyObjectFunctions  ngx_http_tenant_redis_reply_functions = {
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
    char                           *copy;
    ngx_http_tenant_redis_reply_t  *r;

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

    r->str = (u_char *) copy;
    r->len = len;

    return r;
}


static void *
ngx_http_tenant_reply_array(const redisReadTask *task, int elements)
{
    size_t                          size;
    ngx_http_tenant_redis_reply_t  *r;

    r = ngx_http_tenant_reply_object(task, NGX_HTTP_TENANT_REDIS_ARRAY);
    if (r == NULL) {
        return NULL;
    }

    if (elements > 0) {
        size = elements * sizeof(ngx_http_tenant_redis_reply_t *);

        r->element = ngx_http_tenant_reply_alloc(size);
        if (r->element == NULL) {
            return NULL;
        }

        ngx_memzero(r->element, size);
    }

    r->elements = elements;

    return r;
}


static void *
ngx_http_tenant_reply_integer(const redisReadTask *task, long long value)
{
    ngx_http_tenant_redis_reply_t  *r;

    r = ngx_http_tenant_reply_object(task, NGX_HTTP_TENANT_REDIS_INTEGER);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


static void *
ngx_http_tenant_reply_nil(const redisReadTask *task)
{
    return ngx_http_tenant_reply_object(task, NGX_HTTP_TENANT_REDIS_NIL);
}


/* a new object, set in its parent's elements as hiredis does */

static ngx_http_tenant_redis_reply_t *
ngx_http_tenant_reply_object(const redisReadTask *task, int type)
{
    ngx_http_tenant_redis_reply_t  *r, *parent;

    if (task->parent == NULL) {
        /* a new reply: the previous one has been freed */
        ngx_http_tenant_reply_used = 0;
    }

    r = ngx_http_tenant_reply_alloc(sizeof(ngx_http_tenant_redis_reply_t));
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(ngx_http_tenant_redis_reply_t));
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
    ngx_http_tenant_redis_reply_t  *r = reply;

    if (r == NULL) {
        return;
    }

    if (r->type == NGX_HTTP_TENANT_REDIS_ARRAY && r->element) {
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


void *
ngx_http_tenant_redis_reader_create(void)
{
    return redisReaderCreateWithFunctions(
                                       &ngx_http_tenant_redis_reply_functions);
}
