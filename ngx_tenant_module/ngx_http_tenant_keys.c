
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_where.h"


#define NGX_HTTP_TENANT_KEY_FILE_MAX  (1024 * 1024)
#define NGX_HTTP_TENANT_RSA_MIN_BITS  2048
#define NGX_HTTP_TENANT_HMAC_MIN      32


/* JWS names (RFC 7518 3.1, RFC 8037 3.1), in the order of the enum */
static const char  *ngx_http_tenant_alg_names[NGX_HTTP_TENANT_NALGS] = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"
};

/* EdDSA signs the input itself: no digest */
static const char  *ngx_http_tenant_alg_digests[NGX_HTTP_TENANT_NALGS] = {
    "SHA256", "SHA384", "SHA512",
    "SHA256", "SHA384", "SHA512",
    "SHA256", "SHA384", "SHA512",
    "SHA256", "SHA384", "SHA512",
    NULL
};


static void ngx_http_tenant_keyset_cleanup(void *data);
static ngx_int_t ngx_http_tenant_key_set_rsa(ngx_log_t *log,
    ngx_http_tenant_key_t *key);
static ngx_int_t ngx_http_tenant_key_set_ec(ngx_log_t *log,
    ngx_http_tenant_key_t *key);
static ngx_int_t ngx_http_tenant_key_verify_ctx(ngx_log_t *log,
    ngx_http_tenant_key_t *key, ngx_http_tenant_alg_e alg);
static EVP_PKEY *ngx_http_tenant_pem_public_key(u_char *data, size_t len);
static u_char *ngx_http_tenant_read_key_file(ngx_conf_t *cf, ngx_str_t *path,
    size_t *len);
static ngx_flag_t ngx_http_tenant_looks_like_key(u_char *data, size_t len);


/*
 * Digests are fetched once per process: a fetch walks OpenSSL's provider
 * tables and costs more than hashing a token.
 */
static EVP_MD  *ngx_http_tenant_mds[NGX_HTTP_TENANT_NALGS];
static EVP_MAC *ngx_http_tenant_hmac;


/*
 * Names are compared byte for byte: JWS names are case-sensitive (RFC 7515
 * 4.1.1), so "hs256" is no algorithm, and "none" is not in the table.
 */

ngx_int_t
ngx_http_tenant_alg_parse(u_char *name, size_t len)
{
    ngx_uint_t  a;

    for (a = 0; a < NGX_HTTP_TENANT_NALGS; a++) {
        if (len == ngx_strlen(ngx_http_tenant_alg_names[a])
            && ngx_strncmp(name, ngx_http_tenant_alg_names[a], len) == 0)
        {
            return a;
        }
    }

    return NGX_ERROR;
}


const char *
ngx_http_tenant_alg_name(ngx_http_tenant_alg_e alg)
{
    return ngx_http_tenant_alg_names[alg];
}


const EVP_MD *
ngx_http_tenant_alg_md(ngx_http_tenant_alg_e alg)
{
    if (ngx_http_tenant_mds[alg] == NULL
        && ngx_http_tenant_alg_digests[alg] != NULL)
    {
        ngx_http_tenant_mds[alg] = EVP_MD_fetch(NULL,
                                      ngx_http_tenant_alg_digests[alg], NULL);
    }

    return ngx_http_tenant_mds[alg];
}


/* at process exit: what was fetched once is given back, for leak checkers */

void
ngx_http_tenant_keys_exit(void)
{
    ngx_uint_t  a;

    for (a = 0; a < NGX_HTTP_TENANT_NALGS; a++) {
        EVP_MD_free(ngx_http_tenant_mds[a]);
        ngx_http_tenant_mds[a] = NULL;
    }

    EVP_MAC_free(ngx_http_tenant_hmac);
    ngx_http_tenant_hmac = NULL;
}


ngx_http_tenant_keyset_t *
ngx_http_tenant_keyset_create(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_tenant_keyset_t  *ks;

    ks = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_keyset_t));
    if (ks == NULL) {
        return NULL;
    }

    if (ngx_array_init(&ks->keys, cf->pool, 4, sizeof(ngx_http_tenant_key_t))
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_tenant_keyset_cleanup;
    cln->data = ks;

    return ks;
}


static void
ngx_http_tenant_keyset_cleanup(void *data)
{
    ngx_http_tenant_keyset_t *ks = data;

    ngx_uint_t              i, a;
    ngx_http_tenant_key_t  *key;

    key = ks->keys.elts;

    for (i = 0; i < ks->keys.nelts; i++) {
        for (a = 0; a < 3; a++) {
            EVP_MAC_CTX_free(key[i].mac[a]);
        }

        for (a = 0; a < NGX_HTTP_TENANT_NALGS; a++) {
            EVP_PKEY_CTX_free(key[i].verify[a]);
        }

        EVP_PKEY_free(key[i].pkey);
    }

    /*
     * The digests and HMAC fetched once are given back with the
     * configuration too, not only at process exit: a configuration that
     * fails to load (nginx -t, a bad reload) never reaches exit_process,
     * and unloading the module would lose them.  What a newer cycle
     * still uses holds references of its own; the cache fetches anew.
     */

    ngx_http_tenant_keys_exit();
}


