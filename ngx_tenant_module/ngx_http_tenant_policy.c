
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"


static ngx_flag_t ngx_http_tenant_has_permission(ngx_str_t *joined,
    ngx_str_t *permission);


/*
 * Role, permission and cross-tenant checks: no I/O, run on the verified
 * identity before Redis is asked anything, so a refused request is never
 * counted.  NGX_OK or the reason to refuse.
 */

ngx_int_t
ngx_http_tenant_policy_check(ngx_http_request_t *r,
    ngx_http_tenant_ctx_t *ctx, ngx_http_tenant_loc_conf_t *tlcf,
    const char **err)
{
    ngx_str_t                    *perm, value;
    ngx_uint_t                    i;
    ngx_http_tenant_identity_t   *id;
    ngx_http_tenant_main_conf_t  *tmcf;

    id = &ctx->identity;

    if (tlcf->require_roles
        && ngx_http_tenant_str_index(tlcf->require_roles, &id->role) < 0)
    {
        *err = "role is not one of those required";
        return NGX_HTTP_TENANT_INSUFFICIENT_ROLE;
    }

    if (tlcf->min_role != NGX_CONF_UNSET) {
        tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);

        if (ngx_http_tenant_str_index(&tmcf->roles, &id->role)
            < tlcf->min_role)
        {
            *err = "role is below the minimum role";
            return NGX_HTTP_TENANT_INSUFFICIENT_ROLE;
        }
    }

    if (tlcf->require_permissions) {
        perm = tlcf->require_permissions->elts;

        for (i = 0; i < tlcf->require_permissions->nelts; i++) {
            if (!ngx_http_tenant_has_permission(&id->permissions, &perm[i])) {
                *err = "a required permission is missing";
                return NGX_HTTP_TENANT_INSUFFICIENT_PERMISSION;
            }
        }
    }

    if (tlcf->match) {
        if (ngx_http_complex_value(r, tlcf->match, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        /* exact bytes: no case folding, no URL decoding */
        if (value.len != id->tenant_id.len
            || ngx_strncmp(value.data, id->tenant_id.data, value.len) != 0)
        {
            *err = "the request names another tenant";
            return NGX_HTTP_TENANT_TENANT_MISMATCH;
        }
    }

    return NGX_OK;
}


/* the effective plan: the Redis override where there is one */

ngx_int_t
ngx_http_tenant_policy_plan(ngx_http_tenant_ctx_t *ctx,
    ngx_http_tenant_loc_conf_t *tlcf, const char **err)
{
    if (tlcf->require_plans
        && ngx_http_tenant_str_index(tlcf->require_plans,
                                     &ctx->identity.plan) < 0)
    {
        *err = "the plan is not one of those required";
        return NGX_HTTP_TENANT_PLAN_REQUIRED;
    }

    return NGX_OK;
}


/* the position of a name in a list (a role's rank, lowest first), or -1 */

ngx_int_t
ngx_http_tenant_str_index(ngx_array_t *list, ngx_str_t *name)
{
    ngx_str_t   *item;
    ngx_uint_t   i;

    item = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (item[i].len == name->len
            && ngx_strncmp(item[i].data, name->data, name->len) == 0)
        {
            return i;
        }
    }

    return -1;
}


/* permissions travel comma-joined; names never hold a comma */

static ngx_flag_t
ngx_http_tenant_has_permission(ngx_str_t *joined, ngx_str_t *permission)
{
    u_char  *p, *end, *comma;

    p = joined->data;
    end = p + joined->len;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        if ((size_t) (comma - p) == permission->len
            && ngx_strncmp(p, permission->data, permission->len) == 0)
        {
            return 1;
        }

        p = comma + 1;
    }

    return 0;
}
