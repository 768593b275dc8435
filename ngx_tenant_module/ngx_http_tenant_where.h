
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_WHERE_H_INCLUDED_
#define _NGX_HTTP_TENANT_WHERE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Where a directive was written.  Several mistakes can only be seen when
 * the levels are merged, at the closing brace of "http"; the message must
 * still name the file and line of the directive that cannot be
 * satisfied, as nginx's own ssl module does for "listen ... ssl".
 */

typedef struct {
    ngx_str_t     *name;          /* the directive; NULL: not written */
    u_char        *file;
    ngx_uint_t     line;
} ngx_http_tenant_where_t;


void ngx_http_tenant_where_set(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_tenant_where_t *where);

/* logs at emerg "<message> in FILE:LINE", the line of where */
void ngx_http_tenant_where_error(ngx_conf_t *cf,
    ngx_http_tenant_where_t *where, const char *fmt, ...);

/*
 * Fills log with a copy of cf->log that ends each message with the file
 * and line being read, as ngx_conf_log_error does: code that takes a log,
 * so that it can run outside the configuration too, still names the line
 * when it runs inside.  log lives no longer than the directive's handler.
 */
void ngx_http_tenant_where_log(ngx_conf_t *cf, ngx_log_t *log);


#endif /* _NGX_HTTP_TENANT_WHERE_H_INCLUDED_ */
