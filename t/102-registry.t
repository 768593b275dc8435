use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);

no_shuffle();

# The tenant registry in Redis: the hash tenant:{ID} (status, plan,
# tokens_valid_after) and tenant:{ID}:revoked:JTI.  Suspension and
# revocation apply in every tenant_jwt location once tenant_redis is
# configured, with or without tenant_limit.  Every block starts from an
# empty Redis (FLUSHALL in its --- redis section); a block may first
# assert (ASSERT_GET, ASSERT_TTL) what the previous block left in Redis.

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free rate=1r/m;
    tenant_plan pro rate=100r/m burst=50;
    tenant_default_plan free;
_EOC_

# /t is limited, /open is not
our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] plan=[$http_x_tenant_plan]";
    }
_EOC_

our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $Revoked = qq{{"error":"token_revoked","message":"the token has been revoked"}\n};

sub up { "upstream: id=[" . ($_[1] || 'acme') . "] plan=[$_[0]]\n" }

our $RevokedHeaders = "WWW-Authenticate: Bearer error=\"invalid_token\"\nContent-Type: application/json\nCache-Control: no-store";

# ---- shared helpers (the same in t/100..103)

# The UTC calendar periods the module names its counters after, and the
# seconds left in each, now.
sub periods {
    my $now = time;
    my @t = gmtime $now;
    my ($y, $m, $d, $h) = ($t[5] + 1900, $t[4] + 1, $t[3], $t[2]);
    my $hour_end = timegm(0, 0, $h, $d, $m - 1, $y) + 3600;
    my $day_end = timegm(0, 0, 0, $d, $m - 1, $y) + 86400;
    my $month_end = $m == 12 ? timegm(0, 0, 0, 1, 0, $y + 1)
                             : timegm(0, 0, 0, 1, $m, $y);
    return {
        HOUR => sprintf('%04d-%02d-%02dT%02d', $y, $m, $d, $h),
        DAY => sprintf('%04d-%02d-%02d', $y, $m, $d),
        MONTH => sprintf('%04d-%02d', $y, $m),
        HOUR_LEFT => $hour_end - $now,
        DAY_LEFT => $day_end - $now,
        MONTH_LEFT => $month_end - $now,
    };
}

# %DAY% %HOUR% %MONTH%: period ids; %DAY_LEFT% ...: seconds to the end;
# %~DAY_LEFT% ...: a regex for that number give or take $Slack seconds:
# 5, or 60 under valgrind (TEST_NGINX_USE_VALGRIND), where a block's
# requests come many seconds after its start, when this is worked out.
our $Slack = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 5;

sub expand {
    my ($s, $p) = @_;
    $s =~ s{%~(\w+)%}{
        '(?:' . join('|', map { $p->{$1} + $_ } -$Slack .. $Slack) . ')'
    }ge;
    $s =~ s{%(\w+)%}{exists $p->{$1} ? $p->{$1} : "%$1%"}ge;
    return $s;
}

sub number {
    my $e = shift;
    die "bad number \"$e\"\n" unless $e =~ /^[-+\d\s]+$/;
    return eval $e;
}

# Extra lines a --- redis section may hold besides Redis commands, checked
# when the block starts, i.e. after the previous block's requests:
#   ASSERT_GET key value|nil   ASSERT_TTL key N (within 5 s) or LO..HI
sub redis_assert {
    my ($name, $line) = @_;
    my ($op, $key, $want) = $line =~ /^(\S+)\s+(\S+)\s+(.+?)\s*$/
        or die "bad assertion \"$line\"\n";
    if ($op eq 'ASSERT_GET') {
        my $got = TenantRedis::redis('GET', $key);
        Test::More::is(defined $got ? $got : 'nil', $want,
                       "$name - redis: GET $key");
    } elsif ($op eq 'ASSERT_TTL') {
        my ($lo, $hi) = $want =~ /^(.+)\.\.(.+)$/
            ? (number($1), number($2))
            : (number($want) - 5, number($want) + 5);
        my $got = TenantRedis::redis('TTL', $key);
        Test::More::ok($got >= $lo && $got <= $hi,
                       "$name - redis: TTL $key is $got, in [$lo, $hi]");
    } else {
        die "unknown assertion \"$op\"\n";
    }
}

