use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Crypt::PK::RSA ();
use Digest::SHA qw(hmac_sha256);

# The hostile input catalogue of docs/security.md, the classes no other test
# file covers end to end.  /t verifies the token and proxies to /upstream,
# which answers with the raw request head it received.  Each refusal is
# checked three ways: the exact status, the exact JSON body (which names
# the error code), and the access log, which never shows a request to
# /upstream (TEST 1 shows that it does when one is made).
#
# Hostile tokens are built byte by byte and signed HS256 with the
# configured secret (t/data/hmac.secret): the signature is right, only the
# content is hostile.

no_shuffle();

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

our %Message = (
    missing_token => "a bearer token is required",
    invalid_token => "the token is malformed, or its signature, issuer or "
                     . "audience is not accepted",
    token_expired => "the token has expired",
    invalid_tenant => "the token's tenant ID is not valid",
    invalid_claims => "the token's claims cannot be forwarded safely",
    not_a_member => "you are not a member of that organization",
);

# the exact body of a refusal, one per request when $n is given
sub refused {
    my ($code, $n) = @_;
    my $body = qq{{"error":"$code","message":"$Message{$code}"}\n};
    return defined $n ? [($body) x $n] : $body;
}

# HS256 over exactly these header and payload bytes; EXP in the payload is
# an hour from now, NOW is now
sub hs256 {
    my ($header, $payload, $secret) = @_;
    my $now = time();
    $payload =~ s/\bEXP\b/$now + 3600/ge;
    $payload =~ s/\bNOW\b/$now/g;
    my $input = TenantTest::b64u($header) . '.' . TenantTest::b64u($payload);
    return $input . '.'
           . TenantTest::b64u(hmac_sha256($input, TenantTest::hmac_secret($secret)));
}

# the same with the raw bytes of a key, not a secret file
sub hs256_key {
    my ($header, $payload, $key) = @_;
    $payload =~ s/\bEXP\b/time() + 3600/ge;
    my $input = TenantTest::b64u($header) . '.' . TenantTest::b64u($payload);
    return $input . '.' . TenantTest::b64u(hmac_sha256($input, $key));
}

sub file_bytes {
    open my $fh, '<', TenantTest::key_path(shift) or die $!;
    local $/;
    return scalar <$fh>;
}

sub auth { TenantTest::auth_header(hs256(@_)) }

# a payload with the usual identity and EXTRA members inserted; a "sub"
# in EXTRA replaces the default one (a second would be a duplicate name)
sub claims {
    my $extra = shift // '';
    my $sub = $extra =~ /^"sub":/ ? '' : '"sub":"user-1",';
    $extra = ",$extra" if length $extra;
    return qq({$sub"org_id":"acme","exp":EXP$extra});
}

sub rs256 {
    my ($keyfile, $header) = @_;
    my $input = TenantTest::b64u(TenantTest::json_text($header)) . '.'
              . TenantTest::b64u(claims() =~ s/EXP/time() + 3600/er);
    my $pk = Crypt::PK::RSA->new(TenantTest::key_path($keyfile));
    return $input . '.' . TenantTest::b64u($pk->sign_message($input, 'SHA256', 'v1.5'));
}

# The request head /upstream received: the proxy's request line, Host and
# Connection, then client headers none of which reads as X-Tenant-* (any
# case, any punctuation for the dashes), then exactly the lines of
# @$tenant, and nothing else.  The lines of @$keep must be among the client
# headers.
sub upstream_saw {
    my ($tenant, $keep) = @_;
    my $re = '\A';
    $re .= '(?=[\s\S]*\r\n' . quotemeta($_) . '\r\n)' for @{ $keep || [] };
    $re .= 'GET /upstream HTTP/1\.0\r\nHost: 127\.0\.0\.1:\d+\r\nConnection: close\r\n'
         . '(?:(?!(?i:x[^a-z0-9\r\n]tenant[^a-z0-9\r\n]))[^\r\n]*\r\n)*';
    $re .= quotemeta($_) . '\r\n' for @$tenant;
    $re .= '\r\n\z';
    return qr/$re/;
}

sub identity {
    return ['X-Tenant-ID: acme', 'X-Tenant-User: user-1', @_];
}

