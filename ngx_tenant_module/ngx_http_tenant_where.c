
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tenant_where.h"


static u_char *ngx_http_tenant_where_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);


void
ngx_http_tenant_where_set(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_tenant_where_t *where)
{
    where->name = &cmd->name;

    /* the file's name lives in cf->pool, as long as the configuration */
    where->file = cf->conf_file->file.name.data;
    where->line = cf->conf_file->line;
}


void
ngx_http_tenant_where_error(ngx_conf_t *cf, ngx_http_tenant_where_t *where,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    if (where == NULL || where->file == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - errstr, errstr);
        return;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%*s in %s:%ui",
                  p - errstr, errstr, where->file, where->line);
}


void
ngx_http_tenant_where_log(ngx_conf_t *cf, ngx_log_t *log)
{
    *log = *cf->log;

    log->handler = ngx_http_tenant_where_log_handler;
    log->data = cf;
}


static u_char *
ngx_http_tenant_where_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_conf_t  *cf = log->data;

    if (cf->conf_file == NULL || cf->conf_file->file.name.len == 0) {
        return buf;
    }

    return ngx_snprintf(buf, len, " in %V:%ui",
                        &cf->conf_file->file.name, cf->conf_file->line);
}
