
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * fuzz_token: the input is a compact JWT as it would follow "Bearer ".
 * It is decoded, its time, issuer and audience claims checked, its
 * signature verified against the test suite's keys (HMAC, RSA, EC from
 * files, and a JWK Set), and the identity extracted, all with the module's
 * code.  The invariants say what an accepted token must look like.
 */


#include "fuzz.h"
#include <openssl/hmac.h>

#include "ngx_http_tenant_b64.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_claims.h"


#ifndef FUZZ_DATA_DIR
#define FUZZ_DATA_DIR  "t/data"
#endif

#define FUZZ_NOW       1700000000


typedef struct {
    const char  *file;
    const char  *kid;
    const char  *alg;
} fuzz_key_file_t;


static fuzz_key_file_t  fuzz_key_files[] = {
    { "hmac.secret", NULL, NULL },
    { "hmac2.secret", "k2", NULL },
    { "rsa.pub", NULL, NULL },
    { "rsa2.pub", "rsa2", NULL },
    { "rsa.pub", "ps", "PS256" },
    { "ec256.pub", NULL, NULL },
    { "ec384.pub", "ec384", NULL },
    { "ec521.pub", NULL, NULL },
    { "ed25519.pub", NULL, NULL },
    { NULL, NULL, NULL }
};

static const char  *fuzz_hmac_files[] = { "hmac.secret", "hmac2.secret" };

static ngx_str_t   fuzz_hmac[2];
static ngx_http_tenant_keyset_t      *fuzz_files_ks;
static ngx_http_tenant_keyset_t      *fuzz_jwks_ks;
static ngx_http_tenant_jwt_rules_t    fuzz_rules;
static ngx_http_tenant_jwt_rules_t    fuzz_rules_open;
static ngx_http_tenant_claim_names_t  fuzz_names;
static ngx_flag_t                     fuzz_verbose;


static void fuzz_token_setup(void);
static ngx_str_t fuzz_path(ngx_pool_t *pool, const char *file);
static void fuzz_b64_check(const uint8_t *data, size_t size);
static void fuzz_decoded_check(const uint8_t *data, size_t size,
    ngx_http_tenant_jwt_t *jwt);
static void fuzz_verify_check(ngx_http_tenant_keyset_t *ks,
    const uint8_t *data, size_t size, ngx_http_tenant_jwt_t *jwt);
static void fuzz_claims_check(json_t *payload,
    ngx_http_tenant_jwt_rules_t *rules);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_token_setup();

    /* FUZZ_VERBOSE=1: one line per input, to see what a seed reaches */
    fuzz_verbose = (getenv("FUZZ_VERBOSE") != NULL);

    return 0;
}


