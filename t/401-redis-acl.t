use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantTopology qw(acl);

# tenant_redis ... username= password=: the gateway authenticates to
# Redis.  TenantTopology runs one redis-server for this file
# (TEST_NGINX_ACL_PORT) whose default user has a password (requirepass,
# TEST_NGINX_ACL_DEFAULT_PASSWORD) and two ACL users:
#   gateway    exactly the rights the module needs
#              ($TenantTopology::GATEWAY_ACL, quoted in the docs)
#   noevalsha  the same without EVALSHA
# Wrong credentials (WRONGPASS), none (NOAUTH) or missing rights (NOPERM)
# make the failure policy apply and are logged at [error] with the
# address; no password ever reaches the error log (Test::Nginx logs at
# debug, so debug lines are checked too).

add_block_preprocessor(\&TenantTopology::topology_block);

no_shuffle();

our $Plans = <<'_EOC_';
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_plan solo rate=1r/m;
    tenant_default_plan pro;
    tenant_limit_zone by_key key=$arg_k rate=1r/m;
_EOC_

sub http { join '', "    $_[0]\n", $::Plans }

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
    location /zone {
        tenant_limit_by by_key;
        tenant_redis_failure deny;
        echo "zone ok";
    }
    location /login {
        tenant_lockout key=$arg_user after=2 window=60s duration=60s;
        tenant_redis_failure deny;
        if ($arg_pw != "ok") {
            return 401 "wrong password\n";
        }
        echo "welcome [$arg_user]";
    }
_EOC_

our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};

# the passwords of this file: none of them may be logged
our $Wrong = 'Wr0ng-Pa55-x7q';
our @Secrets = ($ENV{TEST_NGINX_ACL_PASSWORD}, $ENV{TEST_NGINX_ACL_NOEVALSHA_PASSWORD},
                $ENV{TEST_NGINX_ACL_DEFAULT_PASSWORD}, $Wrong);

our $Addr = qr/127\.0\.0\.1:$ENV{TEST_NGINX_ACL_PORT}\b/;

# an [error] line naming the address and the reason
sub logged { qr/\[error\] .*tenant: (?=.*$::Addr)(?=.*(?:$_[0]))/ }

