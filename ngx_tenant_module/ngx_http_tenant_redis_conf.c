
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_redis_conn.h"


#define NGX_HTTP_TENANT_REDIS_PORT             6379
#define NGX_HTTP_TENANT_SENTINEL_PORT          26379
#define NGX_HTTP_TENANT_REDIS_TIMEOUT          50
#define NGX_HTTP_TENANT_REDIS_VERIFY_DEPTH     4


static char *ngx_http_tenant_redis_auth_param(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *username, ngx_str_t *password,
    ngx_flag_t *tls);
static ngx_int_t ngx_http_tenant_redis_address(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
static ngx_int_t ngx_http_tenant_redis_tls_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
static ngx_int_t ngx_http_tenant_redis_sentinels_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
static char *ngx_http_tenant_redis_cluster_param(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_redis_cluster_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);
static ngx_array_t *ngx_http_tenant_redis_peers(ngx_conf_t *cf,
    ngx_uint_t first, in_port_t port, const char *what);


ngx_conf_bitmask_t  ngx_http_tenant_redis_ssl_protocols[] = {
    { ngx_string("TLSv1"), NGX_SSL_TLSv1 },
    { ngx_string("TLSv1.1"), NGX_SSL_TLSv1_1 },
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};


/*
 * tenant_redis address [timeout=50ms] [username=] [password=] [db=N]
 *     [prefix=tenant:] [tls]
 * tenant_redis cluster=on [timeout=50ms] ...: the nodes from
 *     tenant_redis_cluster
 */

char *
ngx_http_tenant_redis_parse(ngx_conf_t *cf, ngx_http_tenant_redis_conf_t *rcf)
{
    char        *rv;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    value = cf->args->elts;

    rcf->address = value[1];
    rcf->timeout = NGX_HTTP_TENANT_REDIS_TIMEOUT;
    rcf->db = 0;
    ngx_str_set(&rcf->prefix, "tenant:");

    /* "tenant_redis cluster=on ...": no address, parameters from the first */
    i = 2;

    if (ngx_strncmp(value[1].data, "cluster=", 8) == 0) {
        ngx_str_set(&rcf->address, "cluster");
        i = 1;
    }

    if (ngx_strncmp(value[1].data, "sentinel=", 9) == 0) {
        rcf->master.data = value[1].data + 9;
        rcf->master.len = value[1].len - 9;

        if (rcf->master.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis address \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for ( /* void */ ; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cluster=", 8) == 0) {
            rv = ngx_http_tenant_redis_cluster_param(cf, rcf, &value[i]);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            rcf->timeout = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf->prefix.data = value[i].data + 7;
            rcf->prefix.len = value[i].len - 7;
            continue;
        }

        rv = ngx_http_tenant_redis_auth_param(cf, &value[i], &rcf->username,
                                              &rcf->password, &rcf->tls);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (rcf->username.len && rcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"username=\" needs \"password=\" too");
        return NGX_CONF_ERROR;
    }

    /* the tenant's "{ID}" must be the first braces of every key */
    if (rcf->cluster
        && (ngx_strlchr(rcf->prefix.data, rcf->prefix.data + rcf->prefix.len,
                        '{')
            || ngx_strlchr(rcf->prefix.data,
                           rcf->prefix.data + rcf->prefix.len, '}')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prefix=%V\" cannot hold \"{\" or \"}\" with "
                           "\"cluster=on\": the tenant's {ID} is the hash tag "
                           "of its keys", &rcf->prefix);
        return NGX_CONF_ERROR;
    }

    if (rcf->cluster && rcf->db != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"db=%i\" cannot be used with \"cluster=on\": "
                           "Redis Cluster has only database 0", rcf->db);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* tenant_redis_sentinel host:port ... [username=] [password=] [tls] */

char *
ngx_http_tenant_redis_sentinel_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    char                          *rv;
    ngx_url_t                      u;
    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_tenant_redis_peer_t  *peer;

    if (rcf->sentinels) {
        return "is duplicate";
    }

    rcf->sentinels = ngx_array_create(cf->pool, cf->args->nelts,
                                      sizeof(ngx_http_tenant_redis_peer_t));
    if (rcf->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strchr(value[i].data, '=') != NULL
            || ngx_strcmp(value[i].data, "tls") == 0)
        {
            rv = ngx_http_tenant_redis_auth_param(cf, &value[i],
                                                  &rcf->sentinel_username,
                                                  &rcf->sentinel_password,
                                                  &rcf->sentinel_tls);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[i];
        u.default_port = NGX_HTTP_TENANT_SENTINEL_PORT;

        /* Sentinels are asked for the master: their own addresses are fixed */
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in Sentinel address \"%V\"",
                               u.err ? u.err : "no address", &u.url);
            return NGX_CONF_ERROR;
        }

        peer = ngx_array_push(rcf->sentinels);
        if (peer == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(peer, sizeof(ngx_http_tenant_redis_peer_t));

        peer->sockaddr = u.addrs[0].sockaddr;
        peer->socklen = u.addrs[0].socklen;
        peer->host = u.host;
        peer->port = u.port;
    }

    if (rcf->sentinels->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "no Sentinel address");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* username=, password= and tls, shared by the two directives */

static char *
ngx_http_tenant_redis_auth_param(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *username, ngx_str_t *password, ngx_flag_t *tls)
{
    if (ngx_strcmp(value->data, "tls") == 0) {
        *tls = 1;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "username=", 9) == 0 && value->len > 9) {
        username->data = value->data + 9;
        username->len = value->len - 9;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "password=", 9) == 0) {
        if (value->len == 9) {
            /* the value is a secret even when it is wrong */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"password=\"");
            return NGX_CONF_ERROR;
        }

        password->data = value->data + 9;
        password->len = value->len - 9;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", value);
    return NGX_CONF_ERROR;
}


