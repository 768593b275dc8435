use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

# Redis down, stalled, or misconfigured: tenant_redis_failure allow admits,
# deny answers 503 limiter_unavailable; either way fast (the per-request
# timer is tenant_redis timeout=, 100ms here), logged at [error] with
# "tenant: ", and $tenant_limit_status is UNAVAILABLE.
#
# Redis state comes from the "--- redis" section, run just before the
# block (and so before the block's nginx starts); a pause, which must
# still hold when the requests come, from "--- init", run once the
# block's nginx is up, just before its first request.  X-Request-Time
# carries $request_time, so a block can check that nobody waited more
# than the timeout plus 100ms (0.200 s) even when Redis never answers.
#
# Under valgrind (TEST_NGINX_USE_VALGRIND) nginx takes seconds to start and
# each request is many times slower: the timeout= of 100ms becomes 500ms
# (in 100ms, a fresh nginx under memcheck has not yet had Redis run its
# script: Redis finds the request's deadline past and counts nothing, and
# nginx answers UNAVAILABLE where Redis is up); Redis stays paused for 20 s
# instead of 2.5 s, so that it is still paused when the block's requests
# come; and "fast" means the timeout plus 1 s instead of plus 100ms, still
# far less than waiting for the paused Redis would take.
# TEST_NGINX_REDIS_TIMEOUT_MS, TEST_NGINX_REDIS_PAUSE_MS and
# TEST_NGINX_FAST_MS (a multiple of 100 under 10000) set each one (the
# pause must outlast a block's requests).  A pause holds every client, the
# file's own too: the next block's CLIENT UNPAUSE is answered only once it
# is over.

add_block_preprocessor(\&TenantRedis::redis_block);

no_shuffle();

our $Http = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
_EOC_

our $Gateway = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure allow;
        add_header X-Limit-Status $tenant_limit_status always;
        add_header X-Request-Time $request_time always;
        echo "admitted tenant=$tenant_id";
    }
    location /deny {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure deny;
        add_header X-Limit-Status $tenant_limit_status always;
        add_header X-Request-Time $request_time always;
        echo "admitted tenant=$tenant_id";
    }
    location /default {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        add_header X-Limit-Status $tenant_limit_status always;
        add_header X-Request-Time $request_time always;
        echo "admitted tenant=$tenant_id";
    }
    location /plain {
        add_header X-Request-Time $request_time always;
        echo "plain";
    }
_EOC_

our $Valgrind = $ENV{TEST_NGINX_USE_VALGRIND};

# tenant_redis timeout= in every block that has timeout=100ms (milliseconds)
our $Timeout = $ENV{TEST_NGINX_REDIS_TIMEOUT_MS} // ($Valgrind ? 500 : 100);
die "TEST_NGINX_REDIS_TIMEOUT_MS=$Timeout: not a number of milliseconds\n"
    unless $Timeout =~ /^[1-9]\d*$/;

add_block_preprocessor(sub {
    my ($block) = @_;
    my $v = $block->{http_config} or return;
    $v->[0] =~ s/\btimeout=100ms\b/timeout=${Timeout}ms/g;
});

# how long CLIENT PAUSE keeps Redis from answering (milliseconds)
our $Pause = $ENV{TEST_NGINX_REDIS_PAUSE_MS} // ($Valgrind ? 20000 : 2500);

# under the timeout plus 100ms of slack (plus 1 s under valgrind)
our $FastMs = $ENV{TEST_NGINX_FAST_MS} // ($Timeout + ($Valgrind ? 1000 : 100));

# $request_time ("S.mmm") under $ms milliseconds, $ms a multiple of 100
sub under_ms {
    my ($ms) = @_;
    die "TEST_NGINX_FAST_MS=$ms: not a multiple of 100 in 100..9900\n"
        unless $ms =~ /^\d+$/ && $ms % 100 == 0 && $ms >= 100 && $ms < 10000;
    my ($s, $t) = (int($ms / 1000), ($ms % 1000) / 100);
    my @re;
    push @re, ($s == 1 ? '0' : '[0-' . ($s - 1) . ']') . '\.\d\d\d' if $s;
    push @re, "$s\\.[0-" . ($t - 1) . ']\d\d' if $t;
    return '(?:' . join('|', @re) . ')';
}

our $Fast = 'X-Request-Time: ' . under_ms($FastMs);

our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};

run_tests();

__DATA__

=== TEST 1: Redis up: the limiter answers (baseline for the failure cases)
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
FLUSHALL
--- request
GET /t
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



=== TEST 2: Redis stopped, failure allow: 200, UNAVAILABLE, one "tenant: " error line
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
STOP
--- timeout: 2
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body
admitted tenant=acme
--- error_log eval
[qr/\[error\] .*tenant: redis/]
--- no_error_log
[alert]
[crit]