static void
fuzz_token_setup(void)
{
    char             *rv;
    size_t            len;
    ngx_str_t         path, kid, alg, *s;
    ngx_uint_t        i;
    ngx_pool_t       *pool;
    ngx_conf_t       *cf;
    ngx_fd_t          fd;
    static u_char     secret[2][256];
    static ngx_str_t  names[] = {
        ngx_string("org_id"), ngx_string("sub"), ngx_string("role"),
        ngx_string("plan"), ngx_string("permissions"), ngx_string("orgs")
    };

    /* lives as long as the process, as a configuration would */
    pool = fuzz_pool_forever();
    cf = fuzz_conf(pool);

    fuzz_files_ks = ngx_http_tenant_keyset_create(cf);
    fuzz_jwks_ks = ngx_http_tenant_keyset_create(cf);
    fuzz_assert(fuzz_files_ks && fuzz_jwks_ks);

    for (i = 0; fuzz_key_files[i].file; i++) {
        path = fuzz_path(pool, fuzz_key_files[i].file);

        if (fuzz_key_files[i].kid) {
            kid.data = (u_char *) fuzz_key_files[i].kid;
            kid.len = ngx_strlen(kid.data);
        }

        ngx_str_null(&alg);

        if (fuzz_key_files[i].alg) {
            alg.data = (u_char *) fuzz_key_files[i].alg;
            alg.len = ngx_strlen(alg.data);
        }

        rv = ngx_http_tenant_keys_load_file(cf, fuzz_files_ks, &path,
                                            fuzz_key_files[i].kid ? &kid
                                                                  : NULL,
                                            &alg);
        fuzz_assert(rv == NGX_CONF_OK);
    }

    path = fuzz_path(pool, "jwks.json");
    rv = ngx_http_tenant_jwks_load_file(cf, fuzz_jwks_ks, &path);
    fuzz_assert(rv == NGX_CONF_OK);

    /* the oracle's own copy of the HMAC secrets */
    for (i = 0; i < 2; i++) {
        path = fuzz_path(pool, fuzz_hmac_files[i]);
        fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        fuzz_assert(fd != NGX_INVALID_FILE);

        len = ngx_read_fd(fd, secret[i], sizeof(secret[i]));
        ngx_close_file(fd);
        fuzz_assert(len > 0 && len < sizeof(secret[i]));

        if (secret[i][len - 1] == '\n') {
            len--;
        }

        fuzz_hmac[i].data = secret[i];
        fuzz_hmac[i].len = len;
    }

    fuzz_rules.now = FUZZ_NOW;
    fuzz_rules.leeway = 30;
    fuzz_rules.issuers = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    fuzz_rules.audiences = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    fuzz_assert(fuzz_rules.issuers && fuzz_rules.audiences);

    s = ngx_array_push(fuzz_rules.issuers);
    ngx_str_set(s, "https://issuer.example");
    s = ngx_array_push(fuzz_rules.audiences);
    ngx_str_set(s, "api");
    s = ngx_array_push(fuzz_rules.audiences);
    ngx_str_set(s, "web");

    fuzz_rules_open.now = FUZZ_NOW;
    fuzz_rules_open.leeway = 0;

    fuzz_names.tenant = ngx_http_tenant_claim_compile(pool, &names[0]);
    fuzz_names.user = ngx_http_tenant_claim_compile(pool, &names[1]);
    fuzz_names.role = ngx_http_tenant_claim_compile(pool, &names[2]);
    fuzz_names.plan = ngx_http_tenant_claim_compile(pool, &names[3]);
    fuzz_names.permissions = ngx_http_tenant_claim_compile(pool, &names[4]);
    fuzz_names.orgs = ngx_http_tenant_claim_compile(pool, &names[5]);
}


static ngx_str_t
fuzz_path(ngx_pool_t *pool, const char *file)
{
    u_char     *p;
    ngx_str_t   path;
    const char *dir;

    dir = getenv("FUZZ_DATA_DIR");
    if (dir == NULL) {
        dir = FUZZ_DATA_DIR;
    }

    path.len = ngx_strlen(dir) + 1 + ngx_strlen(file);
    path.data = ngx_pnalloc(pool, path.len + 1);
    fuzz_assert(path.data != NULL);

    p = ngx_sprintf(path.data, "%s/%s", dir, file);
    *p = '\0';

    return path;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                         *copy;
    ngx_pool_t                     *pool;
    const char                     *err;
    ngx_http_tenant_jwt_t           jwt;
    ngx_http_tenant_identity_t      id;
    ngx_http_tenant_jwt_rc_e        rc;
    ngx_http_tenant_identity_rc_e   irc;

    fuzz_b64_check(data, size);

    /* the module's token is not NUL-terminated: neither is this copy */
    copy = malloc(size ? size : 1);
    fuzz_assert(copy != NULL);
    ngx_memcpy(copy, data, size);

    err = NULL;
    rc = ngx_http_tenant_jwt_decode(copy, size, &jwt, &err);

    if (rc != NGX_HTTP_TENANT_JWT_OK) {
        fuzz_assert(rc == NGX_HTTP_TENANT_JWT_INVALID && err != NULL);

        if (fuzz_verbose) {
            fprintf(stderr, "token: decode: %s\n", err);
        }

        ngx_http_tenant_jwt_release(&jwt);
        free(copy);
        return 0;
    }

    fuzz_decoded_check(copy, size, &jwt);

    fuzz_claims_check(jwt.payload, &fuzz_rules);
    fuzz_claims_check(jwt.payload, &fuzz_rules_open);

    fuzz_verify_check(fuzz_files_ks, copy, size, &jwt);
    fuzz_verify_check(fuzz_jwks_ks, copy, size, &jwt);

    pool = fuzz_pool();
    err = NULL;

    irc = ngx_http_tenant_identity_extract(jwt.payload, &fuzz_names, NULL,
                                           pool, &id, &err);
    if (fuzz_verbose) {
        fprintf(stderr, "token: identity: %s (%.*s)\n",
                irc == NGX_HTTP_TENANT_IDENTITY_OK ? "ok" : err,
                (int) id.tenant_id.len, id.tenant_id.data);
    }

    if (irc == NGX_HTTP_TENANT_IDENTITY_OK) {
        fuzz_assert(fuzz_tenant_id_ok(id.tenant_id.data, id.tenant_id.len));
        fuzz_assert(!fuzz_has_c0(id.user.data, id.user.len));
        fuzz_assert(!fuzz_has_c0(id.role.data, id.role.len));
        fuzz_assert(!fuzz_has_c0(id.plan.data, id.plan.len));
        fuzz_assert(!fuzz_has_c0(id.permissions.data, id.permissions.len));

    } else {
        fuzz_assert(err != NULL);
    }

    ngx_destroy_pool(pool);

    ngx_http_tenant_jwt_release(&jwt);
    fuzz_assert(jwt.header == NULL && jwt.payload == NULL);

    free(copy);

    return 0;
}


