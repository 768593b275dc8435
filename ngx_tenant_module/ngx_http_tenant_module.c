
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include "ngx_http_tenant_module.h"
#include "ngx_http_tenant_complex.h"
#include "ngx_http_tenant_access.h"
#include "ngx_http_tenant_variables.h"
#include "ngx_http_tenant_limit_filter.h"
#include "ngx_http_tenant_headers.h"
#include "ngx_http_tenant_policy.h"
#include "ngx_http_tenant_limit.h"
#include "ngx_http_tenant_lease.h"
#include "ngx_http_tenant_keyed.h"
#include "ngx_http_tenant_plan.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_jwt.h"
#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_cache.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_typ.h"
#include "ngx_http_tenant_where.h"
#include "ngx_http_tenant_jwks_url.h"
#include "ngx_http_tenant_usage.h"


#define NGX_HTTP_TENANT_CACHE_DEFAULT  4096


static void *ngx_http_tenant_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tenant_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tenant_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tenant_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_tenant_merge_claims(ngx_conf_t *cf,
    ngx_http_tenant_claim_names_t *conf, ngx_http_tenant_claim_names_t *prev);
static ngx_int_t ngx_http_tenant_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_tenant_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_tenant_init_process(ngx_cycle_t *cycle);
static void ngx_http_tenant_exit_process(ngx_cycle_t *cycle);
static void ngx_http_tenant_exit_master(ngx_cycle_t *cycle);

static char *ngx_http_tenant_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_jwt_jwks_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_http_tenant_keyset_t *ngx_http_tenant_conf_keyset(ngx_conf_t *cf,
    ngx_http_tenant_loc_conf_t *tlcf);
