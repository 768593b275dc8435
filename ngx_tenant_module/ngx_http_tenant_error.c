
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_error.h"
#include "ngx_http_tenant_ctx.h"


typedef struct {
    ngx_str_t    code;
    ngx_uint_t   status;
    ngx_str_t    body;
    ngx_str_t    challenge;    /* WWW-Authenticate, for 401 */
} ngx_http_tenant_error_t;


#define ngx_http_tenant_json(code, message)                                   \
    ngx_string("{\"error\":\"" code "\",\"message\":\"" message "\"}\n")


static ngx_int_t ngx_http_tenant_set_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);


static ngx_http_tenant_error_t  ngx_http_tenant_errors[] = {

    { ngx_null_string, NGX_HTTP_OK, ngx_null_string, ngx_null_string },

    { ngx_string("missing_token"), NGX_HTTP_UNAUTHORIZED,
      ngx_http_tenant_json("missing_token",
                           "a bearer token is required"),
      ngx_string("Bearer") },

    { ngx_string("invalid_token"), NGX_HTTP_UNAUTHORIZED,
      ngx_http_tenant_json("invalid_token",
                           "the token is malformed, or its signature, "
                           "issuer or audience is not accepted"),
      ngx_string("Bearer error=\"invalid_token\"") },

    { ngx_string("token_expired"), NGX_HTTP_UNAUTHORIZED,
      ngx_http_tenant_json("token_expired", "the token has expired"),
      ngx_string("Bearer error=\"invalid_token\"") },

    { ngx_string("missing_tenant"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("missing_tenant",
                           "the token names no tenant"),
      ngx_null_string },

    { ngx_string("invalid_tenant"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("invalid_tenant",
                           "the token's tenant ID is not valid"),
      ngx_null_string },

    { ngx_string("invalid_claims"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("invalid_claims",
                           "the token's claims cannot be forwarded safely"),
      ngx_null_string },

    { ngx_string("tenant_suspended"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("tenant_suspended",
                           "the organization is suspended"),
      ngx_null_string },

    { ngx_string("token_revoked"), NGX_HTTP_UNAUTHORIZED,
      ngx_http_tenant_json("token_revoked", "the token has been revoked"),
      ngx_string("Bearer error=\"invalid_token\"") },

    { ngx_string("rate_limited"), NGX_HTTP_TOO_MANY_REQUESTS,
      ngx_http_tenant_json("rate_limited",
                           "too many requests for this organization's plan"),
      ngx_null_string },

    { ngx_string("quota_exceeded"), NGX_HTTP_TOO_MANY_REQUESTS,
      ngx_http_tenant_json("quota_exceeded",
                           "the organization's quota for this period is "
                           "used up"),
      ngx_null_string },

    { ngx_string("limiter_unavailable"), NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_http_tenant_json("limiter_unavailable",
                           "limits cannot be checked right now"),
      ngx_null_string },

    { ngx_string("insufficient_role"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("insufficient_role",
                           "your role does not allow this action"),
      ngx_null_string },

    { ngx_string("insufficient_permission"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("insufficient_permission",
                           "a permission this action needs is missing"),
      ngx_null_string },

    { ngx_string("plan_required"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("plan_required",
                           "the organization's plan does not include this"),
      ngx_null_string },

    { ngx_string("tenant_mismatch"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("tenant_mismatch",
                           "the request names another organization"),
      ngx_null_string },

    { ngx_string("not_a_member"), NGX_HTTP_FORBIDDEN,
      ngx_http_tenant_json("not_a_member",
                           "you are not a member of that organization"),
      ngx_null_string },

    { ngx_string("locked_out"), NGX_HTTP_TOO_MANY_REQUESTS,
      ngx_http_tenant_json("locked_out",
                           "too many failed attempts, try again later"),
      ngx_null_string },

    { ngx_string("keys_unavailable"), NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_http_tenant_json("keys_unavailable",
                           "the keys that verify tokens cannot be loaded "
                           "right now"),
      ngx_null_string },

    { ngx_string("registry_unavailable"), NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_http_tenant_json("registry_unavailable",
                           "the organization's status cannot be checked "
                           "right now"),
      ngx_null_string },

    { ngx_string("invalid_request"), NGX_HTTP_BAD_REQUEST,
      ngx_http_tenant_json("invalid_request",
                           "a parameter of the request is missing or not "
                           "valid"),
      ngx_null_string },

    { ngx_string("method_not_allowed"), NGX_HTTP_NOT_ALLOWED,
      ngx_http_tenant_json("method_not_allowed",
                           "this resource answers GET and HEAD only"),
      ngx_null_string }
};


static ngx_str_t  ngx_http_tenant_www_authenticate =
    ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_http_tenant_cache_control = ngx_string("Cache-Control");
static ngx_str_t  ngx_http_tenant_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_tenant_json_type = ngx_string("application/json");


ngx_str_t *
ngx_http_tenant_reason_code(ngx_http_tenant_reason_e reason)
{
    return &ngx_http_tenant_errors[reason].code;
}


/*
 * Answers the request with the JSON error itself and finalizes it, so the
 * phase handler returns NGX_DONE.  The token is never logged.
 */

ngx_int_t
ngx_http_tenant_reject(ngx_http_request_t *r, ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_reason_e reason, const char *detail)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                  out;
    ngx_http_tenant_error_t     *e;
    ngx_http_tenant_loc_conf_t  *tlcf;

    e = &ngx_http_tenant_errors[reason];
    ctx->reason = reason;
    ngx_http_tenant_ctx_decided(ctx);

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tenant_module);

    ngx_log_error(tlcf->log_level, r->connection->log, 0,
                  "tenant: rejected with \"%V\": %s", &e->code, detail);

    /*
     * The final status goes without "100 Continue" first: a client that
     * waits for it need not send a body that nobody will read (so do
     * auth_request and "return 401").
     */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = e->status;
    r->headers_out.content_type = ngx_http_tenant_json_type;
    r->headers_out.content_type_len = ngx_http_tenant_json_type.len;
    r->headers_out.content_length_n = e->body.len;

    if ((e->challenge.len
         && ngx_http_tenant_set_header(r, &ngx_http_tenant_www_authenticate,
                                       &e->challenge)
            != NGX_OK)
        || ngx_http_tenant_set_header(r, &ngx_http_tenant_cache_control,
                                      &ngx_http_tenant_no_store)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = e->body.data;
    b->last = e->body.data + e->body.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


static ngx_int_t
ngx_http_tenant_set_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;
    h->lowcase_key = NULL;

    if (name == &ngx_http_tenant_www_authenticate) {
        r->headers_out.www_authenticate = h;
    }

    return NGX_OK;
}
