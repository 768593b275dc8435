use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use JSON::PP ();
use MIME::Base64 qw(decode_base64url);

# One character in the middle of the signature changed: still canonical
# base64url of the right length, just not the signature any more.
sub bad_sig {
    my ($h, $p, $s) = split /\./, shift;
    my $i = int(length($s) / 2);
    substr($s, $i, 1) = substr($s, $i, 1) eq 'A' ? 'B' : 'A';
    return join '.', $h, $p, $s;
}

# Other claims under the original header and signature.
sub bad_payload {
    my ($token, %claims) = @_;
    my ($h, $p, $s) = split /\./, $token;
    my $c = JSON::PP::decode_json(decode_base64url($p));
    %$c = (%$c, %claims);
    return join '.', $h, TenantTest::b64u(TenantTest::json_text($c)), $s;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: HS256 token signed with the configured secret is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 2: HS384 token is admitted by the same secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS384")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 3: HS512 token is admitted by the same secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS512")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 4: a tampered signature is rejected with 401 invalid_token and a JSON body
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::bad_sig(TenantTest::jwt()))
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log eval
qr/\[info\] .*tenant: rejected with "invalid_token": token signature does not verify/
--- no_error_log
[error]



=== TEST 5: a tampered payload under the original signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::bad_payload(TenantTest::jwt(), org_id => "evil"))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 6: a token signed with another secret is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac2.secret")
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 7: secret files with and without a trailing newline verify the same token
--- config
    location /newline {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
    location /no-newline {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac-nonl.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /newline", "GET /no-newline"]
--- more_headers eval
TenantTest::bearer(alg => "HS256")
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 8: only one trailing newline is dropped: a second one is part of the secret
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac-2nl.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $plain = TenantTest::jwt();
my $with_nl = Crypt::JWT::encode_jwt(
    payload => TenantTest::json_text({ sub => "user-1", org_id => "acme",
                                       exp => time() + 3600 }),
    alg => "HS256", key => TenantTest::hmac_secret() . "\n");
["GET /t?t=$plain", "GET /t?t=$with_nl"]
--- error_code eval
[401, 200]
--- response_body_like eval
['"error":"invalid_token"', '^tenant=acme$']
--- no_error_log
[error]



=== TEST 9: token taken from a cookie with token=$cookie_session
--- config
    location /t {
        tenant_jwt on token=$cookie_session;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Cookie: theme=dark; session=" . TenantTest::jwt() . "; lang=en"
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 10: with token=$cookie_session a request without the cookie is missing_token
--- config
    location /t {
        tenant_jwt on token=$cookie_session;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers
Cookie: theme=dark
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: ^\{"error":"missing_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 11: a tampered token in the cookie is rejected
--- config
    location /t {
        tenant_jwt on token=$cookie_session;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Cookie: session=" . main::bad_sig(TenantTest::jwt())
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 12: token taken from a query argument with token=$arg_access_token
--- config
    location /t {
        tenant_jwt on token=$arg_access_token;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
"GET /t?foo=1&access_token=" . TenantTest::jwt() . "&bar=2"
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 13: with token=$arg_access_token an absent argument is missing_token
--- config
    location /t {
        tenant_jwt on token=$arg_access_token;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t?access_token=
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 14: no Authorization header is 401 missing_token with a plain Bearer challenge
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
--- response_body_like: ^\{"error":"missing_token","message":"[^"]+"\}$
--- error_log eval
qr/\[info\] .*tenant: rejected with "missing_token"/
--- no_error_log
[error]



=== TEST 15: an Authorization header with the Basic scheme is missing_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers
Authorization: Basic dXNlcjpwYXNzd29yZA==
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 16: a valid token under the Basic scheme is still not a bearer token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Authorization: Basic " . TenantTest::jwt()
--- error_code: 401
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 17: the scheme is case-insensitive: lowercase "bearer" is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Authorization: bearer " . TenantTest::jwt()
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 18: the scheme is case-insensitive: "BEARER" is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Authorization: BEARER " . TenantTest::jwt()
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 19: an empty Bearer credential is missing_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 20: "Bearer" glued to the token without a space is not a bearer credential
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer" . TenantTest::jwt()
--- error_code: 401
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 21: cache: the same token twice is admitted twice, a tampered variant after it is still rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $t = TenantTest::jwt();
my $bad = main::bad_sig($t);
["GET /t?t=$t", "GET /t?t=$t", "GET /t?t=$bad"]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme\$", "^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 22: cache: a tampered payload of a cached token is rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $t = TenantTest::jwt();
my $bad = main::bad_payload($t, org_id => "evil");
["GET /t?t=$t", "GET /t?t=$bad", "GET /t?t=$t"]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"', "^tenant=acme\$"]
--- no_error_log
[error]



=== TEST 23: cache: a token cached in one location is not admitted where other keys apply
--- config
    location /a {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
    location /b {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac2.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $t = TenantTest::jwt();
["GET /a?t=$t", "GET /b?t=$t"]
--- error_code eval
[200, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 24: cache: a cached token still meets another location's algorithms and issuer
--- http_config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
--- config
    location /a {
        tenant_jwt on token=$arg_t;
        echo "tenant=$tenant_id";
    }
    location /b {
        tenant_jwt on token=$arg_t;
        tenant_jwt_algorithms HS512;
        echo "tenant=$tenant_id";
    }
    location /c {
        tenant_jwt on token=$arg_t;
        tenant_jwt_issuer https://issuer.example;
        echo "tenant=$tenant_id";
    }
--- request eval
my $t = TenantTest::jwt(alg => "HS256");
["GET /a?t=$t", "GET /b?t=$t", "GET /c?t=$t", "GET /a?t=$t"]
--- error_code eval
[200, 401, 401, 200]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"', '"error":"invalid_token"', "^tenant=acme\$"]
--- no_error_log
[error]



=== TEST 25: tenant_jwt_cache off: the same token twice is admitted, a tampered one rejected
--- http_config
    tenant_jwt_cache off;
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $t = TenantTest::jwt();
my $bad = main::bad_sig($t);
["GET /t?t=$t", "GET /t?t=$t", "GET /t?t=$bad"]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme\$", "^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 26: the rejected token itself never appears in the log
--- log_level: info
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(key => "hmac2.secret", claims => { exp => 4102444800 })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log eval
my @parts = split /\./, TenantTest::jwt(key => "hmac2.secret",
                                        claims => { exp => 4102444800 });
["[error]", @parts]



=== TEST 27: tenant_jwt off (the default) lets requests through without a token
--- config
    location /t {
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "open";
    }
--- request
GET /t
--- error_code: 200
--- response_body
open
--- no_error_log
[error]
tenant: rejected



=== TEST 28: a POST with a body and a bad token gets the JSON 401, the body is discarded
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
POST /t
{"order": 1, "items": ["a", "b", "c"]}
--- more_headers eval
"Content-Type: application/json\n" . TenantTest::bearer(key => "hmac2.secret")
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]