/*
 * Strict base64url: the decoder accepts exactly the canonical encodings,
 * so what it accepts encodes back to the same text.
 */

static void
fuzz_b64_check(const uint8_t *data, size_t size)
{
    size_t    i, tail;
    ssize_t   n;
    u_char   *bin, *text;
    ngx_flag_t ok;

    static const char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789-_";

    if (size > 65536) {
        return;
    }

    bin = malloc(ngx_http_tenant_b64_decoded_len(size));
    text = malloc(size + 4);
    fuzz_assert(bin && text);

    n = ngx_http_tenant_b64url_decode(bin, data, size);

    ok = (size % 4 != 1);

    for (i = 0; ok && i < size; i++) {
        ok = (data[i] != '\0' && strchr(abc, data[i]) != NULL);
    }

    if (ok) {
        /* the last character's unused low bits must be zero */
        tail = size % 4;

        if (tail) {
            i = strchr(abc, data[size - 1]) - abc;
            ok = (tail == 2) ? (i & 0x0f) == 0 : (i & 0x03) == 0;
        }
    }

    if (!ok) {
        fuzz_assert(n == -1);

    } else {
        fuzz_assert(n == (ssize_t) (size * 3 / 4));
        fuzz_assert(fuzz_b64url_encode(text, bin, n) == size);
        fuzz_assert(ngx_memcmp(text, data, size) == 0);
    }

    free(bin);
    free(text);
}


static void
fuzz_decoded_check(const uint8_t *data, size_t size,
    ngx_http_tenant_jwt_t *jwt)
{
    size_t        i, dots, len;
    u_char       *text;
    json_t       *alg, *kid;
    const char   *name;

    fuzz_assert(size <= NGX_HTTP_TENANT_JWT_MAX);

    for (dots = 0, i = 0; i < size; i++) {
        dots += (data[i] == '.');
    }

    fuzz_assert(dots == 2);
    fuzz_assert(jwt->signed_len < size && data[jwt->signed_len] == '.');
    fuzz_assert(memchr(data, '.', jwt->signed_len) != NULL);

    fuzz_assert(json_is_object(jwt->header));
    fuzz_assert(json_is_object(jwt->payload));

    /* the algorithm is one of the table's, named exactly, "crit"-free */
    fuzz_assert((ngx_uint_t) jwt->alg < NGX_HTTP_TENANT_NALGS);
    alg = json_object_get(jwt->header, "alg");
    name = ngx_http_tenant_alg_name(jwt->alg);
    fuzz_assert(json_is_string(alg));
    fuzz_assert(json_string_length(alg) == strlen(name)
                && ngx_strcmp(json_string_value(alg), name) == 0);
    fuzz_assert(json_object_get(jwt->header, "crit") == NULL);

    kid = json_object_get(jwt->header, "kid");

    if (kid == NULL) {
        fuzz_assert(jwt->kid.len == 0);

    } else {
        fuzz_assert(json_is_string(kid));
        fuzz_assert(jwt->kid.len == json_string_length(kid)
                    && ngx_memcmp(jwt->kid.data, json_string_value(kid),
                                  jwt->kid.len) == 0);
    }

    /* the signature bytes encode back to the token's last segment */
    fuzz_assert(jwt->sig_len > 0
                && jwt->sig_len <= NGX_HTTP_TENANT_JWT_SIG_MAX);

    len = size - jwt->signed_len - 1;
    text = malloc(len + 4);
    fuzz_assert(text != NULL);
    fuzz_assert(fuzz_b64url_encode(text, jwt->sig, jwt->sig_len) == len);
    fuzz_assert(ngx_memcmp(text, data + jwt->signed_len + 1, len) == 0);
    free(text);
}


