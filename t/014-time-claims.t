use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Digest::SHA qw(hmac_sha256);

# HS256 over exactly this payload text (for values Perl cannot express,
# like a JSON null claim).
sub hs256_payload {
    my $input = TenantTest::b64u('{"alg":"HS256"}') . '.' . TenantTest::b64u(shift);
    return $input . '.' . TenantTest::b64u(hmac_sha256($input, TenantTest::hmac_secret()));
}

# A token whose claims count from now is minted when its block runs: its
# section evaluates to a sub, which the preprocessor below calls.  Sections
# are evaluated for every block when the file is read, and the blocks before
# can take minutes under valgrind, more than the margins of tens of seconds
# here ("nbf 30 s ahead" must still be ahead when the request comes).

add_block_preprocessor(sub {
    my ($block) = @_;
    for my $section (qw(request more_headers)) {
        my $v = $block->{$section} or next;
        $block->{$section} = [map { ref eq 'CODE' ? $_->() : $_ } @$v];
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a token that expired an hour ago is 401 token_expired
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() - 3600 })
}
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"token_expired","message":"[^"]+"\}$
--- error_log eval
qr/\[info\] .*tenant: rejected with "token_expired": token has expired/
--- no_error_log
[error]



=== TEST 2: expired 90 s ago is beyond the default 60 s leeway
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() - 90 })
}
--- error_code: 401
--- response_body_like: "error":"token_expired"
--- error_log
tenant: rejected with "token_expired": token has expired
--- no_error_log
[error]



=== TEST 3: expired 30 s ago is within the default 60 s leeway: admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() - 30 })
}
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 4: tenant_jwt_leeway 0: expired 5 s ago is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_leeway 0;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() - 5 })
}
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"token_expired"
--- error_log
tenant: rejected with "token_expired": token has expired
--- no_error_log
[error]



=== TEST 5: tenant_jwt_leeway 0: a token valid for another minute is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_leeway 0;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() + 60 })
}
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 6: tenant_jwt_leeway 5m: expired 200 s ago is admitted, 400 s ago is not
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_leeway 5m;
        echo "tenant=$tenant_id";
    }
--- request eval
sub {
    my $in = TenantTest::jwt(claims => { exp => TenantTest::now() - 200 });
    my $out = TenantTest::jwt(claims => { exp => TenantTest::now() - 400 });
    ["GET /t?t=$in", "GET /t?t=$out"]
}
--- error_code eval
[200, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"token_expired"']
--- no_error_log
[error]



=== TEST 7: the leeway is inherited from the server level
--- config
    tenant_jwt_leeway 0;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { exp => TenantTest::now() - 5 })
}
--- error_code: 401
--- response_body_like: "error":"token_expired"
--- error_log
tenant: rejected with "token_expired"
--- no_error_log
[error]



=== TEST 8: an expired token with a bad signature is invalid_token, not token_expired
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(key => "hmac2.secret", claims => { exp => TenantTest::now() - 3600 })
}
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_error_log
[error]



=== TEST 9: nbf an hour ahead is beyond the leeway: 401 invalid_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { nbf => TenantTest::now() + 3600 })
}
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token is not valid yet
--- no_error_log
[error]



=== TEST 10: nbf 30 s ahead is within the default leeway: admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
sub {
    TenantTest::bearer(claims => { nbf => TenantTest::now() + 30 })
}
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 11: tenant_jwt_leeway 0: nbf 30 s ahead is rejected, nbf in the past admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_leeway 0;
        echo "tenant=$tenant_id";
    }
--- request eval
sub {
    my $ahead = TenantTest::jwt(claims => { nbf => TenantTest::now() + 30 });
    my $past = TenantTest::jwt(claims => { nbf => TenantTest::now() - 30 });
    ["GET /t?t=$ahead", "GET /t?t=$past"]
}
--- error_code eval
[401, 200]
--- response_body_like eval
['"error":"invalid_token"', "^tenant=acme\$"]
--- no_error_log
[error]



=== TEST 12: exp "tomorrow" (not a number) is invalid_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { exp => "tomorrow" })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "exp" is not a number
--- no_error_log
[error]



