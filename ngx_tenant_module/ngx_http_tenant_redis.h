
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_REDIS_H_INCLUDED_
#define _NGX_HTTP_TENANT_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>


/*
 * One persistent, pipelined hiredis connection per worker, driven by
 * nginx's event loop.  Nothing here blocks: the connect is non-blocking,
 * AUTH, SELECT and SCRIPT LOAD are queued ahead of the first EVALSHA,
 * a lost link is re-established from a timer with a backoff, and a
 * script flushed from Redis is sent again as EVAL behind the caller's
 * back.
 */

typedef struct {
    ngx_str_t                   address;     /* as written */
    ngx_addr_t                 *addr;        /* resolved when read */
    ngx_str_t                   unix_path;   /* NUL-terminated */
    ngx_msec_t                  timeout;
    ngx_str_t                   password;
    ngx_int_t                   db;
    ngx_str_t                   prefix;
} ngx_http_tenant_redis_conf_t;


/*
 * reply: a reply that is not an error, owned by hiredis and valid only
 * during the call (copy what is kept, never free it); NULL: the command
 * failed (error reply, lost or stalled link), and why has been passed to
 * ngx_http_tenant_redis_log_failure().  The handler is never called from
 * within ngx_http_tenant_redis_eval().
 */
typedef void (*ngx_http_tenant_redis_handler_pt)(void *data,
    redisReply *reply);

typedef struct ngx_http_tenant_redis_op_s  ngx_http_tenant_redis_op_t;


extern redisReplyObjectFunctions  ngx_http_tenant_redis_reply_functions;


/* "tenant_redis address [timeout=] [password=] [db=] [prefix=]" */
char *ngx_http_tenant_redis_parse(ngx_conf_t *cf,
    ngx_http_tenant_redis_conf_t *rcf);

ngx_int_t ngx_http_tenant_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script);
void ngx_http_tenant_redis_exit_process(ngx_cycle_t *cycle);

/*
 * A command's arguments in RESP, written in place by the caller between
 * ngx_http_tenant_redis_cmd() and ngx_http_tenant_redis_send().
 */
typedef struct {
    u_char                     *start;
    u_char                     *pos;
    u_char                     *end;
    ngx_uint_t                  args;
    ngx_uint_t                  failed;       /* ran out of room */
} ngx_http_tenant_redis_cmd_t;


/*
 * The worker's command buffer, emptied, with room for at least size
 * bytes of arguments; NULL: Redis is down, apply the failure policy now.
 */
ngx_http_tenant_redis_cmd_t *ngx_http_tenant_redis_cmd(size_t size);

void ngx_http_tenant_redis_cmd_init(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *start, u_char *end);
void ngx_http_tenant_redis_arg(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *data, size_t len);
void ngx_http_tenant_redis_arg_number(ngx_http_tenant_redis_cmd_t *cmd,
    uint64_t n);
u_char *ngx_http_tenant_redis_arg_start(ngx_http_tenant_redis_cmd_t *cmd,
    size_t len);
void ngx_http_tenant_redis_arg_end(ngx_http_tenant_redis_cmd_t *cmd,
    u_char *p);
void ngx_http_tenant_redis_arg_raw(ngx_http_tenant_redis_cmd_t *cmd,
    ngx_str_t *resp, ngx_uint_t args);
u_char *ngx_http_tenant_decimal(u_char *p, uint64_t n);

/*
 * Sends "EVALSHA <sha1 of script>" followed by the command's arguments,
 * numkeys first.  NULL: Redis is down or the command did not fit, apply
 * the failure policy now.  Otherwise as ngx_http_tenant_redis_eval().
 */
ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_send(
    ngx_http_tenant_redis_cmd_t *cmd,
    ngx_http_tenant_redis_handler_pt handler, void *data);

/*
 * Sends "EVALSHA <sha1 of script> argv[0] ... argv[argc - 1]", argv[0]
 * being numkeys; the arguments are copied.  NULL: Redis is down, apply
 * the failure policy now.  Otherwise the handler is called exactly once,
 * unless the operation is cancelled first; the operation is gone once
 * the handler has returned.
 */
ngx_http_tenant_redis_op_t *ngx_http_tenant_redis_eval(int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_tenant_redis_handler_pt handler, void *data);

/* the handler will not be called; the reply, when it comes, is dropped */
void ngx_http_tenant_redis_cancel(ngx_http_tenant_redis_op_t *op);

/* logs "tenant: <message>" at error level, once a second per worker */
void ngx_http_tenant_redis_log_failure(ngx_log_t *log, const char *fmt, ...);


#endif /* _NGX_HTTP_TENANT_REDIS_H_INCLUDED_ */
