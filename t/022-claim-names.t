use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# Claim names in brackets: a name that holds ["...] is a path whose parts
# are exact, so that claims named by URLs (Auth0's namespaced claims) can
# be read, alone or as the start of a path.  Plain names keep their
# meaning: the whole name first, then the dotted path (t/020-identity.t).
# A malformed name fails nginx -t.

our $DefaultConfig = <<'_EOC_';
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role] plan=[$http_x_tenant_plan]";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config;

    if (defined $block->claims) {
        my $claims = $block->claims;
        $claims =~ s/^\s+|\s+$//g;
        $block->set_value(config => <<"_EOC_" . $DefaultConfig);
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        $claims
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
    }
});

our $Auth0 = 'https://acme.example.com/';

run_tests();

__DATA__

=== TEST 1: Auth0: a namespaced tenant claim, named in brackets
--- claims
tenant_id_claim ["https://acme.example.com/org_id"];
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => 'org_auth0', 'https://acme.example.com/org_id' => 'acme-7' })
--- error_code: 200
--- response_body
upstream: id=[acme-7] user=[user-1] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 2: Auth0: a namespaced object, then a plain name: ["https://acme.example.com/app"].org_id
--- claims
tenant_id_claim ["https://acme.example.com/app"].org_id;
tenant_plan_claim ["https://acme.example.com/app"].plan;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, plan => undef,
    'https://acme.example.com/app' => { org_id => 'acme-8', plan => 'enterprise' } })
--- error_code: 200
--- response_body
upstream: id=[acme-8] user=[user-1] role=[admin] plan=[enterprise]
--- no_error_log
[error]



=== TEST 3: Auth0: namespaced roles as an array, with tenant_roles
--- http_config
    tenant_roles member admin owner;
--- claims
tenant_role_claim ["https://acme.example.com/roles"];
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { role => undef, 'https://acme.example.com/roles' => ['member', 'Auditor', 'owner'] })
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[owner] plan=[pro]
--- no_error_log
[error]



=== TEST 4: the name may be in single quotes for nginx, to hold a space or a semicolon
--- claims
tenant_id_claim '["https://acme.example.com/org id;v2"]';
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { 'https://acme.example.com/org id;v2' => 'acme-9' })
--- error_code: 200
--- response_body
upstream: id=[acme-9] user=[user-1] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 5: a name in brackets is exact: ["org.id"] is the top-level "org.id", never the nested path
--- claims
tenant_id_claim ["org.id"];
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => { org_id => undef, 'org.id' => 'flat', org => { id => 'nested' } }),
 TenantTest::bearer(claims => { org_id => undef, org => { id => 'nested' } })]
--- error_code eval
[200, 403]
--- response_body eval
["upstream: id=[flat] user=[user-1] role=[admin] plan=[pro]\n",
 qq{{"error":"missing_tenant","message":"the token names no tenant"}\n}]



=== TEST 6: a path in brackets is exact too: ["org"].id is the nested claim, never a top-level "org.id"
--- claims
tenant_id_claim ["org"].id;
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => { org_id => undef, 'org.id' => 'flat', org => { id => 'nested' } }),
 TenantTest::bearer(claims => { org_id => undef, 'org.id' => 'flat' })]
--- error_code eval
[200, 403]
--- response_body eval
["upstream: id=[nested] user=[user-1] role=[admin] plan=[pro]\n",
 qq{{"error":"missing_tenant","message":"the token names no tenant"}\n}]



=== TEST 7: a plain name, then brackets: Keycloak's resource_access for a client ID with dots
--- http_config
    tenant_roles viewer editor admin;
--- claims
tenant_role_claim resource_access["api.acme.example.com"].roles;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { role => undef,
    resource_access => { 'api.acme.example.com' => { roles => ['editor'] } } })
--- error_code: 200
--- response_body
upstream: id=[acme] user=[user-1] role=[editor] plan=[pro]
--- no_error_log
[error]



=== TEST 8: brackets after brackets, and a dot before brackets, read the same path
--- claims
tenant_id_claim ["a.b"]["c/d"].["e"];
tenant_user_claim ["a.b"].["c/d"]["u"];
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { 'a.b' => { 'c/d' => { e => 'deep-1', u => 'deep-user' } } })
--- error_code: 200
--- response_body
upstream: id=[deep-1] user=[deep-user] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 9: a quoted name with an escaped quote and backslash (written \\\" and \\\\ for nginx)
--- claims
tenant_id_claim '["say \\\"hi\\\" \\\\o/"]';
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, 'say "hi" \\o/' => 'quoted-1' })
--- error_code: 200
--- response_body
upstream: id=[quoted-1] user=[user-1] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 10: colon names and plain dotted names keep their meaning, side by side with brackets
--- claims
tenant_id_claim custom:tenantId;
tenant_user_claim ["cognito:username"];
tenant_plan_claim app_metadata.plan;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, 'custom:tenantId' => 'cognito-1',
    'cognito:username' => 'jane', app_metadata => { plan => 'team' } })