static void
fuzz_claims_check(json_t *payload, ngx_http_tenant_jwt_rules_t *rules)
{
    time_t                     expires;
    json_t                    *exp, *nbf, *iss;
    const char                *err;
    ngx_http_tenant_jwt_rc_e   rc;

    err = NULL;
    rc = ngx_http_tenant_jwt_check_claims(payload, rules, &err);

    if (fuzz_verbose) {
        fprintf(stderr, "token: claims (%s): %s\n",
                rules->issuers ? "iss, aud" : "time", rc ? err : "ok");
    }

    exp = json_object_get(payload, "exp");
    nbf = json_object_get(payload, "nbf");

    if (rc == NGX_HTTP_TENANT_JWT_OK) {
        if (exp) {
            fuzz_assert(json_is_number(exp));
            fuzz_assert((double) rules->now
                        < json_number_value(exp) + rules->leeway);
        }

        if (nbf) {
            fuzz_assert(json_is_number(nbf));
            fuzz_assert((double) rules->now + rules->leeway
                        >= json_number_value(nbf));
        }

        if (rules->issuers) {
            iss = json_object_get(payload, "iss");
            fuzz_assert(json_is_string(iss)
                        && json_string_length(iss) == 22
                        && ngx_strcmp(json_string_value(iss),
                                      "https://issuer.example") == 0);
            fuzz_assert(json_object_get(payload, "aud") != NULL);
        }

    } else {
        fuzz_assert(err != NULL);

        if (rc == NGX_HTTP_TENANT_JWT_EXPIRED) {
            fuzz_assert(json_is_number(exp));
        }
    }

    expires = ngx_http_tenant_jwt_expires(payload);
    fuzz_assert(expires >= 0 && expires <= NGX_MAX_INT32_VALUE);
    fuzz_assert(json_is_number(exp) || expires == 0);
}


static void
fuzz_verify_check(ngx_http_tenant_keyset_t *ks, const uint8_t *data,
    size_t size, ngx_http_tenant_jwt_t *jwt)
{
    u_char                    *tampered, mac[EVP_MAX_MD_SIZE];
    ngx_uint_t                 i, matched;
    unsigned int               mac_len;
    const char                *err;
    const EVP_MD              *md;
    ngx_http_tenant_jwt_rc_e   rc;

    err = NULL;
    rc = ngx_http_tenant_jwt_verify(ks, jwt, data, &err);

    if (fuzz_verbose) {
        fprintf(stderr, "token: verify (%s): %s\n",
                ks->jwks ? "jwks" : "files", rc ? err : "ok");
    }

    if (rc != NGX_HTTP_TENANT_JWT_OK) {
        fuzz_assert(rc == NGX_HTTP_TENANT_JWT_INVALID && err != NULL);
        return;
    }

    fuzz_assert(ks->algs & NGX_HTTP_TENANT_ALG_BIT(jwt->alg));

    /* an HMAC token is accepted only with the MAC of one of the secrets */
    if (jwt->alg <= NGX_HTTP_TENANT_HS512) {
        md = (jwt->alg == NGX_HTTP_TENANT_HS256) ? EVP_sha256()
             : (jwt->alg == NGX_HTTP_TENANT_HS384) ? EVP_sha384()
             : EVP_sha512();

        for (matched = 0, i = 0; i < 2; i++) {
            HMAC(md, fuzz_hmac[i].data, (int) fuzz_hmac[i].len, data,
                 jwt->signed_len, mac, &mac_len);

            matched |= (mac_len == jwt->sig_len
                        && ngx_memcmp(mac, jwt->sig, mac_len) == 0);
        }

        /* the JWK Set's "oct" key is not one of the files: no oracle */
        fuzz_assert(matched || ks->jwks);
    }

    /* one bit off in the signature, or in the signed text: refused */
    jwt->sig[jwt->sig_len / 2] ^= 0x01;
    fuzz_assert(ngx_http_tenant_jwt_verify(ks, jwt, data, &err)
                == NGX_HTTP_TENANT_JWT_INVALID);
    jwt->sig[jwt->sig_len / 2] ^= 0x01;

    tampered = malloc(size);
    fuzz_assert(tampered != NULL);
    ngx_memcpy(tampered, data, size);

    for (i = 0; i < jwt->signed_len; i += 1 + jwt->signed_len / 4) {
        tampered[i] ^= 0x20;
        fuzz_assert(ngx_http_tenant_jwt_verify(ks, jwt, tampered, &err)
                    == NGX_HTTP_TENANT_JWT_INVALID);
        tampered[i] ^= 0x20;
    }

    free(tampered);
}
