use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# Blocks without their own --- http_config / --- config use these.  The keys
# are set once for the server; each location that wants verification turns
# tenant_jwt on.
our $DefaultHttpConfig = <<'_EOC_';
    map $tenant_reject_reason $reason_or_none {
        ""       none;
        default  $tenant_reject_reason;
    }
    map $tenant_id $tenant_backend {
        acme     blue;
        default  green;
    }
    map $tenant_role $rate_limit {
        admin    1000;
        viewer   10;
        default  0;
    }
    map $tenant_plan $plan_rank {
        pro      2;
        free     1;
        default  0;
    }
    map $tenant_permissions $can_write {
        "~(^|,)write(,|$)"  yes;
        default             no;
    }
    map $tenant_user $is_service {
        ~^svc-   yes;
        default  no;
    }
_EOC_

our $DefaultConfig = <<'_EOC_';
    # a key with a kid is only tried for tokens that name it
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret kid=k1;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=r1;

    # identity and map variables in proxy_set_header
    location /proxy {
        tenant_jwt on;
        proxy_set_header X-V-Id $tenant_id;
        proxy_set_header X-V-User $tenant_user;
        proxy_set_header X-V-Role $tenant_role;
        proxy_set_header X-V-Plan $tenant_plan;
        proxy_set_header X-V-Permissions $tenant_permissions;
        proxy_set_header X-V-Reason "[$tenant_reject_reason]";
        proxy_set_header X-V-Backend $tenant_backend;
        proxy_set_header X-V-Limit $rate_limit;
        proxy_set_header X-V-Rank $plan_rank;
        proxy_set_header X-V-Write $can_write;
        proxy_set_header X-V-Service $is_service;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo-vars;
    }
    location /echo-vars {
        echo "id=[$http_x_v_id] user=[$http_x_v_user] role=[$http_x_v_role] plan=[$http_x_v_plan] permissions=[$http_x_v_permissions] reason=$http_x_v_reason";
        echo "backend=[$http_x_v_backend] limit=[$http_x_v_limit] rank=[$http_x_v_rank] write=[$http_x_v_write] service=[$http_x_v_service]";
    }

    # identity variables in add_header
    location /add {
        tenant_jwt on;
        add_header X-Id $tenant_id;
        add_header X-User $tenant_user;
        add_header X-Role $tenant_role;
        add_header X-Plan $tenant_plan;
        add_header X-Permissions $tenant_permissions;
        add_header X-Reason $tenant_reject_reason;
        echo ok;
    }

    # identity variables in the proxy_pass URI
    location /path {
        tenant_jwt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo-path/$tenant_id/$tenant_user;
    }
    location /echo-path/ {
        echo "uri=$uri";
    }

    # $jwt_claim_* and $jwt_header_*
    location /claims {
        tenant_jwt on;
        echo "sub=[$jwt_claim_sub] exp=[$jwt_claim_exp] permissions=[$jwt_claim_permissions] admin=[$jwt_claim_admin] suspended=[$jwt_claim_suspended]";
        echo "level=[$jwt_claim_level] score=[$jwt_claim_score] org=[$jwt_claim_org] note=[$jwt_claim_note] tab=[$jwt_claim_tab] nothing=[$jwt_claim_nothing] absent=[$jwt_claim_absent]";
    }
    location /jwt-header {
        tenant_jwt on;
        echo "alg=[$jwt_header_alg] kid=[$jwt_header_kid] typ=[$jwt_header_typ] absent=[$jwt_header_absent]";
    }

    # $jwt_claim_* in proxy_set_header: a claim with CRLF must not inject
    location /claim-proxy {
        tenant_jwt on;
        tenant_headers off;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Note $jwt_claim_note;
        proxy_set_header X-Org $jwt_claim_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo-raw;
    }
    location /echo-raw {
        echo -n $echo_client_request_headers;
    }

    # no tenant_jwt here
    location /plain {
        echo "id=[$tenant_id] user=[$tenant_user] role=[$tenant_role] plan=[$tenant_plan] permissions=[$tenant_permissions] reason=[$tenant_reject_reason] sub=[$jwt_claim_sub] alg=[$jwt_header_alg]";
    }

    # $tenant_reject_reason on the module's own error responses
    location /reason {
        tenant_jwt on;
        add_header X-Reason $tenant_reject_reason always;
        add_header X-Reason-Or-None $reason_or_none always;
        add_header X-Id "[$tenant_id]" always;
        add_header X-Sub "[$jwt_claim_sub]" always;
        echo "admitted reason=[$tenant_reject_reason]";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: identity variables and maps of them in proxy_set_header
--- request
GET /proxy
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', 'write']})
--- error_code: 200
--- response_body
id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[read,write] reason=[]
backend=[blue] limit=[1000] rank=[2] write=[yes] service=[no]
--- no_error_log
[error]



=== TEST 2: maps follow the identity of each request
--- request
GET /proxy
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'beta', sub => 'svc-billing', role => 'viewer',
                              plan => 'free', permissions => 'read writer'})
