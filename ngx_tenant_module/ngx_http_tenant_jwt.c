
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_b64.h"
#include "ngx_http_tenant_json.h"


#define NGX_HTTP_TENANT_JWT_JSON_MAX                                          \
    ngx_http_tenant_b64_decoded_len(NGX_HTTP_TENANT_JWT_MAX)

#define NGX_HTTP_TENANT_KEY_SKIP     0
#define NGX_HTTP_TENANT_KEY_TRY      1


static json_t *ngx_http_tenant_jwt_json(const u_char *b64, size_t len,
    size_t flags);
static ngx_int_t ngx_http_tenant_jwt_header(ngx_http_tenant_jwt_t *jwt,
    const char **err);
static ngx_int_t ngx_http_tenant_jwt_key_match(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, ngx_flag_t by_kid);
static ngx_int_t ngx_http_tenant_jwt_try_key(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data, u_char *digest,
    unsigned int digest_len);
static ngx_int_t ngx_http_tenant_jwt_hmac(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data);
static ngx_int_t ngx_http_tenant_jwt_eddsa(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data);
static ngx_int_t ngx_http_tenant_jwt_ecdsa_der(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, u_char *der, size_t *der_len);
static ngx_int_t ngx_http_tenant_jwt_digest(ngx_http_tenant_jwt_t *jwt,
    const u_char *data, u_char *digest, unsigned int *len);
static ngx_int_t ngx_http_tenant_jwt_has_audience(json_t *aud,
    ngx_array_t *audiences);
static ngx_int_t ngx_http_tenant_jwt_str_in(const char *s, size_t len,
    ngx_array_t *list);


/* one scratch buffer per worker: decoding never allocates */
static u_char  ngx_http_tenant_jwt_scratch[NGX_HTTP_TENANT_JWT_MAX];

static EVP_MD_CTX  *ngx_http_tenant_md_ctx;
static EVP_MD_CTX  *ngx_http_tenant_eddsa_ctx;


