
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_OVERRIDE_H_INCLUDED_
#define _NGX_HTTP_TENANT_OVERRIDE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A field of a tenant's hash the script could not use (a plan nobody
 * declared, a value that does not parse): logged at warn, at most once a
 * minute per tenant and field in each worker.
 */
void ngx_http_tenant_override_ignored(ngx_log_t *log, ngx_str_t *tenant,
    ngx_str_t *field, ngx_str_t *value);


#endif /* _NGX_HTTP_TENANT_OVERRIDE_H_INCLUDED_ */
