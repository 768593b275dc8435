use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# The module's log lines: a refusal is logged at tenant_log_level (info
# by default, as limit_req_log_level), and the token never appears in a
# line the module causes, wherever the token came from: nginx ends every
# error line with the request line, where a token taken from the query
# string (token=$arg_access_token) would be, and the referrer; the module
# masks it there as "***".
#
# The error log is read at level info here: at debug, nginx itself logs
# the request line and every header of a request, token and all (so would
# it log them for auth_request or any module).

log_level('info');

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
_EOC_

our $DefaultConfig = <<'_EOC_';
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;

    location /t {
        tenant_jwt on;
        echo "admitted tenant=$tenant_id";
    }
    location /warn {
        tenant_jwt on;
        tenant_log_level warn;
        echo "admitted tenant=$tenant_id";
    }
    location /q {
        tenant_jwt on token=$arg_access_token;
        tenant_require_role owner;
        echo "admitted tenant=$tenant_id";
    }
    location /cookie {
        tenant_jwt on token=$cookie_access_token;
        tenant_require_role owner;
        echo "admitted tenant=$tenant_id";
    }
    location /header {
        tenant_jwt on token=$http_x_access_token;
        tenant_require_role owner;
        echo "admitted tenant=$tenant_id";
    }
    location /qt {
        tenant_jwt on token=$arg_access_token;
        echo "admitted tenant=$tenant_id";
    }
    location /bearer {
        tenant_jwt on;
        tenant_require_role owner;
        echo "admitted tenant=$tenant_id";
    }
_EOC_

# a token that verifies, of a role /q and the others refuse
our $Token = TenantTest::jwt(claims => { role => 'viewer', iat => time() });
our $Expired = TenantTest::jwt(claims => { exp => time() - 3600 });
our $Garbage = 'not.a-token-but-a-secret-all-the-same';

# the token, and each of its parts: none may be in the log
sub hidden {
    my ($t) = @_;
    return [$t, grep { length > 8 } split /\./, $t];
}

add_block_preprocessor(sub {
    my $block = shift;

    TenantRedis::redis_block($block);

    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a refusal is logged at info by default
--- request
GET /t
--- error_code: 401
--- error_log eval
qr/\[info\] .*tenant: rejected with "missing_token"/
--- no_error_log
[warn]
[error]



=== TEST 2: tenant_log_level warn logs refusals at warn
--- request
GET /warn
--- error_code: 401
--- error_log eval
qr/\[warn\] .*tenant: rejected with "missing_token"/
--- no_error_log eval
[qr/\[info\] .*tenant: rejected/, '[error]']



=== TEST 3: tenant_log_level is inherited and overridden like limit_req_log_level
--- config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_log_level error;
    location /t {
        tenant_jwt on;
        echo ok;
    }
    location /notice {
        tenant_jwt on;
        tenant_log_level notice;
        echo ok;
    }
--- request eval
["GET /t", "GET /notice"]
--- error_code eval
[401, 401]
--- error_log eval
[qr/\[(?:error|notice)\] .*tenant: rejected with "missing_token"/]
--- no_error_log eval
[qr/\[(?:info|warn)\] .*tenant: rejected/]



=== TEST 4: tenant_log_level error: exactly one error line per refusal, on /t and /notice
--- config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_log_level error;
    location /t {
        tenant_jwt on;
        echo ok;
    }
    location /notice {
        tenant_jwt on;
        tenant_log_level notice;
        echo ok;
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n"
. "GET /notice HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- ignore_response
--- grep_error_log eval
qr/\[(?:info|notice|warn|error)\] .*tenant: rejected/
--- grep_error_log_out eval
qr/\A\[error\] [^\n]*\n\[notice\] [^\n]*\n\z/



=== TEST 5: tenant_log_level with an unknown level fails the configuration
--- config
    location /t {
        tenant_log_level debug;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid value "debug"']



=== TEST 6: a token from the query string, refused by policy: masked in the request line, nowhere in the log
--- request eval
"GET /q?access_token=$::Token&x=1"
--- error_code: 403
--- error_log eval
[qr/tenant: rejected with "insufficient_role"/,
 'request: "GET /q?access_token=***&x=1 HTTP/1.1"']
--- no_error_log eval
main::hidden($::Token)



=== TEST 7: an expired token from the query string: masked
--- request eval
"GET /q?access_token=$::Expired"
--- error_code: 401
--- error_log eval
[qr/tenant: rejected with "token_expired"/,
 'request: "GET /q?access_token=*** HTTP/1.1"']
--- no_error_log eval
main::hidden($::Expired)



=== TEST 8: a token that is not a JWT at all: masked
--- request eval
"GET /q?access_token=$::Garbage"
--- error_code: 401
--- error_log eval
[qr/tenant: rejected with "invalid_token"/,
 'request: "GET /q?access_token=*** HTTP/1.1"']
--- no_error_log eval
[$::Garbage]



=== TEST 9: the same token in the referrer is masked there too
--- request eval
"GET /q?access_token=$::Token"
--- more_headers eval
"Referer: https://app.example.com/home?access_token=$::Token"
--- error_code: 403
--- error_log
referrer: "https://app.example.com/home?access_token=***"
--- no_error_log eval
main::hidden($::Token)



=== TEST 10: a token refused by the registry (the user signed out): masked
--- redis
FLUSHALL
HSET tenant:{acme}:user:user-1 tokens_valid_after 4102444800
--- request eval
"GET /qt?access_token=$::Token"
--- error_code: 401
--- error_log eval
[qr/tenant: rejected with "token_revoked"/,
 'request: "GET /qt?access_token=*** HTTP/1.1"']
--- no_error_log eval
main::hidden($::Token)



=== TEST 11: a token cut by the end of a long log line leaves none of its bytes
--- request eval
"GET /q?access_token=" . ('x' x 2100)
--- error_code: 401
--- error_log eval
qr/tenant: rejected with "invalid_token".*access_token=\*\*\*$/
--- no_error_log eval
['x' x 8]



=== TEST 12: tokens from a cookie, a header or Authorization are not in the log either
--- request eval
["GET /cookie", "GET /header", "GET /bearer"]
--- more_headers eval
["Cookie: a=b; access_token=$::Token", "X-Access-Token: $::Token",
 "Authorization: Bearer $::Token"]
--- error_code eval
[403, 403, 403]
--- error_log
tenant: rejected with "insufficient_role"
--- no_error_log eval
main::hidden($::Token)



=== TEST 13: a request refused before its body is read gets its status without "100 Continue" first (which would be the status read)
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
. "Expect: 100-continue\r\nConnection: close\r\n\r\nhello"
--- error_code: 401
--- error_log
tenant: rejected with "missing_token"



=== TEST 14: nor when the token is refused after Redis answered
--- redis
FLUSHALL
HSET tenant:{acme} status suspended
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
. "Authorization: Bearer $::Token\r\n"
. "Expect: 100-continue\r\nConnection: close\r\n\r\nhello"
--- error_code: 403
--- error_log
tenant: rejected with "tenant_suspended"
