
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_ctx.h"
#include "ngx_http_tenant_error.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_usage.h"


/*
 * tenant_usage reads back, for billing, the monthly usage counters that
 * the decision script keeps: PREFIX{ID}:usage:MONTH, a hash of
 * "requests" and "meter:NAME" (see ngx_http_tenant_script.c).  The
 * request waits, as a decision does, for one EVALSHA of the module's
 * script through the worker's client: mode "U" for one tenant, "S" for
 * a page of SCAN over every tenant's.  Nothing here blocks, and a
 * request that goes away first cancels its operation.
 *
 * SCAN sees the keys of the one server it runs on.  In a Redis Cluster
 * the listing goes through the masters one after the other, in the
 * client's order, and its cursor is "I-C": the I-th master's SCAN
 * cursor C.
 */


#define NGX_HTTP_TENANT_USAGE_COUNT_DEFAULT  "100"
#define NGX_HTTP_TENANT_USAGE_COUNT_MAX      1000

/* "2026-11" */
#define NGX_HTTP_TENANT_USAGE_MONTH_LEN      7

/* SCAN's cursor is an unsigned 64-bit number */
#define NGX_HTTP_TENANT_USAGE_CURSOR_MAX     "18446744073709551615"

/* a cluster's master index in a cursor: the client knows at most 1024 */
#define NGX_HTTP_TENANT_USAGE_MASTER_LEN     4


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_tenant_redis_op_t     *op;
    ngx_event_t                     timer;
    ngx_str_t                       tenant;     /* empty: every tenant */
    ngx_str_t                       period;
    ngx_str_t                       cursor;     /* SCAN's, on the master */
    ngx_str_t                       count;
    ngx_uint_t                      master;     /* a cluster's: which */
    ngx_uint_t                      masters;    /* a cluster's: how many */
    ngx_flag_t                      cluster;
    ngx_str_t                       key;        /* or SCAN's MATCH */
    ngx_str_t                      *prefix;
    u_char                          count_text[NGX_INT_T_LEN];
} ngx_http_tenant_usage_t;


static ngx_int_t ngx_http_tenant_usage_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tenant_usage_args(ngx_http_request_t *r,
    ngx_http_tenant_usage_t *u, const char **invalid);
static ngx_int_t ngx_http_tenant_usage_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_usage_month(ngx_str_t *period);
static ngx_int_t ngx_http_tenant_usage_cursor(ngx_http_tenant_usage_t *u);
static ngx_int_t ngx_http_tenant_usage_number(ngx_str_t *n, ngx_str_t *max);
static ngx_int_t ngx_http_tenant_usage_masters(ngx_http_request_t *r,
    ngx_http_tenant_usage_t *u);
static ngx_int_t ngx_http_tenant_usage_key(ngx_http_request_t *r,
    ngx_http_tenant_usage_t *u);
static ngx_int_t ngx_http_tenant_usage_wait(ngx_http_request_t *r,
    ngx_http_tenant_usage_t *u);
static ngx_http_tenant_redis_op_t *ngx_http_tenant_usage_send(
    ngx_http_request_t *r, ngx_http_tenant_usage_t *u);