static char *ngx_http_tenant_jwt_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tenant_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_jwt_require_claims(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tenant_claim(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_redis_cluster(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tenant_redis_sentinel(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tenant_init_redis(ngx_conf_t *cf,
    ngx_http_tenant_main_conf_t *tmcf);
static char *ngx_http_tenant_plan(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_meter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_complex(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_select(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_default_plan(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_roles(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_lockout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tenant_set_where(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/*
 * A stock or shared setter, followed by a note of where the directive was
 * written (and, for a policy directive, that one was written here).
 */
typedef struct {
    char                        *(*set)(ngx_conf_t *cf, ngx_command_t *cmd,
                                        void *conf);
    size_t                        where;
    ngx_flag_t                    policy;
} ngx_http_tenant_where_slot_t;


#define ngx_http_tenant_where_slot(setter, field, is_policy)                  \
    { setter, offsetof(ngx_http_tenant_loc_conf_t, field), is_policy }

static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_roles =
    ngx_http_tenant_where_slot(ngx_http_tenant_str_list, roles_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_min_role =
    ngx_http_tenant_where_slot(ngx_conf_set_str_slot, min_role_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_permissions =
    ngx_http_tenant_where_slot(ngx_http_tenant_str_list, policy_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_plans =
    ngx_http_tenant_where_slot(ngx_http_tenant_str_list, plans_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_match =
    ngx_http_tenant_where_slot(ngx_http_tenant_complex, policy_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_select =
    ngx_http_tenant_where_slot(ngx_http_tenant_select, policy_where, 1);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_limit =
    ngx_http_tenant_where_slot(ngx_conf_set_flag_slot, limit_where, 0);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_meter =
    ngx_http_tenant_where_slot(ngx_http_tenant_meter, limit_where, 0);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_limit_by =
    ngx_http_tenant_where_slot(ngx_http_tenant_str_list, limit_by_where, 0);
static ngx_http_tenant_where_slot_t  ngx_http_tenant_where_lockout =
    ngx_http_tenant_where_slot(ngx_http_tenant_lockout, lockout_where, 0);


static ngx_conf_enum_t  ngx_http_tenant_redis_failure[] = {
    { ngx_string("allow"), NGX_HTTP_TENANT_FAILURE_ALLOW },
    { ngx_string("deny"), NGX_HTTP_TENANT_FAILURE_DENY },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tenant_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


#define ngx_http_tenant_redis_offset(field)                                   \
    (offsetof(ngx_http_tenant_main_conf_t, redis_conf)                        \
     + offsetof(ngx_http_tenant_redis_conf_t, field))


#define ngx_http_tenant_claims_offset(field)                                  \
    (offsetof(ngx_http_tenant_loc_conf_t, claims)                             \
     + offsetof(ngx_http_tenant_claim_names_t, field))


static ngx_command_t  ngx_http_tenant_commands[] = {

    { ngx_string("tenant_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_tenant_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_tenant_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_jwks_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_jwt_jwks_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_jwks_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_jwks_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_discovery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_jwks_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_jwks_ssl_verify,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_jwks_ssl_trusted,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, issuers),
      NULL },

    { ngx_string("tenant_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, audiences),
      NULL },

    { ngx_string("tenant_jwt_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_jwt_type,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, types),
      NULL },

    { ngx_string("tenant_jwt_require_claims"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_jwt_require_claims,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, required),
      NULL },

    { ngx_string("tenant_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, leeway),
      NULL },

    { ngx_string("tenant_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_id_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(tenant),
      NULL },

    { ngx_string("tenant_user_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(user),
      NULL },

    { ngx_string("tenant_role_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(role),
      NULL },

    { ngx_string("tenant_plan_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(plan),
      NULL },

    { ngx_string("tenant_permissions_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(permissions),
      NULL },

    { ngx_string("tenant_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, headers),
      NULL },

    { ngx_string("tenant_orgs_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      ngx_http_tenant_claims_offset(orgs),
      NULL },

    { ngx_string("tenant_select"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, select),
      &ngx_http_tenant_where_select },

    { ngx_string("tenant_match"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, match),
      &ngx_http_tenant_where_match },

    { ngx_string("tenant_roles"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_roles,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_require_role"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, require_roles),
      &ngx_http_tenant_where_roles },

    { ngx_string("tenant_min_role"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, min_role_name),
      &ngx_http_tenant_where_min_role },

    { ngx_string("tenant_require_permission"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, require_permissions),
      &ngx_http_tenant_where_permissions },

    { ngx_string("tenant_require_plan"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, require_plans),
      &ngx_http_tenant_where_plans },

    { ngx_string("tenant_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tenant_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_limit_by"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, limit_by),
      &ngx_http_tenant_where_limit_by },

    { ngx_string("tenant_lockout"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_tenant_where_lockout },

    { ngx_string("tenant_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_redis_sentinel"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_redis_sentinel,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_redis_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_redis_cluster,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_redis_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_verify),
      NULL },

    { ngx_string("tenant_redis_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_trusted_certificate),
      NULL },

    { ngx_string("tenant_redis_ssl_server_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_server_name),
      NULL },

    { ngx_string("tenant_redis_ssl_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_certificate),
      NULL },

    { ngx_string("tenant_redis_ssl_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_certificate_key),
      NULL },

    { ngx_string("tenant_redis_ssl_protocols"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_protocols),
      &ngx_http_tenant_redis_ssl_protocols },

    { ngx_string("tenant_redis_ssl_ciphers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_tenant_redis_offset(ssl_ciphers),
      NULL },

    { ngx_string("tenant_redis_failure"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, redis_failure),
      &ngx_http_tenant_redis_failure },

    { ngx_string("tenant_registry_failure"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, registry_failure),
      &ngx_http_tenant_redis_failure },

    { ngx_string("tenant_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, log_level),
      &ngx_http_tenant_log_levels },

    { ngx_string("tenant_plan"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_plan,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_default_plan"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_default_plan,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tenant_main_conf_t, default_plan),
      NULL },

    { ngx_string("tenant_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, limit),
      &ngx_http_tenant_where_limit },

    { ngx_string("tenant_meter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tenant_set_where,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_tenant_where_meter },

    { ngx_string("tenant_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, limit_dry_run),
      NULL },

    { ngx_string("tenant_limit_lease"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tenant_lease_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tenant_loc_conf_t, limit_headers),
      NULL },

    { ngx_string("tenant_usage"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tenant_usage,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tenant_usage_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tenant_main_conf_t, usage_retention),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tenant_module_ctx = {
    ngx_http_tenant_preconfiguration,      /* preconfiguration */
    ngx_http_tenant_postconfiguration,     /* postconfiguration */

    ngx_http_tenant_create_main_conf,      /* create main configuration */
    ngx_http_tenant_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tenant_create_loc_conf,       /* create location configuration */
    ngx_http_tenant_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_tenant_module = {
    NGX_MODULE_V1,
    &ngx_http_tenant_module_ctx,           /* module context */
    ngx_http_tenant_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_tenant_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_tenant_exit_process,          /* exit process */
    ngx_http_tenant_exit_master,           /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_tenant_default_claims[] = {
    ngx_string("org_id"),
    ngx_string("sub"),
    ngx_string("role"),
    ngx_string("plan"),
    ngx_string("permissions"),
    ngx_string("orgs")
};


static void *
ngx_http_tenant_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    tmcf->cache_size = NGX_CONF_UNSET_UINT;
    tmcf->redis_conf.ssl_verify = NGX_CONF_UNSET;
    tmcf->usage_retention = NGX_CONF_UNSET;

    if (ngx_array_init(&tmcf->plans, cf->pool, 4,
                       sizeof(ngx_http_tenant_plan_t))
        != NGX_OK
        || ngx_array_init(&tmcf->roles, cf->pool, 4, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&tmcf->zones, cf->pool, 4,
                          sizeof(ngx_http_tenant_zone_t))
           != NGX_OK)
    {
        return NULL;
    }

    return tmcf;
}


static char *
ngx_http_tenant_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    ngx_conf_init_uint_value(tmcf->cache_size, NGX_HTTP_TENANT_CACHE_DEFAULT);
    ngx_conf_init_value(tmcf->usage_retention,
                        NGX_HTTP_TENANT_USAGE_RETENTION);

    if (ngx_http_tenant_init_redis(cf, tmcf) != NGX_CONF_OK
        || ngx_http_tenant_jwks_init_main(cf, tmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (tmcf->default_plan.len
        && ngx_http_tenant_plan_find(&tmcf->plans, &tmcf->default_plan)
           == NULL)
    {
        ngx_http_tenant_where_error(cf, &tmcf->default_plan_where,
                           "tenant_default_plan \"%V\" is not declared "
                           "with \"tenant_plan\": declare it, or name a "
                           "declared plan", &tmcf->default_plan);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_tenant_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tenant_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tenant_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->token = NULL;
     *     tlcf->keyset = NULL;
     *     tlcf->issuers = NULL;
     *     tlcf->audiences = NULL;
     *     tlcf->claims = { NULL, ... };
     */

    tlcf->jwt = NGX_CONF_UNSET;
    tlcf->algorithms = NGX_CONF_UNSET_UINT;
    tlcf->types = NGX_CONF_UNSET_PTR;
    tlcf->required = NGX_CONF_UNSET_PTR;
    tlcf->leeway = NGX_CONF_UNSET;
    tlcf->headers = NGX_CONF_UNSET;
    tlcf->limit = NGX_CONF_UNSET;
    tlcf->limit_dry_run = NGX_CONF_UNSET;
    tlcf->limit_headers = NGX_CONF_UNSET;
    tlcf->lease = NGX_CONF_UNSET;
    tlcf->lease_max = NGX_CONF_UNSET;
    tlcf->lease_ttl = NGX_CONF_UNSET_MSEC;
    tlcf->redis_failure = NGX_CONF_UNSET_UINT;
    tlcf->registry_failure = NGX_CONF_UNSET_UINT;
    tlcf->log_level = NGX_CONF_UNSET_UINT;
    tlcf->min_role = NGX_CONF_UNSET;

    return tlcf;
}


static char *
ngx_http_tenant_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_tenant_loc_conf_t *prev = parent;
    ngx_http_tenant_loc_conf_t *conf = child;

    if (conf->jwt == NGX_CONF_UNSET) {
        conf->jwt = prev->jwt;
        conf->token = prev->token;
        conf->jwt_where = prev->jwt_where;
    }

    ngx_conf_merge_value(conf->jwt, prev->jwt, 0);

    /* a level with its own keys replaces the parent's, never extends them */
    if (ngx_http_tenant_jwks_merge(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* unset stays unset: the default follows this level's own keys */
    if (conf->algorithms == NGX_CONF_UNSET_UINT) {
        conf->algorithms = prev->algorithms;
        conf->algorithms_where = prev->algorithms_where;
    }

    if (conf->issuers == NULL) {
        conf->issuers = prev->issuers;
    }

    if (conf->audiences == NULL) {
        conf->audiences = prev->audiences;
    }

    ngx_conf_merge_ptr_value(conf->types, prev->types, NULL);
    ngx_conf_merge_ptr_value(conf->required, prev->required, NULL);

    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 60);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_INFO);

    /* unset means "as tenant_jwt", decided per request */
    ngx_conf_merge_value(conf->headers, prev->headers, NGX_CONF_UNSET);

    if (ngx_http_tenant_merge_claims(cf, &conf->claims, &prev->claims)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tenant_limit_merge(cf, conf, prev) != NGX_CONF_OK
        || ngx_http_tenant_policy_merge(cf, conf, prev) != NGX_CONF_OK
        || ngx_http_tenant_keyed_merge(cf, conf, prev) != NGX_CONF_OK
        || ngx_http_tenant_usage_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->jwt && conf->keyset == NULL) {
        ngx_http_tenant_where_error(cf, &conf->jwt_where,
                           "\"tenant_jwt\" is on but no key is configured "
                           "for it: add \"tenant_jwt_key_file\" or "
                           "\"tenant_jwt_jwks_file\" (or a key URL: "
                           "\"tenant_jwt_jwks_url\", \"tenant_jwt_discovery\") "
                           "at its level, or in "
                           "each location it reaches");
        return NGX_CONF_ERROR;
    }

    /* an allow-list no key can serve would refuse every token, silently */
    if (conf->jwt && conf->algorithms != NGX_CONF_UNSET_UINT
        && conf->jwks == NULL
        && (conf->algorithms & conf->keyset->algs) == 0)
    {
        ngx_http_tenant_where_error(cf, &conf->algorithms_where,
                           "\"tenant_jwt_algorithms\" allows no algorithm "
                           "that the configured keys can verify: list the "
                           "keys' algorithm, or bind the keys to one it "
                           "lists");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tenant_merge_claims(ngx_conf_t *cf,
    ngx_http_tenant_claim_names_t *conf, ngx_http_tenant_claim_names_t *prev)
{
    ngx_uint_t                 i;
    ngx_http_tenant_claim_t  **c, **p;

    c = (ngx_http_tenant_claim_t **) conf;
    p = (ngx_http_tenant_claim_t **) prev;

    for (i = 0; i < sizeof(ngx_http_tenant_default_claims)
                    / sizeof(ngx_str_t); i++)
    {
        if (c[i] == NULL) {
            c[i] = p[i];
        }

        if (c[i] == NULL) {
            c[i] = ngx_http_tenant_claim_compile(cf->pool,
                                          &ngx_http_tenant_default_claims[i]);
            if (c[i] == NULL) {
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tenant_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_tenant_add_variables(cf);
}


static ngx_int_t
ngx_http_tenant_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* what was kept for the locations of the configuration read before */
    ngx_http_tenant_limit_forget();
    ngx_http_tenant_lease_forget();

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tenant_access_handler;

    if (ngx_http_tenant_limit_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_tenant_headers_init();
}


static ngx_int_t
ngx_http_tenant_init_process(ngx_cycle_t *cycle)
{
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_tenant_module);

    if (tmcf == NULL) {
        return NGX_OK;
    }

    if (tmcf->cache_size) {
        tmcf->cache = ngx_http_tenant_cache_create(tmcf->cache_size,
                                                   cycle->log);
        if (tmcf->cache == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_tenant_jwks_init_process(cycle, tmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (tmcf->redis) {
        tmcf->redis_client = ngx_http_tenant_redis_create(cycle, tmcf->redis,
                                                      &ngx_http_tenant_script);
        if (tmcf->redis_client == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_tenant_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_tenant_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_tenant_module);

    if (tmcf && tmcf->redis_client) {
        ngx_http_tenant_redis_destroy(tmcf->redis_client);
        tmcf->redis_client = NULL;
    }

    if (tmcf && tmcf->cache) {
        ngx_http_tenant_cache_destroy(tmcf->cache);
        tmcf->cache = NULL;
    }

    if (tmcf) {
        ngx_http_tenant_jwks_exit_process(tmcf);
    }

    ngx_http_tenant_limit_forget();
    ngx_http_tenant_lease_forget();
    ngx_http_tenant_jwt_exit();
    ngx_http_tenant_keys_exit();
}


static void
ngx_http_tenant_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_tenant_jwt_exit();
    ngx_http_tenant_keys_exit();
}


/* tenant_jwt off | on [token=$variable] */

static char *
ngx_http_tenant_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_str_t  *value, token;

    if (tlcf->jwt != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters with \"off\"";
        }

        tlcf->jwt = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"on\" or "
                           "\"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    tlcf->jwt = 1;
    ngx_http_tenant_where_set(cf, cmd, &tlcf->jwt_where);

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "token=", 6) != 0 || value[2].len == 6) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    token.data = value[2].data + 6;
    token.len = value[2].len - 6;

    tlcf->token = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (tlcf->token == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tenant_complex_compile(cf, &token, tlcf->token) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tenant_jwt_key_file path [kid=ID] [alg=ALG] */

static char *
ngx_http_tenant_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_str_t                 *value, kid, alg;
    ngx_uint_t                 i;
    ngx_http_tenant_keyset_t  *ks;

    value = cf->args->elts;

    ngx_str_null(&kid);
    ngx_str_null(&alg);

    for (i = 2; i < cf->args->nelts; i++) {

        if (kid.len == 0 && value[i].len > 4
            && ngx_strncmp(value[i].data, "kid=", 4) == 0)
        {
            kid.data = value[i].data + 4;
            kid.len = value[i].len - 4;
            continue;
        }

        /* whether the name fits the key is known once the key is read */
        if (alg.len == 0 && value[i].len > 4
            && ngx_strncmp(value[i].data, "alg=", 4) == 0)
        {
            alg.data = value[i].data + 4;
            alg.len = value[i].len - 4;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_tenant_conf_keyset(cf, tlcf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_tenant_keys_load_file(cf, ks, &value[1], &kid, &alg);
}


/* tenant_jwt_jwks_file path */

static char *
ngx_http_tenant_jwt_jwks_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_str_t                 *value;
    ngx_http_tenant_keyset_t  *ks;

    value = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_tenant_conf_keyset(cf, tlcf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ks->jwks) {
        return "is duplicate";
    }

    return ngx_http_tenant_jwks_load_file(cf, ks, &value[1]);
}


static ngx_http_tenant_keyset_t *
ngx_http_tenant_conf_keyset(ngx_conf_t *cf, ngx_http_tenant_loc_conf_t *tlcf)
{
    if (tlcf->keyset == NULL) {
        tlcf->keyset = ngx_http_tenant_keyset_create(cf);
    }

    return tlcf->keyset;
}


/* tenant_jwt_algorithms alg ... */

static char *
ngx_http_tenant_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_int_t    alg;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (tlcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    tlcf->algorithms = 0;
    ngx_http_tenant_where_set(cf, cmd, &tlcf->algorithms_where);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcasecmp(value[i].data, (u_char *) "none") == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"none\" algorithm can never be allowed");
            return NGX_CONF_ERROR;
        }

        alg = ngx_http_tenant_alg_parse(value[i].data, value[i].len);

        if (alg == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid algorithm \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        tlcf->algorithms |= NGX_HTTP_TENANT_ALG_BIT(alg);
    }

    return NGX_CONF_OK;
}


/* tenant_jwt_issuer and tenant_jwt_audience: one or more strings */

static char *
ngx_http_tenant_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **list;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list != NULL) {
        return "is duplicate";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*list);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* tenant_jwt_cache off | number */

static char *
ngx_http_tenant_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (tmcf->cache_size != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tmcf->cache_size = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n <= 0 || n > 10000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"off\" or "
                           "a number of tokens from 1 to 10000000",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    tmcf->cache_size = n;

    return NGX_CONF_OK;
}


/* tenant_jwt_type off | type ...: the media types "typ" may name */

static char *
ngx_http_tenant_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t     rc;
    ngx_str_t    *value, *type;
    ngx_uint_t    i;
    ngx_array_t **types;

    types = (ngx_array_t **) (p + cmd->offset);

    if (*types != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *types = NULL;
        return NGX_CONF_OK;
    }

    *types = ngx_array_create(cf->pool, cf->args->nelts - 1,
                              sizeof(ngx_str_t));
    if (*types == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        type = ngx_array_push(*types);
        if (type == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_http_tenant_typ_compile(cf->pool, &value[i], type);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": a media type, "
                               "such as \"at+jwt\" or "
                               "\"application/at+jwt\", is expected",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * tenant_jwt_require_claims off | name ...: a claim named "off" is
 * written ["off"]
 */

static char *
ngx_http_tenant_jwt_require_claims(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    const char                *err;
    ngx_array_t              **required;
    ngx_http_tenant_claim_t  **claim;

    required = (ngx_array_t **) (p + cmd->offset);

    if (*required != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *required = NULL;
        return NGX_CONF_OK;
    }

    *required = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                 sizeof(ngx_http_tenant_claim_t *));
    if (*required == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        err = ngx_http_tenant_claim_valid(&value[i]);

        if (err != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid claim name \"%V\": %s",
                               &value[i], err);
            return NGX_CONF_ERROR;
        }

        claim = ngx_array_push(*required);
        if (claim == NULL) {
            return NGX_CONF_ERROR;
        }

        *claim = ngx_http_tenant_claim_compile(cf->pool, &value[i]);
        if (*claim == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* tenant_*_claim name: a claim name, a dotted path or a path in brackets */

static char *
ngx_http_tenant_claim(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                 *value;
    const char                *err;
    ngx_http_tenant_claim_t  **claim;

    claim = (ngx_http_tenant_claim_t **) (p + cmd->offset);

    if (*claim != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    err = ngx_http_tenant_claim_valid(&value[1]);

    if (err != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid claim name \"%V\": %s", &value[1], err);
        return NGX_CONF_ERROR;
    }

    *claim = ngx_http_tenant_claim_compile(cf->pool, &value[1]);
    if (*claim == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tenant_redis address [timeout=50ms] [password=] [db=N] [prefix=tenant:] */

static char *
ngx_http_tenant_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    if (tmcf->redis) {
        return "is duplicate";
    }

    tmcf->redis = &tmcf->redis_conf;
    ngx_http_tenant_where_set(cf, cmd, &tmcf->redis->where);

    return ngx_http_tenant_redis_parse(cf, tmcf->redis);
}


static char *
ngx_http_tenant_redis_sentinel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    return ngx_http_tenant_redis_sentinel_parse(cf, &tmcf->redis_conf);
}


/* tenant_redis_cluster host:port ...: the seed nodes of cluster=on */

static char *
ngx_http_tenant_redis_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    if (tmcf->redis_conf.cluster_seeds) {
        return "is duplicate";
    }

    ngx_http_tenant_where_set(cf, cmd, &tmcf->redis_conf.cluster_where);

    return ngx_http_tenant_redis_cluster_parse(cf, &tmcf->redis_conf);
}


/*
 * The http level is read: the Redis address is resolved, or left to the
 * resolver of the http level, and the TLS context made.
 */

static char *
ngx_http_tenant_init_redis(ngx_conf_t *cf, ngx_http_tenant_main_conf_t *tmcf)
{
    ngx_http_tenant_redis_conf_t  *rcf;
    ngx_http_core_loc_conf_t      *clcf;

    rcf = &tmcf->redis_conf;

    if (tmcf->redis == NULL) {
        if (rcf->sentinels || rcf->cluster_seeds
            || rcf->ssl_verify != NGX_CONF_UNSET
            || rcf->ssl_trusted_certificate.data || rcf->ssl_server_name.data
            || rcf->ssl_certificate.data || rcf->ssl_certificate_key.data
            || rcf->ssl_protocols || rcf->ssl_ciphers.data)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tenant_redis_*\" directives need "
                               "\"tenant_redis\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* a "resolver" of the http level; a server's own is for its requests */
    if (clcf->resolver && clcf->resolver->connections.nelts) {
        rcf->resolver = clcf->resolver;
        rcf->resolver_timeout = clcf->resolver_timeout != NGX_CONF_UNSET_MSEC
                                ? clcf->resolver_timeout : 30000;
    }

    if (ngx_http_tenant_redis_conf_init(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tenant_plan(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    return ngx_http_tenant_plan_parse(cf, &tmcf->plans);
}


/* tenant_meter NAME: a meter some plan declares */

static char *
ngx_http_tenant_meter(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_tenant_plan_t       *plan;
    ngx_http_tenant_main_conf_t  *tmcf;

    if (tlcf->meter.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    tlcf->meter = value[1];

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tenant_module);
    plan = tmcf->plans.elts;

    for (i = 0; i < tmcf->plans.nelts; i++) {
        if (ngx_http_tenant_plan_meter(&plan[i], &value[1])) {
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "meter \"%V\" is not declared by any \"tenant_plan\" "
                       "(declare plans before they are used)", &value[1]);

    return NGX_CONF_ERROR;
}


/* tenant_match and tenant_select: one value, usually a variable */

static char *
ngx_http_tenant_complex(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                  *value;
    ngx_http_complex_value_t  **cv;

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tenant_complex_compile(cf, &value[1], *cv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tenant_roles viewer editor admin owner;  lowest first */

static char *
ngx_http_tenant_roles(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    ngx_str_t   *value, *role;
    ngx_uint_t   i;

    if (tmcf->roles.nelts) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_tenant_str_index(&tmcf->roles, &value[i]) >= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate role \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        role = ngx_array_push(&tmcf->roles);
        if (role == NULL) {
            return NGX_CONF_ERROR;
        }

        *role = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tenant_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    return ngx_http_tenant_zone_parse(cf, &tmcf->zones);
}


static char *
ngx_http_tenant_lockout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    return ngx_http_tenant_lockout_parse(cf, &tlcf->lockout);
}


/* tenant_select value: a value with no variable would select one org */

static char *
ngx_http_tenant_select(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_loc_conf_t *tlcf = conf;

    char       *rv;
    ngx_str_t  *value;

    rv = ngx_http_tenant_complex(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (tlcf->select->lengths == NULL) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": \"tenant_select\" takes "
                           "a value with a variable, such as "
                           "\"$http_x_organization_id\", or every request "
                           "would select the same organization", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tenant_default_plan(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tenant_main_conf_t *tmcf = conf;

    char  *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        ngx_http_tenant_where_set(cf, cmd, &tmcf->default_plan_where);
    }

    return rv;
}


static char *
ngx_http_tenant_set_where(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                          *rv, *p;
    ngx_command_t                  setter;
    ngx_http_tenant_where_t       *where;
    ngx_http_tenant_loc_conf_t    *tlcf;
    ngx_http_tenant_where_slot_t  *slot;

    slot = cmd->post;

    /* the stock setters would take post for a post handler of their own */
    setter = *cmd;
    setter.post = NULL;

    rv = slot->set(cf, &setter, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    p = conf;
    where = (ngx_http_tenant_where_t *) (p + slot->where);

    ngx_http_tenant_where_set(cf, cmd, where);

    tlcf = conf;

    if (slot->policy && tlcf->policy_where.name == NULL) {
        tlcf->policy_where = *where;
    }

    return NGX_CONF_OK;
}
