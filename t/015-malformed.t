use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);

sub seg { TenantTest::b64u(shift) }

sub claims_json {
    return TenantTest::json_text({ sub => "user-1", org_id => "acme",
                                   exp => time() + 3600, %{ shift || {} } });
}

# Signs exactly the text given, already encoded, with the configured secret:
# whatever is refused below, it is not refused for its signature.
sub sign_input {
    my $input = shift;
    return $input . '.' . seg(hmac_sha256($input, TenantTest::hmac_secret()));
}

sub hs256_raw {
    my ($header, $payload) = @_;
    return sign_input(seg($header) . '.' . seg($payload));
}

# base64url with the "=" padding that JWS forbids, on a segment that needs
# some.
sub padded {
    my $text = shift;
    my $b = seg($text);
    die "\"$text\" needs no padding" unless length($b) % 4;
    return $b . '=' x (4 - length($b) % 4);
}

# Claims whose standard base64 differs from base64url (contains + or /).
sub std_b64_payload {
    for my $i (1 .. 500) {
        my $json = claims_json({ n => "\xfb\xff?" x $i });
        my $std = encode_base64($json, '');
        $std =~ s/=+$//;
        return $std if $std =~ m{[+/]};
    }
    die "no payload with + or /";
}

# A token of exactly $n characters that verifies.
sub sized_token {
    my $n = shift;
    for my $name (qw(p pa pad)) {
        for my $len (11000 .. 13000) {
            my $t = TenantTest::jwt(claims => { $name => "x" x $len });
            return $t if length $t == $n;
            last if length $t > $n;
        }
    }
    die "no token of $n characters";
}

sub nested {
    my $depth = shift;
    return claims_json() =~ s/\}$/,"deep":${\('[' x $depth . ']' x $depth)}}/r;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one segment is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::seg('{"alg":"HS256"}'))
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token is not three dot-separated parts
--- no_error_log
[error]



=== TEST 2: two segments (no signature part) are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::seg('{"alg":"HS256"}') . "." . main::seg(main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token is not three dot-separated parts
--- no_error_log
[error]



=== TEST 3: four segments (a valid token plus one more) are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::jwt() . ".e30")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token is not three dot-separated parts
--- no_error_log
[error]



=== TEST 4: five segments (a JWE) are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(CORE::join ".", main::seg('{"alg":"RSA-OAEP","enc":"A256GCM"}'),
    main::seg("k" x 256), main::seg("iv" x 6), main::seg(main::claims_json()),
    main::seg("t" x 16))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token is not three dot-separated parts
--- no_error_log
[error]



=== TEST 5: a character outside base64url in the payload is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::sign_input(main::seg('{"alg":"HS256"}') . ".*"
                                         . main::seg(main::claims_json())))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 6: the standard base64 alphabet (+ and /) is not base64url
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::sign_input(main::seg('{"alg":"HS256"}') . "."
                                         . main::std_b64_payload()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 7: a character outside base64url in the signature is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::jwt() =~ s/^(.*\..{10})./$1!/r)
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature is not base64url
--- no_error_log
[error]



=== TEST 8: "=" padding in the header segment is rejected, even when signed that way
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::sign_input(main::padded('{"alg":"HS256","kid":"k1"}') . "."
                                         . main::seg(main::claims_json())))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 9: "=" padding in the signature segment is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::jwt(alg => "HS256") . "=")
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature is not base64url
--- no_error_log
[error]



=== TEST 10: non-zero stray bits in the last signature character are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
my $t = TenantTest::jwt(alg => "HS256");
my $abc = CORE::join "", "A" .. "Z", "a" .. "z", "0" .. "9", "-", "_";
my $v = index $abc, substr($t, -1);
substr($t, -1) = substr($abc, $v | 1, 1);
TenantTest::auth_header($t)
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature is not base64url
--- no_error_log
[error]



