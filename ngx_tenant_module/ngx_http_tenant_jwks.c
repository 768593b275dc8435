
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <jansson.h>

#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_b64.h"
#include "ngx_http_tenant_where.h"


#define NGX_HTTP_TENANT_JWK_MAX  1024


/*
 * What reading one key needs, with no configuration in it: a JWK Set
 * fetched at run time goes through the same decisions as a file.
 */
typedef struct {
    ngx_log_t                 *log;
    ngx_pool_t                *pool;       /* what the keys keep */
    ngx_pool_t                *temp_pool;  /* decoded members */
    ngx_str_t                 *source;
    ngx_http_tenant_keyset_t  *ks;
    json_t                    *jwk;
    ngx_uint_t                 index;
    ngx_str_t                  kid;
} ngx_http_tenant_jwk_ctx_t;


static char *ngx_http_tenant_jwks_load_set(ngx_conf_t *cf,
    ngx_http_tenant_keyset_t *ks, ngx_str_t *source, json_t *set);
static ngx_int_t ngx_http_tenant_jwks_add(ngx_http_tenant_jwk_ctx_t *jc,
    json_t *set);
static ngx_int_t ngx_http_tenant_jwk_load(ngx_http_tenant_jwk_ctx_t *jc);
static ngx_int_t ngx_http_tenant_jwk_usable(ngx_http_tenant_jwk_ctx_t *jc,
    ngx_str_t *kty, ngx_str_t *use, ngx_str_t *alg);
static ngx_int_t ngx_http_tenant_jwk_oct(ngx_http_tenant_jwk_ctx_t *jc,
    ngx_http_tenant_key_t *key);
static EVP_PKEY *ngx_http_tenant_jwk_rsa(ngx_http_tenant_jwk_ctx_t *jc);
static EVP_PKEY *ngx_http_tenant_jwk_ec(ngx_http_tenant_jwk_ctx_t *jc);
static EVP_PKEY *ngx_http_tenant_jwk_okp(ngx_http_tenant_jwk_ctx_t *jc);
static EVP_PKEY *ngx_http_tenant_pkey_fromdata(const char *type,
    OSSL_PARAM_BLD *bld);
static u_char *ngx_http_tenant_jwk_bytes(ngx_http_tenant_jwk_ctx_t *jc,
    const char *name, size_t *len);
static ngx_int_t ngx_http_tenant_jwk_str(ngx_http_tenant_jwk_ctx_t *jc,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_tenant_jwk_is(ngx_str_t *value, const char *s);
static void ngx_http_tenant_jwk_skip(ngx_http_tenant_jwk_ctx_t *jc,
    const char *member, ngx_str_t *value, const char *why);
static void ngx_http_tenant_jwk_error(ngx_http_tenant_jwk_ctx_t *jc,
    const char *what);


char *
ngx_http_tenant_jwks_load_file(ngx_conf_t *cf, ngx_http_tenant_keyset_t *ks,
    ngx_str_t *path)
{
    json_t        *set;
    json_error_t   err;

    set = json_load_file((char *) path->data, JSON_REJECT_DUPLICATES, &err);
    if (set == NULL) {

        /* the file could not be read: jansson's text says why, no line */
        if (err.line < 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "tenant: cannot load JWK Set \"%V\": %s",
                               path, err.text);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tenant: cannot load JWK Set \"%V\": %s "
                           "(line %d)", path, err.text, err.line);
        return NGX_CONF_ERROR;
    }

    return ngx_http_tenant_jwks_load_set(cf, ks, path, set);
}


/*
 * A JWK Set fetched from a URL: the same parser as for a file, run in a
 * worker with a configuration made for it (see ngx_http_tenant_jwks_url.c)
 */

char *
ngx_http_tenant_jwks_load_buf(ngx_conf_t *cf, ngx_http_tenant_keyset_t *ks,
    ngx_str_t *source, u_char *data, size_t len)
{
    json_t        *set;
    json_error_t   err;

    set = json_loadb((char *) data, len, JSON_REJECT_DUPLICATES, &err);
    if (set == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tenant: JWK Set from \"%V\" is not JSON: %s "
                           "(line %d)", source, err.text, err.line);
        return NGX_CONF_ERROR;
    }

    return ngx_http_tenant_jwks_load_set(cf, ks, source, set);
}


/* takes the reference to set */

