use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Crypt::PK::Ed25519 ();
use Crypt::PK::RSA ();
use Digest::SHA qw(hmac_sha256);

# RSASSA-PSS (PS256, PS384, PS512; RFC 7518 3.5) and EdDSA with Ed25519
# (RFC 8037), from key files and JWK Sets.  An RSA key serves PS* only
# when bound to it: alg= on tenant_jwt_key_file, "alg" in a JWK.
#
# t/data/jwks-mixed.json: ps-1 (rsa.key, "alg": "PS256"), rs-1 (rsa2.key,
# "alg": "RS256"), ed-1 (ed25519.key, "alg": "EdDSA"), and what is skipped:
# enc-1 ("use": "enc"), oaep-1 ("alg": "RSA-OAEP"), ed448-1 (OKP Ed448),
# x25519-1 (OKP X25519), akp-1 ("kty": "AKP"), k1-1 ("alg": "ES256K"), and
# key #9 (oct, "use": "enc", no kid).

sub claims {
    return { sub => "user-1", org_id => "acme", exp => time() + 3600 };
}

sub input {
    my ($header) = @_;
    return TenantTest::b64u(TenantTest::json_text($header)) . '.'
         . TenantTest::b64u(TenantTest::json_text(claims()));
}

sub bad_sig {
    my ($h, $p, $s) = split /\./, shift;
    my $i = int(length($s) / 2);
    substr($s, $i, 1) = substr($s, $i, 1) eq 'A' ? 'B' : 'A';
    return join '.', $h, $p, $s;
}

# PS256 with rsa.key and a salt of $salt bytes (RFC 7518 wants 32)
sub ps256_salt {
    my ($salt) = @_;
    my $input = input({ alg => "PS256" });
    my $pk = Crypt::PK::RSA->new(TenantTest::key_path("rsa.key"));
    return $input . '.'
         . TenantTest::b64u($pk->sign_message($input, 'SHA256', 'pss', $salt));
}

# any signature under any header, from a fresh Ed25519 key or rsa.key
sub eddsa_other_key {
    my ($header) = @_;
    my $input = input($header);
    my $pk = Crypt::PK::Ed25519->new;
    $pk->generate_key;
    return $input . '.' . TenantTest::b64u($pk->sign_message($input));
}

sub rs256_as {
    my ($header) = @_;
    my $input = input($header);
    my $pk = Crypt::PK::RSA->new(TenantTest::key_path("rsa.key"));
    return $input . '.'
         . TenantTest::b64u($pk->sign_message($input, 'SHA256', 'v1.5'));
}

sub hs256 {
    my ($secret, $header) = @_;
    my $input = input($header);
    return $input . '.' . TenantTest::b64u(hmac_sha256($input, $secret));
}

sub file_bytes {
    open my $fh, '<', TenantTest::key_path(shift) or die $!;
    local $/;
    return scalar <$fh>;
}

sub data { "$ENV{TEST_NGINX_DATA_DIR}/$_[0]" }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: PS256, PS384, PS512 tokens are admitted by rsa.pub bound with alg=
--- config
    location /ps256 {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id alg=$jwt_header_alg";
    }
    location /ps384 {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS384;
        echo "tenant=$tenant_id alg=$jwt_header_alg";
    }
    location /ps512 {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS512;
        echo "tenant=$tenant_id alg=$jwt_header_alg";
    }
--- request eval
[map { "GET /" . lc($_) . "?t=" . TenantTest::jwt(alg => $_) }
     qw(PS256 PS384 PS512)]
--- error_code eval
[200, 200, 200]
--- response_body eval
["tenant=acme alg=PS256\n", "tenant=acme alg=PS384\n",
 "tenant=acme alg=PS512\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 2: a tampered PS256 signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::bad_sig(TenantTest::jwt(alg => "PS256")))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 3: PS256 signed with another RSA key is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "PS256", key => "rsa2.key")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 4: PS256 with a salt of the hash's length is admitted, with any other salt rejected (RFC 7518 3.5)
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . main::ps256_salt($_) } (32, 0, 20, 64)]
--- error_code eval
[200, 401, 401, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"', '"error":"invalid_token"',
 '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 5: an RSA key file without alg= serves RS* only: RS256 admitted, PS256 from the same key rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "RS256"),
 "GET /t?t=" . TenantTest::jwt(alg => "PS256")]
