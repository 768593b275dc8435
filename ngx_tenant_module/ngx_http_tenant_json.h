
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_JSON_H_INCLUDED_
#define _NGX_HTTP_TENANT_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


/*
 * A JSON object parsed the way the tokens' objects are written, several
 * times faster than json_loadb(), which reads a byte at a time through a
 * stream.  It returns either the tree json_loadb(data, len,
 * JSON_REJECT_DUPLICATES | flags, NULL) returns for the same bytes, or
 * NULL: whatever it does not take (anything but an object, an error, a
 * key with an escape, deep nesting, a long escaped string or number) is
 * left to jansson, so that jansson alone decides what is refused.
 * flags: 0 or JSON_ALLOW_NUL.
 */
json_t *ngx_http_tenant_json_object(const u_char *data, size_t len,
    size_t flags);


#endif /* _NGX_HTTP_TENANT_JSON_H_INCLUDED_ */
