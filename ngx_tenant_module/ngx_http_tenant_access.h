
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_ACCESS_H_INCLUDED_
#define _NGX_HTTP_TENANT_ACCESS_H_INCLUDED_


#include "ngx_http_tenant_module.h"


/* the access phase handler: token, identity, policy, limits, headers */
ngx_int_t ngx_http_tenant_access_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TENANT_ACCESS_H_INCLUDED_ */