add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;

    # counter keys are named by the hour: never straddle its end (nor let
    # the slack above straddle it)
    my $left = 3600 - time % 3600;
    sleep $left + 1 if $left <= $Slack + 3;

    my $p = periods();

    for my $sec (qw(redis response_headers response_headers_like
                    response_body response_body_like))
    {
        my $v = $block->{$sec} or next;
        $v->[0] = ref $v->[0] eq 'ARRAY'
                ? [map { ref $_ ? $_ : expand($_, $p) } @{ $v->[0] }]
                : ref $v->[0] ? $v->[0] : expand($v->[0], $p);
    }

    if ($block->{redis}) {
        for my $line (split /\n/, $block->{redis}[0]) {
            next unless $line =~ /\S/;
            eval {
                if ($line =~ /^\s*ASSERT_/) {
                    redis_assert($name, $line);
                } else {
                    TenantRedis::redis_block({ redis => [$line] });
                }
                1;
            } or Test::More::fail("$name - redis: $line: $@");
        }
    }

    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a suspended tenant gets 403 tenant_suspended, the upstream is never reached
--- redis
FLUSHALL
HSET tenant:{acme} status suspended
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
!WWW-Authenticate
--- response_body eval
$main::Suspended
--- error_log
tenant: rejected with "tenant_suspended"
--- no_error_log
[error]



=== TEST 2: suspension applies in a location without tenant_limit too
--- redis
FLUSHALL
HSET tenant:{acme} status suspended plan pro
--- request eval
["GET /open", "GET /t"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403]
--- response_body eval
[$main::Suspended, $main::Suspended]
--- no_error_log
[error]



=== TEST 3: status active, set explicitly, admits in both locations
--- redis
FLUSHALL
HSET tenant:{acme} status active
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200]
--- response_body eval
[main::up('pro'), main::up('pro')]
--- no_error_log
[error]



=== TEST 4: another tenant's suspension does not touch this one
--- redis
FLUSHALL
HSET tenant:{globex} status suspended
--- request eval
["GET /t", "GET /t", "GET /open"]
--- more_headers eval
[TenantTest::bearer(), TenantTest::bearer(claims => {org_id => 'globex'}),
 TenantTest::bearer(claims => {org_id => 'globex'})]
--- error_code eval
[200, 403, 403]
--- response_body eval
[main::up('pro'), $main::Suspended, $main::Suspended]
--- no_error_log
[error]



=== TEST 5: a revoked jti gets 401 token_revoked with WWW-Authenticate, with and without tenant_limit
--- redis
FLUSHALL
SET tenant:{acme}:revoked:tok-1 1
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {jti => 'tok-1'})
--- error_code eval
[401, 401]
--- response_headers eval
[$main::RevokedHeaders, $main::RevokedHeaders]
--- response_body eval
[$main::Revoked, $main::Revoked]
--- no_error_log
[error]



=== TEST 6: revocation is by key existence: any value revokes
--- redis
FLUSHALL
SET tenant:{acme}:revoked:tok-1 ""
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {jti => 'tok-1'})
--- error_code: 401
--- response_body eval
$main::Revoked
--- error_log
tenant: rejected with "token_revoked"
--- no_error_log
[error]



=== TEST 7: another jti of the same tenant, a token without jti, and the same jti of another tenant are unaffected
--- redis
FLUSHALL
SET tenant:{acme}:revoked:tok-1 1
--- request eval
[("GET /t") x 4]
--- more_headers eval
[TenantTest::bearer(claims => {jti => 'tok-2'}),
 TenantTest::bearer(),
 TenantTest::bearer(claims => {jti => 'tok-1', org_id => 'globex'}),
 TenantTest::bearer(claims => {jti => 'tok-1'})]
--- error_code eval
[200, 200, 200, 401]
--- response_body eval
[main::up('pro'), main::up('pro'), main::up('pro', 'globex'), $main::Revoked]
--- no_error_log
[error]



=== TEST 8: tokens_valid_after: an earlier iat is revoked, a later or equal one admitted, no iat revoked
--- redis
FLUSHALL
HSET tenant:{acme} tokens_valid_after 1700000000
--- request eval
[("GET /t") x 4, ("GET /open") x 2]
--- more_headers eval
[TenantTest::bearer(claims => {iat => 1699999999}),
 TenantTest::bearer(claims => {iat => 1700000001}),
 TenantTest::bearer(claims => {iat => 1700000000}),
 TenantTest::bearer(),
 TenantTest::bearer(claims => {iat => 1699999999}),
 TenantTest::bearer(claims => {iat => 1700000001})]
--- error_code eval
[401, 200, 200, 401, 401, 200]
--- response_headers eval
[$main::RevokedHeaders, "!WWW-Authenticate", "!WWW-Authenticate",
 $main::RevokedHeaders, $main::RevokedHeaders, "!WWW-Authenticate"]
--- response_body eval
[$main::Revoked, main::up('pro'), main::up('pro'), $main::Revoked,
 $main::Revoked, main::up('pro')]
--- no_error_log
[error]



