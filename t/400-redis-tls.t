use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantTopology qw(tls);

# tenant_redis ... tls: the limiter's Redis over TLS.  TenantTopology
# makes a test CA and certificates with the openssl CLI and runs five
# TLS-only redis-servers for this file (TEST_NGINX_TLS_*):
#   TLS_PORT           server.crt for redis.test and 127.0.0.1, by the CA
#   TLS_EXPIRED_PORT   the same names, by the CA, expired in 2020
#   TLS_OTHER_CA_PORT  the same names, by an unrelated CA
#   TLS_WRONG_PORT     by the CA for wrong.test and 127.0.0.9
#   TLS_MUTUAL_PORT    server.crt, tls-auth-clients yes
# Decisions must really come from Redis over TLS: a tenant suspended
# (HSET in the "--- topology" section, on that server only) is 403, a
# tenant over its rate is 429.  A certificate that does not verify makes
# the failure policy apply (allow: 200 UNAVAILABLE; deny: 503
# limiter_unavailable) and is logged at [error] with the address and
# OpenSSL's reason.

add_block_preprocessor(\&TenantTopology::topology_block);

no_shuffle();

# (only the tenant_redis line changes from block to block)
our $Plans = <<'_EOC_';
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_plan solo rate=1r/m;
    tenant_default_plan pro;
_EOC_

sub http {
    my ($redis, @more) = @_;
    return join '', "    $redis\n", map({ "    $_\n" } @more), $::Plans;
}

our $Gateway = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure allow;
        add_header X-Limit-Status $tenant_limit_status always;
        echo "admitted tenant=$tenant_id";
    }
    location /deny {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure deny;
        add_header X-Limit-Status $tenant_limit_status always;
        echo "admitted tenant=$tenant_id";
    }
_EOC_

our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};

our $CA = 'tenant_redis_ssl_trusted_certificate $TEST_NGINX_TLS_CA;';

# an [error] line naming the server's address and the reason
sub logged {
    my ($port_var, $reason) = @_;
    my $port = $ENV{$port_var} or die "no $port_var";
    return qr/\[error\] .*tenant: (?=.*127\.0\.0\.1:$port\b)(?=.*(?:$reason))/;
}

run_tests();

__DATA__

=== TEST 1: TLS, the server verified against the test CA by its IP address: the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: TLS: a tenant suspended on the TLS server is refused 403 (Redis is consulted)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
tls: HSET tenant:{acme} status suspended
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_body eval
$::Suspended
--- no_error_log
[error]



=== TEST 3: TLS: a tenant over its rate (1r/m) is refused 429
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
--- request eval
["GET /deny", "GET /deny", "GET /deny"]
--- more_headers eval
TenantTest::bearer(claims => { org_id => 'tls-rate', plan => 'solo' })
--- error_code eval
[200, 429, 429]
--- response_body eval
["admitted tenant=tls-rate\n", $::RateLimited, $::RateLimited]
--- no_error_log
[error]



=== TEST 4: TLS: the state the decisions left is on the TLS server (the rate key of the previous block)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- topology
tls: ASSERT 1 EXISTS tenant:{tls-rate}:rate
--- request eval
["GET /deny", "GET /deny"]
--- more_headers eval
TenantTest::bearer(claims => { org_id => 'tls-rate', plan => 'solo' })
--- error_code eval
[429, 429]
--- response_body eval
[$::RateLimited, $::RateLimited]



=== TEST 5: tenant_redis_ssl_server_name redis.test: the DNS name in the certificate is verified (and sent as SNI)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', $::CA,
           'tenant_redis_ssl_server_name redis.test;')
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: a server certificate from an unrelated CA: failure policy, "unable to get local issuer certificate" at [error]
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_OTHER_CA_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[main::logged('TEST_NGINX_TLS_OTHER_CA_PORT', 'unable to get local issuer certificate|unable to verify the first certificate|self-signed certificate')]
--- no_error_log
[alert]
[crit]



=== TEST 7: the wrong CA trusted (the unrelated one) for the good server: failure policy, logged
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;',
           'tenant_redis_ssl_trusted_certificate $TEST_NGINX_TLS_OTHER_CA;')
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[main::logged('TEST_NGINX_TLS_PORT', 'unable to get local issuer certificate|unable to verify the first certificate|self-signed certificate')]
--- no_error_log
[alert]
[crit]



=== TEST 8: an expired server certificate: failure policy, "certificate has expired" at [error]
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_EXPIRED_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[main::logged('TEST_NGINX_TLS_EXPIRED_PORT', 'certificate has expired')]
--- no_error_log
[alert]
[crit]



=== TEST 9: a certificate for another name, checked against the address 127.0.0.1: failure policy, the mismatch at [error]
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_WRONG_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[main::logged('TEST_NGINX_TLS_WRONG_PORT', 'mismatch|does not match')]
--- no_error_log
[alert]
[crit]



