use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# Every block without its own --- config runs against this one: /t verifies
# the token and proxies to /echo, which answers with the trusted headers it
# received.  A rejected request gets the module's JSON error instead, so an
# exact --- response_body also proves that the upstream was never reached.
our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role] plan=[$http_x_tenant_plan] permissions=[$http_x_tenant_permissions]";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: default claim names: org_id, sub, role, plan
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 2: tenant_id_claim organization_id
--- http_config
    tenant_id_claim organization_id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, organization_id => 'org-42'})
--- error_code: 200
--- response_body
upstream: id=[org-42] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 3: tenant_id_claim organizationId (camel case)
--- http_config
    tenant_id_claim organizationId;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, organizationId => 'Org_Camel'})
--- error_code: 200
--- response_body
upstream: id=[Org_Camel] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 4: tenant_id_claim with a colon (custom:tenantId, Cognito style)
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_id_claim custom:tenantId;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role] plan=[$http_x_tenant_plan] permissions=[$http_x_tenant_permissions]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, 'custom:tenantId' => 'cognito-7'})
--- error_code: 200
--- response_body
upstream: id=[cognito-7] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 5: a configured tenant claim does not fall back to org_id
--- http_config
    tenant_id_claim organization_id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_body
{"error":"missing_tenant","message":"the token names no tenant"}
--- error_log
tenant: rejected with "missing_tenant"



=== TEST 6: dotted path org.id reads a nested object
--- http_config
    tenant_id_claim org.id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, org => {id => 'nested-1', name => 'Nested Inc'}})
--- error_code: 200
--- response_body
upstream: id=[nested-1] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 7: deeper dotted path a.b.c
--- http_config
    tenant_id_claim a.b.c;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, a => {b => {c => 'deep.tenant', d => 'x'}}})
--- error_code: 200
--- response_body
upstream: id=[deep.tenant] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 8: an exact top-level key "org.id" takes precedence over the nested path
--- http_config
    tenant_id_claim org.id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, 'org.id' => 'flat-key', org => {id => 'nested-key'}})
--- error_code: 200
--- response_body
upstream: id=[flat-key] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 9: dotted path through a non-object is missing_tenant
--- http_config
    tenant_id_claim org.id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, org => 'just-a-string'})
--- error_code: 403
--- response_body
{"error":"missing_tenant","message":"the token names no tenant"}
--- error_log
tenant: rejected with "missing_tenant"



=== TEST 10: JSON null at the end of a dotted path is missing_tenant
--- http_config
    tenant_id_claim org.id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef, org => {id => undef}})
--- error_code: 403
--- response_body
{"error":"missing_tenant","message":"the token names no tenant"}
--- error_log
tenant: rejected with "missing_tenant"



=== TEST 11: an integer tenant is accepted and rendered in decimal
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 1234567890123})
--- error_code: 200
--- response_body
upstream: id=[1234567890123] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 12: every allowed character [A-Za-z0-9._-] in a tenant ID
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'Acme_Corp-01.eu'})
--- error_code: 200
--- response_body
upstream: id=[Acme_Corp-01.eu] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 13: a tenant ID of exactly 64 characters is accepted
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'abcdefgh' x 8})
--- error_code: 200
--- response_body
upstream: id=[abcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefgh] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 14: a tenant ID of 65 characters is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => ('abcdefgh' x 8) . 'x'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 15: a verified token without the tenant claim is missing_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef})
--- error_code: 403
--- response_body
{"error":"missing_tenant","message":"the token names no tenant"}
--- error_log
tenant: rejected with "missing_tenant"



=== TEST 16: a tenant claim that is JSON null is missing_tenant
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . Crypt::JWT::encode_jwt(
    payload => '{"exp":' . (time + 3600) . ',"org_id":null,"role":"admin","sub":"user-1"}',
    alg => 'HS256', key => TenantTest::hmac_secret())
--- error_code: 403
--- response_body
{"error":"missing_tenant","message":"the token names no tenant"}
--- error_log
tenant: rejected with "missing_tenant"



