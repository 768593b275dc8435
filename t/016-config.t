use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

sub bad_sig {
    my ($h, $p, $s) = split /\./, shift;
    my $i = int(length($s) / 2);
    substr($s, $i, 1) = substr($s, $i, 1) eq 'A' ? 'B' : 'A';
    return join '.', $h, $p, $s;
}

# The messages name the files by their absolute paths.
sub data { "$ENV{TEST_NGINX_DATA_DIR}/$_[0]" }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a missing key file fails the configuration, naming the path
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/no-such.key;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'cannot open key file "' . main::data("no-such.key") . '"']



=== TEST 2: a PEM file that does not parse fails the configuration, naming the path
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/garbage.pem;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"' . main::data("garbage.pem") . '" holds no RSA, EC or Ed25519 public key']



=== TEST 3: an RSA private key is refused as key file
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.key;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"' . main::data("rsa.key") . '" holds no RSA, EC or Ed25519 public key',
 "a private key is not accepted"]



=== TEST 4: an EC private key is refused as key file
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.key;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"' . main::data("ec256.key") . '" holds no RSA, EC or Ed25519 public key']



=== TEST 5: a 1024-bit RSA public key is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa1024.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'RSA key in "' . main::data("rsa1024.pub") . '" has 1024 bits, at least 2048 are required']



=== TEST 6: an empty HMAC secret file is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/empty.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'HMAC secret in "' . main::data("empty.secret") . '" is empty']