sub many { my ($what, $n) = @_; [($what) x $n] }

run_tests();

__DATA__

=== TEST 1: baseline: a valid token reaches the upstream, which sees the identity, and the access log shows it
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims('"role":"admin"'))
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::identity('X-Tenant-Role: admin'))
--- access_log
"GET /upstream HTTP/1.0" 200
--- no_error_log
[error]



=== TEST 2: forged tokens: another secret, a payload swapped under a genuine signature, a signature moved from another token, a signature cut short
--- request eval
main::many("GET /t", 4)
--- more_headers eval
my $good = main::hs256('{"alg":"HS256"}', main::claims());
my $other = main::hs256('{"alg":"HS256"}', main::claims('"role":"owner"'));
my ($h, $p, $s) = split /\./, $good;
my $globex = TenantTest::b64u(main::claims() =~ s/acme/globex/r =~ s/EXP/time() + 3600/er);
[map { TenantTest::auth_header($_) }
    main::hs256('{"alg":"HS256"}', main::claims(), 'hmac2.secret'),
    "$h.$globex.$s",
    "$h.$p." . (split /\./, $other)[2],
    "$h.$p." . substr($s, 0, 20)]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
main::refused("invalid_token", 4)
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 3: alg none, in any case and with or without a signature, never reaches the upstream
--- request eval
main::many("GET /t", 4)
--- more_headers eval
my $none = TenantTest::raw_jwt('{"alg":"none"}', main::claims() =~ s/EXP/time() + 3600/er, '');
[map { TenantTest::auth_header($_) }
    $none,
    main::hs256('{"alg":"none"}', main::claims()),
    main::hs256('{"alg":"NONE","typ":"JWT"}', main::claims()),
    main::hs256('{"alg":"nOnE"}', main::claims())]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
main::refused("invalid_token", 4)
--- error_log
tenant: rejected with "invalid_token": token "alg" is not supported
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 4: alg confusion: HS256 keyed with the RSA public key's bytes, where HS256 is even allowed
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        tenant_jwt_algorithms HS256 RS256;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request eval
main::many("GET /t", 2)
--- more_headers eval
[map { TenantTest::auth_header($_) }
    main::hs256_key('{"alg":"HS256"}', main::claims(), main::file_bytes('rsa.pub')),
    main::hs256('{"alg":"HS256"}', main::claims(), 'rsa.pub')]
--- error_code eval
[401, 401]
--- response_body eval
main::refused("invalid_token", 2)
--- error_log eval
qr/tenant: rejected with "invalid_token": .*\bfits\b/
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 5: keys the token names are never fetched nor used: jku, x5u, x5c and jwk on a token signed by another key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/rsa.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
    location /keys {
        echo "fetched";
    }
--- request eval
main::many("GET /t", 4)
--- more_headers eval
my $url = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/keys";
my $jwk = Crypt::PK::RSA->new(TenantTest::key_path('rsa2.key'))->export_key_jwk('public', 1);
my $cert = do { local $/; open my $fh, '<', TenantTest::key_path('rsa.crt') or die; <$fh> };
$cert =~ s/-----[^-]+-----|\s//g;
[map { TenantTest::auth_header(main::rs256('rsa2.key', { alg => 'RS256', %$_ })) }
    { jku => $url }, { x5u => $url }, { x5c => [$cert] }, { jwk => $jwk }]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
main::refused("invalid_token", 4)
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_access_log
GET /keys
GET /upstream
--- no_error_log
[error]



=== TEST 6: kid games with a key file: a kid names no file and selects nothing; path-like kids signed with the right secret verify as any token
--- request eval
main::many("GET /t", 4)
--- more_headers eval
[map { main::auth(TenantTest::json_text({ alg => 'HS256', kid => $_ }), main::claims()) }
    '../../../../dev/null', '/etc/passwd', "' OR '1'='1", '']
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
main::many(main::upstream_saw(main::identity()), 4)
--- no_error_log
[error]
tenant: rejected



