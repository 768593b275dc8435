use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);

no_shuffle();

# Quotas and meters: counters per calendar period in UTC,
# tenant:{ID}:quota:PERIOD and tenant:{ID}:meter:NAME:PERIOD.  Every block
# starts from an empty Redis (FLUSHALL in its --- redis section); a block
# may first assert (ASSERT_GET, ASSERT_TTL) what the previous block's
# requests left in Redis.  %DAY%, %HOUR%, %MONTH% are the current period
# ids, %~DAY_LEFT% and so on the seconds to the period's end, give or take
# 5 (60 under valgrind: $Slack below).
#
# X-Used shows $tenant_quota_used, so the counter is seen after each request.

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan daily quota=3/day;
    tenant_plan hourly quota=2/hour;
    tenant_plan monthly quota=2/month;
    tenant_plan gen quota=10/day meter=generate:2/month;
    tenant_plan strict rate=1r/m quota=10/day meter=generate:5/month;
_EOC_

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /gen {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_meter generate;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /gen-only {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_meter generate;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] plan=[$http_x_tenant_plan]";
    }
_EOC_

our $QuotaExceeded = qq{{"error":"quota_exceeded","message":"the organization's quota for this period is used up"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $Revoked = qq{{"error":"token_revoked","message":"the token has been revoked"}\n};

sub up { "upstream: id=[acme] plan=[$_[0]]\n" }

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

=== TEST 1: quota=3/day: 3 admitted, the 4th gets 429 quota_exceeded with Retry-After until UTC midnight
--- redis
FLUSHALL
--- request eval
[("GET /t") x 4]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["X-Used: \\[1\\]\nRetry-After: \nX-Quota-Limit: 3\nX-Quota-Remaining: 2\nX-Quota-Reset: %~DAY_LEFT%",
 "X-Used: \\[2\\]\nRetry-After: \nX-Quota-Remaining: 1",
 "X-Used: \\[3\\]\nRetry-After: \nX-Quota-Remaining: 0",
 "X-Used: \\[3\\]\nRetry-After: %~DAY_LEFT%\nX-Quota-Limit: 3\nX-Quota-Remaining: 0\nX-Quota-Reset: %~DAY_LEFT%\nContent-Type: application/json"]
--- response_body eval
[(main::up('daily')) x 3, $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 2: the previous test counted in tenant:{acme}:quota:DAY, expiring a day after UTC midnight; a counter set there at the limit refuses the next request
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 3
ASSERT_TTL tenant:{acme}:quota:%DAY% %DAY_LEFT%+86400
FLUSHALL
SET tenant:{acme}:quota:%DAY% 3
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'daily'}),
 TenantTest::bearer(claims => {plan => 'daily', org_id => 'globex'})]
--- error_code eval
[429, 200]
--- response_headers_like eval
["X-Used: \\[3\\]\nRetry-After: %~DAY_LEFT%", "X-Used: \\[1\\]"]
--- response_body eval
[$main::QuotaExceeded, "upstream: id=[globex] plan=[daily]\n"]
--- no_error_log
[error]



=== TEST 3: a daily quota reads only the day's counter, not the hour's or the month's
--- redis
FLUSHALL
SET tenant:{acme}:quota:%HOUR% 3
SET tenant:{acme}:quota:%MONTH% 3
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code: 200
--- response_headers
X-Used: [1]
--- response_body eval
main::up('daily')
--- no_error_log
[error]



=== TEST 4: quota=2/hour: 2 admitted, then 429 with Retry-After until the end of the UTC hour
--- redis
FLUSHALL
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'hourly'})
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["X-Used: \\[1\\]\nX-Quota-Limit: 2\nX-Quota-Reset: %~HOUR_LEFT%",
 "X-Used: \\[2\\]\nX-Quota-Remaining: 0",
 "X-Used: \\[2\\]\nRetry-After: %~HOUR_LEFT%\nX-Quota-Reset: %~HOUR_LEFT%"]
--- response_body eval
[(main::up('hourly')) x 2, $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 5: the previous test counted in tenant:{acme}:quota:HOUR (e.g. 2026-11-22T14), expiring a day after the hour ends; a counter set there at the limit refuses
--- redis
ASSERT_GET tenant:{acme}:quota:%HOUR% 2
ASSERT_TTL tenant:{acme}:quota:%HOUR% %HOUR_LEFT%+86400
ASSERT_GET tenant:{acme}:quota:%DAY% nil
FLUSHALL
SET tenant:{acme}:quota:%HOUR% 2
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => 'hourly'})
--- error_code: 429
--- response_headers_like
Retry-After: %~HOUR_LEFT%
--- response_body eval
$main::QuotaExceeded
--- no_error_log
[error]



