
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_USAGE_H_INCLUDED_
#define _NGX_HTTP_TENANT_USAGE_H_INCLUDED_


#include "ngx_http_tenant_module.h"


/* tenant_usage_retention, the default: a year and a bit for disputes */
#define NGX_HTTP_TENANT_USAGE_RETENTION  (400 * 86400)


/*
 * tenant_usage: the location answers GET ?period=YYYY-MM[&tenant=ID]
 * [&cursor=N][&count=N] with the monthly usage counters, in JSON.
 */
char *ngx_http_tenant_usage(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_tenant_usage_merge(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *conf);


#endif /* _NGX_HTTP_TENANT_USAGE_H_INCLUDED_ */