=== TEST 7: kid games with a key file: the same kids signed with another secret are refused
--- request eval
main::many("GET /t", 4)
--- more_headers eval
[map { main::auth(TenantTest::json_text({ alg => 'HS256', kid => $_ }), main::claims(), 'hmac2.secret') }
    '../../../../dev/null', $ENV{TEST_NGINX_DATA_DIR} . '/hmac2.secret', "' OR '1'='1", '']
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
main::refused("invalid_token", 4)
--- error_log
tenant: rejected with "invalid_token": token signature does not verify
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 8: kid games with a JWK Set: look-alikes of the kid hs-1, signed with its secret, match no key
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request eval
main::many("GET /t", 5)
--- more_headers eval
[map { main::auth(TenantTest::json_text({ alg => 'HS256', kid => $_ }), main::claims(), 'hmac2.secret') }
    'hs-1 ', 'HS-1', '../hs-1', 'hs-1/', "hs-1\xc3\xa9"]
--- error_code eval
[401, 401, 401, 401, 401]
--- response_body eval
main::refused("invalid_token", 5)
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 9: expired, and exp or nbf out of any range: expired a second ago, at 0, at -1e308; 1e400 and a 30-digit integer are not numbers jansson can hold, nor is a string
--- request eval
main::many("GET /t", 7)
--- more_headers eval
my $now = time();
[map { main::auth('{"alg":"HS256"}', qq({"sub":"user-1","org_id":"acme",$_})) }
    '"exp":' . ($now - 61), '"exp":0', '"exp":-1e308',
    '"exp":1e400', '"exp":100000000000000000000000000000',
    '"exp":"' . ($now + 3600) . '"', '"exp":EXP,"nbf":1e400']
--- error_code eval
[401, 401, 401, 401, 401, 401, 401]
--- response_body eval
[main::refused("token_expired"), main::refused("token_expired"),
 main::refused("token_expired"), main::refused("invalid_token"),
 main::refused("invalid_token"), main::refused("invalid_token"),
 main::refused("invalid_token")]
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 10: a far-future exp (1e308, the largest 64-bit integer) is a valid exp, not an overflow into the past
--- request eval
main::many("GET /t", 2)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', qq({"sub":"user-1","org_id":"acme","exp":$_})) }
    '1e308', '9223372036854775807']
--- error_code eval
[200, 200]
--- response_body_like eval
main::many(main::upstream_saw(main::identity()), 2)
--- no_error_log
[error]
tenant: rejected



=== TEST 11: with ignore_invalid_headers off, X-Tenant-* spelt with other punctuation (X.Tenant.ID, which PHP reads as X_Tenant_ID) is stripped too
--- config
    ignore_invalid_headers off;
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims()) . "
X.Tenant.ID: evil-1
X-Tenant.Role: owner
x~tenant~plan: enterprise
X+Tenant+User: root
X/Tenant/Permissions: *
X!Tenant!Admin: yes
X.Other.Header: kept"
--- error_code: 200
--- response_body_like eval
# X.Other.Header proves that such names do reach the upstream here
main::upstream_saw(main::identity(), ['X.Other.Header: kept'])
--- no_error_log
[error]



=== TEST 12: with ignore_invalid_headers on (the default), nginx drops such names itself: X.Tenant.ID never reaches the module nor the upstream
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims()) . "
X.Tenant.ID: evil-1
X-Tenant.Role: owner
X-Other: kept"
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::identity(), ['X-Other: kept'])
--- error_log
client sent invalid header line: "X.Tenant.ID: evil-1"
--- no_error_log
[error]



=== TEST 13: two Authorization headers: nginx refuses the request itself (400), the upstream never sees it
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims('"role":"viewer"')) . "\n"
. main::auth('{"alg":"HS256"}', main::claims('"role":"owner"'))
--- error_code: 400
--- no_access_log
GET /upstream
--- error_log
client sent duplicate header line



=== TEST 14: a folded header line (obs-fold) cannot smuggle an X-Tenant-ID: 400, never upstream
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
. main::auth('{"alg":"HS256"}', main::claims())
. "\r\nX-Note: a\r\n X-Tenant-ID: globex\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- no_access_log
GET /upstream
--- error_log
client sent invalid header line