# The ACL rule checked against the real thing, whatever the C code does
# with it: the module's own script (read from its C source) run with
# SCRIPT LOAD, EVALSHA and EVAL as the gateway user, in every mode: the
# tenant decision (with and without a plan override), keyed limit Z,
# lockout K and F, revocation R, usage reads U and S, a lease granted and
# given back (G).
{
    my $script = TenantTopology::module_script();
    my $as = sub { TenantTopology::rcmd_as('acl', $_[0], $TenantTopology::PASSWORD{$_[0]}, @_[1 .. $#_]) };
    my $now = time;
    my ($ms, $end) = (($now + 60) * 1000, $now + 3600);
    my @tenant = ('tenant:{acl-probe}', 'tenant:{acl-probe}:revoked:j1',
                  'tenant:{acl-probe}:rate', 'tenant:{acl-probe}:quota:d',
                  'tenant:{acl-probe}:rate', 'tenant:{acl-probe}:user:u1');
    my @plan = ('LJ', $now, $ms, 'pro', '', '', 1000, 1000000, 100, $end,
                '', '', '', "H $end D $end M $end", '-', 'M', $end);
    my $sha = $as->('gateway', 'SCRIPT', 'LOAD', $script);
    like $sha, qr/^[0-9a-f]{40}$/, "gateway user: SCRIPT LOAD of the module's script";
    my @runs = (
        ['decision', 6, @tenant, @plan],
        ['decision, plan override', 6, @tenant, @plan[0 .. 13],
         ';solo 1r/m 0 10/day -', @plan[15, 16]],
        ['keyed limit', 2, 'tenant:zone:p', 'tenant:zone:p', 'Z', '10r/s', 5],
        ['lockout check', 2, 'tenant:lockout:{p}', 'tenant:lockout:{p}:locked', 'K'],
        ['lockout failure', 2, 'tenant:lockout:{p}', 'tenant:lockout:{p}:locked',
         'F', 1, 60000, 60000],
        ['revocation', 3, 'tenant:{acl-probe}', 'tenant:{acl-probe}:revoked:j1',
         'tenant:{acl-probe}:user:u1', 'R', $now, 'J'],
        ['usage of one tenant', 1, 'tenant:{acl-probe}:usage:M', 'U'],
        ['usage of every tenant', 0, 'S', 0, 'tenant:{*}:usage:M', 10],
        ['lease of 64 units', 6, @tenant, @plan, 64],
        ['lease given back', 4, 'tenant:{acl-probe}:rate',
         'tenant:{acl-probe}:quota:d', 'tenant:{acl-probe}:rate',
         'tenant:{acl-probe}:usage:M', 'G', 63, 1000, 1, '', 'requests', ''],
    );
    for my $run (@runs) {
        my ($what, @args) = @$run;
        TenantTopology::rcmd('acl', 'HSET', 'tenant:{acl-probe}', 'plan', 'solo')
            if $what =~ /override/;
        # the plan's own limits: a lease of more than one unit (INCRBY)
        TenantTopology::rcmd('acl', 'HDEL', 'tenant:{acl-probe}', 'plan')
            if $what =~ /^lease of/;
        my $r = $as->('gateway', 'EVALSHA', $sha, @args);
        ok ref $r eq 'ARRAY', "gateway user: EVALSHA runs the script ($what)"
            or diag "reply: $r";
    }
    my $r = $as->('gateway', 'EVAL', $script, @{ $runs[0] }[1 .. $#{ $runs[0] }]);
    ok ref $r eq 'ARRAY', 'gateway user: EVAL runs it too (after NOSCRIPT)' or diag "reply: $r";
    like $as->('gateway', 'EVAL', "return redis.call('GET', 'other:key')", 0),
         qr/^error: /, 'gateway user: no key outside tenant:*';
    like $as->('gateway', 'FLUSHALL'), qr/^error: .*NOPERM/, 'gateway user: no FLUSHALL';
    like $as->('gateway', 'CONFIG', 'GET', 'maxmemory'), qr/^error: .*NOPERM/,
         'gateway user: no CONFIG';
    like $as->('noevalsha', 'EVALSHA', $sha, @{ $runs[2] }[1 .. $#{ $runs[2] }]),
         qr/^error: .*NOPERM/, 'noevalsha user: EVALSHA refused (NOPERM)';
    TenantTopology::rcmd('acl', 'FLUSHALL');
}

run_tests();

__DATA__

=== TEST 1: username= and password= of the minimal-ACL user: the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- response_body
admitted tenant=acme
--- no_error_log eval
['[error]', @::Secrets]



=== TEST 2: the minimal-ACL user: a tenant over its rate is 429, a suspended one 403 (Redis is consulted)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
acl: HSET tenant:{acl-susp} status suspended
--- request eval
["GET /deny", "GET /deny", "GET /deny"]
--- more_headers eval
[TenantTest::bearer(claims => { org_id => 'acl-solo', plan => 'solo' }),
 TenantTest::bearer(claims => { org_id => 'acl-solo', plan => 'solo' }),
 TenantTest::bearer(claims => { org_id => 'acl-susp' })]
--- error_code eval
[200, 429, 403]
--- response_body eval
["admitted tenant=acl-solo\n", $::RateLimited, $::Suspended]
--- no_error_log
[error]



=== TEST 3: the minimal-ACL user: the counters are where the rule lets them be (tenant:*)
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: ASSERT 1 EXISTS tenant:{acl-solo}:rate
--- request
GET /deny
--- more_headers eval
TenantTest::bearer(claims => { org_id => 'acl-solo', plan => 'solo' })
--- error_code: 429
--- response_body eval
$::RateLimited
--- no_error_log
[error]



=== TEST 4: the minimal-ACL user: keyed limits (tenant_limit_by) work under the rule
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
--- request eval
["GET /zone?k=a", "GET /zone?k=a", "GET /zone?k=b"]
--- error_code eval
[200, 429, 200]
--- no_error_log
[error]



=== TEST 5: the minimal-ACL user: lockout (tenant_lockout) works under the rule
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
--- request eval
["GET /login?user=a&pw=x", "GET /login?user=a&pw=y", "GET /login?user=a&pw=ok", "GET /login?user=b&pw=ok"]
--- error_code eval
[401, 401, 429, 200]
--- no_error_log
[error]



=== TEST 6: a wrong password for the user: failure policy, WRONGPASS at [error], no password logged
--- http_config eval
main::http("tenant_redis 127.0.0.1:\$TEST_NGINX_ACL_PORT timeout=500ms username=\$TEST_NGINX_ACL_USER password=$::Wrong;")
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
[main::logged('WRONGPASS')]
--- no_error_log eval
[@::Secrets, '[alert]', '[crit]']



=== TEST 7: an unknown user: failure policy, WRONGPASS at [error], no password logged
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=nosuchuser password=$TEST_NGINX_ACL_PASSWORD;')
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
[main::logged('WRONGPASS')]
--- no_error_log eval
[@::Secrets, '[alert]', '[crit]']



=== TEST 9: password= alone (requirepass: AUTH password, the default user): the limiter answers
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms password=$TEST_NGINX_ACL_DEFAULT_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
acl: HSET tenant:{acl-susp} status suspended
--- request eval
["GET /deny", "GET /deny"]
--- more_headers eval
[TenantTest::bearer(), TenantTest::bearer(claims => { org_id => 'acl-susp' })]
--- error_code eval
[200, 403]
--- response_body eval
["admitted tenant=acme\n", $::Suspended]
--- no_error_log eval
['[error]', @::Secrets]



=== TEST 10: password= alone, wrong: failure policy, WRONGPASS at [error], no password logged
--- http_config eval
main::http("tenant_redis 127.0.0.1:\$TEST_NGINX_ACL_PORT timeout=500ms password=$::Wrong;")
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
[main::logged('WRONGPASS')]
--- no_error_log eval
[@::Secrets, '[alert]', '[crit]']



=== TEST 11: no password for a server that requires one: failure policy, NOAUTH at [error]
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms;')
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
[main::logged('NOAUTH')]
--- no_error_log eval
[@::Secrets, '[alert]', '[crit]']



=== TEST 12: a user without EVALSHA rights: failure policy, NOPERM at [error], no password logged
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_NOEVALSHA_USER password=$TEST_NGINX_ACL_NOEVALSHA_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: FLUSHALL
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
[main::logged('NOPERM|no permissions')]
--- no_error_log eval
[@::Secrets, '[alert]', '[crit]']



=== TEST 13: (the user without EVALSHA decided nothing: no counter was written) and the right user works again
--- http_config eval
main::http('tenant_redis 127.0.0.1:$TEST_NGINX_ACL_PORT timeout=500ms username=$TEST_NGINX_ACL_USER password=$TEST_NGINX_ACL_PASSWORD;')
--- config eval: $::Gateway
--- topology
acl: ASSERT 0 EXISTS tenant:{acme}:rate
--- request
GET /deny
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: PASSED
--- no_error_log
[error]