=== TEST 10: a certificate for another name, checked against tenant_redis_ssl_server_name redis.test: failure policy, logged
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_WRONG_PORT timeout=500ms tls;', $::CA,
           'tenant_redis_ssl_server_name redis.test;')
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[main::logged('TEST_NGINX_TLS_WRONG_PORT', 'mismatch|does not match')]
--- no_error_log
[alert]
[crit]



=== TEST 11: with tenant_redis_failure allow, an unverifiable certificate admits requests unlimited
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_EXPIRED_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body
admitted tenant=acme
--- no_error_log
[alert]
[crit]



=== TEST 12: tenant_redis_ssl_verify off: the wrong-name server is accepted, the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_WRONG_PORT timeout=500ms tls;',
           'tenant_redis_ssl_verify off;')
--- config eval: $::Gateway
--- topology
tls_wrong: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: tenant_redis_ssl_verify off: a tenant suspended on the wrong-name server is 403 (that server is the one consulted)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_WRONG_PORT timeout=500ms tls;',
           'tenant_redis_ssl_verify off;')
--- config eval: $::Gateway
--- topology
tls_wrong: HSET tenant:{acme} status suspended
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_body eval
$::Suspended
--- no_error_log
[error]



=== TEST 14: tls-auth-clients yes, with tenant_redis_ssl_certificate and _key (signed by the CA): the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_MUTUAL_PORT timeout=500ms tls;', $::CA,
           'tenant_redis_ssl_certificate $TEST_NGINX_TLS_CLIENT_CERT;',
           'tenant_redis_ssl_certificate_key $TEST_NGINX_TLS_CLIENT_KEY;')
--- config eval: $::Gateway
--- topology
tls_mutual: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 15: tls-auth-clients yes, with the client certificate: a tenant suspended there is 403
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_MUTUAL_PORT timeout=500ms tls;', $::CA,
           'tenant_redis_ssl_certificate $TEST_NGINX_TLS_CLIENT_CERT;',
           'tenant_redis_ssl_certificate_key $TEST_NGINX_TLS_CLIENT_KEY;')
--- config eval: $::Gateway
--- topology
tls_mutual: HSET tenant:{acme} status suspended
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_body eval
$::Suspended
--- no_error_log
[error]



=== TEST 16: tls-auth-clients yes, no client certificate: failure policy, logged at [error] with the address
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_MUTUAL_PORT timeout=500ms tls;', $::CA)
--- config eval: $::Gateway
--- topology
tls_mutual: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_body eval
$::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: .*127\.0\.0\.1:$ENV{TEST_NGINX_TLS_MUTUAL_PORT}\b/]
--- no_error_log
[alert]



=== TEST 17: plain TCP (no "tls") to the TLS-only server: failure policy, logged
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms;')
--- config eval: $::Gateway
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_body eval
$::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: .*127\.0\.0\.1:$ENV{TEST_NGINX_TLS_PORT}\b/]



=== TEST 18: tls with tenant_redis_ssl_verify on (the default) and no trusted certificate: nginx -t refuses it
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls;')
--- config eval: $::Gateway
--- request
GET /t
--- must_die
--- error_log eval
[qr/\[emerg\] .*tenant_redis_ssl_trusted_certificate/]



=== TEST 19: tls with tenant_redis_ssl_verify on said explicitly and no trusted certificate: refused too
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls;', 'tenant_redis_ssl_verify on;')
--- config eval: $::Gateway
--- request
GET /t
--- must_die
--- error_log eval
[qr/\[emerg\] .*tenant_redis_ssl_trusted_certificate/]



=== TEST 20: tls with tenant_redis_ssl_verify off needs no trusted certificate
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls;', 'tenant_redis_ssl_verify off;')
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 21: TLS and the minimal-ACL user (username= password=): the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;', $::CA)
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log
[error]
[alert]
[crit]



=== TEST 22: TLS and the minimal-ACL user: a tenant over its rate is 429, a suspended one 403
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_TLS_PORT timeout=500ms tls username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;', $::CA)
--- config eval: $::Gateway
--- topology
tls: FLUSHALL
tls: HSET tenant:{tls-susp} status suspended
--- request eval
["GET /deny", "GET /deny", "GET /deny"]
--- more_headers eval
[TenantTest::bearer(claims => { org_id => 'tls-solo', plan => 'solo' }),
 TenantTest::bearer(claims => { org_id => 'tls-solo', plan => 'solo' }),
 TenantTest::bearer(claims => { org_id => 'tls-susp' })]
--- error_code eval
[200, 429, 403]
--- response_body eval
["admitted tenant=tls-solo\n", $::RateLimited, $::Suspended]
--- no_error_log
[error]


