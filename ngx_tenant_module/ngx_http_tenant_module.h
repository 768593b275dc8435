
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_MODULE_H_INCLUDED_
#define _NGX_HTTP_TENANT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_tenant_keys.h"
#include "ngx_http_tenant_cache.h"
#include "ngx_http_tenant_claims.h"
#include "ngx_http_tenant_redis.h"
#include "ngx_http_tenant_script.h"
#include "ngx_http_tenant_where.h"


/*
 * The types every file of the module shares: the configurations and the
 * request's context.  Each concern declares its functions in a header of
 * its own (ngx_http_tenant_access.h, _policy.h, _limit.h, _keyed.h, ...).
 */


/* why a request was refused; the table in ngx_http_tenant_error.c */
typedef enum {
    NGX_HTTP_TENANT_ADMITTED = 0,
    NGX_HTTP_TENANT_MISSING_TOKEN,
    NGX_HTTP_TENANT_INVALID_TOKEN,
    NGX_HTTP_TENANT_TOKEN_EXPIRED,
    NGX_HTTP_TENANT_MISSING_TENANT,
    NGX_HTTP_TENANT_INVALID_TENANT,
    NGX_HTTP_TENANT_INVALID_CLAIMS,
    NGX_HTTP_TENANT_SUSPENDED,
    NGX_HTTP_TENANT_TOKEN_REVOKED,
    NGX_HTTP_TENANT_RATE_LIMITED,
    NGX_HTTP_TENANT_QUOTA_EXCEEDED,
    NGX_HTTP_TENANT_LIMITER_UNAVAILABLE,
    NGX_HTTP_TENANT_INSUFFICIENT_ROLE,
    NGX_HTTP_TENANT_INSUFFICIENT_PERMISSION,
    NGX_HTTP_TENANT_PLAN_REQUIRED,
    NGX_HTTP_TENANT_TENANT_MISMATCH,
    NGX_HTTP_TENANT_NOT_A_MEMBER,
    NGX_HTTP_TENANT_LOCKED_OUT,
    NGX_HTTP_TENANT_KEYS_UNAVAILABLE,
    NGX_HTTP_TENANT_REGISTRY_UNAVAILABLE,
    NGX_HTTP_TENANT_INVALID_REQUEST,      /* tenant_usage's parameters */
    NGX_HTTP_TENANT_METHOD_NOT_ALLOWED,   /* tenant_usage's method */
    NGX_HTTP_TENANT_NREASONS
} ngx_http_tenant_reason_e;


/* tenant_limit_zone NAME key=$var rate=... [burst=N] */
typedef struct {
    ngx_str_t                       name;
    ngx_http_complex_value_t        key;
    ngx_str_t                       rate;
    ngx_str_t                       burst;
} ngx_http_tenant_zone_t;


/* tenant_lockout key=$var after=N window=TIME duration=TIME */
typedef struct {
    ngx_http_complex_value_t        key;
    ngx_str_t                       after;        /* decimal, for Redis */
    ngx_str_t                       window;       /* milliseconds */
    ngx_str_t                       duration;     /* milliseconds */
} ngx_http_tenant_lockout_t;


/* tenant_jwt_jwks_url, tenant_jwt_discovery: ngx_http_tenant_jwks_source.h */
typedef struct ngx_http_tenant_jwks_conf_s  ngx_http_tenant_jwks_conf_t;


typedef struct {
    ngx_uint_t                      cache_size;   /* 0: off */
    ngx_http_tenant_cache_t        *cache;        /* per worker */
    ngx_http_tenant_redis_conf_t   *redis;        /* NULL: no Redis */
    ngx_http_tenant_redis_conf_t    redis_conf;   /* tenant_redis* */
    ngx_http_tenant_redis_t        *redis_client; /* per worker */
    ngx_array_t                     plans;        /* ngx_http_tenant_plan_t */
    ngx_str_t                       default_plan;
    ngx_http_tenant_where_t         default_plan_where;
    ngx_array_t                     roles;        /* lowest first */
    ngx_array_t                     zones;        /* ngx_http_tenant_zone_t */
    ngx_http_tenant_jwks_conf_t    *jwks_conf;    /* NULL: no key URL */
    time_t                          usage_retention;
} ngx_http_tenant_main_conf_t;


