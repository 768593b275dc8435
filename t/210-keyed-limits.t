use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Digest::SHA qw(sha1_hex);
use POSIX qw(strftime);

no_shuffle();

# Keyed limits: tenant_limit_zone NAME key=$variable rate=... [burst=N]
# declares a GCRA limit in Redis keyed by any variable, tenant_limit_by
# applies zones to a location.  Exact like limit_req burst=N nodelay:
# N+1 requests at once, then one per emission interval; 429 rate_limited
# with Retry-After.  An empty key is not limited.  Without tenant_jwt the
# zones run at once; with it, after the token, the identity and the
# policy (so $tenant_user can key them) and before the tenant's EVALSHA.
#
# Keys in Redis: PREFIX zone:NAME:{KEY}, KEY as it is when it is 1 to 128
# bytes of printable ASCII other than space and braces, else in hex, or,
# when longer than 64 bytes, its SHA-1 in hex (enc() below).
#
# Every block that sends requests starts from an empty Redis (FLUSHALL in
# its --- redis section); a block may first assert what the previous
# block's requests left in Redis:
#   ASSERT_KEYS pattern [key ...]   KEYS pattern is exactly these keys
#   ASSERT_GET key value|nil
#   ASSERT_PTTL key LO..HI          in milliseconds

our $Http = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_limit_zone by_hdr  key=$http_x_key rate=1r/m burst=2;
    tenant_limit_zone by_arg  key=$arg_k rate=1r/m;
    tenant_limit_zone by_ip   key=$binary_remote_addr rate=1r/m burst=1;
    tenant_limit_zone by_user key=$tenant_user rate=1r/m;
    tenant_limit_zone persec  key=$http_x_key rate=2r/s;
    tenant_limit_zone hourly  key=$http_x_key rate=2r/h burst=1;
    tenant_limit_zone fast    key=$http_x_key rate=1r/s;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000/day;
_EOC_

our $Config = <<'_EOC_';
    location /hdr {
        tenant_limit_by by_hdr;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        echo "ok key=[$http_x_key]";
    }
    location /arg {
        tenant_limit_by by_arg;
        echo "ok k=[$arg_k]";
    }
    location /ip {
        tenant_limit_by by_ip;
        echo "ok";
    }
    location /user {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit_by by_user;
        echo "ok user=[$tenant_user]";
    }
    location /owner {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role owner;
        tenant_limit_by by_user;
        echo "ok user=[$tenant_user]";
    }
    location /two {
        tenant_limit_by by_hdr by_arg;
        echo "ok";
    }
    location /persec {
        tenant_limit_by persec;
        echo "ok";
    }
    location /hourly {
        tenant_limit_by hourly;
        echo "ok";
    }
    location /fast {
        tenant_limit_by fast;
        echo "ok";
    }
    location /plan {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_limit_by by_user;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        echo "ok user=[$tenant_user]";
    }
    location /sleep {
        echo_sleep 1.2;
        echo "slept";
    }
_EOC_

our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
our $MissingToken = qq{{"error":"missing_token","message":"a bearer token is required"}\n};
our $InvalidToken = qq{{"error":"invalid_token","message":"the token is malformed, or its signature, issuer or audience is not accepted"}\n};
our $Role = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};

# a loopback port nothing listens on: Redis is down
our $DEAD = TenantRedis::free_port();

# State a request must find (a paused Redis, a TAT that counts down) is
# set by the block's --- init, once its nginx is up, not by its --- redis,
# which runs before the runner restarts nginx (see t/lib/TenantRedis.pm).
# Under valgrind (TEST_NGINX_USE_VALGRIND) nginx takes seconds to start,
# and may still be starting when --- init runs, and each request is many
# times slower: CLIENT PAUSE holds Redis for 20 s instead of 0.8 s, so that
# it is still paused when the block's request comes (a pause holds every
# client: the next block's PING waits for its end); "at once" is under 1 s
# instead of 0.2 s, still far from waiting for the paused Redis; and a
# Retry-After that counts down from the block's --- init may have lost up
# to a minute instead of a second.
our $Valgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $Pause = $Valgrind ? 20000 : 800;
our $Fast = $Valgrind ? '0\.\d\d\d' : '0\.(?:0\d\d|1\d\d)';
our $Late = $Valgrind ? 60 : 1;