=== TEST 11: a header that is not JSON is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw("alg=HS256", main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 12: a header that is a JSON array is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('[{"alg":"HS256"}]', main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 13: a header with bytes after the JSON object is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}{"alg":"none"}', main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 14: a duplicate "alg" in the header is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256","alg":"HS512"}', main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 15: a payload that is not JSON is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}', "org_id=acme"))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 16: a payload that is a JSON string is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}', '"acme"'))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 17: a payload that is a JSON array, number or null is rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . main::hs256_raw('{"alg":"HS256"}', $_) }
     ('[' . main::claims_json() . ']', "42", "null")]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 18: duplicate claim names in the payload are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}',
    '{"org_id":"a","org_id":"b","sub":"user-1","exp":' . (time() + 3600) . '}'))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 19: a token ending with a dot (empty signature) is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::jwt() =~ s/[^.]+$//r)
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature is missing or too long
--- no_error_log
[error]



=== TEST 20: empty header or payload segments and bare dots are rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my ($h, $p, $s) = split /\./, TenantTest::jwt();
[map { "GET /t?t=$_" } ("..", ".$p.$s", "$h..$s", "$h.$p.")]
--- error_code eval
[401, 401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"',
 '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 21: a token over 16 KB is rejected as too large
--- http_config
    large_client_header_buffers 4 64k;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { pad => "x" x 20000 })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token too large
--- no_error_log
[error]
[alert]
signal



=== TEST 22: a token of exactly 16384 characters is admitted
--- http_config
    large_client_header_buffers 4 64k;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::sized_token(16384))
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 23: a token of 16385 characters is too large
--- http_config
    large_client_header_buffers 4 64k;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::sized_token(16385))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token too large
--- no_error_log
[error]



=== TEST 24: non-UTF-8 bytes in the payload JSON are rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}',
    qq({"org_id":"ac\xff\xfeme","sub":"user-1","exp":) . (time() + 3600) . "}"))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 25: an escaped NUL in the tenant claim never becomes a tenant
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}',
    '{"org_id":"acme\u0000evil","sub":"user-1","exp":' . (time() + 3600) . '}'))
--- error_code: 403
--- response_body_like: ^\{"error":"invalid_tenant","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_tenant"
--- no_error_log
[error]



=== TEST 26: an escaped NUL after the configured issuer or audience does not match it
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request eval
my $exp = time() + 3600;
[map { "GET /t?t=" . main::hs256_raw('{"alg":"HS256"}', $_) }
     (qq({"org_id":"acme","sub":"u","exp":$exp,"iss":"https://auth.example.com/","aud":"api.example.com"}),
      qq({"org_id":"acme","sub":"u","exp":$exp,"iss":"https://auth.example.com/\\u0000.evil","aud":"api.example.com"}),
      qq({"org_id":"acme","sub":"u","exp":$exp,"iss":"https://auth.example.com/","aud":"api.example.com\\u0000"}))]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 27: an escaped NUL in the header is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256","kid":"\u0000"}', main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]



=== TEST 28: an escaped NUL in a claim name cannot smuggle in a second org_id
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}',
    '{"org_id\u0000":"evil","org_id":"acme","sub":"user-1","exp":' . (time() + 3600) . '}'))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 29: 5000 nested arrays in a claim: refused, never a crash
--- http_config
    large_client_header_buffers 4 64k;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}', main::nested(5000)))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]
[alert]
[crit]
signal



=== TEST 30: 1000 nested arrays in an unused claim are parsed and admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256"}', main::nested(1000)))
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
[alert]
signal



=== TEST 31: 5000 nested arrays in the header: refused, never a crash
--- http_config
    large_client_header_buffers 4 64k;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(main::hs256_raw('{"alg":"HS256","x":' . '[' x 5000 . ']' x 5000 . '}',
                                        main::claims_json()))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token header is not base64url JSON object
--- no_error_log
[error]
[alert]
signal



=== TEST 32: a 2000-byte signature is rejected without a crash
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::raw_jwt({ alg => "RS256" }, main::claims_json(),
                                            main::seg("\xa5" x 2000)))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature is missing or too long
--- no_error_log
[error]
[alert]
signal



=== TEST 33: a segment of 4n+1 base64url characters is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
my $p = main::seg(main::claims_json());
$p .= "A" x ((1 - length($p) % 4) % 4);
TenantTest::auth_header(main::sign_input(main::seg('{"alg":"HS256"}') . ".$p"))
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_error_log
[error]



=== TEST 34: text after the token, separated by a space, makes it invalid
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::auth_header(TenantTest::jwt() . " " . TenantTest::jwt())
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token"
--- no_error_log
[error]
