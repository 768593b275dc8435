use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();
add_block_preprocessor(\&TenantRedis::redis_block);

# One decision per request: an internal redirect (error_page, try_files)
# runs the access phase again, but the request is counted once, and the
# tenant variables survive the redirect.

run_tests();

__DATA__

=== TEST 1: an error_page redirect after the upstream answered 404 counts the request once
--- redis
FLUSHALL
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan pro quota=5/month;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        proxy_intercept_errors on;
        error_page 404 = /fallback;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/missing;
    }
    location /fallback {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        add_header X-Used "[$tenant_quota_used] [$tenant_id]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /missing {
        return 404;
    }
    location /echo {
        echo "upstream saw [$http_x_tenant_id]";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(), TenantTest::bearer()]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Used: [1] [acme]", "X-Used: [2] [acme]"]
--- response_body eval
["upstream saw [acme]\n", "upstream saw [acme]\n"]
--- no_error_log
[error]



=== TEST 2: after try_files falls back to a named location, $tenant_id is still known
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        root html;
        try_files /nope @app;
    }
    location @app {
        add_header X-Tenant "[$tenant_id] [$tenant_user]" always;
        echo "upstream saw [$http_x_tenant_id]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Tenant: [acme] [user-1]
--- response_body
upstream saw [acme]
--- no_error_log
[error]
