use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid HS256 token is admitted and the upstream sees trusted headers
--- http_config
    underscores_in_headers on;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "\nX-Tenant-ID: evil\nx-tenant-role: owner\nX_Tenant_Plan: enterprise"
--- error_code: 200
--- response_body_like eval
qr/\A(?:(?!evil|owner|enterprise).)*X-Tenant-ID: acme\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: pro\r
(?:(?!evil|owner|enterprise).)*\z/s
--- no_error_log
[error]
