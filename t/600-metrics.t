use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# tenant_metrics_zone and tenant_metrics: each block sends its requests,
# the last one scrapes /metrics, and the scrape must show exactly what
# was sent, tenant by tenant and result by result.  Several workers and a
# reload: t/601; promtool and a real Prometheus: t/601, t/602.

our $Token = sub { TenantTest::jwt(claims => { org_id => $_[0], @_[1 .. $#_] }) };

sub bearer_h { "Authorization: Bearer $_[0]" }

# metrics(\%lines, \@absent): a regex for the whole scrape that holds
# every "name{labels} value" line of %lines and no line that starts with
# one of @absent
sub metrics {
    my ($lines, $absent) = @_;
    my $re = '\A';
    $re .= '(?=[\s\S]*^' . quotemeta($_) . ' ' . quotemeta($lines->{$_}) . '$)'
        for sort keys %$lines;
    $re .= '(?![\s\S]*^' . quotemeta($_) . ')' for @{ $absent || [] };
    return qr/$re/m;
}

sub req { "tenant_requests_total{tenant=\"$_[0]\",result=\"$_[1]\"}" }

# the body of a scrape: only the /metrics request is checked
sub last_like {
    my ($n, $re) = @_;
    return [ (qr/[\s\S]*/) x ($n - 1), $re ];
}

our $HttpConfig = <<'_EOC_';
    tenant_metrics_zone tenants 1m tenants=100;
_EOC_

our $Api = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id";
    }
    location /admin {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role admin;
        echo "admin of $tenant_id";
    }
    location = /metrics {
        tenant_metrics;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: each tenant's admitted and refused requests, by error code; refusals before a tenant is known under "_none"
--- http_config eval: $::HttpConfig
--- config eval: $::Api
--- request eval
[ ("GET /t") x 3, "GET /t", "GET /admin", "GET /admin", "GET /t", "GET /t",
  "GET /t", "GET /t", "GET /metrics" ]
--- more_headers eval
[ (main::bearer_h($::Token->('acme'))) x 3,
  main::bearer_h($::Token->('globex')),
  main::bearer_h($::Token->('globex', role => 'viewer')),
  main::bearer_h($::Token->('acme', role => 'admin')),
  "X-Nothing: 1",
  main::bearer_h("not.a.token"),
  main::bearer_h($::Token->('acme', exp => time - 3600)),
  main::bearer_h($::Token->('bad tenant id')),
  "" ]
--- error_code eval
[200, 200, 200, 200, 403, 200, 401, 401, 401, 403, 200]
--- response_headers eval
[ ({}) x 10, { "Content-Type" => "text/plain; version=0.0.4; charset=utf-8" } ]
--- response_body_like eval
main::last_like(11, main::metrics({
    main::req('acme', 'admitted') => 4,
    main::req('globex', 'admitted') => 1,
    main::req('globex', 'insufficient_role') => 1,
    main::req('_none', 'missing_token') => 1,
    main::req('_none', 'invalid_token') => 1,
    main::req('_none', 'token_expired') => 1,
    main::req('_none', 'invalid_tenant') => 1,
    'tenant_metrics_tenants' => 2,
    'tenant_metrics_tenants_max' => 100,
    'tenant_metrics_evictions_total' => 0,
    'tenant_jwt_verifications_total{result="ok"}' => 7,
    'tenant_jwt_verifications_total{result="invalid_token"}' => 1,
    'tenant_jwt_verifications_total{result="token_expired"}' => 1,
    'tenant_jwt_verifications_total{result="keys_unavailable"}' => 0,
}, [ 'tenant_requests_total{tenant="_other"', 'tenant_requests_total{tenant="bad',
     'tenant_redis_up' ]))
--- no_error_log
[error]



=== TEST 2: a repeated token is checked each time, its signature once: the other times are cache hits
--- http_config eval: $::HttpConfig
--- config eval: $::Api
--- request eval
[ ("GET /t") x 4, "GET /metrics" ]
--- more_headers eval
my $t = $::Token->('acme');
[ (main::bearer_h($t)) x 4, "" ]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
main::last_like(5, main::metrics({
    main::req('acme', 'admitted') => 4,
    'tenant_jwt_verifications_total{result="ok"}' => 4,
    'tenant_jwt_cache_hits_total' => 3,
}))
--- no_error_log
[error]



=== TEST 3: tenants=2 and five tenants: two series of their own, the rest summed as "_other"; the totals add up, and the busiest tenant (more than 1/2 of all) keeps its series
--- http_config
    tenant_metrics_zone small 1m tenants=2;
--- config eval: $::Api
--- request eval
[ ("GET /t") x 12, "GET /metrics" ]
--- more_headers eval
[ (map { main::bearer_h($::Token->('big')) } 1 .. 4),
  main::bearer_h($::Token->('t1')),
  main::bearer_h($::Token->('big')),
  main::bearer_h($::Token->('t2')),
  main::bearer_h($::Token->('big')),
  main::bearer_h($::Token->('t3')),
  main::bearer_h($::Token->('big')),
  main::bearer_h($::Token->('t4')),
  main::bearer_h($::Token->('big')),
  "" ]
--- error_code eval
[ (200) x 13 ]
--- response_body_like eval
# big: 8 requests of 12; t1, t2, t3 each took the second entry from the
# one before (weights 1, 2, 3, then t4 at 4): t4 holds it, t1 to t3 went
# to "_other"
main::last_like(13, main::metrics({
    main::req('big', 'admitted') => 8,
    main::req('t4', 'admitted') => 1,
    main::req('_other', 'admitted') => 3,
    'tenant_metrics_tenants' => 2,
    'tenant_metrics_evictions_total' => 3,
}, [ 'tenant_requests_total{tenant="t1"', 'tenant_requests_total{tenant="t2"',
     'tenant_requests_total{tenant="t3"' ]))
--- no_error_log
[error]



=== TEST 4: tenants named "_other" or "_none" have no series of their own: they are counted in "_other"
--- http_config eval: $::HttpConfig
--- config eval: $::Api
--- request eval
[ "GET /t", "GET /t", "GET /metrics" ]
--- more_headers eval
[ main::bearer_h($::Token->('_other')), main::bearer_h($::Token->('_none')),
  "" ]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
main::last_like(3, main::metrics({
    main::req('_other', 'admitted') => 2,
    'tenant_metrics_tenants' => 0,
}, [ 'tenant_requests_total{tenant="_none"' ]))



=== TEST 5: Redis: each EVALSHA counted "ok" and timed, a refusal of Redis's counted under the tenant, and the link is up
--- http_config eval
"$::HttpConfig
    tenant_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan solo rate=1r/m;"
--- config eval
"$::Api
    location /limited {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        echo \"limited \$tenant_id\";
    }"
--- redis
FLUSHALL
--- request eval
[ "GET /limited", "GET /limited", "GET /limited", "GET /metrics" ]
--- more_headers eval
my $t = $::Token->('acme', plan => 'solo');
[ (main::bearer_h($t)) x 3, "" ]
--- error_code eval
[200, 429, 429, 200]
--- response_body_like eval
main::last_like(4, main::metrics({
    main::req('acme', 'admitted') => 1,
    main::req('acme', 'rate_limited') => 2,
    'tenant_redis_requests_total{result="ok"}' => 3,
    'tenant_redis_requests_total{result="error"}' => 0,
    'tenant_redis_requests_total{result="timeout"}' => 0,
    'tenant_redis_request_duration_seconds_bucket{le="+Inf"}' => 3,
    'tenant_redis_request_duration_seconds_count' => 3,
    'tenant_redis_up' => 1,
}))
--- no_error_log
[error]



=== TEST 6: Redis that does not answer in time: "timeout", not timed; the request goes on under tenant_redis_failure allow
--- http_config eval
"$::HttpConfig
    tenant_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT timeout=200ms;
    tenant_plan solo rate=1r/m;"
--- config eval
"$::Api
    location /limited {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure allow;
        echo \"limited \$tenant_id\";
    }"
--- redis
FLUSHALL
--- init
TenantRedis::redis_run("CLIENT PAUSE 1500 ALL")
--- request eval
[ "GET /limited", "GET /metrics" ]
--- more_headers eval
[ main::bearer_h($::Token->('acme', plan => 'solo')), "" ]
--- error_code eval
[200, 200]
--- response_body_like eval
main::last_like(2, main::metrics({
    main::req('acme', 'admitted') => 1,
    'tenant_redis_requests_total{result="ok"}' => 0,
    'tenant_redis_requests_total{result="timeout"}' => 1,
    'tenant_redis_request_duration_seconds_count' => 0,
}))



=== TEST 7: no Redis where tenant_redis points: "error" for each command not sent, and the link is down
--- http_config eval
"$::HttpConfig
    tenant_redis 127.0.0.1:1 timeout=200ms;
    tenant_plan solo rate=1r/m;"
--- config eval
"$::Api
    location /limited {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure deny;
        echo \"limited \$tenant_id\";
    }
    location /wait {
        echo_sleep 0.3;
        echo waited;
    }"
--- request eval
[ "GET /wait", "GET /limited", "GET /limited", "GET /metrics" ]
--- more_headers eval
my $t = $::Token->('acme', plan => 'solo');
[ "", main::bearer_h($t), main::bearer_h($t), "" ]
--- error_code eval
[200, 503, 503, 200]
--- response_body_like eval
main::last_like(4, main::metrics({
    main::req('acme', 'limiter_unavailable') => 2,
    'tenant_redis_requests_total{result="ok"}' => 0,
    'tenant_redis_requests_total{result="error"}' => 2,
    'tenant_redis_up' => 0,
}))



=== TEST 8: keys from a URL: the node's fetches by result, when it last succeeded, the URL as a label escaped
--- http_config eval
"$::HttpConfig
    tenant_jwt_jwks_url http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/jwks.json;
    tenant_jwt_jwks_url \"http://127.0.0.1:1/a\\\"b\\\\c.json\" timeout=200ms;"
--- config
    location /good {
        tenant_jwt on;
        tenant_jwt_jwks_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/jwks.json;
        echo "tenant=$tenant_id";
    }
    location /dead {
        tenant_jwt on;
        tenant_jwt_jwks_url "http://127.0.0.1:1/a\"b\\c.json" timeout=200ms;
        echo "tenant=$tenant_id";
    }
    location = /jwks.json {
        root $TEST_NGINX_DATA_DIR;
    }
    location = /metrics {
        tenant_metrics;
    }
--- request eval
[ "GET /good", "GET /dead", "GET /metrics" ]
--- more_headers eval
my $t = TenantTest::jwt(alg => 'RS256', key => 'rsa.key', kid => 'rsa-1',
                        claims => { org_id => 'acme' });
[ main::bearer_h($t), main::bearer_h($t), "" ]
--- error_code eval
[200, 503, 200]
--- response_body_like eval
my $good = "http://127.0.0.1:$Test::Nginx::Util::ServerPort/jwks.json";
my $dead = 'http://127.0.0.1:1/a\\"b\\\\c.json';
main::last_like(3, qr/
    (?=[\s\S]*^tenant_jwks_fetches_total\{url="\Q$good\E",result="ok"\}\ 1$)
    (?=[\s\S]*^tenant_jwks_fetches_total\{url="\Q$good\E",result="error"\}\ 0$)
    (?=[\s\S]*^tenant_jwks_fetches_total\{url="\Q$dead\E",result="ok"\}\ 0$)
    (?=[\s\S]*^tenant_jwks_fetches_total\{url="\Q$dead\E",result="error"\}\ 1$)
    (?=[\s\S]*^tenant_jwks_last_success_timestamp_seconds\{url="\Q$good\E"\}\ 1\d{9}$)
    (?=[\s\S]*^tenant_jwks_last_success_timestamp_seconds\{url="\Q$dead\E"\}\ 0$)
    (?=[\s\S]*^tenant_jwt_verifications_total\{result="keys_unavailable"\}\ 1$)
    (?=[\s\S]*^tenant_requests_total\{tenant="_none",result="keys_unavailable"\}\ 1$)
/mx)



=== TEST 9: only GET and HEAD; HEAD has the type and no body
--- http_config eval: $::HttpConfig
--- config eval: $::Api
--- request eval
[ "POST /metrics\nx", "HEAD /metrics" ]
--- error_code eval
[405, 200]
--- response_headers eval
[ {}, { "Content-Type" => "text/plain; version=0.0.4; charset=utf-8" } ]
--- response_body_like eval
[ qr/405 Not Allowed/, qr/\A\z/ ]



=== TEST 10: tenant_metrics without a tenant_metrics_zone fails the configuration, naming its line
--- config
    location = /metrics {
        tenant_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log eval
qr/\[emerg\] .*"tenant_metrics" needs a "tenant_metrics_zone" in \S+nginx\.conf:\d+/



=== TEST 11: a zone too small for its tenants fails the configuration and says the size it needs
--- http_config
    tenant_metrics_zone m 64k tenants=1000;
--- config
    location = /metrics {
        tenant_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log eval
qr/\[emerg\] .*zone "m" is too small for tenants=1000: it needs at least \d+k/



=== TEST 12: tenants= must be a number
--- http_config
    tenant_metrics_zone m 1m tenants=many;
--- config
    location = /metrics {
        tenant_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log
invalid number of tenants "many"



=== TEST 13: an unknown parameter is refused
--- http_config
    tenant_metrics_zone m 1m size=10;
--- config
    location = /metrics {
        tenant_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log
invalid parameter "size=10"



=== TEST 14: a second tenant_metrics_zone is a duplicate
--- http_config
    tenant_metrics_zone m 1m;
    tenant_metrics_zone n 1m;
--- config
    location = /metrics {
        tenant_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log
"tenant_metrics_zone" directive is duplicate