# Retry-After $n, or up to $Late seconds less
sub upto { my ($n) = @_; '(?:' . join('|', $n - $Late .. $n) . ')' }

our $Down = <<"_EOC_";
    tenant_redis 127.0.0.1:$DEAD timeout=100ms;
    tenant_limit_zone by_hdr key=\$http_x_key rate=1r/m;
_EOC_

our $Stalled = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms;
    tenant_limit_zone by_hdr key=$http_x_key rate=1r/m;
_EOC_

our $DownConfig = <<'_EOC_';
    location /allow {
        tenant_limit_by by_hdr;
        tenant_redis_failure allow;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        add_header X-Request-Time $request_time always;
        echo "ok";
    }
    location /deny {
        tenant_limit_by by_hdr;
        tenant_redis_failure deny;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        add_header X-Request-Time $request_time always;
        echo "ok";
    }
    location /default {
        tenant_limit_by by_hdr;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        echo "ok";
    }
_EOC_

# a second server for TEST 26
$ENV{TEST_NGINX_LATE_PORT} = TenantRedis::free_port();

# The key of a value, as the contract says, written here independently of
# the module.
sub enc {
    my ($v) = @_;
    my $plain = length($v) >= 1 && length($v) <= 128 && $v !~ /[^\x21-\x7e]|[{}~]/;
    return $v if $plain;
    return '~~' . sha1_hex($v) if length($v) > 64;
    return '~' . unpack 'H*', $v;
}

sub zkey { "tenant:zone:$_[0]:{" . enc($_[1]) . "}" }

sub day { strftime('%Y-%m-%d', gmtime) }

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

=== TEST 1: a zone keyed by a header, burst=2: exactly 3 of 5 immediate requests are admitted, then 429 rate_limited with Retry-After of one interval
--- redis
FLUSHALL
--- request eval
[("GET /hdr") x 5]
--- more_headers
X-Key: alpha
--- error_code eval
[200, 200, 200, 429, 429]
--- response_headers_like eval
[("X-Limit-Status: \\[\\]\nRetry-After: \nRateLimit-Limit: ") x 3,
 ("Retry-After: (?:59|60)\nContent-Type: application/json\nCache-Control: no-store\nX-Limit-Status: \\[REJECTED\\]\nRateLimit-Limit: \nWWW-Authenticate: ") x 2]
--- response_body eval
[("ok key=[alpha]\n") x 3, ($main::RateLimited) x 2]
--- no_error_log
[error]



=== TEST 2: (the previous test's state, and its TTL of at most the burst's intervals plus 1 s) a state an operator set in Redis is honoured: a TAT 10 minutes ahead refuses at once, logged at info
--- redis
ASSERT_KEYS * tenant:zone:by_hdr:{alpha}
ASSERT_PTTL tenant:zone:by_hdr:{alpha} 170000..181000
FLUSHALL
--- init
TenantRedis::redis_run("SET tenant:zone:by_hdr:{full} "
                       . ((time + 600) * 1000000) . " PX 600000")
--- request
GET /hdr
--- more_headers
X-Key: full
--- error_code: 429
--- response_headers_like eval
"Retry-After: " . main::upto(480) . "
X-Limit-Status: \\[REJECTED\\]"
--- response_body eval
$main::RateLimited
--- error_log
tenant: rejected with "rate_limited": refused by a keyed limit
--- no_error_log
[error]



=== TEST 3: two keys of one zone are limited separately
--- redis
FLUSHALL
--- request eval
["GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr"]
--- more_headers eval
["X-Key: a", "X-Key: b", "X-Key: a", "X-Key: a", "X-Key: a", "X-Key: b", "X-Key: c"]
--- error_code eval
[200, 200, 200, 200, 429, 200, 200]
--- response_body eval
["ok key=[a]\n", "ok key=[b]\n", "ok key=[a]\n", "ok key=[a]\n", $main::RateLimited,
 "ok key=[b]\n", "ok key=[c]\n"]
--- no_error_log
[error]



