
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_FUZZ_H_INCLUDED_
#define _NGX_HTTP_TENANT_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>
#include <stdlib.h>


/*
 * An invariant that does not hold is a finding: say which, and abort so
 * that libFuzzer saves the input as a crash.
 */
#define fuzz_assert(expr)                                                     \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n",                  \
                    __FILE__, __LINE__, #expr);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)


extern ngx_log_t  *fuzz_log;


ngx_int_t fuzz_init(void);
ngx_pool_t *fuzz_pool(void);
ngx_pool_t *fuzz_pool_forever(void);
ngx_conf_t *fuzz_conf(ngx_pool_t *pool);

/* independent re-statements of the rules the module enforces */
ngx_flag_t fuzz_tenant_id_ok(const u_char *p, size_t len);
ngx_flag_t fuzz_has_c0(const u_char *p, size_t len);
size_t fuzz_b64url_encode(u_char *dst, const u_char *src, size_t len);


#endif /* _NGX_HTTP_TENANT_FUZZ_H_INCLUDED_ */