=== TEST 17: a tenant ID with a space is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'acme corp'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 18: a tenant ID with a slash is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'acme/other'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 19: a tenant ID with non-ASCII (UTF-8) characters is invalid_tenant
--- request
GET /t
--- more_headers eval
# "café" as UTF-8 bytes, so the payload is valid JSON and only the ID is bad
TenantTest::bearer(claims => {org_id => "caf\xc3\xa9"})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 20: an empty tenant ID string is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => ''})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 21: a path traversal tenant ID ../x is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => '../x'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 22: a percent-encoded tenant ID a%2Fb is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'a%2Fb'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 23: a tenant claim that is an object is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => {id => 'acme'}})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 24: a tenant claim that is an array is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => ['acme']})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 25: a tenant claim that is a boolean is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => JSON::PP::true})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 26: a tenant claim that is a float is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 12.5})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 27: permissions as a JSON array are comma-joined
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', 'write', 'billing:admin']})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[read,write,billing:admin]
--- no_error_log
[error]



=== TEST 28: permissions as a space-separated string (runs of spaces, leading and trailing) are comma-joined
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => '  read   write  billing:admin   '})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[read,write,billing:admin]
--- no_error_log
[error]



=== TEST 29: an empty permissions array gives no permissions
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => []})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 30: permissions that are JSON null count as absent, like user, role and plan
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . Crypt::JWT::encode_jwt(
    payload => '{"exp":' . (time + 3600) . ',"org_id":"acme","permissions":null,"plan":"pro","role":"admin","sub":"user-1"}',
    alg => 'HS256', key => TenantTest::hmac_secret())
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 31: user, role, plan and permissions claims renamed (scope: OAuth space-separated)
--- http_config
    tenant_user_claim email;
    tenant_role_claim https://example.com/role;
    tenant_plan_claim billing.tier;
    tenant_permissions_claim scope;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {
    email => 'jane@example.com',
    'https://example.com/role' => 'owner',
    billing => {tier => 'enterprise'},
    scope => 'docs:read docs:write',
    # the default names must no longer be read
    permissions => ['ignored'],
})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[jane@example.com] role=[owner] plan=[enterprise] permissions=[docs:read,docs:write]
--- no_error_log
[error]



=== TEST 32: a numeric sub is rendered in decimal
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => 42})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[42] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 33: absent user, role and plan claims are simply not set
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => undef, role => undef, plan => undef})
--- error_code: 200
--- response_body
upstream: id=[acme] user=[] role=[] plan=[] permissions=[]
--- no_error_log
[error]



=== TEST 34: a tenant ID of ".." is invalid_tenant: it would walk a path built from $tenant_id
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => '..'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 35: a tenant ID of "." is invalid_tenant
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => '.'})
--- error_code: 403
--- response_body
{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}
--- error_log
tenant: rejected with "invalid_tenant"



=== TEST 36: dots inside a tenant ID are fine
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'acme..eu.1'})
--- error_code: 200
--- response_body
upstream: id=[acme..eu.1] user=[user-1] role=[admin] plan=[pro] permissions=[]
--- no_error_log
[error]



=== TEST 37: one cached token, two locations reading other claims: each gets its own identity, however often they alternate
--- config
    location /org {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /organization {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_id_claim organization_id;
        tenant_role_claim custom_role;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role]";
    }
--- request eval
["GET /org", "GET /organization", "GET /org", "GET /org", "GET /organization", "GET /organization", "GET /org"]
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'acme', organization_id => 'globex', custom_role => 'viewer'})
--- error_code eval
[200, 200, 200, 200, 200, 200, 200]
--- response_body eval
["upstream: id=[acme] role=[admin]\n", "upstream: id=[globex] role=[viewer]\n",
 "upstream: id=[acme] role=[admin]\n", "upstream: id=[acme] role=[admin]\n",
 "upstream: id=[globex] role=[viewer]\n", "upstream: id=[globex] role=[viewer]\n",
 "upstream: id=[acme] role=[admin]\n"]
--- no_error_log
[error]
