use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IO::Socket::INET;
use POSIX qw(strftime);

# conf.d/limits.conf runs here as it is shipped, like the other examples in
# t/060-examples.t, with only its placeholders replaced: the key file under
# /etc/nginx/tenant/ by the fixture in t/data, "listen 8080" by a port next
# to the test server's, the upstream 127.0.0.1:8081 by the test server
# itself, the log file by the test's access.log, and the Redis at
# 127.0.0.1:6379 by the one TenantRedis started for this file.
#
# A request goes   client -> test server /gw/...   (--- config, below)
#                         -> the example's server  (--- http_config)
#                         -> test server /...      (the example's upstream)
# and the last hop answers with the request headers it received.
#
# Redis keeps its state from block to block, so each block has a tenant of
# its own, whose registry entry and counters are set up below, before the
# blocks run.

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = $Test::Nginx::Util::ServerPort + 1;
our $REDIS = $ENV{TEST_NGINX_REDIS_PORT};

# a loopback port nothing listens on: Redis is down
our $DEAD = do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

sub example {
    my ($file, $redis_port) = @_;

    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $port = $Test::Nginx::Util::ServerPort;
    $redis_port ||= $REDIS;

    $conf =~ s{/etc/nginx/tenant/}{$ENV{TEST_NGINX_DATA_DIR}/}g;
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$port}g
        or die "$file: no upstream 127.0.0.1:8081\n";
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g
        or die "$file: no \"listen 8080;\"\n";
    $conf =~ s{\b127\.0\.0\.1:6379\b}{127.0.0.1:$redis_port}g
        or die "$file: no redis at 127.0.0.1:6379\n";
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;

    # Under valgrind a request takes longer than the example's 50ms from
    # the moment nginx sets its deadline to the script's run in Redis, which
    # then finds itself late and counts nothing: give it 2s there.
    $conf =~ s{^(\s*tenant_redis\s.*\btimeout=)50ms;}{${1}2s;}m
        or die "$file: no tenant_redis timeout=50ms\n"
        if $ENV{TEST_NGINX_USE_VALGRIND};

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

sub bearer_for {
    my ($tenant, %claims) = @_;
    return "Authorization: Bearer "
           . TenantTest::jwt(alg => 'RS256',
                             claims => { org_id => $tenant, plan => 'free',
                                         %claims });
}

# the registry, as an operator or a billing job would have left it
my $month = strftime('%Y-%m', gmtime);

redis('SET', "tenant:{quota-co}:quota:$month", 10000);
redis('SET', "tenant:{meter-co}:meter:generate:$month", 100);
redis('HSET', 'tenant:{suspended-co}', 'status', 'suspended');
redis('HSET', 'tenant:{slow-co}', 'rate', '1r/h', 'burst', '1');
redis('SET', 'tenant:{revoked-co}:revoked:jti-stolen', 1, 'EX', 3600);
redis('HSET', 'tenant:{moved-co}', 'plan', 'enterprise');

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: limits.conf admits a free tenant under /api/ and tells it its free plan's allowance
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('fresh-co')
--- error_code: 200
--- response_headers_like
RateLimit-Limit: 100
RateLimit-Remaining: 20
RateLimit-Reset: 1
X-Quota-Limit: 10000
X-Quota-Remaining: 9999
X-Quota-Reset: \d+
--- response_body_like
X-Tenant-ID: fresh-co\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: free\r
--- access_log
tenant=fresh-co plan=free limit=PASSED quota_used=1 reject=
--- no_error_log
[error]
tenant: rejected



=== TEST 2: limits.conf gives a token with an unknown plan the default plan free, and says so
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('gold-co', plan => 'gold')
--- error_code: 200
--- response_headers
RateLimit-Limit: 100
X-Quota-Limit: 10000
--- response_body_like
X-Tenant-ID: gold-co\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: free\r
--- error_log
tenant: unknown plan "gold" of tenant "gold-co", using the default plan
--- no_error_log
[error]



=== TEST 3: limits.conf gives a token without a plan the default plan free
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('planless-co', plan => undef)
--- error_code: 200
--- response_headers
RateLimit-Limit: 100
X-Quota-Limit: 10000
--- response_body_like
X-Tenant-ID: planless-co\r
X-Tenant-User: user-1\r
X-Tenant-Role: admin\r
X-Tenant-Plan: free\r
--- no_error_log
[error]
unknown plan



=== TEST 4: limits.conf applies the plan the registry names over the token's: enterprise has no quota
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('moved-co', plan => 'free')
--- error_code: 200
--- response_headers
RateLimit-Limit: 200
RateLimit-Remaining: 400
!X-Quota-Limit
--- response_body_like
X-Tenant-Plan: enterprise\r
--- no_error_log
[error]
tenant: rejected



=== TEST 5: limits.conf admits a tenant's burst: two requests at once at 1r/h burst=1, set in the registry
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request eval
["GET /gw/api/orders", "GET /gw/api/orders"]
--- more_headers eval: main::bearer_for('slow-co')
--- error_code eval
[200, 200]
--- response_headers eval
["RateLimit-Limit: 1\nRateLimit-Remaining: 1\n!Retry-After",
 "RateLimit-Limit: 1\nRateLimit-Remaining: 0\n!Retry-After"]