static void ngx_http_tenant_usage_reply(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static void ngx_http_tenant_usage_timeout(ngx_event_t *ev);
static void ngx_http_tenant_usage_cleanup(void *data);
static json_t *ngx_http_tenant_usage_one(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *reply);
static json_t *ngx_http_tenant_usage_page(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *reply);
static json_t *ngx_http_tenant_usage_next(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *cursor);
static ngx_int_t ngx_http_tenant_usage_counts(json_t *object,
    ngx_http_tenant_redis_reply_t *hash);
static ngx_int_t ngx_http_tenant_usage_tenant(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *key, ngx_str_t *id);
static ngx_int_t ngx_http_tenant_usage_output(ngx_http_request_t *r,
    json_t *root);
static void ngx_http_tenant_usage_refuse(ngx_http_request_t *r,
    ngx_http_tenant_reason_e reason, const char *detail);


static ngx_str_t  ngx_http_tenant_usage_json_type =
    ngx_string("application/json");


/* tenant_usage; */

char *
ngx_http_tenant_usage(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (tlcf->usage_where.name) {
        return "is duplicate";
    }

    ngx_http_tenant_where_set(cf, cmd, &tlcf->usage_where);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tenant_usage_handler;

    return NGX_CONF_OK;
}


/* a location's own: a nested location does not answer usage */

char *
ngx_http_tenant_usage_merge(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *conf)
{
    ngx_http_tenant_main_conf_t  *tmcf;

    if (conf->usage_where.name == NULL) {
        return NGX_CONF_OK;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);

    if (tmcf->redis == NULL) {
        ngx_http_tenant_where_error(cf, &conf->usage_where,
                           "\"tenant_usage\" needs \"tenant_redis\": "
                           "declare the Redis server at the http level");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A refusal finalizes the request itself: the reference taken before it
 * is the one the content phase's finalization of NGX_DONE gives back.
 */

static ngx_int_t
ngx_http_tenant_usage_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    const char                   *invalid;
    ngx_table_elt_t              *allow;
    ngx_http_tenant_usage_t      *u;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        allow = ngx_list_push(&r->headers_out.headers);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        allow->hash = 1;
        ngx_str_set(&allow->key, "Allow");
        ngx_str_set(&allow->value, "GET, HEAD");

        r->main->count++;
        ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_METHOD_NOT_ALLOWED,
                                     "tenant_usage answers GET and HEAD");
        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_http_tenant_usage_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    u->request = r;
    u->cluster = tmcf->redis->cluster;

    rc = ngx_http_tenant_usage_args(r, u, &invalid);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        r->main->count++;
        ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_INVALID_REQUEST,
                                     invalid);
        return NGX_DONE;
    }

    if (ngx_http_tenant_usage_key(r, u) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (u->cluster && u->tenant.len == 0
        && ngx_http_tenant_usage_masters(r, u) != NGX_OK)
    {
        r->main->count++;
        ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_INVALID_REQUEST,
                                     "\"cursor\" names a redis cluster "
                                     "master the slot map has no more: "
                                     "start the export again");
        return NGX_DONE;
    }

    rc = ngx_http_tenant_usage_wait(r, u);

    if (rc == NGX_DECLINED) {
        ngx_http_tenant_redis_log_failure(r->connection->log,
                                          "redis is not connected");
        r->main->count++;
        ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_LIMITER_UNAVAILABLE,
                                     "usage cannot be read from redis");
        return NGX_DONE;
    }

    return rc;
}


/*
 * Sends the read and suspends the request until its reply, its timer or
 * its end.  NGX_DONE: waiting; NGX_DECLINED: Redis is down.
 */

static ngx_int_t
ngx_http_tenant_usage_wait(ngx_http_request_t *r, ngx_http_tenant_usage_t *u)
{
    ngx_http_cleanup_t           *cln;
    ngx_http_tenant_main_conf_t  *tmcf;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->op = ngx_http_tenant_usage_send(r, u);
    if (u->op == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_tenant_usage_cleanup;
    cln->data = u;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    u->timer.handler = ngx_http_tenant_usage_timeout;
    u->timer.data = u;
    u->timer.log = r->connection->log;

    ngx_add_timer(&u->timer, tmcf->redis->timeout);

    /* a client that closes its connection ends the wait at once */
    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tenant usage: sent, period \"%V\" tenant \"%V\"",
                   &u->period, &u->tenant);

    r->main->count++;

    return NGX_DONE;
}


/*
 * NGX_OK: valid; NGX_DECLINED: not, and *invalid says why, for the log;
 * NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_tenant_usage_args(ngx_http_request_t *r, ngx_http_tenant_usage_t *u,
    const char **invalid)
{
    ngx_int_t  n, rc[4];

    rc[0] = ngx_http_tenant_usage_arg(r, "period", &u->period);
    rc[1] = ngx_http_tenant_usage_arg(r, "tenant", &u->tenant);
    rc[2] = ngx_http_tenant_usage_arg(r, "cursor", &u->cursor);
    rc[3] = ngx_http_tenant_usage_arg(r, "count", &u->count);

    if (rc[0] == NGX_ERROR || rc[1] == NGX_ERROR || rc[2] == NGX_ERROR
        || rc[3] == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    if (rc[2] == NGX_DECLINED) {
        ngx_str_set(&u->cursor, "0");
    }

    if (rc[3] == NGX_DECLINED) {
        ngx_str_set(&u->count, NGX_HTTP_TENANT_USAGE_COUNT_DEFAULT);
    }

    n = ngx_atoi(u->count.data, u->count.len);

    if (rc[0] == NGX_DECLINED
        || ngx_http_tenant_usage_month(&u->period) != NGX_OK)
    {
        *invalid = "\"period\" must be a month, YYYY-MM";

    } else if (rc[1] == NGX_OK
               && ngx_http_tenant_id_valid(u->tenant.data, u->tenant.len)
                  != NGX_OK)
    {
        *invalid = "\"tenant\" is not a valid tenant ID";

    } else if (ngx_http_tenant_usage_cursor(u) != NGX_OK) {
        *invalid = "\"cursor\" must be a \"next_cursor\" of an earlier page";

    } else if (n < 1 || n > NGX_HTTP_TENANT_USAGE_COUNT_MAX) {
        *invalid = "\"count\" must be a number from 1 to 1000";

    } else {
        /* written again: Redis takes no leading zero in a count ("010") */
        u->count.data = u->count_text;
        u->count.len = ngx_sprintf(u->count.data, "%i", n) - u->count.data;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the argument, unescaped; NGX_DECLINED: not in the query string */