=== TEST 6: quota=2/month: 2 admitted, then 429 with Retry-After until the first of next month (UTC)
--- redis
FLUSHALL
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'monthly'})
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["X-Used: \\[1\\]\nX-Quota-Reset: %~MONTH_LEFT%",
 "X-Used: \\[2\\]",
 "X-Used: \\[2\\]\nRetry-After: %~MONTH_LEFT%\nX-Quota-Reset: %~MONTH_LEFT%"]
--- response_body eval
[(main::up('monthly')) x 2, $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 7: the previous test counted in tenant:{acme}:quota:MONTH (e.g. 2026-11), expiring a day after the month ends; a counter set there at the limit refuses
--- redis
ASSERT_GET tenant:{acme}:quota:%MONTH% 2
ASSERT_TTL tenant:{acme}:quota:%MONTH% %MONTH_LEFT%+86400
FLUSHALL
SET tenant:{acme}:quota:%MONTH% 2
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => 'monthly'})
--- error_code: 429
--- response_headers_like
Retry-After: %~MONTH_LEFT%
--- response_body eval
$main::QuotaExceeded
--- no_error_log
[error]



=== TEST 8: quota override in the hash: plan 3/day, "quota 1/hour" applies
--- redis
FLUSHALL
HSET tenant:{acme} quota 1/hour
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code eval
[200, 429]
--- response_headers_like eval
["X-Used: \\[1\\]\nX-Quota-Limit: 1\nX-Quota-Reset: %~HOUR_LEFT%",
 "X-Used: \\[1\\]\nX-Quota-Limit: 1\nRetry-After: %~HOUR_LEFT%"]
--- response_body eval
[main::up('daily'), $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 9: the override counted in the hour's key only; an override can also raise the quota (plan 2/hour, "quota 5/month")
--- redis
ASSERT_GET tenant:{acme}:quota:%HOUR% 1
ASSERT_GET tenant:{acme}:quota:%DAY% nil
FLUSHALL
HSET tenant:{acme} quota 5/month
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'hourly'})
--- error_code eval
[200, 200, 200]
--- response_headers_like eval
["X-Used: \\[1\\]\nX-Quota-Limit: 5", "X-Used: \\[2\\]\nX-Quota-Limit: 5",
 "X-Used: \\[3\\]\nX-Quota-Limit: 5\nX-Quota-Remaining: 2"]
--- response_body eval
[(main::up('hourly')) x 3]
--- no_error_log
[error]



=== TEST 10: the raised override of the previous test counted in the month's key; meter=generate:2/month with tenant_meter generate: 2 admitted, the 3rd gets 429 quota_exceeded, while a location without the meter still admits (and counts only the plan quota)
--- redis
ASSERT_GET tenant:{acme}:quota:%MONTH% 3
FLUSHALL
--- request eval
["GET /gen", "GET /gen", "GET /gen", "GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[200, 200, 429, 200, 200]
--- response_headers_like eval
["X-Used: \\[1\\]\nRetry-After: ", "X-Used: \\[2\\]",
 "X-Used: \\[2\\]\nRetry-After: %~MONTH_LEFT%\nX-Quota-Limit: 10",
 "X-Used: \\[3\\]\nRetry-After: ", "X-Used: \\[\\]"]
--- response_body eval
[(main::up('gen')) x 2, $main::QuotaExceeded, (main::up('gen')) x 2]
--- no_error_log
[error]



=== TEST 11: the meter counted in tenant:{acme}:meter:generate:MONTH, expiring a day after the month ends; meter override "meter:generate 1/day" in the hash
--- redis
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% 2
ASSERT_TTL tenant:{acme}:meter:generate:%MONTH% %MONTH_LEFT%+86400
ASSERT_GET tenant:{acme}:quota:%DAY% 3
FLUSHALL
HSET tenant:{acme} meter:generate 1/day
--- request eval
["GET /gen", "GET /gen", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[200, 429, 200]
--- response_headers_like eval
["X-Used: \\[1\\]", "X-Used: \\[1\\]\nRetry-After: %~DAY_LEFT%", "X-Used: \\[2\\]"]
--- response_body eval
[main::up('gen'), $main::QuotaExceeded, main::up('gen')]
--- no_error_log
[error]



=== TEST 12: the overridden meter counted in its day's key; a meter counter preset at its limit refuses only the metered location
--- redis
ASSERT_GET tenant:{acme}:meter:generate:%DAY% 1
ASSERT_TTL tenant:{acme}:meter:generate:%DAY% %DAY_LEFT%+86400
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% nil
FLUSHALL
SET tenant:{acme}:meter:generate:%MONTH% 2
--- request eval
["GET /gen", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[429, 200]
--- response_headers_like eval
["X-Used: \\[0\\]\nRetry-After: %~MONTH_LEFT%", "X-Used: \\[1\\]"]
--- response_body eval
[$main::QuotaExceeded, main::up('gen')]
--- no_error_log
[error]



=== TEST 13: tenant_meter without tenant_limit still counts the meter: 2 admitted, the 3rd gets 429 quota_exceeded
--- redis
FLUSHALL
--- request eval
[("GET /gen-only") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[200, 200, 429]
--- response_body eval
[(main::up('gen')) x 2, $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 14: rate-limited requests consume no quota and no meter
--- redis
FLUSHALL
--- request eval
["GET /gen", "GET /gen", "GET /gen", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'strict'})
--- error_code eval
[200, 429, 429, 429]
--- response_headers eval
["X-Used: [1]", "X-Used: [1]", "X-Used: [1]", "X-Used: [1]"]
--- response_body eval
[main::up('strict'), ($main::RateLimited) x 3]
--- no_error_log
[error]



=== TEST 15: the rate-limited requests left both counters at 1; a suspended tenant's requests consume nothing
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 1
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% 1
FLUSHALL
SET tenant:{acme}:quota:%DAY% 2
SET tenant:{acme}:meter:generate:%MONTH% 1
HSET tenant:{acme} status suspended
--- request eval
["GET /gen", "GET /t", "GET /gen"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[403, 403, 403]
--- response_body eval
[($main::Suspended) x 3]
--- no_error_log
[error]



=== TEST 16: the suspended tenant's counters are unchanged; revoked tokens (by jti) consume neither quota nor meter
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 2
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% 1
FLUSHALL
SET tenant:{acme}:revoked:j-old 1
--- request eval
[("GET /gen") x 5]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'gen', jti => 'j-old'}),
 TenantTest::bearer(claims => {plan => 'gen', jti => 'j-new'}),
 TenantTest::bearer(claims => {plan => 'gen', jti => 'j-old'}),
 TenantTest::bearer(claims => {plan => 'gen', jti => 'j-new'}),
 TenantTest::bearer(claims => {plan => 'gen', jti => 'j-new'})]
--- error_code eval
[401, 200, 401, 200, 429]
--- response_headers_like eval
["X-Used: \\[\\]", "X-Used: \\[1\\]", "X-Used: \\[\\]", "X-Used: \\[2\\]", "X-Used: \\[2\\]"]
--- response_body eval
[$main::Revoked, main::up('gen'), $main::Revoked, main::up('gen'), $main::QuotaExceeded]
--- no_error_log
[error]



=== TEST 17: the revoked tokens left the counters as the admitted ones set them; tokens revoked by tokens_valid_after consume no quota
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 2
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% 2
FLUSHALL
HSET tenant:{acme} tokens_valid_after 1700000000
--- request eval
[("GET /t") x 5]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'daily'}),
 TenantTest::bearer(claims => {plan => 'daily', iat => 1699999999}),
 TenantTest::bearer(claims => {plan => 'daily', iat => 1700000001}),
 TenantTest::bearer(claims => {plan => 'daily'}),
 TenantTest::bearer(claims => {plan => 'daily', iat => 1700000001})]
--- error_code eval
[401, 401, 200, 401, 200]
--- response_headers_like eval
["X-Used: \\[\\]", "X-Used: \\[\\]", "X-Used: \\[1\\]", "X-Used: \\[\\]", "X-Used: \\[2\\]"]
--- response_body eval
[$main::Revoked, $main::Revoked, main::up('daily'), $main::Revoked, main::up('daily')]
--- no_error_log
[error]



=== TEST 18: the counter is 2 after the previous test; a request refused by the quota consumes no meter
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 2
FLUSHALL
SET tenant:{acme}:quota:%DAY% 10
--- request eval
["GET /gen", "GET /gen"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[429, 429]
--- response_headers_like eval
["X-Used: \\[10\\]\nRetry-After: %~DAY_LEFT%", "X-Used: \\[10\\]\nRetry-After: %~DAY_LEFT%"]
--- response_body eval
[($main::QuotaExceeded) x 2]
--- no_error_log
[error]



=== TEST 19: no meter counter after the quota refusals; a request refused by the meter consumes no quota
--- redis
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% nil
ASSERT_GET tenant:{acme}:quota:%DAY% 10
FLUSHALL
SET tenant:{acme}:meter:generate:%MONTH% 2
--- request eval
["GET /gen", "GET /gen", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code eval
[429, 429, 200]
--- response_headers_like eval
["X-Used: \\[0\\]", "X-Used: \\[0\\]", "X-Used: \\[1\\]"]
--- response_body eval
[$main::QuotaExceeded, $main::QuotaExceeded, main::up('gen')]
--- no_error_log
[error]



=== TEST 20: after the meter refusals the quota counter holds only the admitted request, the meter is untouched; tenants have their own counters
--- redis
ASSERT_GET tenant:{acme}:quota:%DAY% 1
ASSERT_GET tenant:{acme}:meter:generate:%MONTH% 2
FLUSHALL
SET tenant:{globex}:quota:%DAY% 3
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'daily'}),
 TenantTest::bearer(claims => {plan => 'daily', org_id => 'globex'})]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Used: [1]", "X-Used: [3]"]
--- response_body eval
[main::up('daily'), $main::QuotaExceeded]
--- no_error_log
[error]
