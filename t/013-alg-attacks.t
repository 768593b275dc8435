use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Crypt::PK::RSA ();
use Digest::SHA qw(hmac_sha256);

sub claims {
    return { sub => "user-1", org_id => "acme", exp => time() + 3600 };
}

sub file_bytes {
    open my $fh, '<', TenantTest::key_path(shift) or die $!;
    local $/;
    return scalar <$fh>;
}

# A token whose HMAC-SHA256 over exactly these header and payload bytes is
# right for $secret: whatever is refused, it is not for the signature.
sub hs256 {
    my ($secret, $header, $claims) = @_;
    $header = TenantTest::json_text($header) if ref $header;
    $claims = TenantTest::json_text($claims || claims()) if ref $claims || !defined $claims;
    my $input = TenantTest::b64u($header) . '.' . TenantTest::b64u($claims);
    return $input . '.' . TenantTest::b64u(hmac_sha256($input, $secret));
}

# An RS256 token signed with $keyfile under any header.
sub rs256 {
    my ($keyfile, $header) = @_;
    my $input = TenantTest::b64u(TenantTest::json_text($header)) . '.'
              . TenantTest::b64u(TenantTest::json_text(claims()));
    my $pk = Crypt::PK::RSA->new(TenantTest::key_path($keyfile));
    return $input . '.' . TenantTest::b64u($pk->sign_message($input, 'SHA256', 'v1.5'));
}

sub attacker_jwk {
    return Crypt::PK::RSA->new(TenantTest::key_path('rsa2.key'))->export_key_jwk('public', 1);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: alg "none" with an empty signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::raw_jwt({ alg => "none" }, main::claims(), ""))
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 2: alg "none" carrying a signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), { alg => "none" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 3: alg "None" is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::raw_jwt({ alg => "None" }, main::claims(), ""))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 4: alg "nOnE" with a signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), { alg => "nOnE" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 5: tenant_jwt_algorithms none fails the configuration
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_algorithms none;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
the "none" algorithm can never be allowed



=== TEST 6: "None" among other algorithms fails the configuration too
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_algorithms HS256 None;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
the "none" algorithm can never be allowed



=== TEST 7: alg confusion: HS256 keyed with the bytes of rsa.pub is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("rsa.pub"), { alg => "HS256", typ => "JWT" }))
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 8: alg confusion: HS256 keyed with rsa.pub minus its trailing newline is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "rsa.pub")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 9: alg confusion: even with HS256 allowed, an RSA key never acts as an HMAC secret
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms HS256 RS256;
        echo "tenant=$tenant_id";
    }
--- request eval
my $full = main::hs256(main::file_bytes("rsa.pub"), { alg => "HS256" });
my $trimmed = TenantTest::jwt(alg => "HS256", key => "rsa.pub");
["GET /t?t=$full", "GET /t?t=$trimmed"]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 10: alg confusion with HS256 allowed: the rejection names no fitting key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms HS256 RS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("rsa.pub"), { alg => "HS256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log eval
qr/tenant: rejected with "invalid_token": .*\bfits\b/
--- no_error_log
[error]



=== TEST 11: alg confusion next to a real HMAC key: the public key bytes are still no secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("rsa.pub"), { alg => "HS256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 12: alg confusion with an EC key: HS256 keyed with ec256.pub is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub;
        tenant_jwt_algorithms HS256 ES256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("ec256.pub"), { alg => "HS256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log eval
qr/tenant: rejected with "invalid_token": .*\bfits\b/
--- no_error_log
[error]



=== TEST 13: alg confusion through a JWK Set: HS256 with kid rsa-1 keyed with rsa.pub
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("rsa.pub"), { alg => "HS256", kid => "rsa-1" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 14: the allow-list excludes RS256: an RS256 token is rejected, RS384 admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms RS384;
        echo "tenant=$tenant_id";
    }
--- request eval
my $rs256 = TenantTest::jwt(alg => "RS256");
my $rs384 = TenantTest::jwt(alg => "RS384");
["GET /t?t=$rs256", "GET /t?t=$rs384"]
--- error_code eval
[401, 200]
--- response_body_like eval
['"error":"invalid_token"', "^tenant=acme\$"]
--- no_error_log
[error]



=== TEST 15: the allow-list excludes RS256: the rejection says so
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms RS384;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 16: the allow-list HS256 rejects an HS512 token signed with the right secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_algorithms HS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS512")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 17: the default allow-list follows the key types: an HMAC-only location rejects RS256
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 18: unknown alg "HS1024" is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), { alg => "HS1024" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 19: alg PS256 signed with the right key is rejected: an RSA key file without alg= serves RS* only
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "PS256", key => "rsa.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 20: alg names are case-sensitive (RFC 7515 4.1.1): "hs256" is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), { alg => "hs256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_error_log
[error]



=== TEST 21: alg names are exact, and an HMAC key serves HS* only: "HS256 ", "HS256x", "EdDSA" are rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . main::hs256(TenantTest::hmac_secret(), { alg => $_ }) }
     ("HS256 ", "HS256x", "EdDSA")]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 22: a header without "alg" is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), { typ => "JWT" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token has no "alg"
--- no_error_log
[error]



=== TEST 23: a non-string "alg" (number, array) is rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . main::hs256(TenantTest::hmac_secret(), $_) }
     ('{"alg":256}', '{"alg":["HS256"]}')]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 24: a "crit" header parameter is rejected even on a valid signature
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(),
    { alg => "HS256", crit => ["exp"] }))
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token has "crit" extensions
--- no_error_log
[error]



=== TEST 25: "crit" naming b64 (RFC 7797 unencoded payload) is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(),
    '{"alg":"HS256","b64":false,"crit":["b64"]}'))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token has "crit" extensions
--- no_error_log
[error]



=== TEST 26: a numeric "kid" is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(TenantTest::hmac_secret(), '{"alg":"HS256","kid":1}'))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "kid" is not a string
--- no_error_log
[error]



=== TEST 27: a null, object or array "kid" is rejected, also against a JWK Set
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . main::hs256(TenantTest::hmac_secret("hmac2.secret"), $_) }
     ('{"alg":"HS256","kid":null}', '{"alg":"HS256","kid":{"id":"hs-1"}}',
      '{"alg":"HS256","kid":["hs-1"]}')]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 28: an attacker's key embedded as "jwk" in the header is ignored
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::rs256("rsa2.key", { alg => "RS256", jwk => main::attacker_jwk() }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 29: a "jku" URL in the header is never fetched nor trusted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
    location /jwks {
        echo "fetched";
    }
--- request eval
"GET /t"
--- more_headers eval
TenantTest::auth_header(main::rs256("rsa2.key",
    { alg => "RS256", jku => "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/jwks" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]
GET /jwks



=== TEST 30: alg confusion: a certificate file with text before its PEM block is no HMAC secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa-text.crt;
        tenant_jwt_algorithms HS256 RS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "rsa-text.crt")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 31: alg confusion: a public key file with a comment line before its PEM block is no HMAC secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa-comment.pub;
        tenant_jwt_algorithms HS256 RS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "HS256", key => "rsa-comment.pub")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]



=== TEST 32: alg confusion: a DER public key file never becomes an HMAC secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub.der;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"' . "$ENV{TEST_NGINX_DATA_DIR}/rsa.pub.der" . '"']



=== TEST 33: alg confusion: a JWK Set given as key file never becomes an HMAC secret
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"' . "$ENV{TEST_NGINX_DATA_DIR}/jwks.json" . '"']