=== TEST 13: exp as a numeric string, null or boolean is invalid_token
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
sub {
    my $later = TenantTest::now() + 3600;
    [map { "GET /t?t=" . main::hs256_payload(qq({"exp":$_,"org_id":"acme","sub":"user-1"})) }
         (qq("$later"), "null", "true")]
}
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 14: nbf that is not a number is invalid_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { nbf => "yesterday" })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "nbf" is not a number
--- no_error_log
[error]



=== TEST 15: a token without exp is admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(no_exp => 1)
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 16: fractional and far-future exp values are admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
sub {
    [map { "GET /t?t=" . TenantTest::jwt(claims => { exp => $_ }) }
         (TenantTest::now() + 3600.5, 1e20)]
}
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 17: issuer matches: admitted
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iss => "https://auth.example.com/" })
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 18: issuer mismatch is 401 invalid_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iss => "https://evil.example.com/" })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":"invalid_token","message":"[^"]+"\}$
--- error_log
tenant: rejected with "invalid_token": token "iss" is not accepted
--- no_error_log
[error]



=== TEST 19: issuers are compared exactly: no trailing slash, other case, prefix
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(claims => { iss => $_ }) }
     ("https://auth.example.com", "https://AUTH.example.com/",
      "https://auth.example.com/x")]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 20: a missing iss is rejected when an issuer is configured
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "iss" is not accepted
--- no_error_log
[error]



=== TEST 21: a non-string iss is rejected
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iss => ["https://auth.example.com/"] })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "iss" is not accepted
--- no_error_log
[error]



=== TEST 22: several issuers: any one of them is accepted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://a.example https://b.example;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(claims => { iss => $_ }) }
     ("https://a.example", "https://b.example", "https://c.example")]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme\$", "^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 23: no issuer configured: any iss or none is admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request eval
my $iss = TenantTest::jwt(claims => { iss => "https://anyone.example" });
my $none = TenantTest::jwt();
["GET /t?t=$iss", "GET /t?t=$none"]
--- error_code eval
[200, 200]
--- response_body eval
["tenant=acme\n", "tenant=acme\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 24: audience as a string matches
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { aud => "api.example.com" })
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 25: audience as an array matches when one element does
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { aud => ["web.example.com", 42, "api.example.com"] })
--- error_code: 200
--- response_body
tenant=acme
--- no_error_log
[error]
tenant: rejected



=== TEST 26: audience mismatch (string) is 401 invalid_token
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { aud => "other.example.com" })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "aud" is not accepted
--- no_error_log
[error]



=== TEST 27: audience mismatch (array without the audience, empty array) is rejected
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(claims => { aud => $_ }) }
     (["web.example.com", "API.example.com"], [], { aud => "api.example.com" })]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"invalid_token"', '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 28: a missing aud is rejected when an audience is configured
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "aud" is not accepted
--- no_error_log
[error]



=== TEST 29: several audiences configured: a token for any of them is admitted
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_audience api.example.com admin.example.com;
        echo "tenant=$tenant_id";
    }
--- request eval
[map { "GET /t?t=" . TenantTest::jwt(claims => { aud => $_ }) }
     ("admin.example.com", ["x.example.com", "api.example.com"], "x.example.com")]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^tenant=acme\$", "^tenant=acme\$", '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 30: issuer and audience together: both must match
--- config
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_jwt_issuer https://auth.example.com/;
        tenant_jwt_audience api.example.com;
        echo "tenant=$tenant_id";
    }
--- request eval
my $iss = "https://auth.example.com/";
my $aud = "api.example.com";
[map { "GET /t?t=" . TenantTest::jwt(claims => $_) }
     ({ iss => $iss, aud => $aud }, { iss => $iss }, { aud => $aud })]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
["^tenant=acme\$", '"error":"invalid_token"', '"error":"invalid_token"']
--- no_error_log
[error]



=== TEST 31: issuer and audience set at the server level apply to the location
--- config
    tenant_jwt_issuer https://auth.example.com/;
    tenant_jwt_audience api.example.com;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => { iss => "https://auth.example.com/", aud => "web.example.com" })
--- error_code: 401
--- response_body_like: "error":"invalid_token"
--- error_log
tenant: rejected with "invalid_token": token "aud" is not accepted
--- no_error_log
[error]