/* cluster=on|off: on takes the place of the address */

static char *
ngx_http_tenant_redis_cluster_param(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *value)
{
    ngx_str_t  *first;

    if (ngx_strcmp(value->data, "cluster=off") == 0) {
        rcf->cluster = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value->data, "cluster=on") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    first = cf->args->elts;
    first++;

    if (rcf->master.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster=on\" and \"sentinel=\" cannot be "
                           "used together");
        return NGX_CONF_ERROR;
    }

    if (first != value) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster=on\" takes its nodes from "
                           "\"tenant_redis_cluster\", not from the address "
                           "\"%V\": write \"tenant_redis cluster=on ...\"",
                           first);
        return NGX_CONF_ERROR;
    }

    rcf->cluster = 1;

    return NGX_CONF_OK;
}


/* tenant_redis_cluster host:port ...: seeds, asked for the slot map */

char *
ngx_http_tenant_redis_cluster_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    rcf->cluster_seeds = ngx_http_tenant_redis_peers(cf, 1,
                                                 NGX_HTTP_TENANT_REDIS_PORT,
                                                 "cluster node");
    if (rcf->cluster_seeds == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The addresses of a directive's arguments from first on, resolved now,
 * in the master process: each one is only a way in, and the nodes they
 * lead to are named by the cluster itself.
 */

static ngx_array_t *
ngx_http_tenant_redis_peers(ngx_conf_t *cf, ngx_uint_t first, in_port_t port,
    const char *what)
{
    ngx_url_t                      u;
    ngx_str_t                     *value;
    ngx_uint_t                     i, j;
    ngx_array_t                   *peers;
    ngx_http_tenant_redis_peer_t  *peer;

    peers = ngx_array_create(cf->pool, cf->args->nelts,
                             sizeof(ngx_http_tenant_redis_peer_t));
    if (peers == NULL) {
        return NULL;
    }

    value = cf->args->elts;

    for (i = first; i < cf->args->nelts; i++) {

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[i];
        u.default_port = port;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
            || u.uri.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in %s address \"%V\"",
                               u.err ? u.err : "invalid value", what, &u.url);
            return NULL;
        }

        /* every address of a name: "localhost" may be ::1 first */

        for (j = 0; j < u.naddrs; j++) {
            peer = ngx_array_push(peers);
            if (peer == NULL) {
                return NULL;
            }

            ngx_memzero(peer, sizeof(ngx_http_tenant_redis_peer_t));

            peer->sockaddr = u.addrs[j].sockaddr;
            peer->socklen = u.addrs[j].socklen;
            peer->host = u.host;
            peer->port = u.port;
        }
    }

    return peers;
}


