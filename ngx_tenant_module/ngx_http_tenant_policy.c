
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_policy.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_where.h"


static ngx_flag_t ngx_http_tenant_has_role(ngx_http_request_t *r,
    ngx_http_tenant_identity_t *id, ngx_array_t *required);
static ngx_flag_t ngx_http_tenant_has_permission(ngx_str_t *joined,
    ngx_str_t *permission);
static char *ngx_http_tenant_policy_plans_text(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_loc_conf_t *conf);
static char *ngx_http_tenant_policy_check_roles(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf, ngx_array_t *names,
    ngx_http_tenant_where_t *where);


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
        && !ngx_http_tenant_has_role(r, id, tlcf->require_roles))
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


/*
 * A role from an array admits if any declared role it holds is required,
 * not only the highest: an admin who is also "billing" may see billing.
 */

static ngx_flag_t
ngx_http_tenant_has_role(ngx_http_request_t *r,
    ngx_http_tenant_identity_t *id, ngx_array_t *required)
{
    ngx_str_t                    *role;
    ngx_uint_t                    i;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (id->held.len == 0) {
        return ngx_http_tenant_str_index(required, &id->role) >= 0;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tenant_module);
    role = tmcf->roles.elts;

    for (i = 0; i < id->held.len && i < tmcf->roles.nelts; i++) {
        if (id->held.data[i]
            && ngx_http_tenant_str_index(required, &role[i]) >= 0)
        {
            return 1;
        }
    }

    return 0;
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


/* the policy directives, checked against the roles and plans declared */

char *
ngx_http_tenant_policy_merge(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *conf,
    ngx_http_tenant_loc_conf_t *prev)
{
    ngx_flag_t                    here;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);

    /* a rule written where no token is verified would admit everyone */
    here = (conf->require_roles || conf->require_permissions
            || conf->require_plans || conf->match || conf->select
            || conf->min_role_name.data);

    if (conf->require_roles == NULL) {
        conf->require_roles = prev->require_roles;
        conf->roles_where = prev->roles_where;
    }

    if (conf->require_permissions == NULL) {
        conf->require_permissions = prev->require_permissions;
    }

    if (conf->require_plans == NULL) {
        conf->require_plans = prev->require_plans;
        conf->require_plans_text = prev->require_plans_text;
        conf->plans_where = prev->plans_where;
    }

    if (conf->match == NULL) {
        conf->match = prev->match;
    }

    if (conf->select == NULL) {
        conf->select = prev->select;
    }

    if (conf->min_role_name.data == NULL) {
        conf->min_role_where = prev->min_role_where;
    }

    ngx_conf_merge_str_value(conf->min_role_name, prev->min_role_name, "");

    if (ngx_http_tenant_policy_check_roles(cf, tmcf, conf->require_roles,
                                    &conf->roles_where)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->min_role_name.len) {
        if (tmcf->roles.nelts == 0) {
            ngx_http_tenant_where_error(cf, &conf->min_role_where,
                               "\"tenant_min_role\" needs the hierarchy "
                               "declared with \"tenant_roles\" at the http "
                               "level");
            return NGX_CONF_ERROR;
        }

        conf->min_role = ngx_http_tenant_str_index(&tmcf->roles,
                                                   &conf->min_role_name);

        if (conf->min_role < 0) {
            ngx_http_tenant_where_error(cf, &conf->min_role_where,
                               "role \"%V\" is not declared in "
                               "\"tenant_roles\": add it there, or name a "
                               "declared one", &conf->min_role_name);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->require_plans && conf->require_plans_text.data == NULL
        && ngx_http_tenant_policy_plans_text(cf, tmcf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /*
     * Where tenant_jwt is off there is no identity to judge: the rules
     * are not applied there (a server-wide rule over an open /healthz).
     * A rule written in that very location is surely a mistake.
     */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the server level's own core conf has no location name */
    if (here && !conf->jwt && clcf->name.len) {
        ngx_http_tenant_where_error(cf, &conf->policy_where,
                           "\"%V\": tenant policy directives need "
                           "\"tenant_jwt on\" where they are written",
                           conf->policy_where.name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the required plans for the Redis script: " a b ", each between spaces */

static char *
ngx_http_tenant_policy_plans_text(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf, ngx_http_tenant_loc_conf_t *conf)
{
    u_char      *p;
    ngx_str_t   *plan;
    ngx_uint_t   i;

    plan = conf->require_plans->elts;

    conf->require_plans_text.len = 1;

    for (i = 0; i < conf->require_plans->nelts; i++) {
        if (tmcf->plans.nelts
            && ngx_http_tenant_plan_find(&tmcf->plans, &plan[i]) == NULL)
        {
            ngx_http_tenant_where_error(cf, &conf->plans_where,
                               "plan \"%V\" is not declared with "
                               "\"tenant_plan\": declare it, or name a "
                               "declared one", &plan[i]);
            return NGX_CONF_ERROR;
        }

        conf->require_plans_text.len += plan[i].len + 1;
    }

    p = ngx_pnalloc(cf->pool, conf->require_plans_text.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->require_plans_text.data = p;
    *p++ = ' ';

    for (i = 0; i < conf->require_plans->nelts; i++) {
        p = ngx_cpymem(p, plan[i].data, plan[i].len);
        *p++ = ' ';
    }

    return NGX_CONF_OK;
}


/* once a hierarchy is declared, every role named must be in it */

static char *
ngx_http_tenant_policy_check_roles(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf, ngx_array_t *names,
    ngx_http_tenant_where_t *where)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (names == NULL || tmcf->roles.nelts == 0) {
        return NGX_CONF_OK;
    }

    name = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (ngx_http_tenant_str_index(&tmcf->roles, &name[i]) < 0) {
            ngx_http_tenant_where_error(cf, where,
                               "role \"%V\" is not declared in "
                               "\"tenant_roles\": add it there, or name a "
                               "declared one", &name[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
