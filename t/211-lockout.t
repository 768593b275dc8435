use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

use IO::Socket::INET;

no_shuffle();

# Lockout: tenant_lockout key=$variable after=N window=TIME duration=TIME
# counts the 401 responses of a location per key in Redis, the upstream's
# as well as the module's own; after N within the window the key is
# locked for the duration, and requests for it are refused with 429
# locked_out and Retry-After, before they reach the upstream.  Counting
# happens while the response goes out: nothing waits for Redis's reply.
#
# Keys: PREFIX lockout:{KEY} counts the failures (it expires with the
# window), PREFIX lockout:{KEY}:locked is the lock (it expires with the
# duration).  KEY is encoded as for tenant_limit_zone (t/210).
#
# /login is a login endpoint in front of /check, an "application" that
# answers 401 unless the password is "ok".  /sleep lets a lock expire
# between two requests of one block.
#
# Every block that sends requests starts from an empty Redis (FLUSHALL in
# its --- redis section); a block may first assert what the previous
# block's requests left in Redis:
#   ASSERT_KEYS pattern [key ...]   KEYS pattern is exactly these keys
#   ASSERT_GET key value|nil
#   ASSERT_PTTL key LO..HI          in milliseconds

our $Http = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_limit_zone burst3 key=$arg_user rate=1r/m burst=2;
_EOC_