=== TEST 3: Redis stopped, failure allow: a series of requests, each fast
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers_like eval
[("X-Limit-Status: UNAVAILABLE\n$::Fast") x 5]
--- response_body eval
[("admitted tenant=acme\n") x 5]



=== TEST 4: Redis stopped, default policy is allow
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request
GET /default
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body
admitted tenant=acme
--- error_log eval
[qr/\[error\] .*tenant: redis/]



=== TEST 5: Redis stopped, failure deny: 503 limiter_unavailable JSON, logged
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
Content-Type: application/json
--- response_headers_like eval
$::Fast
--- response_body eval
$::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: redis/]
--- no_error_log
[alert]
[crit]



=== TEST 6: Redis stopped, failure deny: a series of requests, each fast
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /deny", "GET /deny", "GET /deny", "GET /deny", "GET /deny"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 503, 503, 503, 503]
--- response_headers_like eval
[("X-Limit-Status: UNAVAILABLE\n$::Fast") x 5]
--- response_body eval
[($::Unavailable) x 5]



=== TEST 7: Redis stopped: a location without the limiter keeps serving, the worker is not stuck
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /t", "GET /plain", "GET /deny", "GET /plain", "GET /t", "GET /plain"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 503, 200, 200, 200]
--- response_headers_like eval
[$::Fast, $::Fast, $::Fast, $::Fast, $::Fast, $::Fast]
--- response_body eval
["admitted tenant=acme\n", "plain\n", $::Unavailable, "plain\n",
 "admitted tenant=acme\n", "plain\n"]



=== TEST 8: Redis started again: a fresh nginx passes the limiter
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
START
--- request eval
["GET /t", "GET /deny"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200]
--- response_headers eval
["X-Limit-Status: PASSED", "X-Limit-Status: PASSED"]
--- response_body eval
["admitted tenant=acme\n", "admitted tenant=acme\n"]
--- no_error_log
[error]



=== TEST 9: Redis accepts but never answers (CLIENT PAUSE), allow: 200 within the timeout
--- http_config eval: $::Http
--- config eval: $::Gateway
--- init
TenantRedis::redis_run("CLIENT PAUSE $::Pause ALL")
--- timeout: 2
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 200]
--- response_headers_like eval
[("X-Limit-Status: UNAVAILABLE\n$::Fast") x 3]
--- response_body eval
[("admitted tenant=acme\n") x 3]



=== TEST 10: Redis accepts but never answers (CLIENT PAUSE), deny: 503 within the timeout, logged
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
CLIENT UNPAUSE
--- init
TenantRedis::redis_run("CLIENT PAUSE $::Pause ALL")
--- timeout: 2
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body eval
$::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: redis did not answer in time/]



=== TEST 11: Redis paused: the plain location still answers at once
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
CLIENT UNPAUSE
--- init
TenantRedis::redis_run("CLIENT PAUSE $::Pause ALL")
--- timeout: 2
--- request eval
["GET /plain", "GET /deny", "GET /plain"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 503, 200]
--- response_headers_like eval
[$::Fast, $::Fast, $::Fast]
--- response_body eval
["plain\n", $::Unavailable, "plain\n"]



=== TEST 12: Redis unpaused: the limiter answers again
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
CLIENT UNPAUSE
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



=== TEST 13: the script fails in Redis (WRONGTYPE at the tenant key), allow: 200, logged
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
SET tenant:{acme} not-a-hash
--- timeout: 2
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body
admitted tenant=acme
--- error_log eval
[qr/\[error\] .*tenant: redis error: .*WRONGTYPE/]



=== TEST 14: the script fails in Redis (WRONGTYPE at the tenant key), deny: 503 each time
--- http_config eval: $::Http
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /deny", "GET /deny", "GET /t"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 503, 200]
--- response_headers_like eval
[("X-Limit-Status: UNAVAILABLE\n$::Fast") x 3]
--- response_body eval
[$::Unavailable, $::Unavailable, "admitted tenant=acme\n"]



=== TEST 15: the key repaired, the limiter answers again
--- http_config eval: $::Http
--- config eval: $::Gateway
--- redis
DEL tenant:{acme}
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



=== TEST 16: Redis on a port where nothing listens: allow is fast, deny is 503
--- http_config
    tenant_redis 127.0.0.1:1 timeout=100ms;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /t", "GET /deny", "GET /plain"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 503, 200]
--- response_headers_like eval
["X-Limit-Status: UNAVAILABLE\n$::Fast", "X-Limit-Status: UNAVAILABLE\n$::Fast", $::Fast]
--- response_body eval
["admitted tenant=acme\n", $::Unavailable, "plain\n"]



=== TEST 17: Redis answers an error (wrong db index): allow admits, logged
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms db=99999;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
--- config eval: $::Gateway
--- timeout: 2
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body
admitted tenant=acme
--- error_log eval
[qr/\[error\] .*tenant: /]



