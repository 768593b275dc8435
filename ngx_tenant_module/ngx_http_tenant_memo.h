
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_MEMO_H_INCLUDED_
#define _NGX_HTTP_TENANT_MEMO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_claims.h"


/* the identity extracted from a cached token, kept with it (ngx_free()) */
u_char *ngx_http_tenant_memo_create(ngx_http_tenant_claim_names_t *names,
    ngx_http_tenant_identity_t *id, ngx_log_t *log);
ngx_int_t ngx_http_tenant_memo_recall(u_char *memo,
    ngx_http_tenant_claim_names_t *names, ngx_pool_t *pool,
    ngx_http_tenant_identity_t *id);


#endif /* _NGX_HTTP_TENANT_MEMO_H_INCLUDED_ */
