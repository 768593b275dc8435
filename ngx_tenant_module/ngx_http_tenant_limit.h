
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_
#define _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_redis.h"


/* what one pass of the access phase asks Redis for */
typedef struct {
    ngx_flag_t                      limit;
    ngx_str_t                       meter;
    ngx_str_t                       meter_field;  /* "meter:NAME" */
    ngx_str_t                       plans;        /* tenant_require_plan */
    ngx_str_t                       limit_plans;  /* every plan's limits */
} ngx_http_tenant_apply_t;


char *ngx_http_tenant_limit_merge(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *conf, ngx_http_tenant_loc_conf_t *prev);

/* the tenant decision: one EVALSHA, then its verdict */
ngx_int_t ngx_http_tenant_limit_start(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);
ngx_int_t ngx_http_tenant_limit_verdict(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf);

/* its command, in ngx_http_tenant_limit_cmd.c */
ngx_http_tenant_redis_cmd_t *ngx_http_tenant_limit_command(
    ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf, ngx_http_tenant_apply_t *apply);
void ngx_http_tenant_limit_forget(void);

/* the overrides a reply says it ignored, from its element first on */
/* the seven numbers of a reply, from its element first on */
void ngx_http_tenant_limit_numbers(ngx_http_tenant_limit_result_t *res,
    ngx_http_tenant_redis_reply_t *reply, size_t first);
/* a string of a reply, copied: the reply is only valid in its callback */
ngx_int_t ngx_http_tenant_limit_reply_str(ngx_http_request_t *r,
    ngx_http_tenant_redis_reply_t *reply, ngx_str_t *s);
void ngx_http_tenant_limit_ignored(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_redis_reply_t *reply,
    size_t first);


#endif /* _NGX_HTTP_TENANT_LIMIT_H_INCLUDED_ */