=== TEST 15: an Authorization header of 20000 bytes overflows nginx's header buffers: 400 from nginx, never upstream
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims('"pad":"' . ('x' x 15000) . '"'))
--- error_code: 400
--- response_body_like: Request Header Or Cookie Too Large
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 16: a token anywhere but the Authorization header is no token: query, cookie, other headers, another scheme, a tab after Bearer
--- request eval
my $t = main::hs256('{"alg":"HS256"}', main::claims());
["GET /t?access_token=$t", "GET /t?token=$t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
my $t = main::hs256('{"alg":"HS256"}', main::claims());
["", "", "Cookie: token=$t; access_token=$t", "X-Access-Token: $t",
 "Authorization: Token $t", "Authorization: Bearer\t$t"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
main::refused("missing_token", 6)
--- response_headers eval
main::many("WWW-Authenticate: Bearer", 6)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 17: tenant IDs that would escape a header, a Redis key or a path: CR LF, braces, a colon, a glob, a percent, a space, a tab, fullwidth letters, a trailing NUL
--- request eval
main::many("GET /t", 12)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', qq({"sub":"user-1","org_id":"$_","exp":EXP})) }
    'acme\r\nX-Tenant-Role: owner', 'acme\n', '{globex}', 'acme}:rate', '{acme',
    'acme:rate', 'acme*', 'acme%2F..', 'ac me', 'acme\t',
    "\xef\xbd\x81\xef\xbd\x83\xef\xbd\x8d\xef\xbd\x85", 'acme\u0000']
--- error_code eval
main::many(403, 12)
--- response_body eval
main::refused("invalid_tenant", 12)
--- error_log
tenant: rejected with "invalid_tenant": tenant claim is not a valid tenant ID
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 18: control characters in user, role, plan and permissions: C0 (ESC, VT, FF, a trailing NUL), C1 (NEL U+0085, CSI U+009B) and the line and paragraph separators U+2028, U+2029
--- request eval
main::many("GET /t", 10)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', main::claims($_)) }
    '"sub":"u\u001b[31m"', '"role":"admin\u000b"', '"plan":"pro\u000c"',
    '"sub":"user-1\u0000"', '"role":"admin\u0085X-Tenant-Role: owner"',
    '"sub":"u\u009b"', '"plan":"pro\u2028X-Tenant-Plan: enterprise"',
    '"role":"admin\u2029"', '"permissions":["read","wr\u0085ite"]',
    '"permissions":"read wr\u2028ite"']
--- error_code eval
main::many(403, 10)
--- response_body eval
main::refused("invalid_claims", 10)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 19: other non-ASCII text is no control character: it is forwarded as its UTF-8 bytes (é U+00E9, NBSP U+00A0, U+2027)
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims('"role":"caf\u00e9","plan":"a\u00a0b","permissions":["x\u2027y"]'))
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::identity("X-Tenant-Role: caf\xc3\xa9", "X-Tenant-Plan: a\xc2\xa0b",
                                  "X-Tenant-Permissions: x\xe2\x80\xa7y"))
--- no_error_log
[error]



=== TEST 20: JSON that is not UTF-8: a stray byte in the header, an overlong "/", an encoded surrogate, an escaped lone surrogate, a byte-order mark
--- request eval
main::many("GET /t", 5)
--- more_headers eval
[map { main::auth(@$_) }
    ["{\"alg\":\"HS256\",\"typ\":\"J\xffT\"}", main::claims()],
    ['{"alg":"HS256"}', main::claims("\"role\":\"a\xc0\xafb\"")],
    ['{"alg":"HS256"}', main::claims("\"role\":\"a\xed\xa0\x80b\"")],
    ['{"alg":"HS256"}', main::claims('"role":"a\ud800b"')],
    ['{"alg":"HS256"}', "\xef\xbb\xbf" . main::claims()]]
--- error_code eval
main::many(401, 5)
--- response_body eval
main::refused("invalid_token", 5)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 21: JSON beyond the standard: a trailing comma, a comment, single quotes, NaN, Infinity, a leading zero, an unquoted name
--- request eval
main::many("GET /t", 7)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', $_) }
    '{"sub":"user-1","org_id":"acme","exp":EXP,}',
    '{"sub":"user-1","org_id":"acme",/* x */"exp":EXP}',
    q({"sub":"user-1",'org_id':'acme',"exp":EXP}),
    '{"sub":"user-1","org_id":"acme","exp":NaN}',
    '{"sub":"user-1","org_id":"acme","exp":Infinity}',
    '{"sub":"user-1","org_id":"acme","exp":01}',
    '{sub:"user-1","org_id":"acme","exp":EXP}']
