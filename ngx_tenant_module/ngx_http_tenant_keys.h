
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_KEYS_H_INCLUDED_
#define _NGX_HTTP_TENANT_KEYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>


typedef enum {
    NGX_HTTP_TENANT_HS256 = 0,
    NGX_HTTP_TENANT_HS384,
    NGX_HTTP_TENANT_HS512,
    NGX_HTTP_TENANT_RS256,
    NGX_HTTP_TENANT_RS384,
    NGX_HTTP_TENANT_RS512,
    NGX_HTTP_TENANT_ES256,
    NGX_HTTP_TENANT_ES384,
    NGX_HTTP_TENANT_ES512,
    NGX_HTTP_TENANT_PS256,
    NGX_HTTP_TENANT_PS384,
    NGX_HTTP_TENANT_PS512,
    NGX_HTTP_TENANT_EDDSA,
    NGX_HTTP_TENANT_NALGS
} ngx_http_tenant_alg_e;


#define NGX_HTTP_TENANT_ALG_BIT(alg)  ((ngx_uint_t) 1 << (alg))

#define NGX_HTTP_TENANT_ALGS_HMAC                                             \
    (NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_HS256)                           \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_HS384)                          \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_HS512))

#define NGX_HTTP_TENANT_ALGS_RSA                                              \
    (NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_RS256)                           \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_RS384)                          \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_RS512))

#define NGX_HTTP_TENANT_ALGS_PSS                                              \
    (NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_PS256)                           \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_PS384)                          \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_PS512))

#define NGX_HTTP_TENANT_ALGS_EC                                               \
    (NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_ES256)                           \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_ES384)                          \
     |NGX_HTTP_TENANT_ALG_BIT(NGX_HTTP_TENANT_ES512))

/* the algorithms that sign a digest of the input, not the input itself */
#define NGX_HTTP_TENANT_ALGS_DIGEST                                           \
    (NGX_HTTP_TENANT_ALGS_RSA|NGX_HTTP_TENANT_ALGS_PSS                        \
     |NGX_HTTP_TENANT_ALGS_EC)


typedef enum {
    NGX_HTTP_TENANT_KEY_HMAC = 0,
    NGX_HTTP_TENANT_KEY_RSA,
    NGX_HTTP_TENANT_KEY_EC,
    NGX_HTTP_TENANT_KEY_ED25519
} ngx_http_tenant_key_type_e;


/*
 * A verification key, parsed once at configuration time and bound to the
 * algorithms it may verify: an RSA or EC key can never act as an HMAC
 * secret, whatever the token's "alg" says.  An RSA key serves RS* unless
 * bound to one algorithm; PS* only when bound to it (RFC 8725 3.1: one key,
 * one algorithm), so that no key starts to accept a second padding scheme
 * because the module learnt one.
 */
typedef struct {
    ngx_str_t                    kid;     /* empty: any token */
    ngx_str_t                    source;  /* file name, for logs */
    ngx_http_tenant_key_type_e   type;
    ngx_uint_t                   algs;    /* NGX_HTTP_TENANT_ALG_BIT set */

    /* HMAC: one keyed context per algorithm, re-initialised per use */
    EVP_MAC_CTX                 *mac[3];

    /*
     * RSA, EC: one verify context per algorithm, digest and padding
     * already bound; Ed25519 verifies the input itself, from pkey alone
     */
    EVP_PKEY                    *pkey;
    EVP_PKEY_CTX                *verify[NGX_HTTP_TENANT_NALGS];
    size_t                       ec_size; /* bytes of r or s in ES* */
} ngx_http_tenant_key_t;


typedef struct {
    ngx_array_t                  keys;    /* ngx_http_tenant_key_t */
    ngx_uint_t                   algs;    /* union of the keys' algs */
    ngx_flag_t                   jwks;    /* a JWK Set is configured */
} ngx_http_tenant_keyset_t;


/*
 * The functions that take a log, not a configuration, set up one key from
 * bytes already read: a JWK Set fetched at run time will use them too.
 * Their messages name the key's source; at configuration time the log
 * adds the file and line (ngx_http_tenant_where_log).
 */

ngx_http_tenant_keyset_t *ngx_http_tenant_keyset_create(ngx_conf_t *cf);
char *ngx_http_tenant_keys_load_file(ngx_conf_t *cf,
    ngx_http_tenant_keyset_t *ks, ngx_str_t *path, ngx_str_t *kid,
    ngx_str_t *alg);
ngx_http_tenant_key_t *ngx_http_tenant_key_add(ngx_http_tenant_keyset_t *ks,
    ngx_str_t *source, ngx_str_t *kid);
ngx_int_t ngx_http_tenant_key_set_hmac(ngx_log_t *log,
    ngx_http_tenant_key_t *key, u_char *secret, size_t len);
ngx_int_t ngx_http_tenant_key_set_pkey(ngx_log_t *log,
    ngx_http_tenant_key_t *key, EVP_PKEY *pkey);
ngx_int_t ngx_http_tenant_key_restrict(ngx_log_t *log,
    ngx_http_tenant_key_t *key, ngx_str_t *alg);

char *ngx_http_tenant_jwks_load_file(ngx_conf_t *cf,
    ngx_http_tenant_keyset_t *ks, ngx_str_t *path);
char *ngx_http_tenant_jwks_load_buf(ngx_conf_t *cf,
    ngx_http_tenant_keyset_t *ks, ngx_str_t *source, u_char *data,
    size_t len);

ngx_int_t ngx_http_tenant_alg_parse(u_char *name, size_t len);
void ngx_http_tenant_keys_exit(void);
const EVP_MD *ngx_http_tenant_alg_md(ngx_http_tenant_alg_e alg);
const char *ngx_http_tenant_alg_name(ngx_http_tenant_alg_e alg);


#endif /* _NGX_HTTP_TENANT_KEYS_H_INCLUDED_ */