--- response_body_like eval
["X-Tenant-ID: slow-co\r\n", "X-Tenant-ID: slow-co\r\n"]
--- no_error_log
[error]
tenant: rejected



=== TEST 6: limits.conf refuses the next request at once with 429 rate_limited and Retry-After
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('slow-co')
--- error_code: 429
--- response_headers_like
RateLimit-Limit: 1
RateLimit-Remaining: 0
Retry-After: 3[56]\d\d
X-Quota-Remaining: 9998
Content-Type: application/json
--- response_body_like: \A\{"error":"rate_limited",
--- error_log
tenant: rejected with "rate_limited": refused by the tenant registry



=== TEST 7: limits.conf refuses a tenant whose monthly quota is used up, until the month ends; the access log names it
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('quota-co')
--- error_code: 429
--- response_headers_like
Retry-After: [1-9]\d*
X-Quota-Limit: 10000
X-Quota-Remaining: 0
Content-Type: application/json
--- response_body_like: \A\{"error":"quota_exceeded",
--- access_log
" 429 tenant=quota-co plan=free limit=REJECTED quota_used=10000 reject=quota_exceeded
--- error_log
tenant: rejected with "quota_exceeded": refused by the tenant registry



=== TEST 8: limits.conf refuses generation once the generate meter is used up
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/content/generate
--- more_headers eval: main::bearer_for('meter-co')
--- error_code: 429
--- response_headers_like
Retry-After: [1-9]\d*
--- response_body_like: \A\{"error":"quota_exceeded",
--- error_log
tenant: rejected with "quota_exceeded": refused by the tenant registry



=== TEST 9: limits.conf still serves the rest of /api/ to that tenant, whose refused request did not count
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('meter-co')
--- error_code: 200
--- response_headers
X-Quota-Remaining: 9999
!Retry-After
--- response_body_like
X-Tenant-ID: meter-co\r
--- no_error_log
[error]
tenant: rejected



=== TEST 10: limits.conf counts generation within the meter for a tenant that has some left
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/api/content/generate
--- more_headers eval: main::bearer_for('writer-co')
--- error_code: 200
--- response_headers
RateLimit-Limit: 100
X-Quota-Remaining: 9999
--- response_body_like
X-Tenant-ID: writer-co\r
--- no_error_log
[error]
tenant: rejected



=== TEST 11: limits.conf refuses a suspended tenant with 403, with limits or without
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request eval
["GET /gw/api/orders", "GET /gw/account"]
--- more_headers eval: main::bearer_for('suspended-co')
--- error_code eval
[403, 403]
--- response_headers eval
["!WWW-Authenticate\n!Retry-After", "!WWW-Authenticate\n!RateLimit-Limit"]
--- response_body_like eval
["\\A\\{\"error\":\"tenant_suspended\",", "\\A\\{\"error\":\"tenant_suspended\","]
--- error_log
tenant: rejected with "tenant_suspended": refused by the tenant registry



=== TEST 12: limits.conf refuses a revoked token with 401
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/account
--- more_headers eval: main::bearer_for('revoked-co', jti => 'jti-stolen')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: \A\{"error":"token_revoked",
--- error_log
tenant: rejected with "token_revoked": refused by the tenant registry



=== TEST 13: limits.conf admits another token of the same tenant
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/account
--- more_headers eval: main::bearer_for('revoked-co', jti => 'jti-new')
--- error_code: 200
--- response_headers
!RateLimit-Limit
--- response_body_like
X-Tenant-ID: revoked-co\r
--- no_error_log
[error]
tenant: rejected



=== TEST 14: limits.conf with Redis down admits /api/ unchecked: tenant_redis_failure allow
--- http_config eval: main::example('limits.conf', $main::DEAD)
--- config eval: main::front()
--- request
GET /gw/api/orders
--- more_headers eval: main::bearer_for('fresh-co')
--- error_code: 200
--- response_headers
!RateLimit-Limit
!X-Quota-Limit
--- response_body_like
X-Tenant-ID: fresh-co\r
--- access_log
tenant=fresh-co plan=free limit=UNAVAILABLE quota_used=- reject=
--- error_log
tenant: redis
--- no_error_log
tenant: rejected



=== TEST 15: limits.conf with Redis down refuses generation with 503: tenant_redis_failure deny
--- http_config eval: main::example('limits.conf', $main::DEAD)
--- config eval: main::front()
--- request
GET /gw/api/content/generate
--- more_headers eval: main::bearer_for('fresh-co')
--- error_code: 503
--- response_headers
!Retry-After
--- response_body_like: \A\{"error":"limiter_unavailable",
--- error_log
tenant: rejected with "limiter_unavailable": refused by the tenant registry



=== TEST 16: limits.conf answers /healthz without a token or Redis
--- http_config eval: main::example('limits.conf')
--- config eval: main::front()
--- request
GET /gw/healthz
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]
tenant: rejected
