use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

# t/data/jwks.json: rsa-1 (rsa.key), rsa-2 (rsa2.key, "alg": "RS256",
# "use": "sig"), ec-1 (ec256.key), hs-1 (oct, the bytes of hmac2.secret),
# enc-1 (rsa.key, "use": "enc").  t/data/jwks-nokid.json: rsa2 without kid.
# t/data/jwks-okp.json: ed-1 (ed25519.key, OKP), rsa-1.

no_shuffle();
run_tests();

__DATA__

=== TEST 1: kid rsa-1 selects the first RSA key: RS256 admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "rsa-1")
--- error_code: 200
--- response_body
tenant=acme kid=rsa-1
--- no_error_log
[error]
tenant: rejected



=== TEST 2: a JWK without "alg" verifies every algorithm of its type: RS512 with rsa-1
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS512", key => "rsa.key", kid => "rsa-1")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 3: kid rsa-2 (use sig, alg RS256): RS256 admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key", kid => "rsa-2")
--- error_code: 200
--- response_body
tenant=acme kid=rsa-2
--- no_error_log
[error]
tenant: rejected



=== TEST 4: kid ec-1 (P-256): ES256 admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES256", key => "ec256.key", kid => "ec-1")
--- error_code: 200
--- response_body
tenant=acme kid=ec-1
--- no_error_log
[error]
tenant: rejected



=== TEST 5: kid hs-1 (oct): HS256 and HS512 signed with hmac2.secret admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(alg => $_, key => "hmac2.secret", kid => "hs-1") }
     qw(HS256 HS512)]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme kid=hs-1\n", "tenant=acme kid=hs-1\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 6: a kid that matches no key in the set is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "rsa-3")
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_error_log
[error]



=== TEST 7: kids are compared exactly: "RSA-1" is not "rsa-1"
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "RSA-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_error_log
[error]



=== TEST 8: enc-1 has "use": "enc", so it is ignored and its kid matches no key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "enc-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_error_log
[error]



=== TEST 9: rsa-2 is bound to RS256 by its "alg": an RS384 token with kid rsa-2 is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS384", key => "rsa2.key", kid => "rsa-2")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 10: kid rsa-1 on a token signed with rsa2.key is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key", kid => "rsa-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 11: kid hs-1 on a token signed with another secret is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac.secret", kid => "hs-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 12: kid ec-1 on an RS256 token is rejected: the key's type decides
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "ec-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 13: a token without kid is rejected when every key of the set has a kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 14: a token without kid is verified by a JWK that has no kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-nokid.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 15: JWKS plus a kid-less key file: the file verifies tokens without kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac.secret")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 16: JWKS plus a key file: the set still verifies its kids
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request eval
my $rsa = TenantTest::jwt(alg => "RS256", key => "rsa.key", kid => "rsa-1");
my $ec = TenantTest::jwt(alg => "ES256", key => "ec256.key", kid => "ec-1");
["GET /t?t=$rsa", "GET /t?t=$ec"]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme kid=rsa-1\n", "tenant=acme kid=ec-1\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 17: JWKS plus a kid-less key file: an unknown kid is rejected even if the file's key signed it
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "hmac.secret", kid => "nope")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_error_log
[error]



=== TEST 18: JWKS plus a kid-bound key file: the file's kid is a known kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec384.pub kid=file-ec;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES384", key => "ec384.key", kid => "file-ec")
--- error_code: 200
--- response_body
tenant=acme kid=file-ec
--- no_error_log
[error]
tenant: rejected



=== TEST 19: JWKS inherited from the server level is used by a location
--- config
    tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;

    location /t {
        tenant_jwt on;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES256", key => "ec256.key", kid => "ec-1")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 20: tenant_jwt_algorithms narrows what the set accepts: ES256 only
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        tenant_jwt_algorithms ES256;
        echo "tenant=$tenant_id";
    }
--- request eval
my $ec = TenantTest::jwt(alg => "ES256", key => "ec256.key", kid => "ec-1");
my $rsa = TenantTest::jwt(alg => "RS256", key => "rsa.key", kid => "rsa-1");
["GET /t?t=$ec", "GET /t?t=$rsa"]
--- error_code eval
[200, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 21: an Ed25519 key (OKP) in the set verifies EdDSA, the RSA key beside it RS256
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-okp.json;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id]";
    }
--- request eval
my $ed = TenantTest::jwt(alg => "EdDSA", kid => "ed-1");
my $rsa = TenantTest::jwt(alg => "RS256", key => "rsa.key", kid => "rsa-1");
["GET /t?t=$ed", "GET /t?t=$rsa"]
--- error_code eval
[200, 200]
--- response_body eval
["upstream: id=[acme]\n", "upstream: id=[acme]\n"]
--- no_error_log
[error]
[warn]
