use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# tenant_jwt_type: explicit typing (RFC 8725 3.11).  The JOSE header's
# "typ" must name one of the media types listed, compared as RFC 7515
# 4.1.9 says: without regard to case, "application/" implied where "typ"
# holds no "/".  A token without "typ" is refused where the directive is
# set; without it "typ" is not looked at.

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type at+jwt;
        echo "tenant=$tenant_id typ=$jwt_header_typ";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

sub typ { TenantTest::bearer(header => { typ => $_[0] }) }

our $Invalid = qq{{"error":"invalid_token","message":"the token is malformed, or its signature, issuer or audience is not accepted"}\n};

run_tests();

__DATA__

=== TEST 1: "typ" at+jwt, as RFC 9068 access tokens carry it
--- request
GET /t
--- more_headers eval
main::typ('at+jwt')
--- error_code: 200
--- response_body
tenant=acme typ=at+jwt
--- no_error_log
[error]



=== TEST 2: "application/at+jwt" is the same type
--- request
GET /t
--- more_headers eval
main::typ('application/at+jwt')
--- error_code: 200
--- response_body
tenant=acme typ=application/at+jwt
--- no_error_log
[error]



=== TEST 3: media types compare without regard to case
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::typ('AT+JWT'), main::typ('Application/At+Jwt'), main::typ('APPLICATION/AT+JWT')]
--- error_code eval
[200, 200, 200]
--- response_body eval
["tenant=acme typ=AT+JWT\n", "tenant=acme typ=Application/At+Jwt\n",
 "tenant=acme typ=APPLICATION/AT+JWT\n"]
--- no_error_log
[error]



=== TEST 4: a configured "application/at+jwt" admits the short form, in any case
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type Application/AT+JWT;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::typ('at+jwt'), main::typ('application/at+jwt')]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]



=== TEST 5: another type (an ID token's "JWT") is invalid_token, with WWW-Authenticate
--- request
GET /t
--- more_headers eval
main::typ('JWT')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body eval
$main::Invalid
--- error_log
tenant: rejected with "invalid_token": token "typ" is not accepted



=== TEST 6: a token without "typ" is refused where the directive is set
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 401
--- response_body eval
$main::Invalid
--- error_log
tenant: rejected with "invalid_token": token has no "typ", and tenant_jwt_type requires one



=== TEST 7: a "typ" that is not a string is refused
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::typ(1), main::typ(['at+jwt'])]
--- error_code eval
[401, 401]
--- error_log
token "typ" is not a string



=== TEST 8: near misses are not the type: a prefix, a suffix, other parameters, another top type
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::typ('at+jwtx'), main::typ('at+jw'), main::typ('at+jwt; charset=utf-8'),
 main::typ('text/at+jwt'), main::typ('application/application/at+jwt'), main::typ('')]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
[$main::Invalid, $main::Invalid, $main::Invalid, $main::Invalid, $main::Invalid, $main::Invalid]



=== TEST 9: several types: any of them admits
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type at+jwt application/jwt;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::typ('JWT'), main::typ('at+JWT'), main::typ('dpop+jwt')]
--- error_code eval
[200, 200, 401]



=== TEST 10: without the directive "typ" is not checked
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(), main::typ('logout+jwt'), main::typ(7)]
--- error_code eval
[200, 200, 200]



=== TEST 11: inherited from the http level; "off" in a location turns it off there
--- http_config
    tenant_jwt_type at+jwt;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type off;
        echo "open tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t", "GET /open"]
--- more_headers eval
[main::typ('at+jwt'), main::typ('JWT'), main::typ('JWT')]
--- error_code eval
[200, 401, 200]
--- response_body eval
["tenant=acme\n", $main::Invalid, "open tenant=acme\n"]



=== TEST 12: a location's own list replaces the server's
--- config
    tenant_jwt_type at+jwt;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type secevent+jwt;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::typ('secevent+jwt'), main::typ('at+jwt')]
--- error_code eval
[200, 401]



=== TEST 13: one cached token, two locations: each checks "typ" by its own rule
--- config
    location /strict {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type at+jwt;
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
main::typ('JWT')
--- error_code eval
[200, 401, 200, 401]



=== TEST 14: the signature is checked before "typ": a forged token is refused for its signature
--- request
GET /t
--- more_headers eval
my ($h, $p, $s) = split /\./, TenantTest::jwt(header => { typ => 'at+jwt' });
"Authorization: Bearer $h.$p." . ($s =~ /^A/ ? 'B' : 'A') . substr($s, 1)
--- error_code: 401
--- error_log
tenant: rejected with "invalid_token": token signature does not verify



=== TEST 15: tenant_jwt_type twice at one level is a duplicate
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type at+jwt;
        tenant_jwt_type jwt;
        echo x;
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt_type" directive is duplicate



=== TEST 16: a value that is not a media type fails nginx -t
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type application/at+jwt/x;
        echo x;
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "application/at+jwt/x": a media type, such as "at+jwt" or "application/at+jwt", is expected



=== TEST 17: an empty value, a parameter or a space fails nginx -t too
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_type at+jwt "at+jwt; v=1";
        echo x;
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "at+jwt; v=1"