our $Config = <<'_EOC_';
    location /login {
        tenant_lockout key=$arg_user after=3 window=60s duration=2s;
        add_header X-Request-Time $request_time always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /short {
        tenant_lockout key=$arg_user after=2 window=1s duration=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /limited {
        tenant_limit_by burst3;
        tenant_lockout key=$arg_user after=2 window=60s duration=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /direct {
        tenant_lockout key=$arg_user after=2 window=60s duration=60s;
        if ($arg_pw != "ok") {
            return 401 "wrong password\n";
        }
        echo "direct [$arg_user]";
    }
    location /api {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_lockout key=$binary_remote_addr after=2 window=60s duration=60s;
        echo "api tenant=[$tenant_id]";
    }
    location /user {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_lockout key=$tenant_user after=2 window=60s duration=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /check {
        if ($arg_pw != "ok") {
            return 401 "wrong password\n";
        }
        echo "welcome [$arg_user]";
    }
    location /sleep {
        echo_sleep 2.1;
        echo "slept";
    }
    location /sleep1 {
        echo_sleep 1.2;
        echo "slept";
    }
_EOC_

our $Locked = qq{{"error":"locked_out","message":"too many failed attempts, try again later"}\n};
our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
our $MissingToken = qq{{"error":"missing_token","message":"a bearer token is required"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Wrong = "wrong password\n";

# a loopback port nothing listens on: Redis is down
our $DEAD = TenantRedis::free_port();

# State a request must find (a lock that counts down, a paused Redis) is
# set by the block's --- init, once its nginx is up, not by its --- redis,
# which runs before the runner restarts nginx (see t/lib/TenantRedis.pm).
# Under valgrind (TEST_NGINX_USE_VALGRIND) nginx takes seconds to start and
# each request is many times slower: a 401 that waits for nothing goes out
# in under 2 s instead of 0.2 s; a lock set by --- init, which may run
# while nginx is still starting, may have lost up to 20 s of its
# Retry-After instead of none.  And TEST 13 pauses Redis once nginx
# listens (pause_when_up), for 2.5 s instead of 1 s, where its 401 must go
# out in under 1.5 s instead of 0.5 s: a pause that begins seconds before
# the request would be over when it comes, and one longer than nginx's 3 s
# for a stalled Redis connection would have nginx drop the connection,
# and the failure it was to count with it.
our $Valgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $Fast = $Valgrind ? '[01]\.\d\d\d' : '0\.(?:0\d\d|1\d\d)';
our $Quick = $Valgrind ? '(?:0\.\d\d\d|1\.[0-4]\d\d)' : '0\.[0-4]\d\d';
our $Pause = $Valgrind ? 2500 : 1000;
our $Late = $Valgrind ? 20 : 0;

# Retry-After $n, or up to $Late seconds less
sub upto { my ($n) = @_; '(?:' . join('|', $n - $Late .. $n) . ')' }

sub redis_assert {
    my ($name, $line) = @_;
    my ($op, @w) = split ' ', $line;
    if ($op eq 'ASSERT_KEYS') {
        my $pattern = shift @w;
        my $got = TenantRedis::redis('KEYS', $pattern);
        Test::More::is_deeply([sort @$got], [sort @w],
                              "$name - redis: KEYS $pattern");
    } elsif ($op eq 'ASSERT_GET') {
        my $got = TenantRedis::redis('GET', $w[0]);
        Test::More::is(defined $got ? $got : 'nil', $w[1],
                       "$name - redis: GET $w[0]");
    } elsif ($op eq 'ASSERT_PTTL') {
        my ($lo, $hi) = $w[1] =~ /^(\d+)\.\.(\d+)$/ or die "bad range $w[1]\n";
        my $got = TenantRedis::redis('PTTL', $w[0]);
        Test::More::ok($got >= $lo && $got <= $hi,
                       "$name - redis: PTTL $w[0] is $got, in [$lo, $hi]");
    } else {
        die "unknown assertion \"$op\"\n";
    }
}

# pause_when_up(ms), from a block's --- init: CLIENT PAUSE ms ALL once the
# block's nginx listens; at once, but under valgrind nginx may still be
# starting when --- init runs.
sub pause_when_up {
    my ($ms) = @_;
    for (1 .. 12000) {
        last if IO::Socket::INET->new(
            PeerAddr => "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}");
        select undef, undef, undef, 0.005;
    }
    TenantRedis::redis('CLIENT', 'PAUSE', $ms, 'ALL');
}

add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;

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

    $block->set_value(http_config => $Http) unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: after=3: three 401s from the upstream, then 429 locked_out with Retry-After (at most the 2 s duration), even with the right password; another key is not affected; a refused request does not count
--- redis
FLUSHALL
--- request eval
["GET /login?user=a&pw=x", "GET /login?user=a&pw=y", "GET /login?user=a&pw=z",
 "GET /login?user=a&pw=ok", "GET /login?user=b&pw=ok", "GET /login?user=a&pw=w"]
--- error_code eval
[401, 401, 401, 429, 200, 429]
--- response_headers_like eval
[("X-Request-Time: $main::Fast\nRetry-After: ") x 3,
 "Retry-After: [12]\nContent-Type: application/json\nCache-Control: no-store\nWWW-Authenticate: ",
 "Retry-After: ",
 "Retry-After: [12]\nContent-Type: application/json"]
--- response_body eval
[$main::Wrong, $main::Wrong, $main::Wrong, $main::Locked, "welcome [b]\n", $main::Locked]
--- no_error_log
[error]



=== TEST 2: (the lock PREFIX lockout:{a}:locked has the duration as its TTL, the counter is gone, b has nothing) the lock expires after its duration, then access works and one more failure does not lock again
--- redis
ASSERT_KEYS * tenant:lockout:{a}:locked
ASSERT_PTTL tenant:lockout:{a}:locked 1..2000
FLUSHALL
--- request eval
["GET /login?user=a&pw=x", "GET /login?user=a&pw=x", "GET /login?user=a&pw=x",
 "GET /login?user=a&pw=ok", "GET /sleep",
 "GET /login?user=a&pw=ok", "GET /login?user=a&pw=x", "GET /login?user=a&pw=ok"]
--- error_code eval
[401, 401, 401, 429, 200, 200, 401, 200]
--- response_body eval
[$main::Wrong, $main::Wrong, $main::Wrong, $main::Locked, "slept\n",
 "welcome [a]\n", $main::Wrong, "welcome [a]\n"]
--- no_error_log
[error]



=== TEST 3: (the one failure after the lock is counted anew, with the window as its TTL) the logs: a lockout refusal is logged at info
--- redis
ASSERT_KEYS * tenant:lockout:{a}
ASSERT_GET tenant:lockout:{a} 1
ASSERT_PTTL tenant:lockout:{a} 55000..60000
FLUSHALL
--- init
TenantRedis::redis_run("SET tenant:lockout:{m}:locked 1 PX 30000")
--- request
GET /login?user=m&pw=ok
--- error_code: 429
--- response_headers_like eval
"Retry-After: " . main::upto(30)
--- response_body eval
$main::Locked
--- error_log
tenant: rejected with "locked_out": refused by a keyed limit
--- no_error_log
[error]



=== TEST 4: the window: two failures more than window=1s apart never lock (after=2); two within it do
--- redis
FLUSHALL
--- request eval
["GET /short?user=w&pw=x", "GET /sleep1", "GET /short?user=w&pw=x", "GET /short?user=w&pw=ok",
 "GET /short?user=v&pw=x", "GET /short?user=v&pw=x", "GET /short?user=v&pw=ok"]
--- error_code eval
[401, 200, 401, 200, 401, 401, 429]
--- response_headers_like eval
["", "", "", "", "", "", "Retry-After: (?:59|60)"]
--- no_error_log
[error]



=== TEST 5: an empty key is not counted: 401s without ?user= never lock, and leave nothing in Redis
--- redis
FLUSHALL
--- request eval
[("GET /login?pw=x") x 4, "GET /login?user=&pw=x", "GET /login?pw=ok"]
--- error_code eval
[401, 401, 401, 401, 401, 200]
--- response_body eval
[($main::Wrong) x 5, "welcome []\n"]
--- no_error_log
[error]



=== TEST 6: (nothing in Redis) responses other than 401 are not failures: a 200, a 404, a 403 do not count
--- redis
ASSERT_KEYS *
FLUSHALL
--- config
    location /other {
        tenant_lockout key=$arg_user after=1 window=60s duration=60s;
        return 403;
    }
    location /missing {
        tenant_lockout key=$arg_user after=1 window=60s duration=60s;
        return 404;
    }
    location /fine {
        tenant_lockout key=$arg_user after=1 window=60s duration=60s;
        echo "fine";
    }
--- request eval
["GET /other?user=c", "GET /other?user=c", "GET /missing?user=c", "GET /missing?user=c", "GET /fine?user=c", "GET /fine?user=c"]
--- error_code eval
[403, 403, 404, 404, 200, 200]
--- no_error_log
[error]



=== TEST 7: (nothing in Redis) the module's own 401s count too: without tenant_jwt's token, twice, the address is locked and even a valid token is refused; without a token it is still 401 (the token is checked first)
--- redis
ASSERT_KEYS *
FLUSHALL
--- request eval
["GET /api", "GET /api", "GET /api", "GET /api"]
--- more_headers eval
["", "Authorization: Bearer not.a.token", TenantTest::bearer(), ""]
--- error_code eval
[401, 401, 429, 401]
--- response_headers_like eval
["WWW-Authenticate: Bearer\nRetry-After: ", "WWW-Authenticate: Bearer error=\"invalid_token\"\nRetry-After: ",
 "Retry-After: (?:59|60)\nWWW-Authenticate: ", "WWW-Authenticate: Bearer"]
--- response_body_like eval
[qr/\A\Q$main::MissingToken\E\z/, qr/"error":"invalid_token"/, qr/\A\Q$main::Locked\E\z/, qr/\A\Q$main::MissingToken\E\z/]
--- no_error_log
[error]



=== TEST 8: (the address 127.0.0.1 is binary: its lock is {~7f000001}, and the 401 after the lock counts anew) a lockout keyed by $tenant_user counts the upstream's 401s of a verified user; the module's own 401s have no user and are not counted
--- redis
ASSERT_KEYS * tenant:lockout:{~7f000001}:locked tenant:lockout:{~7f000001}
FLUSHALL
--- request eval
["GET /user?pw=x", "GET /user", "GET /user?pw=x", "GET /user?pw=ok", "GET /user?pw=ok", "GET /user?pw=ok"]
--- more_headers eval
[TenantTest::bearer(claims => {sub => 'alice'}), "", TenantTest::bearer(claims => {sub => 'alice'}),
 TenantTest::bearer(claims => {sub => 'alice'}), TenantTest::bearer(claims => {sub => 'bob'}),
 TenantTest::bearer(claims => {sub => 'alice', org_id => 'globex'})]
--- error_code eval
[401, 401, 401, 429, 200, 429]
--- response_body_like eval
[qr/\A\Q$main::Wrong\E\z/, qr/\A\Q$main::MissingToken\E\z/, qr/\A\Q$main::Wrong\E\z/,
 qr/\A\Q$main::Locked\E\z/, qr/\Awelcome \[\]\n\z/, qr/\A\Q$main::Locked\E\z/]
--- no_error_log
[error]



=== TEST 9: (one lock, for alice) a 401 the location answers itself with "return" counts; while locked, a request that reaches the access phase is refused, one that "return" answers first is not
--- redis
ASSERT_KEYS * tenant:lockout:{alice}:locked
FLUSHALL
--- request eval
["GET /direct?user=d&pw=x", "GET /direct?user=d&pw=x", "GET /direct?user=d&pw=ok", "GET /direct?user=d&pw=x"]
--- error_code eval
[401, 401, 429, 401]
--- response_body eval
[$main::Wrong, $main::Wrong, $main::Locked, $main::Wrong]
--- no_error_log
[error]



=== TEST 10: zones and lockout on one location: the zones are checked first; a 429 rate_limited is not a failure
--- redis
FLUSHALL
--- request eval
["GET /limited?user=e&pw=x", "GET /limited?user=e&pw=ok", "GET /limited?user=e&pw=ok",
 "GET /limited?user=e&pw=x", "GET /limited?user=e&pw=x"]
--- error_code eval
[401, 200, 200, 429, 429]
--- response_body eval
[$main::Wrong, "welcome [e]\n", "welcome [e]\n", $main::RateLimited, $main::RateLimited]
--- no_error_log
[error]



=== TEST 11: (one failure counted, no lock) Redis down, tenant_redis_failure deny: 503 limiter_unavailable before the upstream is asked
--- redis
ASSERT_KEYS * tenant:lockout:{e} tenant:zone:burst3:{e}
ASSERT_GET tenant:lockout:{e} 1
--- http_config eval
"tenant_redis 127.0.0.1:$main::DEAD timeout=100ms;"
--- config
    location /login {
        tenant_lockout key=$arg_user after=1 window=60s duration=60s;
        tenant_redis_failure deny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /check {
        return 401 "wrong password\n";
    }
--- request
GET /login?user=a&pw=ok
--- error_code: 503
--- response_body eval
$main::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: redis/, qr/tenant: rejected with "limiter_unavailable"/]
--- no_error_log
[alert]
[crit]



=== TEST 12: Redis down, allow: the upstream answers, its 401s go uncounted and are not delayed
--- http_config eval
"tenant_redis 127.0.0.1:$main::DEAD timeout=100ms;"
--- config
    location /login {
        tenant_lockout key=$arg_user after=1 window=60s duration=60s;
        add_header X-Request-Time $request_time always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /check {
        if ($arg_pw != "ok") {
            return 401 "wrong password\n";
        }
        echo "welcome [$arg_user]";
    }
--- request eval
["GET /login?user=a&pw=x", "GET /login?user=a&pw=x", "GET /login?user=a&pw=ok"]
--- error_code eval
[401, 401, 200]
--- response_headers_like eval
[("X-Request-Time: $main::Fast") x 3]
--- response_body eval
[$main::Wrong, $main::Wrong, "welcome [a]\n"]
--- no_error_log
[alert]
[crit]



=== TEST 13: counting never delays a 401: with Redis stalled (CLIENT PAUSE), a 401 whose key is known only from the response goes out at once
--- redis
FLUSHALL
--- init
main::pause_when_up($main::Pause)
--- config
    location /acct {
        tenant_lockout key=$upstream_http_x_account after=1 window=60s duration=60s;
        add_header X-Request-Time $request_time always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/account;
    }
    location /account {
        add_header X-Account $arg_user always;
        return 401 "wrong password\n";
    }
--- request
GET /acct?user=late
--- wait eval
$main::Pause / 1000 + 0.2
--- error_code: 401
--- response_headers_like eval
"X-Request-Time: $main::Quick
X-Account: late"
--- response_body eval
$main::Wrong
--- no_error_log
[alert]
[crit]



=== TEST 14: (the failure was counted once Redis resumed: after=1 set the lock) but a key known only from the response is empty when the lock is checked: such a lockout never refuses
--- redis
ASSERT_KEYS * tenant:lockout:{late}:locked
--- config
    location /acct {
        tenant_lockout key=$upstream_http_x_account after=1 window=60s duration=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/account;
    }
    location /account {
        add_header X-Account $arg_user always;
        return 401 "wrong password\n";
    }
--- request
GET /acct?user=late
--- error_code: 401
--- response_body eval
$main::Wrong
--- no_error_log
[error]



=== TEST 15: a 401 that error_page replaces with a page of another location (by URI or named) still counts for the location that has tenant_lockout: the third attempt is locked out
--- redis
FLUSHALL
--- config
    location /login {
        tenant_lockout key=$arg_user after=2 window=60s duration=60s;
        proxy_intercept_errors on;
        error_page 401 /denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /login-named {
        tenant_lockout key=$arg_user after=2 window=60s duration=60s;
        proxy_intercept_errors on;
        error_page 401 @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location = /denied {
        return 401 "denied page\n";
    }
    location @denied {
        return 401 "denied page\n";
    }
    location /check {
        return 401 "wrong password\n";
    }
--- request eval
["GET /login?user=a", "GET /login?user=a", "GET /login?user=a",
 "GET /login-named?user=b", "GET /login-named?user=b", "GET /login-named?user=b"]
--- error_code eval
[401, 401, 429, 401, 401, 429]
--- response_body eval
["denied page\n", "denied page\n", $main::Locked, "denied page\n", "denied page\n", $main::Locked]
--- no_error_log
[error]



=== TEST 16: tenant_lockout without key=: nginx -t fails
--- config
    location /t {
        tenant_lockout after=3 window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive needs "key=", "after=", "window=" and "duration="



=== TEST 17: tenant_lockout without after=: nginx -t fails
--- config
    location /t {
        tenant_lockout key=$arg_user window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive needs "key=", "after=", "window=" and "duration="



=== TEST 18: tenant_lockout without window=: nginx -t fails
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive needs "key=", "after=", "window=" and "duration="



=== TEST 19: tenant_lockout without duration=: nginx -t fails
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive needs "key=", "after=", "window=" and "duration="



=== TEST 20: after=0 is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=0 window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "after=0"



=== TEST 21: after= that is not a number is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=three window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "after=three"



=== TEST 22: window=0 is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=0 duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "window=0"



=== TEST 23: a duration that is not a time is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=60s duration=forever;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "duration=forever"



=== TEST 24: an empty key= is refused
--- config
    location /t {
        tenant_lockout key= after=3 window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "key="



=== TEST 25: an unknown parameter is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=60s duration=60s status=403;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
invalid parameter "status=403"



=== TEST 26: tenant_lockout twice at one level is refused
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=60s duration=60s;
        tenant_lockout key=$remote_addr after=3 window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive is duplicate



=== TEST 27: tenant_lockout without tenant_redis is refused
--- http_config
--- config
    location /t {
        tenant_lockout key=$arg_user after=3 window=60s duration=60s;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_limit_by" and "tenant_lockout" need "tenant_redis"



=== TEST 28: tenant_lockout is not an http-level directive
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_lockout key=$arg_user after=3 window=60s duration=60s;
--- config
    location /t { echo ok; }
--- must_die
--- error_log
[emerg]
"tenant_lockout" directive is not allowed here



=== TEST 29: tenant_lockout at the server level applies to its locations, which share the counter of a key; a location with its own replaces it
--- redis
FLUSHALL
--- config
    tenant_lockout key=$arg_user after=2 window=60s duration=60s;
    location /a {
        return 401 "a\n";
    }
    location /b {
        echo "b";
    }
    location /own {
        tenant_lockout key=$arg_other after=2 window=60s duration=60s;
        echo "own";
    }
--- request eval
["GET /a?user=s", "GET /own?user=s", "GET /a?user=s", "GET /b?user=s", "GET /own?user=s&other=t"]
--- error_code eval
[401, 200, 401, 429, 200]
--- no_error_log
[error]
