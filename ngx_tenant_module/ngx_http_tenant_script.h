
/*
 * Copyright (C) ngx_tenant_module authors
 */


#ifndef _NGX_HTTP_TENANT_SCRIPT_H_INCLUDED_
#define _NGX_HTTP_TENANT_SCRIPT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The interface of the one Lua script every decision runs (the script and
 * its arguments are described in ngx_http_tenant_script.c): its modes, its
 * verdicts and where its replies keep what.
 */


extern ngx_str_t  ngx_http_tenant_script;


/* ARGV[1] of the short modes, and numkeys for each */
#define NGX_HTTP_TENANT_SCRIPT_ZONE        "Z"   /* tenant_limit_zone */
#define NGX_HTTP_TENANT_SCRIPT_LOCKED      "K"   /* is a key locked out? */
#define NGX_HTTP_TENANT_SCRIPT_FAILED      "F"   /* count a 401 for a key */
#define NGX_HTTP_TENANT_SCRIPT_REVOKED     "R"   /* revoked in its home? */

#define NGX_HTTP_TENANT_SCRIPT_ZONE_KEYS     "1"
#define NGX_HTTP_TENANT_SCRIPT_LOCKOUT_KEYS  "2"  /* "K" and "F" */
#define NGX_HTTP_TENANT_SCRIPT_REVOKED_KEYS  "3"

/* ARGV[1] of the usage reads (tenant_usage), and numkeys for each */
#define NGX_HTTP_TENANT_SCRIPT_USAGE       "U"   /* one tenant's month */
#define NGX_HTTP_TENANT_SCRIPT_USAGE_SCAN  "S"   /* a page of all tenants' */

#define NGX_HTTP_TENANT_SCRIPT_USAGE_KEYS       "1"
#define NGX_HTTP_TENANT_SCRIPT_USAGE_SCAN_KEYS  "0"

/* the usage hash: PREFIX{ID}:usage:MONTH, its fields */
#define NGX_HTTP_TENANT_USAGE_KEY          ":usage:"
#define NGX_HTTP_TENANT_USAGE_REQUESTS     "requests"
#define NGX_HTTP_TENANT_USAGE_METER        "meter:"

/* ARGV[3] of "R": the token has a jti */
#define NGX_HTTP_TENANT_SCRIPT_HAS_JTI     "J"


/*
 * ARGV[1] of the tenant decision: "", "L", "J" or "LJ", indexed by these
 * flags: "L" rate and quota apply here, "J" the token has a jti
 */
#define NGX_HTTP_TENANT_SCRIPT_MODE_LIMIT  1
#define NGX_HTTP_TENANT_SCRIPT_MODE_JTI    2

#define ngx_http_tenant_script_modes                                          \
    { ngx_null_string, ngx_string("L"), ngx_string("J"), ngx_string("LJ") }

#define NGX_HTTP_TENANT_SCRIPT_DECISION_KEYS  "6"


/* the first element of every reply */
typedef enum {
    NGX_HTTP_TENANT_VERDICT_PASS = 0,
    NGX_HTTP_TENANT_VERDICT_SUSPENDED,
    NGX_HTTP_TENANT_VERDICT_REVOKED,
    NGX_HTTP_TENANT_VERDICT_RATE,
    NGX_HTTP_TENANT_VERDICT_QUOTA,
    NGX_HTTP_TENANT_VERDICT_LATE,     /* past the deadline, nothing counted */
    NGX_HTTP_TENANT_VERDICT_PLAN,     /* the last of the tenant decision */
    NGX_HTTP_TENANT_VERDICT_LOCKED    /* "K" only */
} ngx_http_tenant_verdict_e;


/*
 * The tenant decision's reply: { verdict, status, plan, NUMBERS }, the
 * numbers below in their order, -1 for "no such limit".  Seven elements:
 * the limits are the ones nginx sent (the last three left out); five: an
 * active tenant on the plan nginx sent (status and plan left out too);
 * three: refused before anything was counted.
 */
#define NGX_HTTP_TENANT_REPLY_VERDICT      0
#define NGX_HTTP_TENANT_REPLY_STATUS       1
#define NGX_HTTP_TENANT_REPLY_PLAN         2
#define NGX_HTTP_TENANT_REPLY_NUMBERS      3
#define NGX_HTTP_TENANT_REPLY_MIN          3

#define NGX_HTTP_TENANT_REPLY_ACTIVE       5   /* verdict, 4 numbers */
#define NGX_HTTP_TENANT_REPLY_ACTIVE_NUMBERS  1
#define NGX_HTTP_TENANT_REPLY_SENT_LIMITS  7   /* verdict, status, plan, 4 */

/* after the long reply: FIELD, VALUE for each override it ignored */
#define NGX_HTTP_TENANT_REPLY_IGNORED      10

/*
 * Lua's numbers are doubles, exact up to 2^53: a number beyond is no
 * count, time or limit the script kept, and is not taken for one.
 */
#define NGX_HTTP_TENANT_REPLY_NUMBER_MAX   ((ngx_int_t) 1 << 53)

typedef enum {
    NGX_HTTP_TENANT_REPLY_RATE_REMAINING = 0,
    NGX_HTTP_TENANT_REPLY_RATE_RESET,
    NGX_HTTP_TENANT_REPLY_RETRY_AFTER,
    NGX_HTTP_TENANT_REPLY_QUOTA_USED,
    NGX_HTTP_TENANT_REPLY_RATE_LIMIT,
    NGX_HTTP_TENANT_REPLY_QUOTA_LIMIT,
    NGX_HTTP_TENANT_REPLY_QUOTA_RESET,
    NGX_HTTP_TENANT_REPLY_NNUMBERS
} ngx_http_tenant_reply_number_e;


/*
 * The lease's reply (tenant_limit_lease on): the long reply, then what the
 * give-back needs, then the ignored overrides; "G" gives units back.
 */
#define NGX_HTTP_TENANT_SCRIPT_GIVE_BACK   "G"
#define NGX_HTTP_TENANT_SCRIPT_GIVE_BACK_KEYS  "4"
#define NGX_HTTP_TENANT_REPLY_AS_SENT      -2

typedef enum {
    NGX_HTTP_TENANT_REPLY_GRANTED = 10,
    NGX_HTTP_TENANT_REPLY_INTERVAL,        /* T, 0 for no rate */
    NGX_HTTP_TENANT_REPLY_RATE_KEY,
    NGX_HTTP_TENANT_REPLY_QUOTA_KEY,       /* "" for none */
    NGX_HTTP_TENANT_REPLY_METER_KEY,
    NGX_HTTP_TENANT_REPLY_USAGE_KEY,
    NGX_HTTP_TENANT_REPLY_USAGE_REQUESTS,  /* "requests" or "" */
    NGX_HTTP_TENANT_REPLY_USAGE_METER,     /* "meter:NAME" or "" */
    NGX_HTTP_TENANT_REPLY_LEASE            /* its length, ignored after */
} ngx_http_tenant_reply_lease_e;


/* a short mode's reply: { verdict, "", "", limit, remaining, reset, retry } */
#define NGX_HTTP_TENANT_REPLY_KEYED_RETRY  6


#endif /* _NGX_HTTP_TENANT_SCRIPT_H_INCLUDED_ */