typedef struct {
    ngx_flag_t                      jwt;
    ngx_http_complex_value_t       *token;        /* token=$var */
    ngx_http_tenant_keyset_t       *keyset;
    ngx_array_t                    *jwks;         /* key URLs, or NULL */
    ngx_uint_t                      algorithms;   /* ALG_BIT set */
    ngx_array_t                    *issuers;
    ngx_array_t                    *audiences;
    ngx_array_t                    *types;        /* ngx_str_t, or NULL */
    ngx_array_t                    *required;     /* claim_t *, or NULL */
    time_t                          leeway;
    ngx_http_tenant_claim_names_t   claims;
    ngx_flag_t                      headers;
    ngx_flag_t                      limit;
    ngx_flag_t                      limit_dry_run;
    ngx_flag_t                      limit_headers;
    ngx_uint_t                      redis_failure;
    ngx_uint_t                      registry_failure;  /* unset: as above */
    ngx_uint_t                      log_level;    /* of the refusals */
    ngx_str_t                       meter;
    ngx_str_t                       meter_field;  /* "meter:NAME" */
    ngx_str_t                       limit_plans;  /* the plans, for Redis */
    ngx_flag_t                      lease;        /* tenant_limit_lease */
    ngx_int_t                       lease_max;
    ngx_msec_t                      lease_ttl;

    ngx_array_t                    *require_roles;
    ngx_str_t                       min_role_name;
    ngx_int_t                       min_role;     /* rank in tenant_roles */
    ngx_array_t                    *require_permissions;
    ngx_array_t                    *require_plans;
    ngx_str_t                       require_plans_text;  /* " a b " */
    ngx_http_complex_value_t       *match;
    ngx_http_complex_value_t       *select;

    ngx_array_t                    *limit_by;     /* zone names */
    ngx_array_t                    *zones;        /* ngx_http_tenant_zone_t * */
    ngx_http_tenant_lockout_t      *lockout;

    /* where the directives that merging may find unsatisfiable are */
    ngx_http_tenant_where_t         jwt_where;
    ngx_http_tenant_where_t         algorithms_where;
    ngx_http_tenant_where_t         limit_where;      /* or tenant_meter */
    ngx_http_tenant_where_t         roles_where;
    ngx_http_tenant_where_t         min_role_where;
    ngx_http_tenant_where_t         plans_where;
    ngx_http_tenant_where_t         policy_where;     /* this level only */
    ngx_http_tenant_where_t         limit_by_where;
    ngx_http_tenant_where_t         lockout_where;
    ngx_http_tenant_where_t         usage_where;      /* this level only */
} ngx_http_tenant_loc_conf_t;


#define NGX_HTTP_TENANT_FAILURE_ALLOW  0
#define NGX_HTTP_TENANT_FAILURE_DENY   1

/* tenant_registry_failure, or tenant_redis_failure where it is not set */
#define ngx_http_tenant_registry_failure(tlcf)                                \
    ((tlcf)->registry_failure != NGX_CONF_UNSET_UINT                          \
     ? (tlcf)->registry_failure : (tlcf)->redis_failure)


/* $tenant_limit_status */
typedef enum {
    NGX_HTTP_TENANT_LIMIT_NONE = 0,
    NGX_HTTP_TENANT_LIMIT_PASSED,
    NGX_HTTP_TENANT_LIMIT_REJECTED,
    NGX_HTTP_TENANT_LIMIT_DRY_RUN,
    NGX_HTTP_TENANT_LIMIT_UNAVAILABLE
} ngx_http_tenant_limit_status_e;


/* what nginx told the script: the reply does not repeat it */
typedef struct {
    ngx_str_t                       plan;
    ngx_int_t                       rate_limit;
    ngx_int_t                       quota_limit;
    time_t                          quota_end;
} ngx_http_tenant_limit_sent_t;


typedef struct {
    ngx_http_tenant_verdict_e       verdict;
    ngx_str_t                       status;    /* $tenant_status */
    ngx_str_t                       plan;      /* effective plan */
    ngx_int_t                       rate_limit;
    ngx_int_t                       rate_remaining;
    ngx_int_t                       rate_reset;
    ngx_int_t                       retry_after;
    ngx_int_t                       quota_limit;
    ngx_int_t                       quota_used;
    ngx_int_t                       quota_reset;
} ngx_http_tenant_limit_result_t;


/* where a Redis call of the access phase stands */
typedef enum {
    NGX_HTTP_TENANT_LIMIT_IDLE = 0,
    NGX_HTTP_TENANT_LIMIT_WAITING,
    NGX_HTTP_TENANT_LIMIT_DONE,
    NGX_HTTP_TENANT_LIMIT_FAILED
} ngx_http_tenant_limit_state_e;


typedef struct {
    ngx_http_tenant_reason_e        reason;
    json_t                         *header;       /* one reference each */
    json_t                         *payload;
    ngx_http_tenant_identity_t      identity;

    ngx_http_tenant_limit_state_e   limit_state;
    ngx_http_tenant_limit_status_e  limit_status;  /* $tenant_limit_status */
    ngx_http_tenant_limit_result_t  limit;
    ngx_http_tenant_limit_sent_t    limit_sent;
    ngx_http_tenant_redis_op_t     *op;
    ngx_event_t                     timer;
    ngx_http_tenant_limit_state_e  *wait_state;    /* failed on timeout */
    ngx_str_t                       applied_meter;
    ngx_int_t                       retry_after;

    ngx_uint_t                      keyed_next;    /* zones, then lockout */
    ngx_array_t                    *applied_zones; /* in this request */
    ngx_http_tenant_lockout_t      *lockout;       /* of the first pass */
    ngx_str_t                       lockout_key;
    ngx_http_tenant_limit_state_e   keyed_state;
    ngx_int_t                       keyed_verdict;

    unsigned                        verified:1;
    unsigned                        identified:1;  /* identity extracted */
    unsigned                        limited:1;     /* limit headers apply */
    unsigned                        applied_limit:1;
    unsigned                        waiting:1;     /* an op in flight */
    unsigned                        cleanup_added:1;
    unsigned                        keyed_done:1;  /* in this pass */
    unsigned                        pass_verified:1;
    unsigned                        decision_started:1;
    unsigned                        jwks_waited:1; /* for a key fetch */
    unsigned                        decided:1;     /* counted, metrics */
    unsigned                        leasing:1;     /* asked for a lease */
    unsigned                        lease_waited:1; /* behind a grant */
} ngx_http_tenant_ctx_t;


extern ngx_module_t  ngx_http_tenant_module;


#endif /* _NGX_HTTP_TENANT_MODULE_H_INCLUDED_ */