ngx_http_tenant_key_t *
ngx_http_tenant_key_add(ngx_http_tenant_keyset_t *ks,
    ngx_str_t *source, ngx_str_t *kid)
{
    ngx_http_tenant_key_t  *key;

    key = ngx_array_push(&ks->keys);
    if (key == NULL) {
        return NULL;
    }

    ngx_memzero(key, sizeof(ngx_http_tenant_key_t));

    key->source = *source;

    if (kid != NULL) {
        key->kid = *kid;
    }

    return key;
}


/* alg: NULL or empty, or the one algorithm the key is bound to */

char *
ngx_http_tenant_keys_load_file(ngx_conf_t *cf, ngx_http_tenant_keyset_t *ks,
    ngx_str_t *path, ngx_str_t *kid, ngx_str_t *alg)
{
    char                   *rv;
    u_char                 *data, *p;
    size_t                  len;
    EVP_PKEY               *pkey;
    ngx_log_t               log;
    ngx_http_tenant_key_t  *key;

    data = ngx_http_tenant_read_key_file(cf, path, &len);
    if (data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_tenant_where_log(cf, &log);

    key = ngx_http_tenant_key_add(ks, path, kid);
    if (key == NULL) {
        rv = NGX_CONF_ERROR;
        goto done;
    }

    rv = NGX_CONF_OK;

    /* PEM readers skip text before the block, as openssl x509 -text writes */
    p = ngx_strlcasestrn(data, data + len, (u_char *) "-----BEGIN", 10 - 1);

    if (p != NULL) {
        pkey = ngx_http_tenant_pem_public_key(data, len);

        if (pkey == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "tenant: \"%V\" holds no RSA, EC or Ed25519 "
                               "public key in PEM (a private key is not "
                               "accepted)", path);
            rv = NGX_CONF_ERROR;
            goto done;
        }

        if (ngx_http_tenant_key_set_pkey(&log, key, pkey) != NGX_OK) {
            rv = NGX_CONF_ERROR;
            goto done;
        }

    } else {

        /* an HMAC secret: the file's bytes, one trailing newline dropped */
        if (len > 0 && data[len - 1] == '\n') {
            len--;
        }

        if (ngx_http_tenant_looks_like_key(data, len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "tenant: \"%V\" is not PEM but looks like "
                               "a DER public key or a JWK Set; it would be "
                               "usable as an HMAC secret by anyone who has "
                               "it (use tenant_jwt_jwks_file for JWK Sets)",
                               path);
            rv = NGX_CONF_ERROR;
            goto done;
        }

        if (ngx_http_tenant_key_set_hmac(&log, key, data, len) != NGX_OK) {
            rv = NGX_CONF_ERROR;
            goto done;
        }
    }

    if (alg != NULL && alg->len
        && ngx_http_tenant_key_restrict(&log, key, alg) != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
        goto done;
    }

    ks->algs |= key->algs;

done:

    OPENSSL_cleanse(data, len);

    return rv;
}


static u_char *
ngx_http_tenant_read_key_file(ngx_conf_t *cf, ngx_str_t *path, size_t *len)
{
    u_char           *data;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "tenant: cannot open key file \"%V\"", path);
        return NULL;
    }

    data = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "tenant: cannot stat key file \"%V\"", path);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_TENANT_KEY_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tenant: key file \"%V\" is too large", path);
        goto done;
    }

    *len = (size_t) ngx_file_size(&fi);

    data = ngx_pnalloc(cf->temp_pool, *len + 1);
    if (data == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, data, *len);

    if (n < 0 || (size_t) n != *len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "tenant: cannot read key file \"%V\"", path);
        data = NULL;
        goto done;
    }

    data[*len] = '\0';

done:

    ngx_close_file(fd);

    return data;
}


/*
 * A secret made of public bytes is no secret: refuse what is plainly key
 * material in another form (DER, JSON).
 */

static ngx_flag_t
ngx_http_tenant_looks_like_key(u_char *data, size_t len)
{
    X509                 *cert;
    EVP_PKEY             *pkey;
    const unsigned char  *p;

    if (len && data[0] == '{') {
        return 1;
    }

    p = data;
    pkey = d2i_PUBKEY(NULL, &p, (long) len);

    if (pkey) {
        EVP_PKEY_free(pkey);
        return 1;
    }

    p = data;
    cert = d2i_X509(NULL, &p, (long) len);

    if (cert) {
        X509_free(cert);
        return 1;
    }

    ERR_clear_error();

    return 0;
}