static char *
ngx_http_tenant_jwks_load_set(ngx_conf_t *cf, ngx_http_tenant_keyset_t *ks,
    ngx_str_t *source, json_t *set)
{
    ngx_log_t                   log;
    ngx_int_t                   rc;
    ngx_http_tenant_jwk_ctx_t   jc;

    ngx_http_tenant_where_log(cf, &log);

    ngx_memzero(&jc, sizeof(ngx_http_tenant_jwk_ctx_t));

    jc.log = &log;
    jc.pool = cf->pool;
    jc.temp_pool = cf->temp_pool;
    jc.source = source;
    jc.ks = ks;

    rc = ngx_http_tenant_jwks_add(&jc, set);

    json_decref(set);

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ks->jwks = 1;

    return NGX_CONF_OK;
}


/*
 * A set is refused for a key that is broken, never for one that is only
 * of no use here: RFC 7517 5 lets a set mix signature and encryption keys,
 * and identity providers publish types and algorithms we do not verify.
 */

static ngx_int_t
ngx_http_tenant_jwks_add(ngx_http_tenant_jwk_ctx_t *jc, json_t *set)
{
    json_t      *keys;
    ngx_int_t    rc;
    ngx_uint_t   i, n;

    keys = json_object_get(set, "keys");

    if (!json_is_array(keys) || json_array_size(keys) == 0
        || json_array_size(keys) > NGX_HTTP_TENANT_JWK_MAX)
    {
        ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                      "tenant: JWK Set \"%V\" has no \"keys\" array "
                      "of 1 to %d keys", jc->source, NGX_HTTP_TENANT_JWK_MAX);
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < json_array_size(keys); i++) {
        jc->jwk = json_array_get(keys, i);
        jc->index = i;

        rc = ngx_http_tenant_jwk_load(jc);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            n++;
        }
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                      "tenant: JWK Set \"%V\" has no signature key "
                      "this module can use", jc->source);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* NGX_OK: the key was added; NGX_DECLINED: skipped; NGX_ERROR */