--- error_code eval
[200, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 6: a key bound to PS256 does not verify RS256 from the same key, nor PS384
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "RS256"),
 "GET /t?t=" . TenantTest::jwt(alg => "PS384")]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 7: a key bound to RS256 with alg= no longer serves RS512
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=RS256;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "RS256"),
 "GET /t?t=" . TenantTest::jwt(alg => "RS512")]
--- error_code eval
[200, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 8: one RSA key given twice, bound to RS256 and to PS256, serves both, kids apart
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=rs alg=RS256;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256 kid=ps;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "RS256", kid => "rs"),
 "GET /t?t=" . TenantTest::jwt(alg => "PS256", kid => "ps"),
 "GET /t?t=" . TenantTest::jwt(alg => "PS256", kid => "rs")]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme kid=rs\$", "^tenant=acme kid=ps\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 9: alg= that does not fit the key fails the configuration: PS256 on an EC key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ec256.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key in "' . main::data("ec256.pub") . '" has "alg" "PS256" that does not fit the key']



=== TEST 10: alg= naming no algorithm fails the configuration: none, ps256, RSA-OAEP, empty
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=none;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
has "alg" "none" that does not fit the key



=== TEST 11: alg=ps256 (wrong case) fails the configuration
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=ps256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
has "alg" "ps256" that does not fit the key



=== TEST 12: a repeated alg= is an invalid parameter
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256 alg=PS384;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "alg=PS384"



=== TEST 13: an empty alg= is an invalid parameter
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid parameter "alg="



=== TEST 14: EdDSA signed with ed25519.key is admitted by ed25519.pub
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        echo "tenant=$tenant_id alg=$jwt_header_alg";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "EdDSA")
--- error_code: 200
--- response_body
tenant=acme alg=EdDSA
--- no_error_log
[error]
tenant: rejected



=== TEST 15: a tampered EdDSA signature, and one from another Ed25519 key, are rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . main::bad_sig(TenantTest::jwt(alg => "EdDSA")),
 "GET /t?t=" . main::eddsa_other_key({ alg => "EdDSA" })]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 16: an EdDSA signature cut short or padded is rejected, never read past
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        echo "tenant=$tenant_id";
    }
--- request eval
my ($h, $p, $s) = split /\./, TenantTest::jwt(alg => "EdDSA");
use MIME::Base64 qw(decode_base64url);
my $raw = decode_base64url($s);
["GET /t?t=$h.$p." . TenantTest::b64u(substr($raw, 0, 63)),
 "GET /t?t=$h.$p." . TenantTest::b64u($raw . "\0")]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 17: an Ed25519 key serves EdDSA only: alg=ES256 on it fails the configuration
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub alg=ES256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
has "alg" "ES256" that does not fit the key



=== TEST 18: an Ed448 public key file is refused with the reason
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed448.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'tenant: Ed448 key in "' . main::data("ed448.pub") . '" is not supported: EdDSA is verified with Ed25519 keys only']



=== TEST 19: an RSASSA-PSS key file (id-RSASSA-PSS) is refused, saying how to give the key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa-pss.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key in "' . main::data("rsa-pss.pub") . '" is an RSASSA-PSS key, which is not supported: give the same key as an RSA key (rsaEncryption) bound to a PS algorithm']



=== TEST 20: a mixed JWK Set loads: PS256 by ps-1, RS256 by rs-1, EdDSA by ed-1
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id kid=$jwt_header_kid";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "PS256", key => "rsa.key", kid => "ps-1"),
 "GET /t?t=" . TenantTest::jwt(alg => "RS256", key => "rsa2.key", kid => "rs-1"),
 "GET /t?t=" . TenantTest::jwt(alg => "EdDSA", kid => "ed-1")]
--- error_code eval
[200, 200, 200]
--- response_body eval
["tenant=acme kid=ps-1\n", "tenant=acme kid=rs-1\n", "tenant=acme kid=ed-1\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 21: the members of a mixed JWK Set the module cannot use are each named in a warn
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "EdDSA", kid => "ed-1")
--- error_code: 200
--- error_log eval
[map { qr/\[warn\] .*\Qtenant: JWK Set "\E[^"]+jwks-mixed\.json": \Q$_\E in \S+nginx\.conf:\d+/ }
 ('key "enc-1" skipped: use "enc"',
  'key "oaep-1" skipped: alg "RSA-OAEP" is not supported',
  'key "ed448-1" skipped: crv "Ed448" is not supported',
  'key "x25519-1" skipped: crv "X25519" is not supported',
  'key "akp-1" skipped: kty "AKP" is not supported',
  'key "k1-1" skipped: alg "ES256K" is not supported',
  'key #9 skipped: use "enc"')]
