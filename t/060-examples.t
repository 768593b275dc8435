use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

# Every file in conf.d/ runs here as it is shipped, with only its
# placeholders replaced: key files under /etc/nginx/tenant/ by the fixtures
# in t/data, "listen 8080" by a port next to the test server's, the
# upstream 127.0.0.1:8081 by the test server itself, and log files under
# /var/log/nginx/ by the test's access.log.
#
# A request goes   client -> test server /gw/...   (--- config, below)
#                         -> the example's server  (--- http_config)
#                         -> test server /...      (the example's upstream)
# and the last hop answers with the request headers it received.

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = $Test::Nginx::Util::ServerPort + 1;

sub example {
    my ($file) = @_;

    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $port = $Test::Nginx::Util::ServerPort;

    $conf =~ s{/etc/nginx/tenant/}{$ENV{TEST_NGINX_DATA_DIR}/}g;
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$port}g
        or die "$file: no upstream 127.0.0.1:8081\n";
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g
        or die "$file: no \"listen 8080;\"\n";
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;

    return $conf;
}

sub front {
    return <<"_EOC_";
    location /gw/ {
        proxy_pass http://127.0.0.1:$GW/;
    }

    location / {
        echo \$echo_client_request_headers;
    }
_EOC_
}

sub token {
    return TenantTest::jwt(@_);
}

# the claims jwks.conf requires besides a good signature
our %IDP = (iss => 'https://idp.example.com/', aud => 'https://api.example.com');

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: basic.conf admits an RS256 token; the upstream sees trusted headers, not forged ones
--- http_config eval: main::example('basic.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256',
                                       claims => { permissions => ['orders:read'] })
. "\nX-Tenant-ID: evil\nx-tenant-role: owner"
--- error_code: 200
--- response_body_like
\A(?!.*: (?:evil|owner)\r).*
X-Tenant-ID: acme\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: pro\r
X-Tenant-Permissions: orders:read\r
--- no_error_log
[error]
tenant: rejected



=== TEST 2: basic.conf refuses a token signed by another RSA key
--- http_config eval: main::example('basic.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', key => 'rsa2.key')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token signature does not verify



=== TEST 3: basic.conf refuses an HS256 token: tenant_jwt_algorithms allows RS256 only
--- http_config eval: main::example('basic.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'HS256')
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here



=== TEST 4: basic.conf refuses a request without a token
--- http_config eval: main::example('basic.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: \A\{"error":"missing_token",
--- error_log
tenant: rejected with "missing_token": no bearer token



=== TEST 5: basic.conf answers /healthz without a token
--- http_config eval: main::example('basic.conf')
--- config eval: main::front()
--- request
GET /gw/healthz
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]
tenant: rejected



=== TEST 6: jwks.conf admits an RS256 token verified by the key its kid names
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', key => 'rsa2.key',
                                       kid => 'rsa-2', claims => \%main::IDP)
. "\nX-Tenant-Plan: enterprise"
--- error_code: 200
--- response_body_like
\A(?!.*: enterprise\r).*
X-Tenant-ID: acme\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: pro\r
--- no_error_log
[error]
tenant: rejected



=== TEST 7: jwks.conf admits an ES256 token from the same set
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'ES256', kid => 'ec-1',
                                       claims => \%main::IDP)
--- error_code: 200
--- response_body_like
X-Tenant-ID: acme\r
--- no_error_log
[error]
tenant: rejected



=== TEST 8: jwks.conf refuses a token whose kid names another key than the one that signed it
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', key => 'rsa2.key',
                                       kid => 'rsa-1', claims => \%main::IDP)
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token signature does not verify



=== TEST 9: jwks.conf refuses a kid that the set does not hold
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', kid => 'rsa-9',
                                       claims => \%main::IDP)
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key



=== TEST 10: jwks.conf refuses a token signed with an encryption key of the set
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', kid => 'enc-1',
                                       claims => \%main::IDP)
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "kid" matches no key



=== TEST 11: jwks.conf refuses the set's HMAC key: tenant_jwt_algorithms allows RS256 and ES256
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'HS256', key => 'hmac2.secret',
                                       kid => 'hs-1', claims => \%main::IDP)
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "alg" is not allowed here



=== TEST 12: jwks.conf refuses a well-signed token for another audience
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', kid => 'rsa-1',
    claims => { %main::IDP, aud => 'https://other.example.com' })
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "aud" is not accepted



=== TEST 13: jwks.conf refuses a well-signed token from another issuer
--- http_config eval: main::example('jwks.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', kid => 'rsa-1',
    claims => { %main::IDP, iss => 'https://evil.example.com/' })
--- error_code: 401
--- response_body_like: \A\{"error":"invalid_token",
--- error_log
tenant: rejected with "invalid_token": token "iss" is not accepted



=== TEST 14: cookie-token.conf admits the token in the session cookie
--- http_config eval: main::example('cookie-token.conf')
--- config eval: main::front()
--- request
GET /gw/dashboard
--- more_headers eval
"Cookie: theme=dark; session=" . main::token(alg => 'HS256')
. "\nX-Tenant-ID: evil"
--- error_code: 200
--- response_body_like
\A(?!.*: evil\r).*
X-Tenant-ID: acme\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: pro\r
--- no_error_log
[error]
tenant: rejected



=== TEST 15: cookie-token.conf ignores an Authorization header: the token must be the cookie
--- http_config eval: main::example('cookie-token.conf')
--- config eval: main::front()
--- request
GET /gw/dashboard
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'HS256')
--- error_code: 401
--- response_body_like: \A\{"error":"missing_token",
--- error_log
tenant: rejected with "missing_token"



=== TEST 16: cookie-token.conf lets /login through without a token and still strips forged headers
--- http_config eval: main::example('cookie-token.conf')
--- config eval: main::front()
--- request
GET /gw/login
--- more_headers
X-Tenant-ID: evil
X-Tenant-Role: owner
--- error_code: 200
--- response_body_like
\A(?!.*[Tt]enant).*GET /login HTTP/1\.[01]\r
--- no_error_log
[error]
tenant: rejected



=== TEST 17: claims.conf reads the identity from custom, nested and scope claims
--- http_config eval: main::example('claims.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256', kid => 'idp-1', claims => {
    org_id            => undef,
    sub               => 'auth0|5f1c',
    email             => 'alice@acme.example',
    'custom:tenantId' => 't-42',
    app_metadata      => { role => 'billing', plan => 'enterprise' },
    scope             => 'orders:read orders:write',
    jti               => 'b7e0c1f2',
})
--- error_code: 200
--- response_body_like
\A(?=.*\r\nX-Tenant-Token-ID: b7e0c1f2\r\n)(?=.*\r\nX-Tenant-Key-ID: idp-1\r\n).*
X-Tenant-ID: t-42\r
X-Tenant-User: alice@acme\.example\r
X-Tenant-Role: billing\r
X-Tenant-Plan: enterprise\r
X-Tenant-Permissions: orders:read,orders:write\r
--- access_log
tenant=t-42 user=alice@acme.example role=billing reject=
--- no_error_log
[error]
tenant: rejected



=== TEST 18: claims.conf refuses a token without custom:tenantId and logs why
--- http_config eval: main::example('claims.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval
"Authorization: Bearer " . main::token(alg => 'RS256')
--- error_code: 403
--- response_body_like: \A\{"error":"missing_tenant",
--- access_log
" 403 tenant=- user=- role=- reject=missing_tenant
--- error_log
tenant: rejected with "missing_tenant": token has no tenant claim
