use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# A role claim that is an array of names, as identity providers send
# them: Keycloak (realm_access.roles, resource_access.CLIENT.roles),
# Cognito (cognito:groups), Okta (groups), Entra ID (roles).  With
# tenant_roles declared, the role is the highest declared name in the
# array; tenant_require_role admits when any declared name it holds is
# listed.  /t verifies the token and proxies to /echo, which answers with
# the trusted headers; a refusal gets the module's JSON error instead.

our $HttpConfig = <<'_EOC_';
    tenant_roles viewer billing editor admin owner;
_EOC_

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role]";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

sub roles { TenantTest::bearer(claims => { role => undef, roles => [@_] }) }

our $InvalidClaims = qq{{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}\n};
our $Refused = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};

run_tests();

__DATA__

=== TEST 1: Keycloak realm_access.roles: the highest declared role, the IdP's own roles skipped
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim realm_access.roles;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { role => undef, realm_access => { roles => [
    'offline_access', 'default-roles-acme', 'viewer', 'editor',
    'uma_authorization' ] } })
--- error_code: 200
--- response_body
upstream: id=[acme] role=[editor]
--- no_error_log
[error]



=== TEST 2: Keycloak resource_access.CLIENT.roles, a client ID with a dash
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim resource_access.orders-api.roles;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { role => undef,
    realm_access => { roles => ['owner'] },
    resource_access => { 'orders-api' => { roles => ['admin', 'viewer'] },
                         account => { roles => ['manage-account'] } } })
--- error_code: 200
--- response_body
upstream: id=[acme] role=[admin]
--- no_error_log
[error]



=== TEST 3: Cognito cognito:groups, with the tenant in custom:tenantId
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_id_claim custom:tenantId;
        tenant_role_claim cognito:groups;
        tenant_user_claim cognito:username;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, role => undef,
    'custom:tenantId' => 'cognito-7', 'cognito:username' => 'jane',
    'cognito:groups' => ['us-east-1_Pool_Google', 'viewer', 'owner'] })
--- error_code: 200
--- response_body
upstream: id=[cognito-7] user=[jane] role=[owner]
--- no_error_log
[error]



=== TEST 4: Okta groups: Everyone is not a declared role
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim groups;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { role => undef, groups => ['Everyone', 'editor'] })
--- error_code: 200
--- response_body
upstream: role=[editor]
--- no_error_log
[error]



=== TEST 5: Entra ID roles with dotted app-role names, the tenant in tid, the user in oid
--- http_config
    tenant_roles Orders.Read Orders.Write Orders.Admin;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_id_claim tid;
        tenant_user_claim oid;
        tenant_role_claim roles;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, role => undef, sub => 'pairwise-sub',
    tid => '72f988bf-86f1-41af-91ab-2d7cd011db47',
    oid => '00000000-0000-0000-66f3-3332eca7ea81',
    roles => ['Orders.Write', 'Orders.Read'] })
--- error_code: 200
--- response_body
upstream: id=[72f988bf-86f1-41af-91ab-2d7cd011db47] user=[00000000-0000-0000-66f3-3332eca7ea81] role=[Orders.Write]
--- no_error_log
[error]



=== TEST 6: $tenant_role is the highest declared role too, whatever the order in the array
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        echo "role=[$tenant_role]";
    }
--- request
GET /t
--- more_headers eval
main::roles('owner', 'viewer', 'admin')
--- error_code: 200
--- response_body
role=[owner]
--- no_error_log
[error]



=== TEST 7: tenant_require_role admits when any declared role in the array is listed, not only the highest
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_require_role billing;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
main::roles('admin', 'billing')
--- error_code: 200
--- response_body
upstream: role=[admin]
--- no_error_log
[error]



=== TEST 8: tenant_require_role refuses an array that holds none of the roles listed
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_require_role billing owner;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
main::roles('viewer', 'editor', 'admin', 'billing-team')
--- error_code: 403
--- response_body eval
$main::Refused
--- error_log
tenant: rejected with "insufficient_role": role is not one of those required



=== TEST 9: tenant_min_role ranks the highest declared role of the array
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_min_role editor;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: role=[$http_x_tenant_role]";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::roles('viewer', 'admin'), main::roles('viewer', 'billing', 'Admin')]
--- error_code eval
[200, 403]
--- response_body eval
["upstream: role=[admin]\n", $main::Refused]



=== TEST 10: an array without a declared role is no role: admitted where no role is required, with X-Tenant-Role empty
--- request
GET /t
--- more_headers eval
main::roles('Everyone', 'offline_access', 'ADMIN')
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[]
--- no_error_log
[error]