--- error_code: 200
--- response_body
id=[beta] user=[svc-billing] role=[viewer] plan=[free] permissions=[read,writer] reason=[]
backend=[green] limit=[10] rank=[1] write=[no] service=[yes]
--- no_error_log
[error]



=== TEST 3: identity variables in add_header; an empty $tenant_reject_reason adds no header
--- request
GET /add
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', 'write']})
--- error_code: 200
--- response_headers
X-Id: acme
X-User: user-1
X-Role: admin
X-Plan: pro
X-Permissions: read,write
!X-Reason
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: $tenant_id and $tenant_user in the proxy_pass URI
--- request
GET /path
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'acme-eu.1', sub => 'user_7'})
--- error_code: 200
--- response_body
uri=/echo-path/acme-eu.1/user_7
--- no_error_log
[error]



=== TEST 5: $tenant_id in proxy_cache_key keeps tenants' cached responses apart
--- http_config
    proxy_cache_path tenant_cache keys_zone=tenant:1m;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_cache tenant;
        proxy_cache_key "$tenant_id:$uri";
        proxy_cache_valid 200 10m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "tenant=$http_x_tenant_id";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(), TenantTest::bearer(claims => {org_id => 'beta'}), TenantTest::bearer()]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["tenant=acme\n", "tenant=beta\n", "tenant=acme\n"]
--- no_error_log
[error]



=== TEST 6: $jwt_claim_*: strings, numbers, booleans, arrays and objects as compact JSON; control characters and null give nothing
--- request
GET /claims
--- more_headers eval
TenantTest::bearer(kid => 'k1', claims => {
    exp => 4102444800,
    permissions => ['read', 'write'],
    admin => JSON::PP::true,
    suspended => JSON::PP::false,
    level => 3,
    score => 1.5,
    org => {id => 'acme', region => 'eu'},
    note => "line1\r\nX-Injected: yes",
    tab => "a\tb",
})
--- error_code: 200
--- response_body
sub=[user-1] exp=[4102444800] permissions=[["read","write"]] admin=[true] suspended=[false]
level=[3] score=[1.5] org=[{"id":"acme","region":"eu"}] note=[] tab=[] nothing=[] absent=[]
--- no_error_log
[error]



=== TEST 7: $jwt_claim_nothing is empty when the claim is JSON null
--- request
GET /claims
--- more_headers eval
"Authorization: Bearer " . Crypt::JWT::encode_jwt(
    payload => '{"exp":4102444800,"nothing":null,"org_id":"acme","sub":"user-1"}',
    alg => 'HS256', key => TenantTest::hmac_secret())
--- error_code: 200
--- response_body
sub=[user-1] exp=[4102444800] permissions=[] admin=[] suspended=[]
level=[] score=[] org=[] note=[] tab=[] nothing=[] absent=[]
--- no_error_log
[error]