static ngx_int_t
ngx_http_tenant_usage_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, raw.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


/* YYYY-MM, the month as the counters name it */

static ngx_int_t
ngx_http_tenant_usage_month(ngx_str_t *period)
{
    u_char      *p;
    ngx_uint_t   i;

    p = period->data;

    if (period->len != NGX_HTTP_TENANT_USAGE_MONTH_LEN || p[4] != '-') {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TENANT_USAGE_MONTH_LEN; i++) {
        if (i != 4 && (p[i] < '0' || p[i] > '9')) {
            return NGX_ERROR;
        }
    }

    if ((p[5] == '0' && p[6] == '0') || p[5] > '1'
        || (p[5] == '1' && p[6] > '2'))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A "next_cursor" of an earlier page, or "0", the first: SCAN's cursor
 * on a single server; in a cluster, "I-C", the I-th master's cursor C,
 * I as the module writes it (no leading zero), whether that master
 * still exists being known only to the client.
 */

static ngx_int_t
ngx_http_tenant_usage_cursor(ngx_http_tenant_usage_t *u)
{
    u_char     *dash;
    ngx_str_t   max, index;

    ngx_str_set(&max, NGX_HTTP_TENANT_USAGE_CURSOR_MAX);

    u->master = 0;

    if (!u->cluster) {
        return ngx_http_tenant_usage_number(&u->cursor, &max);
    }

    if (u->cursor.len == 1 && u->cursor.data[0] == '0') {
        return NGX_OK;
    }

    dash = ngx_strlchr(u->cursor.data, u->cursor.data + u->cursor.len, '-');
    if (dash == NULL) {
        return NGX_ERROR;
    }

    index.data = u->cursor.data;
    index.len = dash - u->cursor.data;

    if (index.len > NGX_HTTP_TENANT_USAGE_MASTER_LEN
        || ngx_http_tenant_usage_number(&index, &max) != NGX_OK
        || (index.len > 1 && index.data[0] == '0'))
    {
        return NGX_ERROR;
    }

    u->master = ngx_atoi(index.data, index.len);

    u->cursor.data = dash + 1;
    u->cursor.len -= index.len + 1;

    return ngx_http_tenant_usage_number(&u->cursor, &max);
}


/*
 * A cluster's listing: how many masters the client knows now, and
 * whether the cursor's is one of them.  None known (no slot map yet):
 * the read fails as Redis being down does, when sent.
 */

static ngx_int_t
ngx_http_tenant_usage_masters(ngx_http_request_t *r,
    ngx_http_tenant_usage_t *u)
{
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    u->masters = ngx_http_tenant_redis_masters(tmcf->redis_client);

    if (u->masters && u->master >= u->masters) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* decimal digits, no sign, at most max (a number of max's digits) */

static ngx_int_t
ngx_http_tenant_usage_number(ngx_str_t *n, ngx_str_t *max)
{
    ngx_uint_t  i;

    if (n->len == 0 || n->len > max->len) {
        return NGX_ERROR;
    }

    for (i = 0; i < n->len; i++) {
        if (n->data[i] < '0' || n->data[i] > '9') {
            return NGX_ERROR;
        }
    }

    if (n->len == max->len && ngx_strncmp(n->data, max->data, n->len) > 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "U": PREFIX{ID}:usage:MONTH.  "S": the MATCH pattern of every tenant's
 * PREFIX{*}:usage:MONTH, the prefix's glob characters escaped; tenant IDs
 * have none, and one that is not valid is left out of the page.
 */

static ngx_int_t
ngx_http_tenant_usage_key(ngx_http_request_t *r, ngx_http_tenant_usage_t *u)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_str_t                    *prefix;
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    prefix = &tmcf->redis->prefix;
    u->prefix = prefix;

    p = ngx_pnalloc(r->pool, 2 * prefix->len + sizeof("{}") - 1
                             + u->tenant.len + 1
                             + sizeof(NGX_HTTP_TENANT_USAGE_KEY) - 1
                             + u->period.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    u->key.data = p;

    if (u->tenant.len) {
        p = ngx_cpymem(p, prefix->data, prefix->len);
        *p++ = '{';
        p = ngx_cpymem(p, u->tenant.data, u->tenant.len);

    } else {
        for (i = 0; i < prefix->len; i++) {
            switch (prefix->data[i]) {
            case '*':
            case '?':
            case '[':
            case ']':
            case '\\':
                *p++ = '\\';
            }

            *p++ = prefix->data[i];
        }

        *p++ = '{';
        *p++ = '*';
    }

    *p++ = '}';
    p = ngx_cpymem(p, NGX_HTTP_TENANT_USAGE_KEY,
                   sizeof(NGX_HTTP_TENANT_USAGE_KEY) - 1);
    p = ngx_cpymem(p, u->period.data, u->period.len);

    u->key.len = p - u->key.data;

    return NGX_OK;
}


static ngx_http_tenant_redis_op_t *
ngx_http_tenant_usage_send(ngx_http_request_t *r, ngx_http_tenant_usage_t *u)
{
    int                           n;
    size_t                        len[5];
    const char                   *arg[5];
    ngx_http_tenant_main_conf_t  *tmcf;

#define ngx_http_tenant_usage_add(s, l)                                       \
    arg[n] = (const char *) (s); len[n] = (l); n++

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    if (tmcf->redis_client == NULL) {
        return NULL;
    }

    n = 0;

    if (u->tenant.len) {
        ngx_http_tenant_usage_add(NGX_HTTP_TENANT_SCRIPT_USAGE_KEYS, 1);
        ngx_http_tenant_usage_add(u->key.data, u->key.len);
        ngx_http_tenant_usage_add(NGX_HTTP_TENANT_SCRIPT_USAGE, 1);

    } else {
        ngx_http_tenant_usage_add(NGX_HTTP_TENANT_SCRIPT_USAGE_SCAN_KEYS, 1);
        ngx_http_tenant_usage_add(NGX_HTTP_TENANT_SCRIPT_USAGE_SCAN, 1);
        ngx_http_tenant_usage_add(u->cursor.data, u->cursor.len);
        ngx_http_tenant_usage_add(u->key.data, u->key.len);
        ngx_http_tenant_usage_add(u->count.data, u->count.len);
    }

#undef ngx_http_tenant_usage_add

    if (u->tenant.len) {
        /* the master of the tenant's slot, in a cluster */
        return ngx_http_tenant_redis_eval(tmcf->redis_client, n, arg, len,
                                          ngx_http_tenant_usage_reply, u);
    }

    return ngx_http_tenant_redis_eval_master(tmcf->redis_client, u->master,
                                             n, arg, len,
                                             ngx_http_tenant_usage_reply, u);
}


static void
ngx_http_tenant_usage_reply(void *data, ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_usage_t *u = data;

    json_t              *root;
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = u->request;
    c = r->connection;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "tenant usage: reply");

    u->op = NULL;

    if (u->timer.timer_set) {
        ngx_del_timer(&u->timer);
    }

    root = NULL;

    if (reply) {
        root = u->tenant.len ? ngx_http_tenant_usage_one(u, reply)
                             : ngx_http_tenant_usage_page(u, reply);
    }

    if (root == NULL) {
        ngx_http_tenant_redis_log_failure(c->log,
                                          reply ? "unexpected usage reply"
                                                : "redis request failed");
        ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_LIMITER_UNAVAILABLE,
                                     "usage cannot be read from redis");

    } else {
        rc = ngx_http_tenant_usage_output(r, root);
        json_decref(root);

        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tenant_usage_timeout(ngx_event_t *ev)
{
    ngx_http_tenant_usage_t *u = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = u->request;
    c = r->connection;

    ngx_http_tenant_redis_cancel(u->op);
    u->op = NULL;

    ngx_http_tenant_redis_log_failure(c->log, "redis did not answer in time");

    ngx_http_tenant_usage_refuse(r, NGX_HTTP_TENANT_LIMITER_UNAVAILABLE,
                                 "usage cannot be read from redis");

    ngx_http_run_posted_requests(c);
}


/* a request that goes away first leaves no callback and no timer behind */

static void
ngx_http_tenant_usage_cleanup(void *data)
{
    ngx_http_tenant_usage_t *u = data;

    if (u->op) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, u->timer.log, 0,
                       "tenant usage: request gone, read cancelled");

        ngx_http_tenant_redis_cancel(u->op);
        u->op = NULL;
    }

    if (u->timer.timer_set) {
        ngx_del_timer(&u->timer);
    }
}


/* {"tenant":ID,"period":MONTH,"requests":N,"meters":{NAME:N,...}} */

static json_t *
ngx_http_tenant_usage_one(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *reply)
{
    json_t  *root;

    root = json_object();
    if (root == NULL) {
        return NULL;
    }

    if (json_object_set_new(root, "tenant",
                            json_stringn((char *) u->tenant.data,
                                         u->tenant.len))
        != 0
        || json_object_set_new(root, "period",
                               json_stringn((char *) u->period.data,
                                            u->period.len))
           != 0
        || ngx_http_tenant_usage_counts(root, reply) != NGX_OK)
    {
        json_decref(root);
        return NULL;
    }

    return root;
}


/*
 * {"period":MONTH,"tenants":[{"tenant":ID,"requests":N,"meters":{}},...],
 *  "next_cursor":"N"}, null for the last page; a cluster's has its
 * "masters":N last
 */

static json_t *
ngx_http_tenant_usage_page(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *reply)
{
    size_t                          i;
    json_t                         *root, *tenants, *entry, *next;
    ngx_str_t                       id;
    ngx_http_tenant_redis_reply_t  *cursor;

    if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY
        || reply->elements % 2 != 1
        || reply->element[0]->type != NGX_HTTP_TENANT_REDIS_STRING)
    {
        return NULL;
    }

    cursor = reply->element[0];

    root = json_object();
    tenants = json_array();

    if (root == NULL || tenants == NULL
        || json_object_set_new(root, "period",
                               json_stringn((char *) u->period.data,
                                            u->period.len))
           != 0
        || json_object_set(root, "tenants", tenants) != 0)
    {
        goto failed;
    }

    for (i = 1; i < reply->elements; i += 2) {

        if (ngx_http_tenant_usage_tenant(u, reply->element[i], &id)
            != NGX_OK)
        {
            continue;
        }

        entry = json_object();

        if (entry == NULL
            || json_array_append_new(tenants, entry) != 0
            || json_object_set_new(entry, "tenant",
                                   json_stringn((char *) id.data, id.len))
               != 0
            || ngx_http_tenant_usage_counts(entry, reply->element[i + 1])
               != NGX_OK)
        {
            goto failed;
        }
    }

    next = ngx_http_tenant_usage_next(u, cursor);

    if (json_object_set_new(root, "next_cursor", next) != 0
        || (u->cluster
            && json_object_set_new(root, "masters", json_integer(u->masters))
               != 0))
    {
        goto failed;
    }

    json_decref(tenants);

    return root;

failed:

    json_decref(tenants);
    json_decref(root);

    return NULL;
}


/*
 * The page after this one: SCAN's cursor on the same master; in a
 * cluster, when that master's SCAN has ended, the next master's start;
 * null after the last master's last page.
 */

static json_t *
ngx_http_tenant_usage_next(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *cursor)
{
    u_char     *p, buf[NGX_HTTP_TENANT_USAGE_MASTER_LEN + 1
                       + sizeof(NGX_HTTP_TENANT_USAGE_CURSOR_MAX)];
    ngx_uint_t  ended;

    ended = (cursor->len == 1 && cursor->str[0] == '0');

    if (!u->cluster) {
        return ended ? json_null()
                     : json_stringn((char *) cursor->str, cursor->len);
    }

    if (ended && u->master + 1 >= u->masters) {
        return json_null();
    }

    if (ended) {
        p = ngx_sprintf(buf, "%ui-0", u->master + 1);

    } else if (cursor->len < sizeof(NGX_HTTP_TENANT_USAGE_CURSOR_MAX)) {
        p = ngx_sprintf(buf, "%ui-%*s", u->master, (size_t) cursor->len,
                        cursor->str);

    } else {
        /* not a SCAN cursor: no page can follow it */
        return NULL;
    }

    return json_stringn((char *) buf, p - buf);
}


/*
 * "requests" and "meters" from the hash's fields; a field of another name,
 * or a value that is not a count, is not billing's and is left out
 */

static ngx_int_t
ngx_http_tenant_usage_counts(json_t *object,
    ngx_http_tenant_redis_reply_t *hash)
{
    off_t                           n;
    size_t                          i, skip;
    json_t                         *meters;
    ngx_http_tenant_redis_reply_t  *field, *value;

    if (hash->type != NGX_HTTP_TENANT_REDIS_ARRAY || hash->elements % 2) {
        return NGX_ERROR;
    }

    meters = json_object();

    /* "requests" first, even when the month has only meters so far */
    if (json_object_set_new(object, "requests", json_integer(0)) != 0
        || json_object_set_new(object, "meters", meters) != 0)
    {
        return NGX_ERROR;
    }

    skip = sizeof(NGX_HTTP_TENANT_USAGE_METER) - 1;

    for (i = 0; i < hash->elements; i += 2) {
        field = hash->element[i];
        value = hash->element[i + 1];

        if (field->type != NGX_HTTP_TENANT_REDIS_STRING
            || value->type != NGX_HTTP_TENANT_REDIS_STRING)
        {
            continue;
        }

        n = ngx_atoof(value->str, value->len);
        if (n == NGX_ERROR) {
            continue;
        }

        if (field->len == sizeof(NGX_HTTP_TENANT_USAGE_REQUESTS) - 1
            && ngx_strncmp(field->str, NGX_HTTP_TENANT_USAGE_REQUESTS,
                           field->len)
               == 0)
        {
            if (json_object_set_new(object, "requests", json_integer(n))
                != 0)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (field->len > skip
            && ngx_strncmp(field->str, NGX_HTTP_TENANT_USAGE_METER, skip)
               == 0)
        {
            /* fails only for a name that is not UTF-8: left out */
            (void) json_object_setn_new(meters, (char *) field->str + skip,
                                        field->len - skip, json_integer(n));
        }
    }

    return NGX_OK;
}


/* the ID in PREFIX{ID}:usage:MONTH, if the key is one and the ID valid */

static ngx_int_t
ngx_http_tenant_usage_tenant(ngx_http_tenant_usage_t *u,
    ngx_http_tenant_redis_reply_t *key, ngx_str_t *id)
{
    u_char  *p, *last;
    size_t   tail;

    tail = sizeof("}" NGX_HTTP_TENANT_USAGE_KEY) - 1 + u->period.len;

    if (key->type != NGX_HTTP_TENANT_REDIS_STRING
        || key->len <= u->prefix->len + 1 + tail)
    {
        return NGX_ERROR;
    }

    p = key->str;
    last = key->str + key->len - tail;

    if (ngx_strncmp(p, u->prefix->data, u->prefix->len) != 0
        || p[u->prefix->len] != '{'
        || *last != '}'
        || ngx_strncmp(last + 1, NGX_HTTP_TENANT_USAGE_KEY,
                       sizeof(NGX_HTTP_TENANT_USAGE_KEY) - 1)
           != 0
        || ngx_strncmp(last + sizeof(NGX_HTTP_TENANT_USAGE_KEY),
                       u->period.data, u->period.len)
           != 0)
    {
        return NGX_ERROR;
    }

    id->data = p + u->prefix->len + 1;
    id->len = last - id->data;

    return ngx_http_tenant_id_valid(id->data, id->len);
}


static ngx_int_t
ngx_http_tenant_usage_output(ngx_http_request_t *r, json_t *root)
{
    size_t            len;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    len = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (json_dumpb(root, (char *) b->last, len, JSON_COMPACT) != len) {
        return NGX_ERROR;
    }

    b->last += len;
    *b->last++ = LF;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    /* usage changes with every request: never from a cache */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_tenant_usage_json_type;
    r->headers_out.content_type_len = ngx_http_tenant_usage_json_type.len;
    r->headers_out.content_length_n = len + 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The module's JSON error, which also finalizes the request; the reason
 * goes to $tenant_reject_reason as for any refusal.
 */

static void
ngx_http_tenant_usage_refuse(ngx_http_request_t *r,
    ngx_http_tenant_reason_e reason, const char *detail)
{
    ngx_http_tenant_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tenant_module);

    if (ctx == NULL) {
        ctx = ngx_http_tenant_ctx_find(r);
    }

    if (ctx == NULL) {
        ctx = ngx_http_tenant_ctx_get(r);
    }

    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) ngx_http_tenant_reject(r, ctx, reason, detail);
}