static EVP_PKEY *
ngx_http_tenant_pem_public_key(u_char *data, size_t len)
{
    BIO               *bio;
    X509              *cert;
    EVP_PKEY          *pkey;
    OSSL_DECODER_CTX  *dctx;

    /* a private key would decode too, but has no place on a gateway */
    if (ngx_strstr(data, "PRIVATE KEY") != NULL) {
        return NULL;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        return NULL;
    }

    /* SubjectPublicKeyInfo and PKCS#1 "RSA PUBLIC KEY" alike */

    pkey = NULL;
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                         EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (dctx != NULL) {
        if (OSSL_DECODER_from_bio(dctx, bio) != 1) {
            pkey = NULL;
        }

        OSSL_DECODER_CTX_free(dctx);
    }

    if (pkey == NULL) {
        /* an X.509 certificate carries the public key too */
        (void) BIO_reset(bio);

        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert != NULL) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    return pkey;
}


ngx_int_t
ngx_http_tenant_key_set_hmac(ngx_log_t *log, ngx_http_tenant_key_t *key,
    u_char *secret, size_t len)
{
    ngx_uint_t   a;
    OSSL_PARAM   params[2];

    if (len == 0) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tenant: HMAC secret in \"%V\" is empty", &key->source);
        return NGX_ERROR;
    }

    if (len < NGX_HTTP_TENANT_HMAC_MIN) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tenant: HMAC secret in \"%V\" is shorter than "
                      "%d bytes", &key->source, NGX_HTTP_TENANT_HMAC_MIN);
    }

    if (ngx_http_tenant_hmac == NULL) {
        ngx_http_tenant_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (ngx_http_tenant_hmac == NULL) {
            goto failed;
        }
    }

    key->type = NGX_HTTP_TENANT_KEY_HMAC;

    for (a = 0; a < 3; a++) {
        key->mac[a] = EVP_MAC_CTX_new(ngx_http_tenant_hmac);
        if (key->mac[a] == NULL) {
            goto failed;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                 (char *) ngx_http_tenant_alg_digests[a], 0);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_MAC_init(key->mac[a], secret, len, params) != 1) {
            goto failed;
        }
    }

    key->algs = NGX_HTTP_TENANT_ALGS_HMAC;

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "tenant: cannot set up HMAC for \"%V\"", &key->source);
    ERR_clear_error();

    return NGX_ERROR;
}


ngx_int_t
ngx_http_tenant_key_set_pkey(ngx_log_t *log, ngx_http_tenant_key_t *key,
    EVP_PKEY *pkey)
{
    key->pkey = pkey;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        return ngx_http_tenant_key_set_rsa(log, key);

    case EVP_PKEY_EC:
        return ngx_http_tenant_key_set_ec(log, key);

    case EVP_PKEY_ED25519:
        /* RFC 8037: EdDSA with Ed25519, the input signed as it is */
        key->type = NGX_HTTP_TENANT_KEY_ED25519;
        key->algs = NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_EDDSA);
        return NGX_OK;

    case EVP_PKEY_ED448:
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tenant: Ed448 key in \"%V\" is not supported: "
                      "EdDSA is verified with Ed25519 keys only",
                      &key->source);
        return NGX_ERROR;

    case EVP_PKEY_RSA_PSS:
        /* its parameters may forbid what RFC 7518 3.5 requires */
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tenant: key in \"%V\" is an RSASSA-PSS key, which is "
                      "not supported: give the same key as an RSA key "
                      "(rsaEncryption) bound to a PS algorithm",
                      &key->source);
        return NGX_ERROR;

    default:
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tenant: key in \"%V\" is neither RSA, EC nor Ed25519",
                      &key->source);
        return NGX_ERROR;
    }
}


/*
 * The verify contexts of both padding schemes are set up, the RS* ones
 * serving by default; binding the key to a PS algorithm
 * (ngx_http_tenant_key_restrict) switches it over.
 */