=== TEST 11: an array without a declared role fails tenant_require_role and tenant_min_role
--- config
    location /require {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_require_role viewer;
        echo "admitted";
    }
    location /min {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_min_role viewer;
        echo "admitted";
    }
--- request eval
["GET /require", "GET /min"]
--- more_headers eval
main::roles('Everyone')
--- error_code eval
[403, 403]
--- response_body eval
[$main::Refused, $main::Refused]



=== TEST 12: an empty array is no role
--- request
GET /t
--- more_headers eval
main::roles()
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[]
--- no_error_log
[error]



=== TEST 13: without tenant_roles an array role is invalid_claims
--- http_config
--- request
GET /t
--- more_headers eval
main::roles('admin')
--- error_code: 403
--- response_body eval
$main::InvalidClaims
--- error_log
tenant: rejected with "invalid_claims": role claim is an array, and no tenant_roles are declared



=== TEST 14: without tenant_roles even an empty array role is invalid_claims
--- http_config
--- request
GET /t
--- more_headers eval
main::roles()
--- error_code: 403
--- response_body eval
$main::InvalidClaims



=== TEST 15: a number among the roles is invalid_claims: the claim is not what it was taken for
--- request
GET /t
--- more_headers eval
main::roles('admin', 7)
--- error_code: 403
--- response_body eval
$main::InvalidClaims
--- error_log
tenant: rejected with "invalid_claims": role array holds a non-string or more than 256 elements



=== TEST 16: a nested array, an object, null or a boolean among the roles is invalid_claims
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::roles(['admin']), main::roles({ name => 'admin' }), main::roles('admin', undef),
 main::roles('admin', JSON::PP::true())]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[$main::InvalidClaims, $main::InvalidClaims, $main::InvalidClaims, $main::InvalidClaims]



=== TEST 17: an undeclared element with CR LF is skipped: it never travels
--- request
GET /t
--- more_headers eval
main::roles("x\r\nX-Tenant-Role: owner", 'viewer')
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[viewer]
--- no_error_log
[error]



=== TEST 18: 256 elements are read, 257 are invalid_claims
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::roles(('g') x 255, 'admin'), main::roles(('g') x 256, 'admin')]
--- error_code eval
[200, 403]
--- response_body eval
["upstream: id=[acme] user=[user-1] role=[admin]\n", $main::InvalidClaims]



=== TEST 19: an array of 10000 roles does not get past the token size limit
--- http_config
    tenant_roles viewer editor admin;
    large_client_header_buffers 4 128k;
--- request
GET /t
--- more_headers eval
main::roles(('viewer') x 10000)
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token too large



=== TEST 20: the same role compared byte for byte: "Admin" and "admin " are not admin
--- request
GET /t
--- more_headers eval
main::roles('Admin', 'admin ', 'viewer')
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[viewer]
--- no_error_log
[error]



=== TEST 21: a scalar role is read as before, with tenant_roles declared
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role editor;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: role=[$http_x_tenant_role]";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => { role => 'editor' }), TenantTest::bearer(claims => { role => 'custom' })]
--- error_code eval
[200, 403]
--- response_body eval
["upstream: role=[editor]\n", $main::Refused]



=== TEST 22: one cached token, alternating locations: the held roles are recalled with the identity
--- config
    location /billing {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_require_role billing;
        echo "billing: role=[$tenant_role]";
    }
    location /owners {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim roles;
        tenant_require_role owner;
        echo "owners: role=[$tenant_role]";
    }
--- request eval
["GET /billing", "GET /owners", "GET /billing", "GET /billing", "GET /owners"]
--- more_headers eval
main::roles('viewer', 'billing', 'admin')
--- error_code eval
[200, 403, 200, 200, 403]
--- response_body eval
["billing: role=[admin]\n", $main::Refused, "billing: role=[admin]\n",
 "billing: role=[admin]\n", $main::Refused]



=== TEST 23: a membership's role may be an array too: its highest declared role
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_require_role billing;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { orgs => [ { id => 'globex', role => ['viewer', 'billing', 'editor', 'staff'] } ] })
. "\nX-Organization-Id: globex"
--- error_code: 200
--- response_body
upstream: id=[globex] role=[editor]
--- no_error_log
[error]



=== TEST 24: a membership's array role without tenant_roles is invalid_claims
--- http_config
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { orgs => [ { id => 'globex', role => ['editor'] } ] })
. "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::InvalidClaims
--- error_log
tenant: rejected with "invalid_claims": membership claims are not safe header values