--- error_code: 200
--- response_body
upstream: id=[cognito-1] user=[jane] role=[admin] plan=[team]
--- no_error_log
[error]



=== TEST 11: a plain URL name still works as before (the whole name first)
--- claims
tenant_id_claim https://acme.example.com/org_id;
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { 'https://acme.example.com/org_id' => 'acme-10' })
--- error_code: 200
--- response_body
upstream: id=[acme-10] user=[user-1] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 12: a bracket in a plain name without a quote after it is part of the name, as before
--- claims
tenant_id_claim tenants[0];
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { org_id => undef, 'tenants[0]' => 'first' })
--- error_code: 200
--- response_body
upstream: id=[first] user=[user-1] role=[admin] plan=[pro]
--- no_error_log
[error]



=== TEST 13: a quoted name that is not closed fails nginx -t
--- claims
tenant_id_claim ["https://acme.example.com/org_id;
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid claim name "["https://acme.example.com/org_id": a quoted name is not closed



=== TEST 14: brackets that are not closed fail nginx -t
--- claims
tenant_id_claim ["org_id"x;
--- request
GET /t
--- must_die
--- error_log
[emerg]
a quoted name is followed by "]"



=== TEST 15: an empty quoted name fails nginx -t
--- claims
tenant_id_claim [""];
--- request
GET /t
--- must_die
--- error_log
[emerg]
a quoted name is not empty



=== TEST 16: something other than a dot or brackets after brackets fails nginx -t
--- claims
tenant_id_claim ["org"]id;
--- request
GET /t
--- must_die
--- error_log
[emerg]
a quoted name is followed by ".", "[" or the end



=== TEST 17: a path in brackets ending with a dot fails nginx -t
--- claims
tenant_id_claim ["org"].;
--- request
GET /t
--- must_die
--- error_log
[emerg]
a path does not end with a dot



=== TEST 18: an empty part in a path in brackets fails nginx -t
--- claims
tenant_id_claim ["org"]..id;
--- request
GET /t
--- must_die
--- error_log
[emerg]
a path has no empty name



=== TEST 19: an escape other than \" and \\ fails nginx -t
--- claims
tenant_id_claim '["a\\nb"]';
--- request
GET /t
--- must_die
--- error_log
[emerg]
the only escapes in a quoted name are



=== TEST 20: a "[" not followed by a quote, in a path with brackets, fails nginx -t
--- claims
tenant_id_claim ["org"][id];
--- request
GET /t
--- must_die
--- error_log
[emerg]
a "[" is followed by a quoted name



=== TEST 21: a stray quote or "]" in a plain part of a path with brackets fails nginx -t
--- claims
tenant_id_claim a"b["c"];
--- request
GET /t
--- must_die
--- error_log
[emerg]
a name outside quotes holds no



=== TEST 22: the plain name rules are unchanged: two dots in a row fail nginx -t
--- claims
tenant_id_claim org..id;
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid claim name "org..id"



=== TEST 23: a name over 255 characters fails nginx -t
--- config eval
"location /t { tenant_jwt on; tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret; tenant_id_claim " . ('["' . ('x' x 260) . '"]') . "; echo x; }"
--- request
GET /t
--- must_die
--- error_log
[emerg]
a name has 1 to 255 characters



=== TEST 24: a control character in a quoted name fails nginx -t
--- config eval
"location /t { tenant_jwt on; tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret; tenant_id_claim '[\"a\tb\"]'; echo x; }"
--- request
GET /t
--- must_die
--- error_log
[emerg]
a quoted name holds no control character



=== TEST 25: the namespaced claim reaches a variable through the tenant_*_claim directive
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_user_claim ["https://acme.example.com/email"];
        echo "user=[$tenant_user] sub=[$jwt_claim_sub]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { 'https://acme.example.com/email' => 'jane@acme.example.com' })
--- error_code: 200
--- response_body
user=[jane@acme.example.com] sub=[user-1]
--- no_error_log
[error]