static ngx_int_t
ngx_http_tenant_jwk_load(ngx_http_tenant_jwk_ctx_t *jc)
{
    ngx_int_t               rc;
    ngx_str_t               kty, use, alg;
    EVP_PKEY               *pkey;
    ngx_http_tenant_key_t  *key;

    ngx_str_null(&jc->kid);

    if (!json_is_object(jc->jwk)
        || ngx_http_tenant_jwk_str(jc, "kty", &kty) != NGX_OK
        || kty.len == 0)
    {
        ngx_http_tenant_jwk_error(jc, "has no \"kty\"");
        return NGX_ERROR;
    }

    if (ngx_http_tenant_jwk_str(jc, "kid", &jc->kid) != NGX_OK
        || ngx_http_tenant_jwk_str(jc, "use", &use) != NGX_OK
        || ngx_http_tenant_jwk_str(jc, "alg", &alg) != NGX_OK)
    {
        ngx_str_null(&jc->kid);
        ngx_http_tenant_jwk_error(jc, "has a non-string \"kid\", \"use\" "
                                      "or \"alg\"");
        return NGX_ERROR;
    }

    /* the same rule as for PEM files: no private keys on a gateway */
    if (json_object_get(jc->jwk, "d") != NULL) {
        ngx_http_tenant_jwk_error(jc, "holds a private key (\"d\"); give "
                                      "the public JWK Set");
        return NGX_ERROR;
    }

    rc = ngx_http_tenant_jwk_usable(jc, &kty, &use, &alg);
    if (rc != NGX_OK) {
        return rc;
    }

    key = ngx_http_tenant_key_add(jc->ks, jc->source, &jc->kid);
    if (key == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tenant_jwk_is(&kty, "oct")) {
        if (ngx_http_tenant_jwk_oct(jc, key) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_tenant_jwk_is(&kty, "RSA")) {
            pkey = ngx_http_tenant_jwk_rsa(jc);

        } else if (ngx_http_tenant_jwk_is(&kty, "EC")) {
            pkey = ngx_http_tenant_jwk_ec(jc);

        } else {
            pkey = ngx_http_tenant_jwk_okp(jc);
        }

        if (pkey == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_tenant_key_set_pkey(jc->log, key, pkey) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (alg.len && ngx_http_tenant_key_restrict(jc->log, key, &alg) != NGX_OK)
    {
        return NGX_ERROR;
    }

    jc->ks->algs |= key->algs;

    return NGX_OK;
}


/*
 * Whether the key is one this module verifies with, from its use, alg,
 * kty and crv alone; NGX_DECLINED, logged: it is skipped.  Whether its
 * other members make a valid key is decided when it is built.
 */

static ngx_int_t
ngx_http_tenant_jwk_usable(ngx_http_tenant_jwk_ctx_t *jc, ngx_str_t *kty,
    ngx_str_t *use, ngx_str_t *alg)
{
    ngx_str_t  crv;

    /* encryption keys may share the set; they never verify a signature */
    if (use->len && !ngx_http_tenant_jwk_is(use, "sig")) {
        ngx_http_tenant_jwk_skip(jc, "use", use, "");
        return NGX_DECLINED;
    }

    /* RSA-OAEP, ECDH-ES, A128KW..., and signature algorithms not known */
    if (alg->len
        && ngx_http_tenant_alg_parse(alg->data, alg->len) == NGX_ERROR)
    {
        ngx_http_tenant_jwk_skip(jc, "alg", alg, " is not supported");
        return NGX_DECLINED;
    }

    if (ngx_http_tenant_jwk_is(kty, "oct")
        || ngx_http_tenant_jwk_is(kty, "RSA"))
    {
        return NGX_OK;
    }

    if (!ngx_http_tenant_jwk_is(kty, "EC")
        && !ngx_http_tenant_jwk_is(kty, "OKP"))
    {
        ngx_http_tenant_jwk_skip(jc, "kty", kty, " is not supported");
        return NGX_DECLINED;
    }

    if (ngx_http_tenant_jwk_str(jc, "crv", &crv) != NGX_OK) {
        ngx_http_tenant_jwk_error(jc, "has a non-string \"crv\"");
        return NGX_ERROR;
    }

    /* Ed448, X25519 and X448 (key agreement), secp256k1... */
    if (ngx_http_tenant_jwk_is(kty, "EC")
        ? !(ngx_http_tenant_jwk_is(&crv, "P-256")
            || ngx_http_tenant_jwk_is(&crv, "P-384")
            || ngx_http_tenant_jwk_is(&crv, "P-521"))
        : !ngx_http_tenant_jwk_is(&crv, "Ed25519"))
    {
        ngx_http_tenant_jwk_skip(jc, "crv", &crv, " is not supported");
        return NGX_DECLINED;
    }

    return NGX_OK;
}
static ngx_int_t
ngx_http_tenant_jwk_oct(ngx_http_tenant_jwk_ctx_t *jc,
    ngx_http_tenant_key_t *key)
{
    u_char     *k;
    size_t      len;
    ngx_int_t   rc;

    k = ngx_http_tenant_jwk_bytes(jc, "k", &len);
    if (k == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_tenant_key_set_hmac(jc->log, key, k, len);

    OPENSSL_cleanse(k, len);

    return rc;
}


static EVP_PKEY *
ngx_http_tenant_jwk_rsa(ngx_http_tenant_jwk_ctx_t *jc)
{
    u_char          *n, *e;
    size_t           nlen, elen;
    BIGNUM          *bn_n, *bn_e;
    EVP_PKEY        *pkey;
    OSSL_PARAM_BLD  *bld;

    n = ngx_http_tenant_jwk_bytes(jc, "n", &nlen);
    e = ngx_http_tenant_jwk_bytes(jc, "e", &elen);

    if (n == NULL || e == NULL) {
        return NULL;
    }

    pkey = NULL;
    bld = OSSL_PARAM_BLD_new();
    bn_n = BN_bin2bn(n, (int) nlen, NULL);
    bn_e = BN_bin2bn(e, (int) elen, NULL);

    if (bld != NULL && bn_n != NULL && bn_e != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
    {
        pkey = ngx_http_tenant_pkey_fromdata("RSA", bld);
    }

    BN_free(bn_n);
    BN_free(bn_e);
    OSSL_PARAM_BLD_free(bld);

    if (pkey == NULL) {
        ngx_http_tenant_jwk_error(jc, "is not a valid RSA public key");
    }

    return pkey;
}


static EVP_PKEY *
ngx_http_tenant_jwk_ec(ngx_http_tenant_jwk_ctx_t *jc)
{
    u_char          *x, *y, *point;
    size_t           xlen, ylen, size;
    ngx_str_t        crv;
    EVP_PKEY        *pkey;
    OSSL_PARAM_BLD  *bld;

    /* ngx_http_tenant_jwk_usable() let only these three through */

    if (ngx_http_tenant_jwk_str(jc, "crv", &crv) != NGX_OK) {
        return NULL;
    }

    if (ngx_http_tenant_jwk_is(&crv, "P-256")) {
        size = 32;

    } else if (ngx_http_tenant_jwk_is(&crv, "P-384")) {
        size = 48;

    } else {
        size = 66;
    }

    x = ngx_http_tenant_jwk_bytes(jc, "x", &xlen);
    y = ngx_http_tenant_jwk_bytes(jc, "y", &ylen);

    if (x == NULL || y == NULL) {
        return NULL;
    }

    if (xlen != size || ylen != size) {
        ngx_http_tenant_jwk_error(jc, "has \"x\" or \"y\" of a wrong size");
        return NULL;
    }

    /* uncompressed point: 0x04 || x || y; OpenSSL checks it is on curve */

    point = ngx_pnalloc(jc->temp_pool, 1 + 2 * size);
    if (point == NULL) {
        return NULL;
    }

    point[0] = 0x04;
    ngx_memcpy(point + 1, x, size);
    ngx_memcpy(point + 1 + size, y, size);

    pkey = NULL;
    bld = OSSL_PARAM_BLD_new();

    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           (char *) crv.data, crv.len) == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * size) == 1)
    {
        pkey = ngx_http_tenant_pkey_fromdata("EC", bld);
    }

    OSSL_PARAM_BLD_free(bld);

    if (pkey == NULL) {
        ngx_http_tenant_jwk_error(jc, "is not a valid EC public key");
    }

    return pkey;
}


/* RFC 8037 2: "x" is the public key itself; only Ed25519 gets here */

static EVP_PKEY *
ngx_http_tenant_jwk_okp(ngx_http_tenant_jwk_ctx_t *jc)
{
    u_char    *x;
    size_t     xlen;
    EVP_PKEY  *pkey;

    x = ngx_http_tenant_jwk_bytes(jc, "x", &xlen);
    if (x == NULL) {
        return NULL;
    }

    if (xlen != 32) {
        ngx_http_tenant_jwk_error(jc, "has \"x\" of a wrong size");
        return NULL;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);

    if (pkey == NULL) {
        ERR_clear_error();
        ngx_http_tenant_jwk_error(jc, "is not a valid Ed25519 public key");
    }

    return pkey;
}


static EVP_PKEY *
ngx_http_tenant_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();

    return pkey;
}


