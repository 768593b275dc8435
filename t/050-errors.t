use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# Every block without its own --- config runs against this one.  /echo
# answers 200 with a marker, so an error body that is exactly the JSON
# document also proves that the upstream was never reached.
our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "UPSTREAM REACHED";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

# A JWT-looking string: no token may ever show in the error log.  The
# blocks log at info: at debug, nginx core itself logs request headers.
sub jwt_like { qr/eyJ[\w-]+\.eyJ/ }

__DATA__

=== TEST 1: missing_token: 401, JSON body, WWW-Authenticate: Bearer, logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
# a token under another scheme is no bearer token, and must not be logged
"Authorization: Token " . TenantTest::jwt()
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"missing_token","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "missing_token"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 2: missing_token without any Authorization header
--- log_level: info
--- request
GET /t
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
--- response_body_like eval
qr/\A\{"error":"missing_token","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "missing_token"/
--- no_error_log
[error]



=== TEST 3: invalid_token (bad signature): 401, JSON body, WWW-Authenticate error="invalid_token", logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer(key => 'hmac2.secret')
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"invalid_token","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "invalid_token"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 4: invalid_token (malformed, not three parts): 401 with the same challenge
--- log_level: info
--- request
GET /t
--- more_headers eval
# header.payload, without the signature part
"Authorization: Bearer " . (TenantTest::jwt() =~ s/\.[^.]*\z//r)
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like eval
qr/\A\{"error":"invalid_token","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "invalid_token"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 5: token_expired: 401, JSON body, WWW-Authenticate error="invalid_token", logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {exp => time - 3600})
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"token_expired","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "token_expired"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 6: missing_tenant: 403, JSON body, no WWW-Authenticate, logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef})
--- error_code: 403
--- response_headers
Content-Type: application/json
!WWW-Authenticate
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"missing_tenant","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "missing_tenant"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 7: invalid_tenant: 403, JSON body, no WWW-Authenticate, logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'a/b'})
--- error_code: 403
--- response_headers
Content-Type: application/json
!WWW-Authenticate
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"invalid_tenant","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "invalid_tenant"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 8: invalid_claims: 403, JSON body, no WWW-Authenticate, logged at info without the token
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "admin\r\nX-Evil: 1"})
--- error_code: 403
--- response_headers
Content-Type: application/json
!WWW-Authenticate
Cache-Control: no-store
--- response_body_like eval
qr/\A\{"error":"invalid_claims","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/\[info\] .*tenant: rejected with "invalid_claims"/
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 9: at debug level the module's own lines never carry the token either
--- log_level: debug
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'a/b'}) . "\nX-Tenant-ID: spoof"
--- error_code: 403
--- response_body_like eval
qr/\A\{"error":"invalid_tenant","message":"[^"\\]+"\}\n\z/
--- error_log eval
qr/tenant: rejected with "invalid_tenant"/
--- no_error_log eval
[qr/tenant:.*eyJ[\w-]+\.eyJ/, '[error]']



=== TEST 10: a HEAD request is rejected with the same status and headers, and no body
--- log_level: info
--- request
HEAD /t
--- more_headers eval
TenantTest::bearer(claims => {org_id => undef})
--- error_code: 403
--- response_headers
Content-Type: application/json
!WWW-Authenticate
--- response_body
--- no_error_log eval
[main::jwt_like(), '[error]']



=== TEST 11: the same token admitted: the upstream answers, nothing logged at error
--- log_level: info
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_body
UPSTREAM REACHED
--- no_error_log eval
[main::jwt_like(), '[error]', 'tenant: rejected']