=== TEST 8: a claim with CRLF in proxy_set_header cannot inject a header upstream
--- request
GET /claim-proxy
--- more_headers eval
TenantTest::bearer(claims => {note => "line1\r\nX-Injected: yes", org => {id => 'acme'}})
--- error_code: 200
--- response_body_like eval
qr{\A
   (?![\s\S]*X-Injected)
   (?![\s\S]*line1)
   (?![\s\S]*\nX-Note:)
   (?=[\s\S]*\r\nX-Sub:\ user-1\r\n)
   (?=[\s\S]*\r\nX-Org:\ \{"id":"acme"\}\r\n)
   GET\ /echo-raw\ HTTP/1\.0\r\n(?:[^\r\n]+\r\n)*\r\n\z}x
--- no_error_log
[error]



=== TEST 9: $jwt_header_alg and $jwt_header_kid for an HS256 token
--- request
GET /jwt-header
--- more_headers eval
TenantTest::bearer(kid => 'k1', header => {typ => 'JWT'})
--- error_code: 200
--- response_body
alg=[HS256] kid=[k1] typ=[JWT] absent=[]
--- no_error_log
[error]



=== TEST 10: $jwt_header_alg and $jwt_header_kid for an RS256 token
--- request
GET /jwt-header
--- more_headers eval
TenantTest::bearer(alg => 'RS256', kid => 'r1')
--- error_code: 200
--- response_body
alg=[RS256] kid=[r1] typ=[] absent=[]
--- no_error_log
[error]



=== TEST 11: all variables are empty on a location without tenant_jwt, even with a valid token
--- request
GET /plain
--- more_headers eval
TenantTest::bearer(kid => 'k1', claims => {permissions => ['read']})
--- error_code: 200
--- response_body
id=[] user=[] role=[] plan=[] permissions=[] reason=[] sub=[] alg=[]
--- no_error_log
[error]



=== TEST 12: $tenant_reject_reason is empty for an admitted request
--- request
GET /reason
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
!X-Reason
X-Reason-Or-None: none
X-Id: [acme]
X-Sub: [user-1]
--- response_body
admitted reason=[]
--- no_error_log
[error]



=== TEST 13: $tenant_reject_reason is missing_token on the error response
--- request
GET /reason
--- error_code: 401
--- response_headers
X-Reason: missing_token
X-Reason-Or-None: missing_token
X-Id: []
--- response_body_like: ^\{"error":"missing_token","message":"



=== TEST 14: $tenant_reject_reason is invalid_token; claims of an unverified token are never exposed
--- request
GET /reason
--- more_headers eval
TenantTest::bearer(key => 'hmac2.secret')
--- error_code: 401
--- response_headers
X-Reason: invalid_token
X-Reason-Or-None: invalid_token
X-Id: []
X-Sub: []
--- response_body_like: ^\{"error":"invalid_token","message":"



=== TEST 15: $tenant_reject_reason is token_expired on the error response
--- request
GET /reason
--- more_headers eval
TenantTest::bearer(claims => {exp => time - 3600})
--- error_code: 401
--- response_headers
X-Reason: token_expired
X-Reason-Or-None: token_expired
X-Id: []
--- response_body_like: ^\{"error":"token_expired","message":"



=== TEST 16: $tenant_reject_reason is missing_tenant on the error response
--- request
GET /reason
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef})
--- error_code: 403
--- response_headers
X-Reason: missing_tenant
X-Reason-Or-None: missing_tenant
X-Id: []
--- response_body_like: ^\{"error":"missing_tenant","message":"



=== TEST 17: $tenant_reject_reason is invalid_tenant on the error response
--- request
GET /reason
--- more_headers eval
TenantTest::bearer(claims => {org_id => '../x'})
--- error_code: 403
--- response_headers
X-Reason: invalid_tenant
X-Reason-Or-None: invalid_tenant
X-Id: []
--- response_body_like: ^\{"error":"invalid_tenant","message":"



=== TEST 18: $tenant_reject_reason is invalid_claims; the rejected identity is not exposed
--- request
GET /reason
--- more_headers eval
TenantTest::bearer(claims => {role => "admin\r\nX-Evil: 1"})
--- error_code: 403
--- response_headers
X-Reason: invalid_claims
X-Reason-Or-None: invalid_claims
X-Id: []
--- response_body_like: ^\{"error":"invalid_claims","message":"
