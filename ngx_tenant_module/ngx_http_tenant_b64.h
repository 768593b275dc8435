
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_B64_H_INCLUDED_
#define _NGX_HTTP_TENANT_B64_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define ngx_http_tenant_b64_decoded_len(len)  (((len) * 3) / 4 + 3)


/*
 * Strict base64url (RFC 4648 section 5) as JWS requires: no padding, no
 * whitespace, no stray bits.  Returns the decoded length or -1.
 */
ssize_t ngx_http_tenant_b64url_decode(u_char *dst, const u_char *src,
    size_t len);


#endif /* _NGX_HTTP_TENANT_B64_H_INCLUDED_ */