=== TEST 18: Redis answers an error (wrong db index): deny is 503
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms db=99999;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
--- config eval: $::Gateway
--- timeout: 2
--- request eval
["GET /deny", "GET /deny", "GET /deny"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 503, 503]
--- response_headers_like eval
[("X-Limit-Status: UNAVAILABLE\n$::Fast") x 3]
--- response_body eval
[($::Unavailable) x 3]



=== TEST 19: Redis answers an error (AUTH without a password set): deny is 503, logged
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms password=wrong;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
--- config eval: $::Gateway
--- timeout: 2
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Limit-Status: UNAVAILABLE
--- response_headers_like eval
$::Fast
--- response_body eval
$::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: /]



=== TEST 20: tenant_redis with a port out of range fails the configuration
--- http_config
    tenant_redis 127.0.0.1:99999;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", "invalid port"]



=== TEST 21: tenant_redis with a non-numeric port fails the configuration
--- http_config
    tenant_redis 127.0.0.1:abc;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", "redis address"]



=== TEST 22: tenant_redis with a path after the address fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379/0;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'in redis address "127.0.0.1:6379/0"']



=== TEST 23: tenant_redis with an empty address fails the configuration
--- http_config
    tenant_redis "";
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
[emerg]



=== TEST 24: tenant_redis with an unknown parameter fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379 timeuot=50ms;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "timeuot=50ms"']



=== TEST 25: tenant_redis timeout=0 fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379 timeout=0;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "timeout=0"']



=== TEST 26: tenant_redis timeout=fast fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379 timeout=fast;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "timeout=fast"']



=== TEST 27: tenant_redis with an empty password= fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379 password=;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "password="']



=== TEST 28: tenant_redis db=x fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379 db=x;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "db=x"']



=== TEST 29: tenant_redis with a host name is resolved at start: localhost works
--- http_config
    tenant_redis localhost:$TEST_NGINX_REDIS_PORT timeout=100ms;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
--- config eval: $::Gateway
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



=== TEST 30: tenant_redis twice fails the configuration
--- http_config
    tenant_redis 127.0.0.1:6379;
    tenant_redis 127.0.0.1:6380;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_redis" directive is duplicate']



=== TEST 31: tenant_redis inside a location fails the configuration
--- config
    location /t {
        tenant_redis 127.0.0.1:6379;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_redis" directive is not allowed here']



=== TEST 32: tenant_limit on without tenant_redis fails the configuration
--- http_config
    tenant_plan pro rate=10r/s;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_limit" and "tenant_meter" need "tenant_redis"']



=== TEST 33: tenant_limit on without tenant_jwt fails the configuration
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_plan pro rate=10r/s;
--- config
    location /t {
        tenant_limit on;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'need "tenant_jwt on"']



=== TEST 34: tenant_default_plan naming an undeclared plan fails the configuration
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_plan pro rate=10r/s;
    tenant_default_plan gold;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'tenant_default_plan "gold" is not declared with "tenant_plan"']



=== TEST 35: tenant_meter naming an undeclared meter fails the configuration
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_plan pro rate=10r/s meter=exports:100/day;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_meter imports;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'meter "imports" is not declared by any "tenant_plan"']



=== TEST 36: tenant_plan rate=10 without a unit fails the configuration
--- http_config
    tenant_plan pro rate=10;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "rate=10"']



=== TEST 37: tenant_plan rate=0r/s fails the configuration
--- http_config
    tenant_plan pro rate=0r/s;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "rate=0r/s"']



=== TEST 38: tenant_plan rate=10r/d (no such unit) fails the configuration
--- http_config
    tenant_plan pro rate=10r/d;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "rate=10r/d"']



=== TEST 39: tenant_plan quota=5/week fails the configuration
--- http_config
    tenant_plan pro quota=5/week;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "quota=5/week"']



=== TEST 40: tenant_plan quota=5 without a period fails the configuration
--- http_config
    tenant_plan pro quota=5;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "quota=5"']



=== TEST 41: tenant_plan burst=-1 fails the configuration
--- http_config
    tenant_plan pro rate=10r/s burst=-1;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "burst=-1"']



=== TEST 42: tenant_plan burst=abc fails the configuration
--- http_config
    tenant_plan pro rate=10r/s burst=abc;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "burst=abc"']



=== TEST 43: tenant_plan with an unknown parameter fails the configuration
--- http_config
    tenant_plan pro rate=10r/s bursts=5;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "bursts=5"']



=== TEST 44: tenant_plan meter= without a name fails the configuration
--- http_config
    tenant_plan pro meter=:100/day;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid parameter "meter=:100/day"']



=== TEST 45: the same plan declared twice fails the configuration
--- http_config
    tenant_plan pro rate=10r/s;
    tenant_plan pro rate=20r/s;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'duplicate plan "pro"']



=== TEST 46: tenant_redis_failure with an unknown value fails the configuration
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /t {
        tenant_redis_failure maybe;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid value "maybe"']