--- no_error_log
[error]
key "ps-1" skipped
key "rs-1" skipped
key "ed-1" skipped



=== TEST 22: a skipped key's kid matches no key: a PS256 token with kid enc-1 is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "PS256", key => "rsa.key", kid => "enc-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_error_log
[error]



=== TEST 23: ps-1 ("alg": "PS256") does not verify RS256 signed with its own key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "RS256", key => "rsa.key", kid => "ps-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 24: rs-1 ("alg": "RS256") does not verify PS256 signed with its own key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "PS256", key => "rsa2.key", kid => "rs-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 25: an RSA JWK without "alg" serves RS* only: PS256 with kid rsa-1 is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(alg => "PS256", key => "rsa.key", kid => "rsa-1")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 26: tenant_jwt_algorithms PS256 EdDSA: both admitted, RS256 by rs-1 rejected before any key
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        tenant_jwt_algorithms PS256 EdDSA;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "PS256", key => "rsa.key", kid => "ps-1"),
 "GET /t?t=" . TenantTest::jwt(alg => "EdDSA", kid => "ed-1"),
 "GET /t?t=" . TenantTest::jwt(alg => "RS256", key => "rsa2.key", kid => "rs-1")]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme\$", "^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 27: tenant_jwt_algorithms PS384 with keys bound to PS256 and EdDSA serves nothing: nginx -t fails
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        tenant_jwt_algorithms PS384 ES256;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
"tenant_jwt_algorithms" allows no algorithm that the configured keys can verify



=== TEST 28: tenant_jwt_algorithms lists the new names exactly: "eddsa" and "PS256 " are refused
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        tenant_jwt_algorithms eddsa;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log
[emerg]
invalid algorithm "eddsa"



=== TEST 29: "none" is still refused, in the allow-list and in a token, with Ed25519 and PS keys
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::raw_jwt({ alg => "none" }, main::claims(), ""),
 "GET /t?t=" . TenantTest::raw_jwt({ alg => "none" }, main::claims(), "x")]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 30: alg confusion: EdDSA signed by an attacker's Ed25519 key, kid of an RSA key, is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-mixed.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::eddsa_other_key({ alg => "EdDSA", kid => "ps-1" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": no key fits the token "alg"
--- no_error_log
[error]



=== TEST 31: alg confusion: an RS256 signature relabelled PS256, and a PS256 one relabelled RS256, are rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=rs alg=RS256;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub kid=ps alg=PS256;
        echo "tenant=$tenant_id";
    }
--- request eval
my $rs = main::rs256_as({ alg => "PS256", kid => "ps" });
my ($h, $p, $s) = split /\./, TenantTest::jwt(alg => "PS256", kid => "ps");
my $ps = TenantTest::b64u(TenantTest::json_text({ alg => "RS256", kid => "rs" }))
       . ".$p.$s";
["GET /t?t=$rs", "GET /t?t=$ps"]
--- error_code eval
[401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"']
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 32: alg confusion: PS256 or EdDSA against an HMAC key is rejected, whatever signs it
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
["GET /t?t=" . TenantTest::jwt(alg => "PS256"),
 "GET /t?t=" . main::hs256(TenantTest::hmac_secret(), { alg => "PS256" }),
 "GET /t?t=" . main::hs256(TenantTest::hmac_secret(), { alg => "EdDSA" })]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here
--- no_error_log
[error]



=== TEST 33: alg confusion: HS256 keyed with the bytes of ed25519.pub never verifies against it
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/ed25519.pub;
        tenant_jwt_algorithms HS256 EdDSA;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256(main::file_bytes("ed25519.pub"), { alg => "HS256" }))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log eval
qr/tenant: rejected with "invalid_token": .*\bfits\b/
--- no_error_log
[error]



=== TEST 34: an OKP Ed25519 JWK whose "x" is not 32 bytes still fails the set
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-okp-short.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'key #0 in JWK Set "' . main::data("jwks-okp-short.json") . '" has "x" of a wrong size']



=== TEST 35: a JWK Set whose only keys are Ed448 and X25519 is refused after naming both
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks-unusable.json;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- must_die
--- error_log eval
['key "ed448-1" skipped: crv "Ed448" is not supported',
 'key "x25519-1" skipped: crv "X25519" is not supported',
 'tenant: JWK Set "' . main::data("jwks-unusable.json") . '" has no signature key this module can use']
