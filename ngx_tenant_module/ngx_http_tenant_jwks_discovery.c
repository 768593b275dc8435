
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_http_tenant_jwks_shm.h"
#include "ngx_http_tenant_jwks_discovery.h"


#define NGX_HTTP_TENANT_JWKS_WELL_KNOWN  "/.well-known/openid-configuration"


/* section 4: the issuer, without a trailing "/", and the well-known path */

ngx_int_t
ngx_http_tenant_jwks_discovery_url(ngx_pool_t *pool, ngx_str_t *issuer,
    ngx_str_t *doc)
{
    u_char  *p;
    size_t   len;

    len = issuer->len;

    while (len && issuer->data[len - 1] == '/') {
        len--;
    }

    p = ngx_pnalloc(pool, len + sizeof(NGX_HTTP_TENANT_JWKS_WELL_KNOWN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    doc->data = p;
    p = ngx_cpymem(p, issuer->data, len);
    p = ngx_cpymem(p, NGX_HTTP_TENANT_JWKS_WELL_KNOWN,
                   sizeof(NGX_HTTP_TENANT_JWKS_WELL_KNOWN));
    doc->len = p - doc->data - 1;

    return NGX_OK;
}


/*
 * The document's issuer must be the configured one (section 4.3), its
 * jwks_uri an http or https URL; it is parsed into *u, in a new *pool.
 * NGX_DECLINED: *why says what is wrong with the document.
 */

ngx_int_t
ngx_http_tenant_jwks_discovery_parse(ngx_str_t *body, ngx_str_t *issuer,
    ngx_http_tenant_jwks_url_t *doc_url, ngx_http_tenant_jwks_url_t *u,
    ngx_pool_t **pool, const char **why, ngx_log_t *log)
{
    char          *err;
    json_t        *doc, *iss, *uri;
    ngx_str_t      text;
    json_error_t   jerr;

    *pool = NULL;

    doc = json_loadb((char *) body->data, body->len, 0, &jerr);

    if (!json_is_object(doc)) {
        json_decref(doc);
        *why = "the discovery document is not a JSON object";
        return NGX_DECLINED;
    }

    iss = json_object_get(doc, "issuer");
    uri = json_object_get(doc, "jwks_uri");

    if (!json_is_string(iss)
        || json_string_length(iss) != issuer->len
        || ngx_strncmp(json_string_value(iss), issuer->data, issuer->len)
           != 0)
    {
        json_decref(doc);
        *why = "the discovery document's \"issuer\" is not the configured "
               "issuer";
        return NGX_DECLINED;
    }

    if (!json_is_string(uri) || json_string_length(uri) == 0
        || json_string_length(uri) >= NGX_HTTP_TENANT_JWKS_URL_MAX)
    {
        json_decref(doc);
        *why = "the discovery document has no \"jwks_uri\"";
        return NGX_DECLINED;
    }

    *pool = ngx_create_pool(1024, log);
    if (*pool == NULL) {
        json_decref(doc);
        *why = "out of memory";
        return NGX_ERROR;
    }

    text.len = json_string_length(uri);
    text.data = ngx_pstrdup(*pool, &(ngx_str_t) { text.len,
                                      (u_char *) json_string_value(uri) });
    json_decref(doc);

    if (text.data == NULL
        || ngx_http_tenant_jwks_url_parse(*pool, &text, u, 0, &err) != NGX_OK)
    {
        ngx_destroy_pool(*pool);
        *pool = NULL;
        *why = "the discovery document's \"jwks_uri\" is not an http or "
               "https URL";
        return NGX_DECLINED;
    }

    /* without a resolver: the issuer's own host, as resolved at start */
    if (u->addrs == NULL && u->host.len == doc_url->host.len
        && ngx_strncasecmp(u->host.data, doc_url->host.data, u->host.len) == 0
        && u->port == doc_url->port)
    {
        u->addrs = doc_url->addrs;
        u->naddrs = doc_url->naddrs;
    }

    return NGX_OK;
}