=== TEST 4: (the previous test's keys: one per value) an empty key is not limited: no header, an empty header, no argument, an empty argument
--- redis
ASSERT_KEYS * tenant:zone:by_hdr:{a} tenant:zone:by_hdr:{b} tenant:zone:by_hdr:{c}
FLUSHALL
--- request eval
["GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr", "GET /hdr", "GET /arg", "GET /arg", "GET /arg?k=", "GET /arg?k=", "GET /arg?x=1"]
--- more_headers eval
["", "", "", "", "X-Key:", "", "", "", "", ""]
--- error_code eval
[(200) x 10]
--- response_body eval
[("ok key=[]\n") x 5, ("ok k=[]\n") x 5]
--- no_error_log
[error]



=== TEST 5: (nothing was written to Redis for empty keys) a zone keyed by $arg_k, burst=0: one request per key
--- redis
ASSERT_KEYS *
FLUSHALL
--- request eval
["GET /arg?k=x", "GET /arg?k=x", "GET /arg?k=y", "GET /arg?k=x&k=y", "GET /arg?k=y"]
--- error_code eval
[200, 429, 200, 429, 429]
--- response_headers_like eval
["", "Retry-After: (?:59|60)", "", "Retry-After: (?:59|60)", "Retry-After: (?:59|60)"]
--- response_body eval
["ok k=[x]\n", $main::RateLimited, "ok k=[y]\n", $main::RateLimited, $main::RateLimited]
--- no_error_log
[error]



=== TEST 6: (one key per value of k) a zone keyed by $binary_remote_addr, without tenant_jwt: burst=1 admits 2, then 429
--- redis
ASSERT_KEYS * tenant:zone:by_arg:{x} tenant:zone:by_arg:{y}
FLUSHALL
--- request eval
[("GET /ip") x 3]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok\n", "ok\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 7: (the address 127.0.0.1 is binary, so the previous test's key is in hex: {~7f000001}) a zone keyed by $tenant_user: two users of one tenant are limited separately
--- redis
ASSERT_KEYS * tenant:zone:by_ip:{~7f000001}
FLUSHALL
--- request eval
[("GET /user") x 5]
--- more_headers eval
[TenantTest::bearer(claims => {sub => 'alice'}),
 TenantTest::bearer(claims => {sub => 'bob'}),
 TenantTest::bearer(claims => {sub => 'alice'}),
 TenantTest::bearer(claims => {sub => 'bob'}),
 TenantTest::bearer(claims => {sub => 'carol', org_id => 'globex'})]
--- error_code eval
[200, 200, 429, 429, 200]
--- response_body eval
["ok user=[alice]\n", "ok user=[bob]\n", $main::RateLimited, $main::RateLimited, "ok user=[carol]\n"]
--- no_error_log
[error]



=== TEST 8: (one key per user) with tenant_jwt, a missing or invalid token is refused with 401 and a policy refusal with 403 before any zone is touched
--- redis
ASSERT_KEYS * tenant:zone:by_user:{alice} tenant:zone:by_user:{bob} tenant:zone:by_user:{carol}
FLUSHALL
--- request eval
["GET /user", "GET /user", "GET /user", "GET /owner", "GET /owner"]
--- more_headers eval
["",
 TenantTest::bearer(claims => {sub => 'alice'}, key => 'hmac2.secret'),
 TenantTest::bearer(claims => {sub => 'alice', exp => time - 3600}),
 TenantTest::bearer(claims => {sub => 'alice', role => 'admin'}),
 TenantTest::bearer(claims => {sub => 'alice', role => 'admin'})]
--- error_code eval
[401, 401, 401, 403, 403]
--- response_body_like eval
[qr/\A\Q$main::MissingToken\E\z/, qr/\A\Q$main::InvalidToken\E\z/, qr/"error":"token_expired"/,
 qr/\A\Q$main::Role\E\z/, qr/\A\Q$main::Role\E\z/]
--- no_error_log
[error]



=== TEST 9: (so Redis holds no zone key at all) an admitted owner is limited
--- redis
ASSERT_KEYS *
FLUSHALL
--- request
GET /owner
--- more_headers eval
TenantTest::bearer(claims => {sub => 'dave', role => 'owner'})
--- error_code: 200
--- response_body
ok user=[dave]
--- no_error_log
[error]



=== TEST 10: (one key per user) two zones on one location both apply, in order: by_hdr (burst=2) and by_arg (burst=0)
--- redis
ASSERT_KEYS * tenant:zone:by_user:{dave}
FLUSHALL
--- request eval
["GET /two?k=x", "GET /two?k=y", "GET /two?k=x", "GET /two?k=z", "GET /two?k=w", "GET /two"]
--- more_headers eval
["X-Key: a", "X-Key: a", "X-Key: b", "X-Key: a", "X-Key: a", "X-Key: b"]
--- error_code eval
[200, 200, 429, 200, 429, 200]
--- response_headers_like eval
["", "", "Retry-After: (?:59|60)", "", "Retry-After: (?:59|60)", ""]
--- response_body eval
["ok\n", "ok\n", $main::RateLimited, "ok\n", $main::RateLimited, "ok\n"]
--- no_error_log
[error]



=== TEST 11: (the previous test's keys: one per zone and value reached) a zone that admits a request counts it even when a later zone refuses it, unlike limit_req
--- redis
ASSERT_KEYS * tenant:zone:by_hdr:{a} tenant:zone:by_hdr:{b} tenant:zone:by_arg:{x} tenant:zone:by_arg:{y} tenant:zone:by_arg:{z}
FLUSHALL
--- request eval
["GET /two?k=x", "GET /two?k=x", "GET /hdr", "GET /hdr", "GET /hdr"]
--- more_headers
X-Key: b
--- error_code eval
[200, 429, 200, 429, 429]
--- response_body eval
["ok\n", $main::RateLimited, "ok key=[b]\n", $main::RateLimited, $main::RateLimited]
--- no_error_log
[error]



=== TEST 12: rate per second (2r/s): a second immediate request is refused with Retry-After 1; rate per hour (2r/h burst=1): Retry-After is one interval, 1800 s
--- redis
FLUSHALL
--- request eval
["GET /persec", "GET /persec", "GET /hourly", "GET /hourly", "GET /hourly"]
--- more_headers
X-Key: k
--- error_code eval
[200, 429, 200, 200, 429]
--- response_headers_like eval
["", "Retry-After: 1", "", "", "Retry-After: (?:1799|1800)"]
--- response_body eval
["ok\n", $main::RateLimited, "ok\n", "ok\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 13: after one emission interval (1r/s, 1.2 s later) exactly one more request is admitted
--- redis
FLUSHALL
--- request eval
["GET /fast", "GET /fast", "GET /sleep", "GET /fast", "GET /fast"]
--- more_headers
X-Key: k
--- error_code eval
[200, 429, 200, 200, 429]
--- response_body eval
["ok\n", $main::RateLimited, "slept\n", "ok\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 14: key injection: values with braces, spaces, bytes over 0x7e are each limited on a key of their own
--- redis
FLUSHALL
--- request eval
[map { ("GET /hdr") x 4 } 1 .. 5]
--- more_headers eval
[map { ("X-Key: $_") x 4 } "a}b", "{x}", "a b", "caf\xc3\xa9", "k\x{7f}"]
--- error_code eval
[map { (200, 200, 200, 429) } 1 .. 5]
--- no_error_log
[error]



=== TEST 15: (the previous test left its keys in hex inside the braces, so no byte reaches outside them) arguments stay URL-encoded: an encoded brace or CR/LF is plain text in the key
--- redis
ASSERT_KEYS * tenant:zone:by_hdr:{~617d62} tenant:zone:by_hdr:{~7b787d} tenant:zone:by_hdr:{~612062} tenant:zone:by_hdr:{~636166c3a9} tenant:zone:by_hdr:{~6b7f}
FLUSHALL
--- request eval
["GET /arg?k=%7D%7B", "GET /arg?k=a%20b%0D%0AX", "GET /arg?k=%7D%7B"]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok k=[%7D%7B]\n", "ok k=[a%20b%0D%0AX]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 16: (the previous test's keys are the encoded text) a CR inside a header value never reaches Redis: nginx answers 400 itself
--- redis
ASSERT_KEYS * tenant:zone:by_arg:{%7D%7B} tenant:zone:by_arg:{a%20b%0D%0AX}
FLUSHALL
--- raw_request eval
"GET /hdr HTTP/1.1\r\nHost: localhost\r\nX-Key: a\rb\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- no_error_log
[alert]



=== TEST 17: (nothing was written by the previous test) long values: 128 plain bytes, 129 plain bytes, 64 and 65 bytes of braces each have a key of their own
--- redis
ASSERT_KEYS *
FLUSHALL
--- request eval
[("GET /hdr") x 12]
--- more_headers eval
[("X-Key: " . ("p" x 128)) x 3, ("X-Key: " . ("p" x 128) . "q") x 3,
 ("X-Key: " . ("{" x 64)) x 3, ("X-Key: " . ("{" x 65)) x 3]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
--- no_error_log
[error]



=== TEST 18: (the previous test: 128 plain bytes are kept as they are, 129 are hashed, SHA-1 in hex; 64 other bytes are in hex, 65 hashed) a 4000-byte value has a 40-digit key
--- redis eval
"ASSERT_KEYS * " . CORE::join(' ',
    "tenant:zone:by_hdr:{" . ("p" x 128) . "}",
    "tenant:zone:by_hdr:{~~" . Digest::SHA::sha1_hex(("p" x 128) . "q") . "}",
    "tenant:zone:by_hdr:{~" . ("7b" x 64) . "}",
    "tenant:zone:by_hdr:{~~" . Digest::SHA::sha1_hex("{" x 65) . "}") . "
FLUSHALL
"
--- request eval
[("GET /hdr") x 4]
--- more_headers eval
"X-Key: " . ("v" x 4000)
--- error_code eval
[200, 200, 200, 429]
--- no_error_log
[error]



=== TEST 19: (the previous test's key is the SHA-1 of the value) with tenant_limit too, a request the zone refuses never reaches the tenant's EVALSHA: no rate headers, $tenant_limit_status REJECTED
--- redis eval
"ASSERT_KEYS * tenant:zone:by_hdr:{~~" . Digest::SHA::sha1_hex("v" x 4000) . "}
FLUSHALL
"
--- request eval
[("GET /plan") x 4]
--- more_headers eval
[TenantTest::bearer(claims => {sub => 'alice'}), TenantTest::bearer(claims => {sub => 'alice'}),
 TenantTest::bearer(claims => {sub => 'bob'}), TenantTest::bearer(claims => {sub => 'alice'})]
--- error_code eval
[200, 429, 200, 429]
--- response_headers eval
["RateLimit-Limit: 1000\nX-Quota-Limit: 1000\nX-Limit-Status: [PASSED]",
 "!RateLimit-Limit\n!X-Quota-Limit\nX-Limit-Status: [REJECTED]",
 "RateLimit-Limit: 1000\nX-Quota-Limit: 1000\nX-Limit-Status: [PASSED]",
 "!RateLimit-Limit\n!X-Quota-Limit\nX-Limit-Status: [REJECTED]"]
--- response_body eval
["ok user=[alice]\n", $main::RateLimited, "ok user=[bob]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 20: (the previous test's quota counted the 2 admitted requests only) a request internally redirected into a location with the same zone is counted once, as with limit_req: burst=2 admits 3
--- redis eval
"ASSERT_GET tenant:{acme}:quota:" . main::day() . " 2
FLUSHALL
"
--- config
    location /redir {
        tenant_limit_by by_hdr;
        try_files /no-such-file @fallback;
    }
    location @fallback {
        tenant_limit_by by_hdr;
        echo "fallback key=[$http_x_key]";
    }
--- request eval
[("GET /redir") x 4]
--- more_headers
X-Key: r
--- error_code eval
[200, 200, 200, 429]
--- response_body eval
[("fallback key=[r]\n") x 3, $main::RateLimited]
--- no_error_log
[error]



=== TEST 21: a redirect into a location with another zone: both zones count the request
--- redis
FLUSHALL
--- config
    location /redir {
        tenant_limit_by by_hdr;
        try_files /no-such-file @other;
    }
    location @other {
        tenant_limit_by by_arg;
        echo "other k=[$arg_k]";
    }
--- request eval
["GET /redir?k=q", "GET /redir?k=q", "GET /redir?k=s", "GET /redir?k=t"]
--- more_headers
X-Key: r2
--- error_code eval
[200, 429, 200, 429]
--- response_body eval
["other k=[q]\n", $main::RateLimited, "other k=[s]\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 22: Redis down, tenant_redis_failure deny: 503 limiter_unavailable at once, without Retry-After; the Redis failure is logged at [error]
--- http_config eval: $::Down
--- config eval: $::DownConfig
--- request
GET /deny
--- more_headers
X-Key: a
--- error_code: 503
--- response_headers_like eval
"X-Limit-Status: \\[UNAVAILABLE\\]
X-Request-Time: $main::Fast
Retry-After: "
--- response_body eval
$main::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: redis/, qr/tenant: rejected with "limiter_unavailable": refused by a keyed limit/]
--- no_error_log
[alert]
[crit]



=== TEST 23: Redis down: allow (set or by default) admits with $tenant_limit_status UNAVAILABLE; an empty key needs no Redis
--- http_config eval: $::Down
--- config eval: $::DownConfig
--- request eval
["GET /allow", "GET /allow", "GET /deny", "GET /default", "GET /deny"]
--- more_headers eval
["X-Key: a", "X-Key: a", "X-Key: a", "X-Key: a", ""]
--- error_code eval
[200, 200, 503, 200, 200]
--- response_headers_like eval
[("X-Limit-Status: \\[UNAVAILABLE\\]\nX-Request-Time: $main::Fast\nRetry-After: ") x 2,
 "X-Limit-Status: \\[UNAVAILABLE\\]\nRetry-After: ",
 "X-Limit-Status: \\[UNAVAILABLE\\]\nRetry-After: ",
 "X-Limit-Status: \\[\\]\nRetry-After: "]
--- response_body eval
["ok\n", "ok\n", $main::Unavailable, "ok\n", "ok\n"]
--- no_error_log
[alert]
[crit]



=== TEST 24: Redis stalled (CLIENT PAUSE) past timeout=100ms, deny: 503 within the timeout, "did not answer in time" logged
--- http_config eval: $::Stalled
--- config eval: $::DownConfig
--- redis
FLUSHALL
--- init
TenantRedis::redis_run("CLIENT PAUSE $main::Pause ALL")
--- request
GET /deny
--- more_headers
X-Key: p
--- error_code: 503
--- response_headers_like eval
"X-Limit-Status: \\[UNAVAILABLE\\]
X-Request-Time: $main::Fast"
--- response_body eval
$main::Unavailable
--- error_log
tenant: redis did not answer in time
--- no_error_log
[alert]
[crit]



=== TEST 25: Redis stalled, allow: 200 within the timeout, UNAVAILABLE
--- http_config eval: $::Stalled
--- config eval: $::DownConfig
--- redis
PING
--- init
TenantRedis::redis_run("CLIENT PAUSE $main::Pause ALL")
--- request
GET /allow
--- more_headers
X-Key: p
--- error_code: 200
--- response_headers_like eval
"X-Limit-Status: \\[UNAVAILABLE\\]
X-Request-Time: $main::Fast"
--- response_body
ok
--- no_error_log
[alert]
[crit]



=== TEST 26: (the PING waits for the pause of the previous test to end) tenant_limit_dry_run is for the plan's limits: a zone still refuses
--- redis
PING
FLUSHALL
--- config
    location /t {
        tenant_limit_dry_run on;
        tenant_limit_by by_arg;
        add_header X-Limit-Status "[$tenant_limit_status]" always;
        echo "ok";
    }
--- request eval
["GET /t?k=dry", "GET /t?k=dry"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Limit-Status: []", "X-Limit-Status: [REJECTED]"]
--- no_error_log
[error]



=== TEST 27: tenant_limit_by names an undeclared zone: nginx -t fails
--- http_config eval: $::Http
--- config
    location /t {
        tenant_limit_by by_hdr nope;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
zone "nope" is not declared with "tenant_limit_zone"



=== TEST 28: a zone declared after the server that uses it is found (zones are resolved once the http block is read)
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    server {
        listen 127.0.0.1:$TEST_NGINX_LATE_PORT;
        location / {
            tenant_limit_by late;
            echo "late";
        }
    }
    tenant_limit_zone late key=$http_x_key rate=1r/m;
--- config
    location /t {
        tenant_limit_by late;
        echo ok;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers
X-Key: z
--- error_code eval
[200, 429]
--- no_error_log
[error]



=== TEST 29: a zone without key=: nginx -t fails
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z rate=1r/s;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
zone "z" needs "key=" and "rate="



=== TEST 30: a zone without rate=: nginx -t fails
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key burst=2;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
zone "z" needs "key=" and "rate="



=== TEST 31: an empty key= is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key= rate=1r/s;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "key="



=== TEST 32: a rate per day is not a rate
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=10r/d;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "rate=10r/d"



=== TEST 33: a zero rate is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=0r/s;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "rate=0r/s"



=== TEST 34: a rate that is not a number is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=fast;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "rate=fast"



=== TEST 35: a negative burst is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=1r/s burst=-1;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "burst=-1"



=== TEST 36: an unknown parameter is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=1r/s nodelay;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
invalid parameter "nodelay"



=== TEST 37: a zone declared twice is refused
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=1r/s;
    tenant_limit_zone z key=$arg_k rate=1r/m;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
duplicate zone "z"



=== TEST 38: tenant_limit_by without tenant_redis is refused
--- http_config
    tenant_limit_zone z key=$http_x_key rate=1r/s;
--- config
    location /t { tenant_limit_by z; echo ok; }
--- must_die
--- error_log
[emerg]
"tenant_limit_by" and "tenant_lockout" need "tenant_redis"



=== TEST 39: tenant_limit_by twice at one level is refused
--- http_config eval: $::Http
--- config
    location /t {
        tenant_limit_by by_hdr;
        tenant_limit_by by_arg;
        echo ok;
    }
--- must_die
--- error_log
[emerg]
"tenant_limit_by" directive is duplicate



=== TEST 40: tenant_limit_zone is an http-level directive
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    tenant_limit_zone z key=$http_x_key rate=1r/s;
    location /t { echo ok; }
--- must_die
--- error_log
[emerg]
"tenant_limit_zone" directive is not allowed here



=== TEST 41: tenant_limit_by is not an http-level directive
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_limit_zone z key=$http_x_key rate=1r/s;
    tenant_limit_by z;
--- config
    location /t { echo ok; }
--- must_die
--- error_log
[emerg]
"tenant_limit_by" directive is not allowed here



=== TEST 42: a zone declared but used nowhere needs no tenant_redis and costs nothing
--- http_config
    tenant_limit_zone z key=$http_x_key rate=1r/s;
--- config
    location /t { echo ok; }
--- request
GET /t
--- more_headers
X-Key: a
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]



=== TEST 43: tenant_limit_by at the server level applies to every location; a location with its own list replaces it
--- http_config eval: $::Http
--- config
    tenant_limit_by by_arg;
    location /inherit {
        echo "inherit";
    }
    location /own {
        tenant_limit_by by_hdr;
        echo "own";
    }
--- request eval
["GET /inherit?k=i", "GET /inherit?k=i", "GET /own?k=o", "GET /own?k=o", "GET /own?k=o", "GET /own?k=o"]
--- more_headers
X-Key: h
--- error_code eval
[200, 429, 200, 200, 200, 429]
--- no_error_log
[error]



=== TEST 44: tenant_redis prefix= starts the zone keys too; a key built of several variables and text
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=edge:;
    tenant_limit_zone member key=$tenant_id/$tenant_user rate=1r/m;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit_by member;
        echo "ok $tenant_id/$tenant_user";
    }
--- redis
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {sub => 'alice'}),
 TenantTest::bearer(claims => {sub => 'alice', org_id => 'globex'}),
 TenantTest::bearer(claims => {sub => 'alice'})]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok acme/alice\n", "ok globex/alice\n", $main::RateLimited]
--- no_error_log
[error]



=== TEST 45: (the previous test's keys: edge:zone:member:{acme/alice}, edge:zone:member:{globex/alice}) HEAD requests are limited like any other
--- redis
ASSERT_KEYS * edge:zone:member:{acme/alice} edge:zone:member:{globex/alice}
FLUSHALL
--- request eval
["HEAD /hdr", "HEAD /hdr", "HEAD /hdr", "HEAD /hdr"]
--- more_headers
X-Key: head
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["", "", "", "Retry-After: (?:59|60)"]
--- response_body eval
["", "", "", ""]
--- no_error_log
[error]



=== TEST 46: a value cannot be chosen to share another's key: "a b" (encoded) and "612062" (its hex spelling, plain) and "~612062" each have a bucket of their own
--- redis
FLUSHALL
--- request eval
[map { ("GET /hdr") x 4 } 1 .. 3]
--- more_headers eval
[map { ("X-Key: $_") x 4 } "a b", "612062", "~612062"]
--- error_code eval
[map { (200, 200, 200, 429) } 1 .. 3]
--- no_error_log
[error]