static u_char *
ngx_http_tenant_jwk_bytes(ngx_http_tenant_jwk_ctx_t *jc, const char *name,
    size_t *len)
{
    u_char     *buf;
    ssize_t     n;
    ngx_str_t   value;

    if (ngx_http_tenant_jwk_str(jc, name, &value) != NGX_OK
        || value.len == 0)
    {
        ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                      "tenant: key #%ui in JWK Set \"%V\" has no \"%s\"",
                      jc->index, jc->source, name);
        return NULL;
    }

    buf = ngx_pnalloc(jc->temp_pool,
                      ngx_http_tenant_b64_decoded_len(value.len));
    if (buf == NULL) {
        return NULL;
    }

    n = ngx_http_tenant_b64url_decode(buf, value.data, value.len);
    if (n <= 0) {
        ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                      "tenant: key #%ui in JWK Set \"%V\" has \"%s\" "
                      "that is not base64url", jc->index, jc->source, name);
        return NULL;
    }

    *len = n;

    return buf;
}


static ngx_int_t
ngx_http_tenant_jwk_str(ngx_http_tenant_jwk_ctx_t *jc, const char *name,
    ngx_str_t *value)
{
    json_t  *v;

    v = json_object_get(jc->jwk, name);

    if (v == NULL) {
        ngx_str_null(value);
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    /* the set is freed after loading: copy what the key keeps */

    value->len = json_string_length(v);
    value->data = ngx_pnalloc(jc->pool, value->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, json_string_value(v), value->len + 1);

    return NGX_OK;
}


/* member values are compared exactly (RFC 7517 4: case-sensitive) */

static ngx_int_t
ngx_http_tenant_jwk_is(ngx_str_t *value, const char *s)
{
    return value->len == ngx_strlen(s)
           && ngx_strncmp(value->data, s, value->len) == 0;
}


/*
 * A skipped key is named by its kid, which the operator can look up at the
 * identity provider; a key without one by its place in the set.  The value
 * comes from the file, so it is logged with %V, never as a format.
 */

static void
ngx_http_tenant_jwk_skip(ngx_http_tenant_jwk_ctx_t *jc, const char *member,
    ngx_str_t *value, const char *why)
{
    if (jc->kid.len) {
        ngx_log_error(NGX_LOG_WARN, jc->log, 0,
                      "tenant: JWK Set \"%V\": key \"%V\" skipped: "
                      "%s \"%V\"%s", jc->source, &jc->kid, member, value, why);

    } else {
        ngx_log_error(NGX_LOG_WARN, jc->log, 0,
                      "tenant: JWK Set \"%V\": key #%ui skipped: "
                      "%s \"%V\"%s", jc->source, jc->index, member, value,
                      why);
    }
}


static void
ngx_http_tenant_jwk_error(ngx_http_tenant_jwk_ctx_t *jc, const char *what)
{
    ngx_log_error(NGX_LOG_EMERG, jc->log, 0,
                  "tenant: key #%ui in JWK Set \"%V\" %s",
                  jc->index, jc->source, what);
}