/*
 * Once the http level is read: the address (resolved now, or by the
 * resolver at each connect), the TLS context, the Sentinels.
 */

ngx_int_t
ngx_http_tenant_redis_conf_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    if (rcf->cluster || rcf->cluster_seeds) {
        return ngx_http_tenant_redis_cluster_init(cf, rcf);
    }

    if (rcf->master.len) {
        if (rcf->sentinels == NULL) {
            ngx_http_tenant_where_error(cf, &rcf->where,
                               "\"tenant_redis sentinel=%V\" needs the "
                               "Sentinels' addresses: add "
                               "\"tenant_redis_sentinel\"", &rcf->master);
            return NGX_ERROR;
        }

    } else if (ngx_http_tenant_redis_address(cf, rcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rcf->tls || rcf->sentinel_tls) {
        if (ngx_http_tenant_redis_tls_init(cf, rcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (rcf->sentinels && rcf->master.len == 0) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "\"tenant_redis_sentinel\" is only used with "
                           "\"tenant_redis sentinel=NAME\"");
        return NGX_ERROR;
    }

    if (rcf->sentinels) {
        return ngx_http_tenant_redis_sentinels_init(cf, rcf);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_redis_address(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    ngx_url_t        u;
    ngx_resolver_t  *resolver;

    resolver = rcf->resolver;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = rcf->address;
    u.default_port = NGX_HTTP_TENANT_REDIS_PORT;

    /*
     * With a resolver at the http level, a name is resolved at each
     * connect, so a DNS failover is followed; without one it is resolved
     * here, once, in the master process.
     */
    u.no_resolve = (resolver != NULL);

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                                    "%s in redis address \"%V\"",
                                    u.err ? u.err : "invalid value", &u.url);
        return NGX_ERROR;
    }

    if (u.uri.len) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                                    "invalid redis address \"%V\"", &u.url);
        return NGX_ERROR;
    }

    rcf->host = u.host;
    rcf->port = u.port;

    if (u.naddrs) {
        /*
         * An address, or a name resolved now: one connection, to the
         * first address, the next one after a failure ("localhost" may
         * be ::1 first, where Redis listens on 127.0.0.1 only).
         */
        rcf->addrs = u.addrs;
        rcf->naddrs = u.naddrs;
        rcf->resolver = NULL;
        return NGX_OK;
    }

    if (resolver == NULL) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                                    "host not found in redis address \"%V\"",
                                    &u.url);
        return NGX_ERROR;
    }

    /* a literal address needs no resolver, even when one is there */
    if (ngx_parse_addr_port(cf->pool, &u.addrs[0], u.host.data, u.host.len)
        == NGX_OK)
    {
        ngx_inet_set_port(u.addrs[0].sockaddr, u.port);
        rcf->addrs = u.addrs;
        rcf->naddrs = 1;
        rcf->resolver = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_redis_tls_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_tenant_redis_tls_t  *tls;

    ngx_conf_merge_value(rcf->ssl_verify, rcf->ssl_verify, 1);
    ngx_conf_merge_bitmask_value(rcf->ssl_protocols, rcf->ssl_protocols,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3));
    ngx_conf_merge_str_value(rcf->ssl_ciphers, rcf->ssl_ciphers, "DEFAULT");

    if (rcf->ssl_verify && rcf->ssl_trusted_certificate.len == 0) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "redis over TLS with \"tenant_redis_ssl_verify "
                           "on\" needs \"tenant_redis_ssl_trusted_certificate"
                           "\" (/etc/ssl/certs/ca-certificates.crt for the "
                           "public CAs of managed services)");
        return NGX_ERROR;
    }

    if (rcf->ssl_verify && rcf->master.len && rcf->tls
        && (rcf->ssl_server_name.len == 0
            || ngx_strcmp(rcf->ssl_server_name.data, "off") == 0))
    {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "a master found through Sentinel is only known "
                           "by its address: set the name its certificate "
                           "holds with \"tenant_redis_ssl_server_name\"");
        return NGX_ERROR;
    }

    if (rcf->ssl_certificate.len && rcf->ssl_certificate_key.len == 0) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "\"tenant_redis_ssl_certificate\" needs "
                           "\"tenant_redis_ssl_certificate_key\"");
        return NGX_ERROR;
    }

    tls = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_redis_tls_t));
    if (tls == NULL) {
        return NGX_ERROR;
    }

    tls->ssl.log = cf->log;
    tls->verify = rcf->ssl_verify;
    tls->sni = 1;

    if (rcf->ssl_server_name.len) {
        if (ngx_strcmp(rcf->ssl_server_name.data, "off") == 0) {
            tls->sni = 0;

        } else {
            tls->server_name = rcf->ssl_server_name;
        }
    }

    if (ngx_ssl_create(&tls->ssl, rcf->ssl_protocols, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(&tls->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = &tls->ssl;

    if (ngx_ssl_ciphers(cf, &tls->ssl, &rcf->ssl_ciphers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rcf->ssl_certificate.len
        && ngx_ssl_certificate(cf, &tls->ssl, &rcf->ssl_certificate,
                               &rcf->ssl_certificate_key, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (rcf->ssl_trusted_certificate.len
        && ngx_ssl_trusted_certificate(cf, &tls->ssl,
                                       &rcf->ssl_trusted_certificate,
                                       NGX_HTTP_TENANT_REDIS_VERIFY_DEPTH)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a reconnect resumes the session: one round trip less, no RSA */
    if (ngx_ssl_client_session_cache(cf, &tls->ssl, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    rcf->tls_ctx = tls;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_redis_sentinels_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    ngx_uint_t                     i;
    ngx_http_tenant_redis_peer_t  *peer;

    peer = rcf->sentinels->elts;

    for (i = 0; i < rcf->sentinels->nelts; i++) {
        peer[i].username = rcf->sentinel_username;
        peer[i].password = rcf->sentinel_password;
        peer[i].tls = rcf->sentinel_tls ? rcf->tls_ctx : NULL;
    }

    return NGX_OK;
}


/* every node, seed or found, is reached with tenant_redis's parameters */

static ngx_int_t
ngx_http_tenant_redis_cluster_init(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf)
{
    ngx_uint_t                     i;
    ngx_http_tenant_redis_peer_t  *peer;

    if (rcf->cluster_seeds == NULL) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "\"tenant_redis cluster=on\" needs the seed "
                           "nodes: add \"tenant_redis_cluster host:port "
                           "...\"");
        return NGX_ERROR;
    }

    if (!rcf->cluster) {
        ngx_http_tenant_where_error(cf, &rcf->cluster_where,
                           "\"tenant_redis_cluster\" is only used with "
                           "\"tenant_redis cluster=on\"");
        return NGX_ERROR;
    }

    if (rcf->sentinels) {
        ngx_http_tenant_where_error(cf, &rcf->where,
                           "\"tenant_redis_sentinel\" cannot be used with "
                           "\"tenant_redis cluster=on\"");
        return NGX_ERROR;
    }

    if (rcf->tls && ngx_http_tenant_redis_tls_init(cf, rcf) != NGX_OK) {
        return NGX_ERROR;
    }

    peer = rcf->cluster_seeds->elts;

    for (i = 0; i < rcf->cluster_seeds->nelts; i++) {
        peer[i].username = rcf->username;
        peer[i].password = rcf->password;
        peer[i].tls = rcf->tls_ctx;
    }

    return NGX_OK;
}