ngx_http_tenant_jwt_rc_e
ngx_http_tenant_jwt_decode(const u_char *data, size_t len,
    ngx_http_tenant_jwt_t *jwt, const char **err)
{
    ssize_t        n;
    const u_char  *dot1, *dot2, *sig;

    jwt->header = NULL;
    jwt->payload = NULL;

    if (len > NGX_HTTP_TENANT_JWT_MAX) {
        *err = "token too large";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    dot1 = ngx_strlchr((u_char *) data, (u_char *) data + len, '.');
    dot2 = dot1 ? ngx_strlchr((u_char *) dot1 + 1, (u_char *) data + len, '.')
                : NULL;

    if (dot2 == NULL
        || ngx_strlchr((u_char *) dot2 + 1, (u_char *) data + len, '.'))
    {
        *err = "token is not three dot-separated parts";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    jwt->header = ngx_http_tenant_jwt_json(data, dot1 - data, 0);
    if (jwt->header == NULL) {
        *err = "token header is not base64url JSON object";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    if (ngx_http_tenant_jwt_header(jwt, err) != NGX_OK) {
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    /*
     * a NUL in a claim value is let through the parser so that the claim
     * checks refuse it for what it is (invalid_claims), not as garbage
     */
    jwt->payload = ngx_http_tenant_jwt_json(dot1 + 1, dot2 - dot1 - 1,
                                            JSON_ALLOW_NUL);
    if (jwt->payload == NULL) {
        *err = "token payload is not base64url JSON object";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    sig = dot2 + 1;
    n = data + len - sig;

    /* unpadded base64url: every 4 characters carry 3 bytes, exactly */
    if (n == 0 || (size_t) n * 3 / 4 > sizeof(jwt->sig)) {
        *err = "token signature is missing or too long";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    n = ngx_http_tenant_b64url_decode(jwt->sig, sig, n);
    if (n <= 0) {
        *err = "token signature is not base64url";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    jwt->sig_len = n;
    jwt->signed_len = dot2 - data;

    return NGX_HTTP_TENANT_JWT_OK;
}


static json_t *
ngx_http_tenant_jwt_json(const u_char *b64, size_t len, size_t flags)
{
    json_t   *json;
    ssize_t   n;

    if (len == 0) {
        return NULL;
    }

    n = ngx_http_tenant_b64url_decode(ngx_http_tenant_jwt_scratch, b64, len);
    if (n <= 0) {
        return NULL;
    }

    /*
     * a token's part as tokens are written, else jansson, which decides
     * what is refused; duplicate names are: two readers must never see
     * two values
     */
    json = ngx_http_tenant_json_object(ngx_http_tenant_jwt_scratch, n, flags);

    if (json == NULL) {
        json = json_loadb((char *) ngx_http_tenant_jwt_scratch, n,
                          JSON_REJECT_DUPLICATES | flags, NULL);
    }

    if (json != NULL && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


static ngx_int_t
ngx_http_tenant_jwt_header(ngx_http_tenant_jwt_t *jwt, const char **err)
{
    json_t     *alg, *kid;
    ngx_int_t   a;

    alg = json_object_get(jwt->header, "alg");

    if (!json_is_string(alg)) {
        *err = "token has no \"alg\"";
        return NGX_ERROR;
    }

    /* "none" and every name not in the table end here */
    a = ngx_http_tenant_alg_parse((u_char *) json_string_value(alg),
                                  json_string_length(alg));
    if (a == NGX_ERROR) {
        *err = "token \"alg\" is not supported";
        return NGX_ERROR;
    }

    jwt->alg = a;

    /* RFC 7515 4.1.11: extensions we do not understand must be refused */
    if (json_object_get(jwt->header, "crit") != NULL) {
        *err = "token has \"crit\" extensions";
        return NGX_ERROR;
    }

    kid = json_object_get(jwt->header, "kid");

    if (kid == NULL) {
        ngx_str_null(&jwt->kid);

    } else if (json_is_string(kid)) {
        jwt->kid.data = (u_char *) json_string_value(kid);
        jwt->kid.len = json_string_length(kid);

    } else {
        *err = "token \"kid\" is not a string";
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_tenant_jwt_exit(void)
{
    EVP_MD_CTX_free(ngx_http_tenant_md_ctx);
    ngx_http_tenant_md_ctx = NULL;

    EVP_MD_CTX_free(ngx_http_tenant_eddsa_ctx);
    ngx_http_tenant_eddsa_ctx = NULL;
}


void
ngx_http_tenant_jwt_release(ngx_http_tenant_jwt_t *jwt)
{
    if (jwt->header) {
        json_decref(jwt->header);
        jwt->header = NULL;
    }

    if (jwt->payload) {
        json_decref(jwt->payload);
        jwt->payload = NULL;
    }
}


/*
 * Key choice: a token with a "kid" is verified only by the keys with that
 * kid, if there are any; with a JWK Set configured an unknown kid is an
 * error.  Otherwise the keys without a kid are tried in order.  A key is
 * tried only for the algorithms it was bound to when it was loaded.
 */

ngx_http_tenant_jwt_rc_e
ngx_http_tenant_jwt_verify(ngx_http_tenant_keyset_t *ks,
    ngx_http_tenant_jwt_t *jwt, const u_char *data, const char **err)
{
    u_char                  digest[EVP_MAX_MD_SIZE];
    ngx_int_t               m;
    ngx_uint_t              i, pass, tried, named;
    unsigned int            digest_len;
    ngx_http_tenant_key_t  *key;

    digest_len = 0;

    if ((NGX_HTTP_TENANT_ALGS_DIGEST & NGX_HTTP_TENANT_ALG_BIT(jwt->alg))
        && ngx_http_tenant_jwt_digest(jwt, data, digest, &digest_len)
           != NGX_OK)
    {
        *err = "digest failed";
        return NGX_HTTP_TENANT_JWT_INVALID;
    }

    key = ks->keys.elts;
    tried = 0;
    named = 0;

    for (pass = (jwt->kid.len ? 0 : 1); pass < 2; pass++) {

        for (i = 0; i < ks->keys.nelts; i++) {
            m = ngx_http_tenant_jwt_key_match(&key[i], jwt, pass == 0);

            if (m == NGX_DECLINED) {
                continue;
            }

            named = 1;

            if (m == NGX_HTTP_TENANT_KEY_SKIP) {
                continue;
            }

            tried = 1;

            if (ngx_http_tenant_jwt_try_key(&key[i], jwt, data, digest,
                                            digest_len)
                == NGX_OK)
            {
                return NGX_HTTP_TENANT_JWT_OK;
            }
        }

        if (pass == 0 && named) {
            break;
        }

        if (pass == 0 && ks->jwks) {
            *err = "token \"kid\" matches no key";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }
    }

    if (tried) {
        *err = "token signature does not verify";

    } else if (jwt->kid.len == 0 && ks->keys.nelts) {
        *err = "token has no \"kid\" and no key without a kid fits its "
               "\"alg\"";

    } else {
        *err = "no key fits the token \"alg\"";
    }

    return NGX_HTTP_TENANT_JWT_INVALID;
}


/*
 * NGX_DECLINED: not a candidate at all; NGX_HTTP_TENANT_KEY_SKIP: a
 * candidate by kid whose algorithm does not fit; NGX_HTTP_TENANT_KEY_TRY.
 */

static ngx_int_t
ngx_http_tenant_jwt_key_match(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, ngx_flag_t by_kid)
{
    if (by_kid) {
        if (key->kid.len != jwt->kid.len
            || ngx_strncmp(key->kid.data, jwt->kid.data, key->kid.len) != 0)
        {
            return NGX_DECLINED;
        }

    } else if (key->kid.len) {
        return NGX_DECLINED;
    }

    if ((key->algs & NGX_HTTP_TENANT_ALG_BIT(jwt->alg)) == 0) {
        return NGX_HTTP_TENANT_KEY_SKIP;
    }

    return NGX_HTTP_TENANT_KEY_TRY;
}


static ngx_int_t
ngx_http_tenant_jwt_try_key(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data, u_char *digest,
    unsigned int digest_len)
{
    int      rc;
    u_char   der[160];
    size_t   der_len;

    switch (key->type) {

    case NGX_HTTP_TENANT_KEY_HMAC:
        return ngx_http_tenant_jwt_hmac(key, jwt, data);

    case NGX_HTTP_TENANT_KEY_ED25519:
        return ngx_http_tenant_jwt_eddsa(key, jwt, data);

    /* RS* and PS*: the context knows the padding */
    case NGX_HTTP_TENANT_KEY_RSA:
        rc = EVP_PKEY_verify(key->verify[jwt->alg], jwt->sig, jwt->sig_len,
                             digest, digest_len);
        break;

    default: /* NGX_HTTP_TENANT_KEY_EC */
        if (ngx_http_tenant_jwt_ecdsa_der(key, jwt, der, &der_len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rc = EVP_PKEY_verify(key->verify[jwt->alg], der, der_len,
                             digest, digest_len);
        break;
    }

    if (rc != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_jwt_hmac(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    size_t        mac_len;
    EVP_MAC_CTX  *ctx;

    ctx = key->mac[jwt->alg - NGX_HTTP_TENANT_HS256];

    /* a NULL key keeps the secret already set up, no re-keying cost */
    if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1
        || EVP_MAC_update(ctx, data, jwt->signed_len) != 1
        || EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) != 1)
    {
        ERR_clear_error();
        return NGX_ERROR;
    }

    if (mac_len != jwt->sig_len
        || CRYPTO_memcmp(mac, jwt->sig, mac_len) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* RFC 8037 3.1: Ed25519 signs the signing input itself, not a digest */

static ngx_int_t
ngx_http_tenant_jwt_eddsa(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, const u_char *data)
{
    if (jwt->sig_len != 64) {
        return NGX_ERROR;
    }

    if (ngx_http_tenant_eddsa_ctx == NULL) {
        ngx_http_tenant_eddsa_ctx = EVP_MD_CTX_new();
        if (ngx_http_tenant_eddsa_ctx == NULL) {
            return NGX_ERROR;
        }
    }

    /* a one-shot verify: the context is set up anew for each key */

    if (EVP_DigestVerifyInit_ex(ngx_http_tenant_eddsa_ctx, NULL, NULL, NULL,
                                NULL, key->pkey, NULL)
        != 1
        || EVP_DigestVerify(ngx_http_tenant_eddsa_ctx, jwt->sig, jwt->sig_len,
                            data, jwt->signed_len)
           != 1)
    {
        EVP_MD_CTX_reset(ngx_http_tenant_eddsa_ctx);
        ERR_clear_error();
        return NGX_ERROR;
    }

    EVP_MD_CTX_reset(ngx_http_tenant_eddsa_ctx);

    return NGX_OK;
}


/* JWS carries ECDSA as r || s of fixed size; OpenSSL wants DER */

static ngx_int_t
ngx_http_tenant_jwt_ecdsa_der(ngx_http_tenant_key_t *key,
    ngx_http_tenant_jwt_t *jwt, u_char *der, size_t *der_len)
{
    int         n;
    u_char     *p;
    BIGNUM     *r, *s;
    ngx_int_t   rc;
    ECDSA_SIG  *es;

    if (jwt->sig_len != 2 * key->ec_size) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(jwt->sig, key->ec_size, NULL);
    s = BN_bin2bn(jwt->sig + key->ec_size, key->ec_size, NULL);

    if (es == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        goto done;
    }

    if (i2d_ECDSA_SIG(es, NULL) > 160) {
        goto done;
    }

    p = der;
    n = i2d_ECDSA_SIG(es, &p);

    if (n > 0) {
        *der_len = n;
        rc = NGX_OK;
    }

done:

    ECDSA_SIG_free(es);

    return rc;
}


static ngx_int_t
ngx_http_tenant_jwt_digest(ngx_http_tenant_jwt_t *jwt, const u_char *data,
    u_char *digest, unsigned int *len)
{
    const EVP_MD  *md;

    md = ngx_http_tenant_alg_md(jwt->alg);

    if (ngx_http_tenant_md_ctx == NULL) {
        ngx_http_tenant_md_ctx = EVP_MD_CTX_new();
    }

    if (md == NULL || ngx_http_tenant_md_ctx == NULL
        || EVP_DigestInit_ex2(ngx_http_tenant_md_ctx, md, NULL) != 1
        || EVP_DigestUpdate(ngx_http_tenant_md_ctx, data, jwt->signed_len)
           != 1
        || EVP_DigestFinal_ex(ngx_http_tenant_md_ctx, digest, len) != 1)
    {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_http_tenant_jwt_rc_e
ngx_http_tenant_jwt_check_claims(json_t *payload,
    ngx_http_tenant_jwt_rules_t *rules, const char **err)
{
    json_t  *exp, *nbf, *iss, *aud;

    exp = json_object_get(payload, "exp");

    if (exp != NULL) {
        if (!json_is_number(exp)) {
            *err = "token \"exp\" is not a number";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }

        if ((double) rules->now >= json_number_value(exp) + rules->leeway) {
            *err = "token has expired";
            return NGX_HTTP_TENANT_JWT_EXPIRED;
        }
    }

    nbf = json_object_get(payload, "nbf");

    if (nbf != NULL) {
        if (!json_is_number(nbf)) {
            *err = "token \"nbf\" is not a number";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }

        if ((double) rules->now + rules->leeway < json_number_value(nbf)) {
            *err = "token is not valid yet";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }
    }

    if (rules->issuers) {
        iss = json_object_get(payload, "iss");

        if (!json_is_string(iss)
            || ngx_http_tenant_jwt_str_in(json_string_value(iss),
                                          json_string_length(iss),
                                          rules->issuers)
               != NGX_OK)
        {
            *err = "token \"iss\" is not accepted";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }
    }

    if (rules->audiences) {
        aud = json_object_get(payload, "aud");

        if (ngx_http_tenant_jwt_has_audience(aud, rules->audiences)
            != NGX_OK)
        {
            *err = "token \"aud\" is not accepted";
            return NGX_HTTP_TENANT_JWT_INVALID;
        }
    }

    return NGX_HTTP_TENANT_JWT_OK;
}


static ngx_int_t
ngx_http_tenant_jwt_has_audience(json_t *aud, ngx_array_t *audiences)
{
    json_t  *v;
    size_t   i;

    if (json_is_string(aud)) {
        return ngx_http_tenant_jwt_str_in(json_string_value(aud),
                                          json_string_length(aud), audiences);
    }

    if (!json_is_array(aud)) {
        return NGX_DECLINED;
    }

    json_array_foreach(aud, i, v) {
        if (json_is_string(v)
            && ngx_http_tenant_jwt_str_in(json_string_value(v),
                                          json_string_length(v), audiences)
               == NGX_OK)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_tenant_jwt_str_in(const char *s, size_t len, ngx_array_t *list)
{
    ngx_str_t   *item;
    ngx_uint_t   i;

    item = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (item[i].len == len && ngx_strncmp(item[i].data, s, len) == 0) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* when a verified token stops being worth caching */

time_t
ngx_http_tenant_jwt_expires(json_t *payload)
{
    double   v;
    json_t  *exp;

    exp = json_object_get(payload, "exp");

    if (!json_is_number(exp)) {
        return 0;
    }

    /* a cast of an out-of-range double is undefined: clamp first */
    v = json_number_value(exp);

    if (v <= 0) {
        return 1;
    }

    if (v >= (double) NGX_MAX_INT32_VALUE) {
        return NGX_MAX_INT32_VALUE;
    }

    return (time_t) v;
}
