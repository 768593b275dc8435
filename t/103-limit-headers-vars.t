use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);

no_shuffle();

# The limit headers (RateLimit-*, X-Quota-*, Retry-After), dry run, and the
# limit variables.  Every block starts from an empty Redis (FLUSHALL in its
# --- redis section).  %~MONTH_LEFT% and so on are the seconds to the end of
# the current UTC period, give or take 5 (60 under valgrind: $Slack below);
# %DAY% the current period id.

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan pro rate=10r/m burst=4 quota=5/month;
    tenant_plan tight rate=1r/m quota=5/month;
    tenant_plan daily rate=100r/m burst=10 quota=1/day;
    tenant_plan norate quota=5/month;
    tenant_plan noquota rate=10r/m burst=4;
_EOC_

our $Vars = <<'_EOC_';
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        add_header X-Tenant-Status "[$tenant_status]" always;
        add_header X-Vars "rate_remaining=[$tenant_rate_remaining] quota_used=[$tenant_quota_used] quota_remaining=[$tenant_quota_remaining]" always;
_EOC_

our $DefaultConfig = <<"_EOC_";
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
$Vars
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    location /quiet {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_limit_headers off;
$Vars
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    location /dry {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_limit_dry_run on;
$Vars
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    location /deny {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_redis_failure deny;
$Vars
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
$Vars
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    # no tenant_jwt here, so "return" is fine
    location /plain {
$Vars
        return 200 "plain\\n";
    }
    location /echo {
        echo "upstream: id=[\$http_x_tenant_id] plan=[\$http_x_tenant_plan]";
    }
_EOC_

our $QuotaExceeded = qq{{"error":"quota_exceeded","message":"the organization's quota for this period is used up"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};

sub up { "upstream: id=[acme] plan=[$_[0]]\n" }

# none of the six limit headers
our $NoLimitHeaders = join "\n", map { "!$_" }
    qw(RateLimit-Limit RateLimit-Remaining RateLimit-Reset
       X-Quota-Limit X-Quota-Remaining X-Quota-Reset);
our $NoLimitHeadersLike = join "\n", map { "$_: " }
    qw(RateLimit-Limit RateLimit-Remaining RateLimit-Reset
       X-Quota-Limit X-Quota-Remaining X-Quota-Reset);

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

=== TEST 1: all six headers with exact values on admitted requests (rate=10r/m burst=4 quota=5/month)
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[200, 200]
--- response_headers_like eval
["RateLimit-Limit: 10
RateLimit-Remaining: 4
RateLimit-Reset: 6
X-Quota-Limit: 5
X-Quota-Remaining: 4
X-Quota-Reset: %~MONTH_LEFT%
Retry-After: ",
"RateLimit-Limit: 10
RateLimit-Remaining: 3
RateLimit-Reset: (?:11|12)
X-Quota-Limit: 5
X-Quota-Remaining: 3
X-Quota-Reset: %~MONTH_LEFT%
Retry-After: "]
--- response_body eval
[main::up('pro'), main::up('pro')]
--- no_error_log
[error]



=== TEST 2: the headers on a 429 rate_limited, with Retry-After
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 429]
--- response_headers_like eval
["RateLimit-Limit: 1
RateLimit-Remaining: 0
RateLimit-Reset: 60
X-Quota-Limit: 5
X-Quota-Remaining: 4
X-Quota-Reset: %~MONTH_LEFT%",
"RateLimit-Limit: 1
RateLimit-Remaining: 0
RateLimit-Reset: (?:59|60)
X-Quota-Limit: 5
X-Quota-Remaining: 4
X-Quota-Reset: %~MONTH_LEFT%
Retry-After: (?:59|60)"]
--- response_body eval
[main::up('tight'), $main::RateLimited]
--- no_error_log
[error]



=== TEST 3: the headers on a 429 quota_exceeded, with Retry-After until the period ends
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code eval
[200, 429]
--- response_headers_like eval
["RateLimit-Limit: 100
X-Quota-Limit: 1
X-Quota-Remaining: 0
X-Quota-Reset: %~DAY_LEFT%
Retry-After: ",
"RateLimit-Limit: 100
X-Quota-Limit: 1
X-Quota-Remaining: 0
X-Quota-Reset: %~DAY_LEFT%
Retry-After: %~DAY_LEFT%"]
--- response_body eval
[main::up('daily'), $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 4: a plan without a rate sends no RateLimit-* headers, a plan without a quota no X-Quota-* headers
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'norate'}),
 TenantTest::bearer(claims => {plan => 'noquota', org_id => 'globex'})]
--- error_code eval
[200, 200]
--- response_headers eval
["!RateLimit-Limit\n!RateLimit-Remaining\n!RateLimit-Reset\nX-Quota-Limit: 5\nX-Quota-Remaining: 4",
 "RateLimit-Limit: 10\nRateLimit-Remaining: 4\nRateLimit-Reset: 6\n!X-Quota-Limit\n!X-Quota-Remaining\n!X-Quota-Reset"]
--- response_body eval
[main::up('norate'), "upstream: id=[globex] plan=[noquota]\n"]
--- no_error_log
[error]



=== TEST 5: tenant_limit_headers off hides all six headers
--- redis
FLUSHALL
--- request
GET /quiet
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code: 200
--- response_headers eval
$main::NoLimitHeaders . "\n!Retry-After\nX-Limit-Status: [PASSED]"
--- response_body eval
main::up('pro')
--- no_error_log
[error]



=== TEST 6: tenant_limit_headers off: a 429 has none of the six headers, but still Retry-After
--- redis
FLUSHALL
--- request eval
["GET /quiet", "GET /quiet"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 429]
--- response_headers_like eval
[$main::NoLimitHeadersLike . "\nRetry-After: ",
 $main::NoLimitHeadersLike . "\nRetry-After: (?:59|60)"]
--- response_body eval
[main::up('tight'), $main::RateLimited]
--- no_error_log
[error]



=== TEST 7: a location without tenant_limit sends none of the limit headers
--- redis
FLUSHALL
--- request eval
["GET /open", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 200]
--- response_headers eval
[$main::NoLimitHeaders . "\n!Retry-After", $main::NoLimitHeaders . "\n!Retry-After"]
--- response_body eval
[main::up('tight'), main::up('tight')]
--- no_error_log
[error]



=== TEST 8: dry run: over the quota the request still reaches the upstream, $tenant_limit_status is DRY_RUN and the would-be rejection is logged
--- redis
FLUSHALL
SET tenant:{acme}:quota:%DAY% 1
--- request
GET /dry
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code: 200
--- response_headers
X-Limit-Status: [DRY_RUN]
!Retry-After
--- response_body eval
main::up('daily')
--- error_log
dry run, would reject
--- no_error_log
[error]



=== TEST 9: dry run: over the rate every request is admitted, PASSED then DRY_RUN
--- redis
FLUSHALL
--- request eval
[("GET /dry") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Limit-Status: [PASSED]\n!Retry-After", "X-Limit-Status: [DRY_RUN]\n!Retry-After",
 "X-Limit-Status: [DRY_RUN]\n!Retry-After"]
--- response_body eval
[(main::up('tight')) x 3]
--- no_error_log
[error]



=== TEST 10: a dry-run location shares the tenant's rate state: after an admitted request in a limited location, it is over the rate and answers DRY_RUN
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /dry"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 200]
--- response_headers eval
["X-Limit-Status: [PASSED]", "X-Limit-Status: [DRY_RUN]"]
--- response_body eval
[main::up('tight'), main::up('tight')]
--- no_error_log
[error]



=== TEST 11: $tenant_limit_status: PASSED, REJECTED, and empty where no limit applies (no tenant_limit, no tenant_jwt)
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /open", "GET /plain"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 429, 200, 200]
--- response_headers eval
["X-Limit-Status: [PASSED]", "X-Limit-Status: [REJECTED]", "X-Limit-Status: []",
 "X-Limit-Status: []"]
--- response_body eval
[main::up('tight'), $main::RateLimited, main::up('tight'), "plain\n"]
--- no_error_log
[error]



=== TEST 12: $tenant_limit_status is REJECTED for a quota refusal too
--- redis
FLUSHALL
SET tenant:{acme}:quota:%DAY% 1
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code: 429
--- response_headers
X-Limit-Status: [REJECTED]
--- response_body eval
$main::QuotaExceeded
--- no_error_log
[error]



=== TEST 13: $tenant_status is active without a registry entry and with status active
--- redis
FLUSHALL
HSET tenant:{globex} status active
--- request eval
["GET /t", "GET /open", "GET /t", "GET /plain"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'pro'}),
 TenantTest::bearer(claims => {plan => 'pro'}),
 TenantTest::bearer(claims => {plan => 'pro', org_id => 'globex'}),
 TenantTest::bearer(claims => {plan => 'pro'})]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["X-Tenant-Status: [active]", "X-Tenant-Status: [active]", "X-Tenant-Status: [active]",
 "X-Tenant-Status: []"]
--- response_body eval
[main::up('pro'), main::up('pro'), "upstream: id=[globex] plan=[pro]\n", "plain\n"]
--- no_error_log
[error]



=== TEST 14: $tenant_status is suspended on the 403; $tenant_limit_status REJECTED where limited, empty where not
--- redis
FLUSHALL
HSET tenant:{acme} status suspended
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[403, 403]
--- response_headers eval
["X-Tenant-Status: [suspended]\nX-Limit-Status: [REJECTED]",
 "X-Tenant-Status: [suspended]\nX-Limit-Status: []"]
--- response_body eval
[$main::Suspended, $main::Suspended]
--- no_error_log
[error]



=== TEST 15: $tenant_rate_remaining, $tenant_quota_used, $tenant_quota_remaining on admitted requests; empty where no limit applies
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /t", "GET /open", "GET /plain"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
["X-Vars: rate_remaining=[4] quota_used=[1] quota_remaining=[4]",
 "X-Vars: rate_remaining=[3] quota_used=[2] quota_remaining=[3]",
 "X-Vars: rate_remaining=[2] quota_used=[3] quota_remaining=[2]",
 "X-Vars: rate_remaining=[] quota_used=[] quota_remaining=[]",
 "X-Vars: rate_remaining=[] quota_used=[] quota_remaining=[]"]
--- response_body eval
[(main::up('pro')) x 4, "plain\n"]
--- no_error_log
[error]



=== TEST 16: the variables on a rate refusal: remaining 0, the quota untouched
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 429]
--- response_headers eval
["X-Vars: rate_remaining=[0] quota_used=[1] quota_remaining=[4]",
 "X-Vars: rate_remaining=[0] quota_used=[1] quota_remaining=[4]"]
--- response_body eval
[main::up('tight'), $main::RateLimited]
--- no_error_log
[error]



=== TEST 17: the variables and headers on a quota refusal: quota used = limit, remaining 0; the refused request took nothing from the rate, so its remaining stays 10
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code eval
[200, 429]
--- response_headers eval
["X-Vars: rate_remaining=[10] quota_used=[1] quota_remaining=[0]\nRateLimit-Remaining: 10",
 "X-Vars: rate_remaining=[10] quota_used=[1] quota_remaining=[0]\nRateLimit-Remaining: 10"]
--- response_body eval
[main::up('daily'), $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 18: the variables for plans without a rate or without a quota
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'norate'}),
 TenantTest::bearer(claims => {plan => 'noquota', org_id => 'globex'})]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Vars: rate_remaining=[] quota_used=[1] quota_remaining=[4]",
 "X-Vars: rate_remaining=[4] quota_used=[] quota_remaining=[]"]
--- response_body eval
[main::up('norate'), "upstream: id=[globex] plan=[noquota]\n"]
--- no_error_log
[error]



=== TEST 19: Redis down: tenant_redis_failure allow (default) admits with UNAVAILABLE and no limit headers; deny answers 503 limiter_unavailable
--- redis
FLUSHALL
STOP
--- request eval
["GET /t", "GET /deny"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 503]
--- response_headers eval
[$main::NoLimitHeaders . "\n!Retry-After\nX-Limit-Status: [UNAVAILABLE]",
 $main::NoLimitHeaders . "\n!Retry-After\nX-Limit-Status: [UNAVAILABLE]\nContent-Type: application/json"]
--- response_body eval
[main::up('tight'), $main::Unavailable]



=== TEST 20: Redis back: limits apply again
--- redis
START
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'tight'})
--- error_code eval
[200, 429]
--- response_headers eval
["X-Limit-Status: [PASSED]", "X-Limit-Status: [REJECTED]"]
--- response_body eval
[main::up('tight'), $main::RateLimited]
--- no_error_log
[error]