static ngx_int_t
ngx_http_tenant_key_set_rsa(ngx_log_t *log, ngx_http_tenant_key_t *key)
{
    ngx_uint_t  a;

    if (EVP_PKEY_get_bits(key->pkey) < NGX_HTTP_TENANT_RSA_MIN_BITS) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tenant: RSA key in \"%V\" has %d bits, "
                      "at least %d are required",
                      &key->source, EVP_PKEY_get_bits(key->pkey),
                      NGX_HTTP_TENANT_RSA_MIN_BITS);
        return NGX_ERROR;
    }

    key->type = NGX_HTTP_TENANT_KEY_RSA;
    key->algs = NGX_HTTP_TENANT_ALGS_RSA;

    for (a = 0; a < NGX_HTTP_TENANT_NALGS; a++) {
        if (((NGX_HTTP_TENANT_ALGS_RSA|NGX_HTTP_TENANT_ALGS_PSS)
             & NGX_HTTP_TENANT_ALG_BIT(a))
            && ngx_http_tenant_key_verify_ctx(log, key, a) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tenant_key_set_ec(ngx_log_t *log, ngx_http_tenant_key_t *key)
{
    char                   group[64];
    ngx_http_tenant_alg_e  alg;

    if (EVP_PKEY_get_utf8_string_param(key->pkey,
                                       OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), NULL)
        != 1)
    {
        goto unsupported;
    }

    /* each ES algorithm is defined for exactly one curve (RFC 7518 3.4) */

    if (ngx_strcmp(group, "prime256v1") == 0
        || ngx_strcmp(group, "P-256") == 0)
    {
        alg = NGX_HTTP_TENANT_ES256;
        key->ec_size = 32;

    } else if (ngx_strcmp(group, "secp384r1") == 0
               || ngx_strcmp(group, "P-384") == 0)
    {
        alg = NGX_HTTP_TENANT_ES384;
        key->ec_size = 48;

    } else if (ngx_strcmp(group, "secp521r1") == 0
               || ngx_strcmp(group, "P-521") == 0)
    {
        alg = NGX_HTTP_TENANT_ES512;
        key->ec_size = 66;

    } else {
        goto unsupported;
    }

    key->type = NGX_HTTP_TENANT_KEY_EC;
    key->algs = NGX_HTTP_TENANT_ALG_BIT(alg);

    return ngx_http_tenant_key_verify_ctx(log, key, alg);

unsupported:

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "tenant: EC key in \"%V\" is not on P-256, P-384 "
                  "or P-521", &key->source);
    ERR_clear_error();

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_tenant_key_verify_ctx(ngx_log_t *log, ngx_http_tenant_key_t *key,
    ngx_http_tenant_alg_e alg)
{
    const EVP_MD  *md;
    EVP_PKEY_CTX  *ctx;

    md = ngx_http_tenant_alg_md(alg);

    ctx = (md != NULL) ? EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)
                       : NULL;

    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1) {
        goto failed;
    }

    if ((NGX_HTTP_TENANT_ALGS_RSA & NGX_HTTP_TENANT_ALG_BIT(alg))
        && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
    {
        goto failed;
    }

    if ((NGX_HTTP_TENANT_ALGS_PSS & NGX_HTTP_TENANT_ALG_BIT(alg))
        && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1)
    {
        goto failed;
    }

    if (EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        goto failed;
    }

    /*
     * RFC 7518 3.5: MGF1 with the same hash, and a salt as long as the
     * hash; OpenSSL then refuses a signature with any other salt length
     */

    if ((NGX_HTTP_TENANT_ALGS_PSS & NGX_HTTP_TENANT_ALG_BIT(alg))
        && (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST)
               != 1))
    {
        goto failed;
    }

    key->verify[alg] = ctx;

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "tenant: cannot set up %s for \"%V\"",
                  ngx_http_tenant_alg_name(alg), &key->source);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();

    return NGX_ERROR;
}


/*
 * Binds a key to the one algorithm named by a JWK's "alg" or a key file's
 * alg= parameter: the name must be known and fit the key's type.
 */

ngx_int_t
ngx_http_tenant_key_restrict(ngx_log_t *log, ngx_http_tenant_key_t *key,
    ngx_str_t *name)
{
    ngx_int_t   alg;
    ngx_uint_t  fits;

    alg = ngx_http_tenant_alg_parse(name->data, name->len);

    if (alg == NGX_ERROR) {
        fits = 0;

    } else if (key->type == NGX_HTTP_TENANT_KEY_RSA) {
        fits = (NGX_HTTP_TENANT_ALGS_RSA|NGX_HTTP_TENANT_ALGS_PSS)
               & NGX_HTTP_TENANT_ALG_BIT(alg);

    } else {
        fits = key->algs & NGX_HTTP_TENANT_ALG_BIT(alg);
    }

    if (!fits) {
        if (key->kid.len) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "tenant: key \"%V\" in \"%V\" has \"alg\" \"%V\" "
                          "that does not fit the key",
                          &key->kid, &key->source, name);

        } else {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "tenant: key in \"%V\" has \"alg\" \"%V\" "
                          "that does not fit the key", &key->source, name);
        }

        return NGX_ERROR;
    }

    key->algs = NGX_HTTP_TENANT_ALG_BIT(alg);

    return NGX_OK;
}
