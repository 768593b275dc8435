
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_WAIT_H_INCLUDED_
#define _NGX_HTTP_TENANT_WAIT_H_INCLUDED_


#include "ngx_http_tenant_module.h"


/*
 * A request waiting on a Redis operation (ctx->op), as auth_request waits
 * on its subrequest: the phase handler returns NGX_AGAIN, a timer bounds
 * the wait, a cleanup leaves no callback and no timer behind a request
 * that goes away first, and the reply's handler resumes the phases.
 */

ngx_int_t ngx_http_tenant_wait_suspend(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_limit_state_e *state);
ngx_http_tenant_ctx_t *ngx_http_tenant_wait_done(ngx_http_request_t *r);
void ngx_http_tenant_wait_resume(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TENANT_WAIT_H_INCLUDED_ */
