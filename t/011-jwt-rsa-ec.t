use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Crypt::PK::ECC ();
use MIME::Base64 qw(decode_base64url);

sub claims {
    return { sub => "user-1", org_id => "acme", exp => time() + 3600 };
}

# An ES256 token whose signature is DER (as OpenSSL emits it) instead of
# the r || s that JWS prescribes.
sub es256_der {
    my $input = TenantTest::b64u('{"alg":"ES256"}') . '.'
              . TenantTest::b64u(TenantTest::json_text(claims()));
    my $pk = Crypt::PK::ECC->new(TenantTest::key_path('ec256.key'));
    return $input . '.' . TenantTest::b64u($pk->sign_message($input, 'SHA256'));
}

# Another header over the same payload and signature.
sub relabel {
    my ($token, $header) = @_;
    my (undef, $p, $s) = split /\./, $token;
    return join '.', TenantTest::b64u(TenantTest::json_text($header)), $p, $s;
}

# The signature minus its last byte.
sub truncated {
    my ($h, $p, $s) = split /\./, shift;
    my $sig = decode_base64url($s);
    chop $sig;
    return join '.', $h, $p, TenantTest::b64u($sig);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: RS256 token is admitted by the RSA public key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 2: RS384 token is admitted by the same RSA key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS384")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 3: RS512 token is admitted by the same RSA key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS512")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 4: ES256 token is admitted by a P-256 key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 5: ES384 token is admitted by a P-384 key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec384.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES384")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 6: ES512 token is admitted by a P-521 key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec521.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES512")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 7: ES256 token against a P-384 key is rejected: each ES alg has one curve
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec384.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "ES256")
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 8: an ES384 signature relabelled as ES256 is rejected by a P-256 key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::relabel(TenantTest::jwt(alg => "ES384"), { alg => "ES256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 9: an ES256 signature in DER instead of r || s is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::es256_der())
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 10: an ES256 signature of all zeros (r = s = 0) is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::raw_jwt({ alg => "ES256" }, main::claims(),
                                            TenantTest::b64u("\0" x 64)))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]
[alert]
signal



=== TEST 11: a signature made with rsa2.key is rejected by rsa.pub
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key")
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 12: a truncated RSA signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::truncated(TenantTest::jwt(alg => "RS256")))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 13: an RS256 signature relabelled as RS512 is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::relabel(TenantTest::jwt(alg => "RS256"), { alg => "RS512" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 14: an RS256 token is rejected where only an EC key is configured
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 15: an X.509 certificate PEM is accepted as the key file
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.crt;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 16: the certificate's key rejects a token signed by another key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.crt;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 17: a PKCS#1 "RSA PUBLIC KEY" PEM is accepted as the key file
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pkcs1.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 18: kid-bound keys: each kid is verified by its own key
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=one;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa2.pub kid=two;
        echo "tenant=$tenant_id";
    }
--- request eval
my $one = TenantTest::jwt(alg => "RS256", key => "rsa.key", kid => "one");
my $two = TenantTest::jwt(alg => "RS256", key => "rsa2.key", kid => "two");
["GET /t?t=$one", "GET /t?t=$two"]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 19: kid-bound keys: a token naming the other key's kid is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=one;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa2.pub kid=two;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key", kid => "one")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 20: kid-bound keys do not verify a token without a kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=one;
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



=== TEST 21: a token naming a kid-bound key does not fall back to the kid-less keys
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=one;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa2.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key", kid => "one")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 22: kid-less keys are tried in order: a token signed by the second one is admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa2.pub;
        echo "tenant=$tenant_id";
    }
--- request eval
my $first = TenantTest::jwt(alg => "RS256", key => "rsa.key");
my $second = TenantTest::jwt(alg => "RS512", key => "rsa2.key");
["GET /t?t=$first", "GET /t?t=$second"]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 23: kid-less keys of mixed types each verify only the algorithms of their type
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec521.pub;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(alg => $_) } qw(HS256 RS384 ES256 ES512)]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n", "tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 24: a token signed by neither of two kid-less keys is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.crt;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa2.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 25: an HMAC key bound to a kid verifies its kid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac2.secret kid=shared;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS384", key => "hmac2.secret", kid => "shared")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 26: a certificate PEM preceded by openssl's text dump is still a certificate
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa-text.crt;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 27: a public key PEM preceded by a comment line is still a public key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa-comment.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 28: an 8192-bit RSA key (1024-byte signatures) verifies its RS256 tokens
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa8192.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa8192.key")
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected
