use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);

no_shuffle();

# Rate limits: GCRA in Redis, exact like limit_req with burst=N nodelay:
# N+1 requests at once, then one per emission interval.  Every block
# starts from an empty Redis (FLUSHALL in its --- redis section); a block
# may first assert (ASSERT_TTL, ASSERT_GET) what the previous block's
# requests left in Redis.
#
# The tenant's plan comes from the token's "plan" claim.

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan solo rate=1r/m;
    tenant_plan pro rate=1r/m burst=3;
    tenant_plan hourly rate=2r/h burst=1;
    tenant_plan persec rate=5r/s;
    tenant_plan fast rate=1r/s;
_EOC_

# Under valgrind two requests in a row are more than 200 ms apart: the
# per-second plan allows 1r/s there instead of 5r/s (a wait under a second
# still has to round up to Retry-After: 1).
our $PerSec = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 5;
$DefaultHttpConfig =~ s{(persec rate=)5r/s;}{$1${PerSec}r/s;} or die;

# /t is limited, /open verifies the token but is not limited; /sleep only
# lets time pass between two requests of one block.
our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] plan=[$http_x_tenant_plan]";
    }
    location /sleep {
        echo_sleep 1.2;
        echo "slept";
    }
_EOC_

our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};

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

=== TEST 1: burst=0 (rate=1r/m): the first request is admitted, the next ones get 429 rate_limited with Retry-After
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 429, 429]
--- response_headers_like eval
[
"Retry-After: \nX-Limit-Status: \\[PASSED\\]",
"Retry-After: (?:59|60)\nContent-Type: application/json\nX-Limit-Status: \\[REJECTED\\]",
"Retry-After: (?:59|60)\nContent-Type: application/json\nX-Limit-Status: \\[REJECTED\\]",
]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", $main::RateLimited, $main::RateLimited]
--- no_error_log
[error]



=== TEST 2: burst=3: exactly 4 of 6 immediate requests are admitted
--- redis
FLUSHALL
--- request eval
[("GET /t") x 6]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[200, 200, 200, 200, 429, 429]
--- response_body eval
[("upstream: id=[acme] plan=[pro]\n") x 4, ($main::RateLimited) x 2]
--- no_error_log
[error]



=== TEST 3: rate per hour (2r/h burst=1): 2 admitted, then Retry-After is one emission interval (1800 s)
--- redis
FLUSHALL
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'hourly'})
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit-Limit: 2\nRetry-After: ", "RateLimit-Limit: 2\nRetry-After: ",
 "RateLimit-Limit: 2\nRetry-After: (?:1799|1800)"]
--- response_body eval
[("upstream: id=[acme] plan=[hourly]\n") x 2, $main::RateLimited]
--- no_error_log
[error]



=== TEST 4: rate per second (5r/s): a second immediate request waits for the 200 ms interval, Retry-After rounds up to 1
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'persec'})
--- error_code eval
[200, 429]
--- response_headers eval
["RateLimit-Limit: $main::PerSec\n!Retry-After", "RateLimit-Limit: $main::PerSec\nRetry-After: 1"]
--- response_body eval
["upstream: id=[acme] plan=[persec]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 5: after one emission interval (1r/s, 1.2 s later) exactly one more request is admitted
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /sleep", "GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'fast'})
--- error_code eval
[200, 429, 200, 200, 429]
--- response_body eval
["upstream: id=[acme] plan=[fast]\n", $main::RateLimited, "slept\n",
 "upstream: id=[acme] plan=[fast]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 6: rate override from the hash: plan 1r/m, "rate 2r/h" applies
--- redis
FLUSHALL
HSET tenant:{acme} rate 2r/h
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 429]
--- response_headers_like eval
["RateLimit-Limit: 2\nRetry-After: ", "RateLimit-Limit: 2\nRetry-After: (?:1799|1800)"]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 7: the previous test left its GCRA state in tenant:{acme}:rate with a TTL of at most an interval (1800 s); rate override that loosens: plan 1r/m, "rate 60r/m" gives Retry-After 1
--- redis
ASSERT_TTL tenant:{acme}:rate 1..1802
FLUSHALL
HSET tenant:{acme} rate 60r/m
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 429]
--- response_headers_like eval
["RateLimit-Limit: 60\nRetry-After: ", "RateLimit-Limit: 60\nRetry-After: 1"]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 8: burst override: plan burst=0, "burst 2" in the hash admits 3 at once
--- redis
FLUSHALL
HSET tenant:{acme} burst 2
--- request eval
[("GET /t") x 5]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 200, 200, 429, 429]
--- response_body eval
[("upstream: id=[acme] plan=[solo]\n") x 3, ($main::RateLimited) x 2]
--- no_error_log
[error]