=== TEST 7: tenant_jwt on without any key fails the configuration
--- config
    location /t {
        tenant_jwt on;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt" is on but no key is configured



=== TEST 8: tenant_jwt on at the http level without any key fails too
--- http_config
    tenant_jwt on;
--- config
    location /t {
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt" is on but no key is configured



=== TEST 9: tenant_jwt maybe is not a valid value
--- config
    location /t {
        tenant_jwt maybe;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid value "maybe", it must be "on" or "off"



=== TEST 10: tenant_jwt on token= (no variable) is refused
--- config
    location /t {
        tenant_jwt on token=;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "token="



=== TEST 11: tenant_jwt on with an unknown parameter is refused
--- config
    location /t {
        tenant_jwt on cookie=$cookie_session;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "cookie=$cookie_session"



=== TEST 12: tenant_jwt off takes no token= parameter
--- config
    location /t {
        tenant_jwt off token=$arg_t;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
takes no parameters with "off"



=== TEST 13: an unknown algorithm name in tenant_jwt_algorithms is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms RS256 ES256K;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid algorithm "ES256K"



=== TEST 14: algorithm names in tenant_jwt_algorithms are case-sensitive
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_algorithms hs256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid algorithm "hs256"



=== TEST 15: a JWK Set that is not JSON fails the configuration, naming the path
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-not-json.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'cannot load JWK Set "' . main::data("jwks-not-json.json") . '"']



=== TEST 16: a missing JWK Set file fails the configuration, naming the path
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/no-such-jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'cannot load JWK Set "' . main::data("no-such-jwks.json") . '"']



=== TEST 17: a JWK whose "n" is not base64url is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-bad-n.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key #0 in JWK Set "' . main::data("jwks-bad-n.json") . '" has "n" that is not base64url']



=== TEST 18: an EC JWK whose point is not on the curve is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-off-curve.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key #0 in JWK Set "' . main::data("jwks-off-curve.json") . '" is not a valid EC public key']



=== TEST 19: a 1024-bit RSA JWK is refused like a 1024-bit key file
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-rsa1024.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
has 1024 bits, at least 2048 are required



=== TEST 20: tenant_jwt twice in the same location is a duplicate
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt off;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt" directive is duplicate



=== TEST 21: tenant_jwt_cache 0 is refused
--- http_config
    tenant_jwt_cache 0;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid value "0"



=== TEST 22: tenant_jwt_cache is an http-level directive only
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_cache 100;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt_cache" directive is not allowed here



=== TEST 23: tenant_jwt_key_file with an empty kid= is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret kid=;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "kid="



=== TEST 24: an X25519 public key is refused: it agrees keys, it does not sign
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/x25519.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key in "' . main::data("x25519.pub") . '" is neither RSA, EC nor Ed25519']



=== TEST 25: a JWK whose "alg" does not fit its key type is refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-alg-mismatch.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
has "alg" "RS256" that does not fit the key



=== TEST 26: a JWK Set holding a private key ("d") is refused like a PEM private key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-private.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key #0 in JWK Set "' . main::data("jwks-private.json") . '"']



=== TEST 27: tenant_jwt_jwks_file twice at one level is a duplicate
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-nokid.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt_jwks_file" directive is duplicate



=== TEST 28: a JWK Set holding only encryption keys is refused: each is named, then the set
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-enc-only.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
['[warn]',
 'tenant: JWK Set "' . main::data("jwks-enc-only.json") . '": key "enc-1" skipped: use "enc"',
 '[emerg]',
 'tenant: JWK Set "' . main::data("jwks-enc-only.json") . '" has no signature key this module can use']



=== TEST 29: keys at the http level are used by a location
--- http_config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
--- config
    location /t {
        tenant_jwt on;
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



=== TEST 30: a location with its own key file does not accept the parent's key's tokens
--- http_config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac2.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac.secret")
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 31: a location with its own key file accepts its own key's tokens
--- http_config
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac2.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac2.secret")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 32: tenant_jwt off in a nested location admits requests without a token
--- config
    location /api/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "private";

        location /api/public/ {
            tenant_jwt off;
            echo "public";
        }
    }
--- request eval
["GET /api/public/x", "GET /api/private"]
--- error_code eval
[200, 401]
--- response_body_like eval
["^public\$", '"error":"missing_token"']
--- no_error_log
[error]



=== TEST 33: a nested location inherits tenant_jwt on, the token source and the keys
--- config
    location /api/ {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "outer";

        location /api/inner/ {
            echo "inner tenant=$tenant_id";
        }
    }
--- request eval
my $t = TenantTest::jwt();
["GET /api/inner/x?t=$t", "GET /api/inner/x"]
--- error_code eval
[200, 401]
--- response_body_like eval
["^inner tenant=acme\$", '"error":"missing_token"']
--- no_error_log
[error]



=== TEST 34: tenant_jwt on at the server level protects every location
--- config
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;

    location /t {
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "error":"missing_token"
--- error_log
tenant: rejected with "missing_token"
--- no_error_log
[error]



=== TEST 35: tenant_jwt_algorithms at the http level applies to a location's own keys
--- http_config
    tenant_jwt_algorithms HS512;
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $hs256 = TenantTest::jwt(alg => "HS256");
my $hs512 = TenantTest::jwt(alg => "HS512");
["GET /t?t=$hs256", "GET /t?t=$hs512"]
--- error_code eval
[401, 200]
--- response_body_like eval
['"error":"invalid_token"', "^tenant=acme\$"]
--- no_error_log
[error]



=== TEST 36: tenant_jwt_cache off still verifies every token
--- http_config
    tenant_jwt_cache off;
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
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 37: tenant_jwt_cache off admits a valid token
--- http_config
    tenant_jwt_cache off;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 38: a one-entry cache evicts and re-verifies without mixing tokens up
--- http_config
    tenant_jwt_cache 1;
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $a = TenantTest::jwt(claims => { org_id => "acme" });
my $b = TenantTest::jwt(claims => { org_id => "globex" });
my $bad = main::bad_sig($a);
["GET /t?t=$a", "GET /t?t=$b", "GET /t?t=$a", "GET /t?t=$bad", "GET /t?t=$b"]
--- error_code eval
[200, 200, 200, 401, 200]
--- response_body_like eval
["^tenant=acme\$", "^tenant=globex\$", "^tenant=acme\$", '"error":"invalid_token"',
 "^tenant=globex\$"]
--- no_error_log
[error]