=== TEST 9: another tenant's tokens_valid_after does not apply
--- redis
FLUSHALL
HSET tenant:{globex} tokens_valid_after 1700000000
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(), TenantTest::bearer(claims => {org_id => 'globex'})]
--- error_code eval
[200, 401]
--- response_body eval
[main::up('pro'), $main::Revoked]
--- no_error_log
[error]



=== TEST 10: plan override: token plan pro, hash plan free: free's limits apply and the upstream sees X-Tenant-Plan: free
--- redis
FLUSHALL
HSET tenant:{acme} plan free
--- request eval
["GET /t", "GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[200, 429, 200]
--- response_headers eval
["RateLimit-Limit: 1", "RateLimit-Limit: 1", "!RateLimit-Limit"]
--- response_body eval
[main::up('free'), $main::RateLimited, main::up('free')]
--- no_error_log
[error]



=== TEST 11: plan override upwards: token plan free, hash plan pro
--- redis
FLUSHALL
HSET tenant:{acme} plan pro
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'free'})
--- error_code eval
[200, 200, 200]
--- response_headers eval
[("RateLimit-Limit: 100") x 3]
--- response_body eval
[(main::up('pro')) x 3]
--- no_error_log
[error]



=== TEST 12: a token plan no tenant_plan declares gets the default plan, with a warning
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gold'})
--- error_code eval
[200, 429]
--- response_headers eval
["RateLimit-Limit: 1", "RateLimit-Limit: 1"]
--- response_body eval
[main::up('free'), $main::RateLimited]
--- error_log eval
qr/\[warn\] .*unknown plan "gold"/
--- no_error_log
[error]



=== TEST 13: a token without a plan claim gets the default plan, without a warning
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => undef})
--- error_code eval
[200, 429, 200]
--- response_headers eval
["RateLimit-Limit: 1", "RateLimit-Limit: 1", "!RateLimit-Limit"]
--- response_body eval
[main::up('free'), $main::RateLimited, main::up('free')]
--- no_error_log
[error]
unknown plan



=== TEST 14: prefix=myapp: the registry is read from myapp:{acme}, not tenant:{acme}
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s prefix=myapp:;
    tenant_plan free rate=1r/m;
--- redis
FLUSHALL
HSET myapp:{acme} status suspended
HSET tenant:{globex} status suspended
--- request eval
["GET /t", "GET /open", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'free'}),
 TenantTest::bearer(claims => {plan => 'free'}),
 TenantTest::bearer(claims => {plan => 'free', org_id => 'globex'})]
--- error_code eval
[403, 403, 200]
--- response_body eval
[$main::Suspended, $main::Suspended, main::up('free', 'globex')]
--- no_error_log
[error]



=== TEST 15: the previous test kept its GCRA state in myapp:{globex}:rate; prefix=myapp: revocation and plan override keys use the prefix too
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s prefix=myapp:;
    tenant_plan free rate=1r/m;
    tenant_plan pro rate=100r/m burst=50;
--- redis
ASSERT_TTL myapp:{globex}:rate 1..62
ASSERT_GET tenant:{globex}:rate nil
FLUSHALL
SET myapp:{acme}:revoked:tok-1 1
SET tenant:{acme}:revoked:tok-2 1
HSET myapp:{acme} plan pro
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'free', jti => 'tok-1'}),
 TenantTest::bearer(claims => {plan => 'free', jti => 'tok-2'})]
--- error_code eval
[401, 200]
--- response_body eval
[$main::Revoked, main::up('pro')]
--- no_error_log
[error]



=== TEST 16: db=2: the registry is read from database 2
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s db=2;
    tenant_plan free rate=1r/m;
--- redis
FLUSHALL
SELECT 2
HSET tenant:{acme} status suspended
SELECT 0
HSET tenant:{globex} status suspended
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'free'}),
 TenantTest::bearer(claims => {plan => 'free', org_id => 'globex'})]
--- error_code eval
[403, 200]
--- response_body eval
[$main::Suspended, main::up('free', 'globex')]
--- no_error_log
[error]



=== TEST 17: the previous test kept its GCRA state in database 2; db=2 also for revocation
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s db=2;
    tenant_plan free rate=1r/m;
--- redis
ASSERT_GET tenant:{globex}:rate nil
SELECT 2
ASSERT_TTL tenant:{globex}:rate 1..62
SELECT 0
FLUSHALL
SELECT 2
SET tenant:{acme}:revoked:tok-1 1
SELECT 0
SET tenant:{acme}:revoked:tok-2 1
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'free', jti => 'tok-1'}),
 TenantTest::bearer(claims => {plan => 'free', jti => 'tok-2'})]
--- error_code eval
[401, 200]
--- response_body eval
[$main::Revoked, main::up('free')]
--- no_error_log
[error]
