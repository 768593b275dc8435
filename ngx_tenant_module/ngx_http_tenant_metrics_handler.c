
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_metrics_zone.h"
#include "ngx_http_tenant_error.h"
#include "ngx_http_tenant_where.h"
#include "ngx_http_tenant_jwks_source.h"
#include "ngx_http_tenant_jwks_shm.h"


/*
 * tenant_metrics_zone and tenant_metrics: a module of its own in the same
 * shared object, so that the metrics stay out of the gateway's module.
 * The handler answers as stub_status does, in Prometheus's text format
 * 0.0.4, from shared memory only: a scrape never waits on anything.
 */


/* the longest line but for its label values, which are counted apart */
#define NGX_HTTP_TENANT_METRICS_LINE  128


static void *ngx_http_tenant_metrics_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tenant_metrics_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_tenant_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_tenant_metrics_handler(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_tenant_metrics_write(ngx_http_request_t *r,
    ngx_http_tenant_metrics_conf_t *mcf);
static u_char *ngx_http_tenant_metrics_requests(u_char *p,
    ngx_http_tenant_metrics_snapshot_t *snap);
static u_char *ngx_http_tenant_metrics_tenant(u_char *p, ngx_str_t *tenant,
    uint64_t *count);
static u_char *ngx_http_tenant_metrics_tokens(u_char *p,
    ngx_http_tenant_metrics_sh_t *sh);
static u_char *ngx_http_tenant_metrics_redis_lines(u_char *p,
    ngx_http_tenant_metrics_sh_t *sh, ngx_flag_t redis);
static size_t ngx_http_tenant_metrics_jwks_size(
    ngx_http_tenant_jwks_conf_t *jc);
static u_char *ngx_http_tenant_metrics_jwks(u_char *p,
    ngx_http_tenant_jwks_conf_t *jc);
static u_char *ngx_http_tenant_metrics_escape(u_char *p, ngx_str_t *value);
static u_char *ngx_http_tenant_metrics_seconds(u_char *p, uint64_t us);


static ngx_command_t  ngx_http_tenant_metrics_commands[] = {

    { ngx_string("tenant_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_tenant_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_metrics"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tenant_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tenant_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_tenant_metrics_create_main_conf,
                                           /* create main configuration */
    ngx_http_tenant_metrics_init_main_conf,
                                           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_tenant_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_tenant_metrics_module_ctx,   /* module context */
    ngx_http_tenant_metrics_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the module's error codes as results; "admitted" for the first */
static ngx_str_t  ngx_http_tenant_metrics_admitted = ngx_string("admitted");
static ngx_str_t  ngx_http_tenant_metrics_ok = ngx_string("ok");
static ngx_str_t  ngx_http_tenant_metrics_other = ngx_string("_other");
static ngx_str_t  ngx_http_tenant_metrics_none = ngx_string("_none");

static ngx_str_t  ngx_http_tenant_metrics_redis_results[] = {
    ngx_string("ok"),
    ngx_string("error"),
    ngx_string("timeout")
};

/* the results of a token's check: the codes its refusal can have */
static ngx_uint_t  ngx_http_tenant_metrics_jwt_results[] = {
    NGX_HTTP_TENANT_ADMITTED,
    NGX_HTTP_TENANT_INVALID_TOKEN,
    NGX_HTTP_TENANT_TOKEN_EXPIRED,
    NGX_HTTP_TENANT_KEYS_UNAVAILABLE
};

static ngx_str_t  ngx_http_tenant_metrics_le[] = {
    ngx_string("0.00025"), ngx_string("0.0005"), ngx_string("0.001"),
    ngx_string("0.0025"), ngx_string("0.005"), ngx_string("0.01"),
    ngx_string("0.025"), ngx_string("0.05"), ngx_string("0.1"),
    ngx_string("0.25"), ngx_string("1"), ngx_string("+Inf")
};

static ngx_str_t  ngx_http_tenant_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


static void *
ngx_http_tenant_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tenant_metrics_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_metrics_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->zone = NULL;
     *     mcf->sh = NULL;
     *     mcf->handler.name = NULL;
     */

    return mcf;
}


static char *
ngx_http_tenant_metrics_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tenant_metrics_conf_t *mcf = conf;

    if (mcf->handler.name && mcf->zone == NULL) {
        ngx_http_tenant_where_error(cf, &mcf->handler,
                                    "\"tenant_metrics\" needs a "
                                    "\"tenant_metrics_zone\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tenant_metrics_zone NAME SIZE [tenants=N] */

static char *
ngx_http_tenant_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_metrics_conf_t *mcf = conf;

    ssize_t      size;
    ngx_int_t    n;
    ngx_str_t   *value, name, s;
    ngx_uint_t   tenants;

    if (mcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty zone name");
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    tenants = NGX_HTTP_TENANT_METRICS_DEFAULT_TENANTS;

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "tenants=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        s.data = value[3].data + 8;
        s.len = value[3].len - 8;

        n = ngx_atoi(s.data, s.len);

        /* a million tenants of series is far past what Prometheus likes */
        if (n == NGX_ERROR || n > 1000000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of tenants \"%V\"", &s);
            return NGX_CONF_ERROR;
        }

        tenants = n;
    }

    if ((size_t) size < ngx_http_tenant_metrics_zone_size(tenants)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small for tenants=%ui: "
                           "it needs at least %uzk", &name, tenants,
                           (ngx_http_tenant_metrics_zone_size(tenants)
                            + 1023) / 1024);
        return NGX_CONF_ERROR;
    }

    mcf->capacity = tenants;

    mcf->zone = ngx_shared_memory_add(cf, &name, size,
                                            &ngx_http_tenant_metrics_module);
    if (mcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    mcf->zone->init = ngx_http_tenant_metrics_zone_init;
    mcf->zone->data = mcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_tenant_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_tenant_metrics_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_tenant_metrics_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_tenant_metrics_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_tenant_metrics_module);

    if (mcf->handler.name == NULL) {
        ngx_http_tenant_where_set(cf, cmd, &mcf->handler);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tenant_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_buf_t                            *b;
    ngx_chain_t                           out;
    ngx_http_tenant_metrics_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_metrics_module);

    r->headers_out.content_type_len = ngx_http_tenant_metrics_type.len;
    r->headers_out.content_type = ngx_http_tenant_metrics_type;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->headers_out.status = NGX_HTTP_OK;

        return ngx_http_send_header(r);
    }

    b = ngx_http_tenant_metrics_write(r, mcf);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the whole exposition, in one buffer sized for the worst */

static ngx_buf_t *
ngx_http_tenant_metrics_write(ngx_http_request_t *r,
    ngx_http_tenant_metrics_conf_t *mcf)
{
    size_t                               size;
    ngx_buf_t                           *b;
    ngx_uint_t                           i, k, lines;
    ngx_http_tenant_main_conf_t         *tmcf;
    ngx_http_tenant_metrics_snapshot_t   snap;

    if (ngx_http_tenant_metrics_snapshot(mcf, r->pool, &snap) != NGX_OK) {
        return NULL;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

    /* a line per count that is not zero: those only are shown */
    lines = 0;

    for (k = 0; k < NGX_HTTP_TENANT_NREASONS; k++) {
        lines += 2;

        for (i = 0; i < snap.used; i++) {
            lines += (snap.tenants[i].count[k] != 0);
        }
    }

    size = 4096 + lines * (NGX_HTTP_TENANT_METRICS_LINE
                           + 2 * NGX_HTTP_TENANT_ID_MAX);

    size += ngx_http_tenant_metrics_jwks_size(tmcf->jwks_conf);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_http_tenant_metrics_requests(b->last, &snap);
    b->last = ngx_http_tenant_metrics_tokens(b->last, mcf->sh);
    b->last = ngx_http_tenant_metrics_redis_lines(b->last, mcf->sh,
                                                  tmcf->redis != NULL);
    b->last = ngx_http_tenant_metrics_jwks(b->last, tmcf->jwks_conf);

    return b;
}


static u_char *
ngx_http_tenant_metrics_requests(u_char *p,
    ngx_http_tenant_metrics_snapshot_t *snap)
{
    ngx_str_t                          tenant;
    ngx_uint_t                         i;
    ngx_http_tenant_metrics_tenant_t  *t;

    p = ngx_cpymem(p, "# HELP tenant_requests_total Requests the module "
                   "decided on, by tenant and result: admitted, or the "
                   "error code of the refusal.\n"
                   "# TYPE tenant_requests_total counter\n",
                   sizeof("# HELP tenant_requests_total Requests the module "
                   "decided on, by tenant and result: admitted, or the "
                   "error code of the refusal.\n"
                   "# TYPE tenant_requests_total counter\n") - 1);

    for (i = 0; i < snap->used; i++) {
        t = &snap->tenants[i];
        tenant.data = t->id;
        tenant.len = t->len;

        p = ngx_http_tenant_metrics_tenant(p, &tenant, t->count);
    }

    p = ngx_http_tenant_metrics_tenant(p, &ngx_http_tenant_metrics_other,
                                       snap->other);
    p = ngx_http_tenant_metrics_tenant(p, &ngx_http_tenant_metrics_none,
                                       snap->none);

    p = ngx_sprintf(p, "# HELP tenant_metrics_tenants Tenants with series "
                    "of their own; the others are summed as \"_other\".\n"
                    "# TYPE tenant_metrics_tenants gauge\n"
                    "tenant_metrics_tenants %ui\n"
                    "# HELP tenant_metrics_tenants_max The tenants= of "
                    "tenant_metrics_zone.\n"
                    "# TYPE tenant_metrics_tenants_max gauge\n"
                    "tenant_metrics_tenants_max %ui\n"
                    "# HELP tenant_metrics_evictions_total Tenants whose "
                    "counts were moved to \"_other\" to make room.\n"
                    "# TYPE tenant_metrics_evictions_total counter\n"
                    "tenant_metrics_evictions_total %uL\n",
                    snap->used, snap->capacity, snap->evicted);

    return p;
}


/* the counts of one tenant that are not zero */

static u_char *
ngx_http_tenant_metrics_tenant(u_char *p, ngx_str_t *tenant, uint64_t *count)
{
    ngx_str_t   *result;
    ngx_uint_t   k;

    for (k = 0; k < NGX_HTTP_TENANT_NREASONS; k++) {

        if (count[k] == 0) {
            continue;
        }

        result = (k == NGX_HTTP_TENANT_ADMITTED)
                 ? &ngx_http_tenant_metrics_admitted
                 : ngx_http_tenant_reason_code(k);

        p = ngx_cpymem(p, "tenant_requests_total{tenant=\"",
                       sizeof("tenant_requests_total{tenant=\"") - 1);
        p = ngx_http_tenant_metrics_escape(p, tenant);
        p = ngx_sprintf(p, "\",result=\"%V\"} %uL\n", result, count[k]);
    }

    return p;
}


static u_char *
ngx_http_tenant_metrics_tokens(u_char *p, ngx_http_tenant_metrics_sh_t *sh)
{
    ngx_str_t   *result;
    ngx_uint_t   i, k;

    p = ngx_sprintf(p, "# HELP tenant_jwt_verifications_total Tokens "
                    "checked (signature, time, issuer, audience), by "
                    "result: ok, or the error code of the refusal.\n"
                    "# TYPE tenant_jwt_verifications_total counter\n");

    for (i = 0; i < sizeof(ngx_http_tenant_metrics_jwt_results)
                    / sizeof(ngx_uint_t); i++)
    {
        k = ngx_http_tenant_metrics_jwt_results[i];
        result = (k == NGX_HTTP_TENANT_ADMITTED)
                 ? &ngx_http_tenant_metrics_ok
                 : ngx_http_tenant_reason_code(k);

        p = ngx_sprintf(p, "tenant_jwt_verifications_total{result=\"%V\"} "
                        "%uA\n", result, sh->jwt[k]);
    }

    return ngx_sprintf(p, "# HELP tenant_jwt_cache_hits_total Tokens whose "
                       "signature was not checked again: found in the "
                       "worker's tenant_jwt_cache.\n"
                       "# TYPE tenant_jwt_cache_hits_total counter\n"
                       "tenant_jwt_cache_hits_total %uA\n",
                       sh->jwt_cache_hits);
}


static u_char *
ngx_http_tenant_metrics_redis_lines(u_char *p,
    ngx_http_tenant_metrics_sh_t *sh, ngx_flag_t redis)
{
    uint64_t          n;
    ngx_uint_t        i, up, workers;
    ngx_core_conf_t  *ccf;

    p = ngx_sprintf(p, "# HELP tenant_redis_requests_total Commands to "
                    "Redis, by result: ok, error (an error reply, a lost "
                    "link, or Redis down), timeout.\n"
                    "# TYPE tenant_redis_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_TENANT_METRICS_REDIS_NRESULTS; i++) {
        p = ngx_sprintf(p, "tenant_redis_requests_total{result=\"%V\"} %uA\n",
                        &ngx_http_tenant_metrics_redis_results[i],
                        sh->redis[i]);
    }

    p = ngx_sprintf(p, "# HELP tenant_redis_request_duration_seconds From "
                    "sending a command to Redis to its reply, error reply "
                    "or lost link (timeouts are not observed).\n"
                    "# TYPE tenant_redis_request_duration_seconds "
                    "histogram\n");

    /* cumulative, and the count is +Inf's: they agree in one scrape */
    n = 0;

    for (i = 0; i < NGX_HTTP_TENANT_METRICS_BUCKETS; i++) {
        n += sh->redis_bucket[i];
        p = ngx_sprintf(p, "tenant_redis_request_duration_seconds_bucket"
                        "{le=\"%V\"} %uL\n", &ngx_http_tenant_metrics_le[i],
                        n);
    }

    p = ngx_cpymem(p, "tenant_redis_request_duration_seconds_sum ",
                   sizeof("tenant_redis_request_duration_seconds_sum ") - 1);
    p = ngx_http_tenant_metrics_seconds(p, sh->redis_us);

    p = ngx_sprintf(p, "\ntenant_redis_request_duration_seconds_count %uL\n"
                    "# HELP tenant_redis_reconnects_total Connections to "
                    "Redis opened again after a link failed.\n"
                    "# TYPE tenant_redis_reconnects_total counter\n"
                    "tenant_redis_reconnects_total %uA\n",
                    n, sh->redis_reconnects);

    if (!redis) {
        return p;
    }

    /* 1 when every worker's link answered last; see docs/metrics.md */
    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    workers = (ngx_process == NGX_PROCESS_SINGLE) ? 1 : ccf->worker_processes;
    workers = ngx_min(workers, NGX_MAX_PROCESSES);
    up = 1;

    for (i = 0; i < workers; i++) {
        up &= sh->redis_up[i];
    }

    return ngx_sprintf(p, "# HELP tenant_redis_up 1 when the link of every "
                       "worker to Redis is up, else 0.\n"
                       "# TYPE tenant_redis_up gauge\n"
                       "tenant_redis_up %ui\n", up);
}


static size_t
ngx_http_tenant_metrics_jwks_size(ngx_http_tenant_jwks_conf_t *jc)
{
    if (jc == NULL || jc->zone == NULL) {
        return 0;
    }

    return jc->urls.nelts * 3 * (NGX_HTTP_TENANT_METRICS_LINE
                                 + 2 * NGX_HTTP_TENANT_JWKS_URL_MAX);
}


static u_char *
ngx_http_tenant_metrics_jwks(u_char *p, ngx_http_tenant_jwks_conf_t *jc)
{
    ngx_uint_t                    i;
    ngx_http_tenant_jwks_stats_t  stats;

    if (jc == NULL || jc->zone == NULL) {
        return p;
    }

    p = ngx_sprintf(p, "# HELP tenant_jwks_fetches_total Fetches of keys "
                    "from a tenant_jwt_jwks_url or tenant_jwt_discovery "
                    "URL by the node, by result: ok or error.\n"
                    "# TYPE tenant_jwks_fetches_total counter\n");

    for (i = 0; ngx_http_tenant_jwks_shm_stats(jc->zone, i, &stats) == NGX_OK;
         i++)
    {
        p = ngx_cpymem(p, "tenant_jwks_fetches_total{url=\"",
                       sizeof("tenant_jwks_fetches_total{url=\"") - 1);
        p = ngx_http_tenant_metrics_escape(p, &stats.url);
        p = ngx_sprintf(p, "\",result=\"ok\"} %ui\n", stats.fetched_ok);

        p = ngx_cpymem(p, "tenant_jwks_fetches_total{url=\"",
                       sizeof("tenant_jwks_fetches_total{url=\"") - 1);
        p = ngx_http_tenant_metrics_escape(p, &stats.url);
        p = ngx_sprintf(p, "\",result=\"error\"} %ui\n", stats.failed);
    }

    p = ngx_sprintf(p, "# HELP tenant_jwks_last_success_timestamp_seconds "
                    "When keys were last fetched from the URL (Unix time; "
                    "0: never).\n"
                    "# TYPE tenant_jwks_last_success_timestamp_seconds "
                    "gauge\n");

    for (i = 0; ngx_http_tenant_jwks_shm_stats(jc->zone, i, &stats) == NGX_OK;
         i++)
    {
        p = ngx_cpymem(p, "tenant_jwks_last_success_timestamp_seconds{url=\"",
                       sizeof("tenant_jwks_last_success_timestamp_seconds"
                              "{url=\"") - 1);
        p = ngx_http_tenant_metrics_escape(p, &stats.url);
        p = ngx_sprintf(p, "\"} %T\n", stats.last_success);
    }

    return p;
}


/* a label value: backslash, double quote and line feed escaped */

static u_char *
ngx_http_tenant_metrics_escape(u_char *p, ngx_str_t *value)
{
    u_char  *s, *end;

    end = value->data + value->len;

    for (s = value->data; s < end; s++) {

        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    return p;
}


static u_char *
ngx_http_tenant_metrics_seconds(u_char *p, uint64_t us)
{
    return ngx_sprintf(p, "%uL.%06uL", us / 1000000, us % 1000000);
}