=== TEST 9: burst override to 0: plan burst=3, "burst 0" in the hash admits only 1
--- redis
FLUSHALL
HSET tenant:{acme} burst 0
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'pro'})
--- error_code eval
[200, 429, 429]
--- response_body eval
["upstream: id=[acme] plan=[pro]\n", ($main::RateLimited) x 2]
--- no_error_log
[error]



=== TEST 10: rate and burst overrides together
--- redis
FLUSHALL
HSET tenant:{acme} rate 3r/h burst 1
--- request eval
[("GET /t") x 3]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit-Limit: 3", "RateLimit-Limit: 3", "RateLimit-Limit: 3\nRetry-After: (?:1199|1200)"]
--- response_body eval
[("upstream: id=[acme] plan=[solo]\n") x 2, $main::RateLimited]
--- no_error_log
[error]



=== TEST 11: a location without tenant_limit is not rate limited, carries no rate headers, and does not use up the rate of limited ones
--- redis
FLUSHALL
--- request eval
["GET /open", "GET /open", "GET /open", "GET /open", "GET /t", "GET /t", "GET /open"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 200, 200, 200, 200, 429, 200]
--- response_headers eval
[("!RateLimit-Limit\n!RateLimit-Remaining\n!RateLimit-Reset\n!Retry-After\nX-Limit-Status: []") x 4,
 "RateLimit-Limit: 1\nX-Limit-Status: [PASSED]",
 "RateLimit-Limit: 1\nX-Limit-Status: [REJECTED]",
 "!RateLimit-Limit\n!Retry-After\nX-Limit-Status: []"]
--- response_body eval
[("upstream: id=[acme] plan=[solo]\n") x 5, $main::RateLimited,
 "upstream: id=[acme] plan=[solo]\n"]
--- no_error_log
[error]



=== TEST 12: two tenants do not share a limit
--- redis
FLUSHALL
--- request eval
[("GET /t") x 4]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'solo'}),
 TenantTest::bearer(claims => {plan => 'solo', org_id => 'globex'}),
 TenantTest::bearer(claims => {plan => 'solo'}),
 TenantTest::bearer(claims => {plan => 'solo', org_id => 'globex'})]
--- error_code eval
[200, 200, 429, 429]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", "upstream: id=[globex] plan=[solo]\n",
 $main::RateLimited, $main::RateLimited]
--- no_error_log
[error]



=== TEST 13: each tenant of the previous test has its own GCRA key tenant:{ID}:rate with a TTL of at most an interval (60 s); two users of one tenant share it
--- redis
ASSERT_TTL tenant:{acme}:rate 1..62
ASSERT_TTL tenant:{globex}:rate 1..62
FLUSHALL
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'solo', sub => 'alice'}),
 TenantTest::bearer(claims => {plan => 'solo', sub => 'bob'})]
--- error_code eval
[200, 429]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 14: a stale GCRA state left in the past does not block (a TAT of 1 is long gone)
--- redis
FLUSHALL
SET tenant:{acme}:rate 1
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'solo'})
--- error_code eval
[200, 429]
--- response_body eval
["upstream: id=[acme] plan=[solo]\n", $main::RateLimited]
--- no_error_log
[error]