--- error_code eval
main::many(401, 7)
--- response_body eval
main::refused("invalid_token", 7)
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 22: duplicate names spelt differently (org\u005fid, \u0061lg) and duplicates inside a membership object are refused
--- request eval
main::many("GET /t", 3)
--- more_headers eval
[map { main::auth(@$_) }
    ['{"alg":"HS256"}', main::claims('"org\u005fid":"globex"')],
    ['{"alg":"HS256","\u0061lg":"HS256"}', main::claims()],
    ['{"alg":"HS256"}', main::claims('"orgs":[{"id":"globex","role":"viewer","role":"owner"}]')]]
--- error_code eval
main::many(401, 3)
--- response_body eval
main::refused("invalid_token", 3)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 23: 2100 nested objects (past jansson's depth limit of 2048) in a claim: refused, never a crash
--- http_config
    large_client_header_buffers 4 64k;
--- request
GET /t
--- more_headers eval
main::auth('{"alg":"HS256"}', main::claims('"deep":' . ('{"":' x 2100) . '0' . ('}' x 2100)))
--- error_code: 401
--- response_body eval
main::refused("invalid_token")
--- error_log
tenant: rejected with "invalid_token": token payload is not base64url JSON object
--- no_access_log
GET /upstream
--- no_error_log
[error]
[alert]
[crit]
signal



=== TEST 24: a tenant claim of huge numbers: 1e400 and a 25-digit integer cannot be parsed, 1e3 is not an integer
--- request eval
main::many("GET /t", 3)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', qq({"sub":"user-1","org_id":$_,"exp":EXP})) }
    '1e400', '1000000000000000000000000', '1e3']
--- error_code eval
[401, 401, 403]
--- response_body eval
[main::refused("invalid_token"), main::refused("invalid_token"),
 main::refused("invalid_tenant")]
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 25: tenant_select: a selection that would escape a Redis key or a path is invalid_tenant even when the token lists it; another case is not a member
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request eval
main::many("GET /t", 7)
--- more_headers eval
my $a = main::auth('{"alg":"HS256"}', main::claims(
    '"orgs":["globex","{globex}","globex}:rate","globex:x","%67lobex","glob ex","glob\u00e9x"]'));
[map { "$a\nX-Organization-Id: $_" }
    '{globex}', 'globex}:rate', 'globex:x', '%67lobex', 'glob ex', "glob\xc3\xa9x", 'GLOBEX']
--- error_code eval
main::many(403, 7)
--- response_body eval
[@{ main::refused("invalid_tenant", 6) }, main::refused("not_a_member")]
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 26: tenant_select: CR, LF or NUL in a membership's role, plan or permissions is invalid_claims
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request eval
main::many("GET /t", 4)
--- more_headers eval
[map { main::auth('{"alg":"HS256"}', main::claims(qq("orgs":[{"id":"globex",$_}]))) . "\nX-Organization-Id: globex" }
    '"role":"viewer\r\nX-Tenant-Role: owner"', '"plan":"free\n"',
    '"permissions":["read\u0000"]', '"role":"viewer\u0085"']
--- error_code eval
main::many(403, 4)
--- response_body eval
main::refused("invalid_claims", 4)
--- error_log
tenant: rejected with "invalid_claims": membership claims are not safe header values
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 27: refusals are final: satisfy any with a matching allow, and error_page to a page that answers 200, change none of them
--- config
    location /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        error_page 401 403 =200 /fallback;
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /fallback {
        echo "fallback";
    }
    location /upstream {
        echo -n $echo_client_request_headers;
    }
--- request eval
main::many("GET /t", 3)
--- more_headers eval
["", main::auth('{"alg":"HS256"}', main::claims(), 'hmac2.secret'),
 main::auth('{"alg":"HS256"}', main::claims('"role":"a\u0085"'))]
--- error_code eval
[401, 401, 403]
--- response_body eval
[main::refused("missing_token"), main::refused("invalid_token"),
 main::refused("invalid_claims")]
--- no_access_log
GET /upstream
GET /fallback
--- no_error_log
[error]
