use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# tenant_jwt_require_claims: a verified token without one of the claims
# listed (absent, or JSON null) is invalid_token, and the log line names
# the claim.  Names are written as for the tenant_*_claim directives, so
# nested and namespaced claims can be required.  Without the directive
# nothing is required beyond what the other checks read.

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims exp iat;
        echo "tenant=$tenant_id";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

our $Invalid = qq{{"error":"invalid_token","message":"the token is malformed, or its signature, issuer or audience is not accepted"}\n};

run_tests();

__DATA__

=== TEST 1: a token with exp and iat is admitted
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iat => time() })
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]



=== TEST 2: a token without iat is invalid_token, and the log names iat
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body eval
$main::Invalid
--- error_log
tenant: rejected with "invalid_token": token has no required claim "iat"



=== TEST 3: a token without exp is invalid_token: it would otherwise never expire
--- request
GET /t
--- more_headers eval
TenantTest::bearer(no_exp => 1, claims => { iat => time() })
--- error_code: 401
--- error_log
token has no required claim "exp"



=== TEST 4: a claim that is JSON null counts as absent
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(Crypt::JWT::encode_jwt(alg => 'HS256', key => TenantTest::hmac_secret(),
    payload => qq{{"org_id":"acme","exp":@{[time() + 3600]},"iat":null}}))
--- error_code: 401
--- response_body eval
$main::Invalid
--- error_log
token has no required claim "iat"



=== TEST 5: an expired token that has every required claim is token_expired
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iat => time() - 7200, exp => time() - 3600 })
--- error_code: 401
--- response_body_like: "error":"token_expired"



=== TEST 6: nested and namespaced claims, named as tenant_*_claim names them
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims realm_access.roles ["https://acme.example.com/org_id"];
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { realm_access => { roles => [] }, 'https://acme.example.com/org_id' => 'acme' })
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]



=== TEST 7: a nested required claim that is absent is named in the log
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims realm_access.roles ["https://acme.example.com/org_id"];
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { realm_access => { }, 'https://acme.example.com/org_id' => 'acme' })
--- error_code: 401
--- error_log
token has no required claim "realm_access.roles"



=== TEST 8: a namespaced required claim is exact: the same name nested is not it
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims realm_access.roles ["https://acme.example.com/org_id"];
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { realm_access => { roles => ['x'] }, 'https://acme.example.com' => { org_id => 'acme' } })
--- error_code: 401
--- error_log
token has no required claim "["https://acme.example.com/org_id"]"



=== TEST 9: any value but null satisfies it: false, 0, an empty string
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims email_verified;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => { email_verified => JSON::PP::false() }),
 TenantTest::bearer(claims => { email_verified => 0 }),
 TenantTest::bearer(claims => { email_verified => '' })]
--- error_code eval
[200, 200, 200]



=== TEST 10: without the directive no claim is required
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(no_exp => 1)
--- error_code: 200
--- response_body
tenant=acme



=== TEST 11: inherited from the server; "off" in a location turns it off there
--- config
    tenant_jwt_require_claims jti;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims off;
        echo "open";
    }
--- request eval
["GET /t", "GET /t", "GET /open"]
--- more_headers eval
[TenantTest::bearer(claims => { jti => 'j-1' }), TenantTest::bearer(), TenantTest::bearer()]
--- error_code eval
[200, 401, 200]



=== TEST 12: a claim named "off" is written in brackets
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims ["off"];
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 401
--- error_log
token has no required claim "["off"]"



=== TEST 13: ... and a token that has it is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims ["off"];
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { off => 1 })
--- error_code: 200
--- response_body
tenant=acme



=== TEST 14: one cached token, two locations: each requires its own claims
--- config
    location /strict {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims iat;
        echo "strict";
    }
    location /lax {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "lax";
    }
--- request eval
["GET /lax", "GET /strict", "GET /lax", "GET /strict"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 401, 200, 401]



=== TEST 15: tenant_jwt_require_claims twice at one level is a duplicate
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims exp;
        tenant_jwt_require_claims iat;
        echo x;
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt_require_claims" directive is duplicate



=== TEST 16: a malformed name fails nginx -t, with the reason
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_require_claims exp ["https://acme.example.com/org_id";
        echo x;
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid claim name "["https://acme.example.com/org_id"": a quoted name is followed by "]"
