use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();

no_shuffle();
no_root_location();

# Usage for billing: every admitted request where tenant_limit is on
# counts in tenant:{ID}:usage:MONTH "requests", every tenant_meter in its
# "meter:NAME", whatever the plan's limits; tenant_usage reads them back.
# Blocks start from an empty Redis (FLUSHALL in their --- redis section)
# and may first assert what the previous block's requests left there:
#   ASSERT_HGET key field value|nil   ASSERT_EXISTS key 0|1
#   ASSERT_TTL key N (within $Slack s)
# %MONTH%, %DAY%, %LAST_MONTH% are period ids, %MONTH_LEFT%, %DAY_LEFT%
# the seconds to the period's end, %~NAME% a regex for NAME +- $Slack.

our $Slack = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 5;
our $Valgrind = $ENV{TEST_NGINX_USE_VALGRIND};

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan daily quota=3/day;
    tenant_plan fast rate=1r/m;
    tenant_plan gen quota=100/day meter=generate:2/month;
_EOC_

our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        echo "admitted $tenant_id";
    }
    location /gen {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_meter generate;
        echo "generated $tenant_id";
    }
    location /gen-only {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_meter generate;
        echo "generated $tenant_id";
    }
    location /gen-plan {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan gen;
        tenant_limit on;
        echo "admitted $tenant_id";
    }
    location /open {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "admitted $tenant_id";
    }
    location /usage {
        tenant_usage;
    }
_EOC_

our $QuotaExceeded = qq{{"error":"quota_exceeded","message":"the organization's quota for this period is used up"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};
our $PlanRequired = qq{{"error":"plan_required","message":"the organization's plan does not include this"}\n};
our $Invalid = qq{{"error":"invalid_request","message":"a parameter of the request is missing or not valid"}\n};
our $NotAllowed = qq{{"error":"method_not_allowed","message":"this resource answers GET and HEAD only"}\n};
our $Unavailable = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};

sub usage_json {
    my ($tenant, $period, $requests, $meters) = @_;
    my $m = join ',', map { qq{"$_->[0]":$_->[1]} } @{ $meters || [] };
    return qq{{"tenant":"$tenant","period":"$period","requests":$requests,"meters":{$m}}\n};
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# a loopback port nothing listens on: Redis is down
our $DEAD = free_port();

# ---- periods, as in t/101

sub periods {
    my $now = time;
    my @t = gmtime $now;
    my ($y, $m, $d) = ($t[5] + 1900, $t[4] + 1, $t[3]);
    my $day_end = timegm(0, 0, 0, $d, $m - 1, $y) + 86400;
    my $month_end = $m == 12 ? timegm(0, 0, 0, 1, 0, $y + 1)
                             : timegm(0, 0, 0, 1, $m, $y);
    my ($ly, $lm) = $m == 1 ? ($y - 1, 12) : ($y, $m - 1);
    return {
        DAY => sprintf('%04d-%02d-%02d', $y, $m, $d),
        MONTH => sprintf('%04d-%02d', $y, $m),
        LAST_MONTH => sprintf('%04d-%02d', $ly, $lm),
        DAY_LEFT => $day_end - $now,
        MONTH_LEFT => $month_end - $now,
    };
}

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
    die "bad number \"$e\"\n" unless $e =~ /^[-+*\d\s]+$/;
    return eval $e;
}

sub redis_assert {
    my ($name, $line) = @_;
    my ($op, @w) = split ' ', $line;
    if ($op eq 'ASSERT_HGET') {
        my $got = TenantRedis::redis('HGET', $w[0], $w[1]);
        Test::More::is(defined $got ? $got : 'nil', $w[2],
                       "$name - redis: HGET $w[0] $w[1]");
    } elsif ($op eq 'ASSERT_EXISTS') {
        Test::More::is(TenantRedis::redis('EXISTS', $w[0]), $w[1],
                       "$name - redis: EXISTS $w[0]");
    } elsif ($op eq 'ASSERT_TTL') {
        my $want = number($w[1]);
        my $got = TenantRedis::redis('TTL', $w[0]);
        Test::More::ok($got >= $want - $Slack && $got <= $want + $Slack,
                       "$name - redis: TTL $w[0] is $got, $want give or take $Slack");
    } else {
        die "unknown assertion \"$op\"\n";
    }
}

add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;

    # the usage key is named by the month: never straddle its end
    my $left = periods()->{MONTH_LEFT};
    sleep $left + 1 if $left <= $Slack + 3;

    my $p = periods();

    for my $sec (qw(redis request response_body response_body_like
                    response_headers_like))
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

# ---- requests of our own, from a block's --- init

# a connection to nginx, once it accepts them: under valgrind it may not
# yet when --- init runs
sub nginx_connect {
    my $port = $Test::Nginx::Util::ServerPort;
    for (1 .. ($Valgrind ? 600 : 100)) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        return $s if $s;
        select undef, undef, undef, 0.05;
    }
    die "nginx does not accept connections on $port\n";
}

# until Redis holds a script of nginx's (CLIENT PAUSE WRITE holds them,
# and answers this CLIENT LIST): nginx has read its request and is waiting
sub wait_held {
    for (1 .. ($Valgrind ? 600 : 100)) {
        return if TenantRedis::redis('CLIENT', 'LIST') =~ /\bflags=\w*b/;
        select undef, undef, undef, 0.05;
    }
    die "no script of nginx's held by the pause\n";
}

# the listing, page by page

# GET /usage?period=P&count=N from cursor 0 until next_cursor is null:
# the pages' tenants (duplicates kept), the number of pages
sub pages {
    my ($period, $count) = @_;
    close nginx_connect();
    my $ua = HTTP::Tiny->new(timeout => $Valgrind ? 60 : 10);
    my $json = JSON::PP->new;
    my $port = $Test::Nginx::Util::ServerPort;
    my ($cursor, @tenants, $pages) = ('0');
    while (1) {
        die "more than 1000 pages\n" if ++$pages > 1000;
        my $r = $ua->get("http://127.0.0.1:$port/usage?period=$period"
                         . "&count=$count&cursor=$cursor");
        die "page $pages: $r->{status} $r->{content}\n" unless $r->{status} == 200;
        my $page = $json->decode($r->{content});
        die "page $pages: period $page->{period}\n" unless $page->{period} eq $period;
        push @tenants, @{ $page->{tenants} };
        last unless defined $page->{next_cursor};
        $cursor = $page->{next_cursor};
        die "page $pages: cursor \"$cursor\"\n" unless $cursor =~ /^[1-9]\d*$/;
    }
    return (\@tenants, $pages);
}

sub check_listing {
    my ($period, $count, %want) = @_;
    my ($tenants, $pages) = eval { pages($period, $count) };
    Test::More::ok($tenants, "listing $period by $count: every page answered")
        or Test::More::diag($@);
    return unless $tenants;
    my %got;
    for my $t (@$tenants) {
        my $v = JSON::PP->new->canonical->encode({ requests => $t->{requests},
                                                   meters => $t->{meters} });
        # SCAN may give a key on two pages: the same figures both times
        Test::More::is($v, $got{ $t->{tenant} }, "listing: $t->{tenant} again, same figures")
            if exists $got{ $t->{tenant} };
        $got{ $t->{tenant} } = $v;
    }
    my %w = map { $_ => JSON::PP->new->canonical->encode($want{$_}) } keys %want;
    Test::More::is_deeply(\%got, \%w,
                          "listing $period by $count: each tenant once after dedupe, "
                          . scalar(keys %want) . " tenants in $pages pages");
    Test::More::ok($pages > 1, "listing $period by $count: more than one page ($pages)")
        if $count < 30;
}

# 30 tenants' usage this month, and keys the listing must leave out
sub seed_listing {
    my $p = periods();
    my %want;
    TenantRedis::redis('FLUSHALL');
    for my $i (1 .. 30) {
        my $t = sprintf 't%02d', $i;
        my @m = $i % 3 ? () : ('meter:export', $i * 10);
        TenantRedis::redis('HSET', "tenant:{$t}:usage:$p->{MONTH}", 'requests', $i, @m);
        TenantRedis::redis('HSET', "tenant:{$t}:usage:$p->{LAST_MONTH}", 'requests', 1000 + $i);
        TenantRedis::redis('SET', "tenant:{$t}:quota:$p->{MONTH}", $i);
        TenantRedis::redis('HSET', "tenant:{$t}", 'plan', 'daily');
        $want{$t} = { requests => $i, meters => { @m ? (export => $i * 10) : () } };
    }
    # not a tenant ID, not a hash, another prefix: left out
    TenantRedis::redis('HSET', "tenant:{bad id}:usage:$p->{MONTH}", 'requests', 1);
    TenantRedis::redis('SET', "tenant:{strkey}:usage:$p->{MONTH}", 5);
    TenantRedis::redis('HSET', "other:{t99}:usage:$p->{MONTH}", 'requests', 1);
    return %want;
}

# ---- conf.d/usage.conf next to conf.d/limits.conf, as in t/061

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = free_port();
our $BILLING = free_port();

sub example {
    my ($file) = @_;
    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;
    my $port = $Test::Nginx::Util::ServerPort;
    my $redis = $ENV{TEST_NGINX_REDIS_PORT};
    $conf =~ s{/etc/nginx/tenant/}{$ENV{TEST_NGINX_DATA_DIR}/}g;
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$port}g;
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g;
    $conf =~ s{\blisten\s+127\.0\.0\.1:8090\s*;}{listen 127.0.0.1:$BILLING;}g;
    $conf =~ s{\b127\.0\.0\.1:6379\b}{127.0.0.1:$redis}g;
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;
    $conf =~ s{^(\s*tenant_redis\s.*\btimeout=)50ms;}{${1}2s;}m if $Valgrind;
    return $conf;
}

sub examples { example('limits.conf') . example('usage.conf') }

sub front {
    return <<"_EOC_";
    location /gw/ {
        proxy_pass http://127.0.0.1:$GW/;
    }
    location /billing/ {
        proxy_pass http://127.0.0.1:$BILLING/;
    }
    location / {
        echo "upstream \$uri";
    }
_EOC_
}

sub rs256 {
    my (%claims) = @_;
    return "Authorization: Bearer "
           . TenantTest::jwt(alg => 'RS256', claims => { plan => 'free', %claims });
}

run_tests();

__DATA__

=== TEST 1: a daily quota (3/day): 3 admitted, the 4th refused; the month's usage holds the 3, and tenant_usage reads them back
--- redis
FLUSHALL
--- request eval
[("GET /t") x 4, "GET /usage?tenant=acme&period=%MONTH%"]
--- more_headers eval
TenantTest::bearer(claims => {plan => 'daily'})
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers_like eval
[("") x 4, "Content-Type: application/json\nCache-Control: no-store"]
--- response_body eval
[("admitted acme\n") x 3, $main::QuotaExceeded,
 main::usage_json('acme', '%MONTH%', 3)]
--- no_error_log
[error]



=== TEST 2: the usage hash expires 400 days (tenant_usage_retention's default) after its month; the quota counter keeps its day; a plan without a quota and a plan nobody declared count too, refusals and locations without tenant_limit do not
--- redis
ASSERT_HGET tenant:{acme}:usage:%MONTH% requests 3
ASSERT_TTL tenant:{acme}:usage:%MONTH% %MONTH_LEFT%+400*86400
ASSERT_TTL tenant:{acme}:quota:%DAY% %DAY_LEFT%+86400
FLUSHALL
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /open",
 "GET /usage?tenant=acme&period=%MONTH%",
 "GET /usage?tenant=globex&period=%MONTH%"]
--- more_headers eval
[TenantTest::bearer(claims => {plan => 'fast'}),
 TenantTest::bearer(claims => {plan => 'fast'}),
 (TenantTest::bearer(claims => {org_id => 'globex', plan => 'nosuchplan'})) x 3,
 "", ""]
--- error_code eval
[200, 429, 200, 200, 200, 200, 200]
--- response_body eval
["admitted acme\n", $main::RateLimited, ("admitted globex\n") x 3,
 main::usage_json('acme', '%MONTH%', 1),
 main::usage_json('globex', '%MONTH%', 2)]
--- no_error_log
[error]



=== TEST 3: meters count monthly in the usage, whether the plan limits them (gen: 2/month, the 3rd refused) or not (daily), and where tenant_limit is off (no "requests" then)
--- redis
ASSERT_HGET tenant:{globex}:usage:%MONTH% requests 2
FLUSHALL
--- request eval
["GET /gen", "GET /gen", "GET /gen", "GET /gen-only", "GET /gen-only",
 "GET /usage?tenant=acme&period=%MONTH%",
 "GET /usage?tenant=globex&period=%MONTH%"]
--- more_headers eval
[(TenantTest::bearer(claims => {plan => 'gen'})) x 3,
 (TenantTest::bearer(claims => {org_id => 'globex', plan => 'daily'})) x 2,
 "", ""]
--- error_code eval
[200, 200, 429, 200, 200, 200, 200]
--- response_body eval
[("generated acme\n") x 2, $main::QuotaExceeded, ("generated globex\n") x 2,
 main::usage_json('acme', '%MONTH%', 2, [['generate', 2]]),
 main::usage_json('globex', '%MONTH%', 0, [['generate', 2]])]
--- no_error_log
[error]



=== TEST 4: a hash a meter created gets its expiry too; refused requests count nothing: a suspended tenant, a plan this location does not take
--- redis
ASSERT_HGET tenant:{acme}:usage:%MONTH% meter:generate 2
ASSERT_HGET tenant:{globex}:usage:%MONTH% requests nil
ASSERT_TTL tenant:{globex}:usage:%MONTH% %MONTH_LEFT%+400*86400
ASSERT_TTL tenant:{acme}:meter:generate:%MONTH% %MONTH_LEFT%+86400
FLUSHALL
HSET tenant:{acme} status suspended
--- request eval
["GET /t", "GET /gen", "GET /gen-plan",
 "GET /usage?tenant=acme&period=%MONTH%",
 "GET /usage?tenant=globex&period=%MONTH%"]
--- more_headers eval
[(TenantTest::bearer(claims => {plan => 'gen'})) x 2,
 TenantTest::bearer(claims => {org_id => 'globex', plan => 'daily'}),
 "", ""]
--- error_code eval
[403, 403, 403, 200, 200]
--- response_body eval
[$main::Suspended, $main::Suspended, $main::PlanRequired,
 main::usage_json('acme', '%MONTH%', 0),
 main::usage_json('globex', '%MONTH%', 0)]
--- no_error_log
[error]



=== TEST 5: tenant_usage_retention 30d: the usage hash lives 30 days past its month
--- redis
ASSERT_EXISTS tenant:{acme}:usage:%MONTH% 0
ASSERT_EXISTS tenant:{globex}:usage:%MONTH% 0
FLUSHALL
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_usage_retention 30d;
    tenant_plan gen quota=100/day meter=generate:2/month;
--- request
GET /gen
--- more_headers eval
TenantTest::bearer(claims => {plan => 'gen'})
--- error_code: 200
--- response_body
generated acme
--- no_error_log
[error]



=== TEST 6: last month's usage, seeded as billing finds it after the month, reads back (fields that are not counts left out); a tenant without usage reads as zero
--- redis
ASSERT_TTL tenant:{acme}:usage:%MONTH% %MONTH_LEFT%+30*86400
ASSERT_HGET tenant:{acme}:usage:%MONTH% meter:generate 1
FLUSHALL
HSET tenant:{acme}:usage:%LAST_MONTH% requests 41 meter:export 4 note hello meter:generate 7 meter:odd x1
HSET tenant:{acme}:usage:%MONTH% requests 2
--- request eval
["GET /usage?tenant=acme&period=%LAST_MONTH%",
 "GET /usage?period=%LAST_MONTH%&tenant=acme",
 "GET /usage?tenant=nobody&period=%LAST_MONTH%",
 "GET /usage?tenant=acme&period=%MONTH%"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[(main::usage_json('acme', '%LAST_MONTH%', 41, [['export', 4], ['generate', 7]])) x 2,
 main::usage_json('nobody', '%LAST_MONTH%', 0),
 main::usage_json('acme', '%MONTH%', 2)]
--- no_error_log
[error]



=== TEST 7: every tenant of a month, 5 at a time: 30 tenants, each once after dedupe, the cursor ends; other months, other keys, bad IDs left out
--- init
my %want = main::seed_listing();
main::check_listing(main::periods()->{MONTH}, 5, %want);
main::check_listing(main::periods()->{MONTH}, 1000, %want);
main::check_listing(main::periods()->{LAST_MONTH}, 7,
                    map { sprintf('t%02d', $_) => { requests => 1000 + $_, meters => {} } } 1 .. 30);
--- request
GET /usage?period=%MONTH%&count=1000
--- error_code: 200
--- response_body_like chomp
\A\{"period":"%MONTH%","tenants":\[(?:\{"tenant":"t\d\d","requests":\d+,"meters":\{(?:"export":\d+)?\}\},?){30}\],"next_cursor":null\}\n\z
--- no_error_log
[error]



=== TEST 8: a month nobody used: one page, empty, the cursor ends (a count and a cursor with leading zeros are numbers too)
--- redis
FLUSHALL
HSET tenant:{acme}:usage:%MONTH% requests 2
--- request eval
["GET /usage?period=1999-01", "GET /usage?period=1999-01&count=0100&cursor=00"]
--- error_code eval
[200, 200]
--- response_body eval
[("{\"period\":\"1999-01\",\"tenants\":[],\"next_cursor\":null}\n") x 2]
--- no_error_log
[error]



=== TEST 9: bad input is 400 invalid_request, logged with what is wrong
--- request eval
["GET /usage", "GET /usage?period=", "GET /usage?period=2026-13",
 "GET /usage?period=2026-00", "GET /usage?period=2026-1",
 "GET /usage?period=202611", "GET /usage?period=2026/11",
 "GET /usage?period=2026-11-01",
 "GET /usage?period=2026-11&tenant=", "GET /usage?period=2026-11&tenant=a%20b",
 "GET /usage?period=2026-11&tenant=a%7Db", "GET /usage?period=2026-11&tenant=..",
 "GET /usage?period=2026-11&tenant=" . ('a' x 65),
 "GET /usage?period=2026-11&cursor=abc", "GET /usage?period=2026-11&cursor=-1",
 "GET /usage?period=2026-11&cursor=18446744073709551616",
 "GET /usage?period=2026-11&count=0", "GET /usage?period=2026-11&count=1001",
 "GET /usage?period=2026-11&count=ten"]
--- error_code eval
[(400) x 19]
--- response_body eval
[($main::Invalid) x 19]
--- error_log eval
qr/rejected with "invalid_request": "(?:period|tenant|cursor|count)" (?:must be|is not)/
--- no_error_log
[error]



=== TEST 10: what is wrong is in the log, at info
--- request
GET /usage?period=2026-11&tenant=a:b
--- error_code: 400
--- error_log
rejected with "invalid_request": "tenant" is not a valid tenant ID
--- no_error_log
[error]



=== TEST 11: only GET and HEAD: POST is 405 with Allow; HEAD has the headers of GET and no body; an escaped tenant ID is read as the ID
--- redis
FLUSHALL
HSET tenant:{acme}:usage:2026-11 requests 9
--- request eval
["POST /usage?period=2026-11\nhello", "DELETE /usage?period=2026-11",
 "HEAD /usage?tenant=acme&period=2026-11",
 "GET /usage?tenant=%61cme&period=2026%2D11"]
--- error_code eval
[405, 405, 200, 200]
--- response_headers_like eval
["Allow: GET, HEAD", "Allow: GET, HEAD",
 "Content-Type: application/json\nContent-Length: 62", ""]
--- response_body eval
[$main::NotAllowed, $main::NotAllowed, "", main::usage_json('acme', '2026-11', 9)]
--- no_error_log
[error]



=== TEST 12: Redis down: 503 limiter_unavailable, logged (why, at error, once a second)
--- http_config eval
"    tenant_redis 127.0.0.1:$main::DEAD timeout=200ms;\n"
--- config
    location /usage {
        tenant_usage;
    }
--- request eval
["GET /usage?tenant=acme&period=2026-11", "GET /usage?period=2026-11"]
--- error_code eval
[503, 503]
--- response_body eval
[$main::Unavailable, $main::Unavailable]
--- error_log
rejected with "limiter_unavailable": usage cannot be read from redis



=== TEST 13: Redis stalls past timeout=: 503 limiter_unavailable, "did not answer in time"
--- redis
CLIENT UNPAUSE
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms;
--- config
    location /usage {
        tenant_usage;
    }
--- init
TenantRedis::redis_run("CLIENT PAUSE " . ($main::Valgrind ? 20000 : 2000) . " ALL")
--- request
GET /usage?tenant=acme&period=2026-11
--- error_code: 503
--- response_body eval
$main::Unavailable
--- error_log eval
[qr/\[error\] .*tenant: redis did not answer in time/]



=== TEST 14: a client that goes away while its read waits on a stalled Redis (CLIENT PAUSE WRITE holds scripts) cancels it; the worker goes on and answers the next one when Redis is back
--- redis
CLIENT UNPAUSE
FLUSHALL
HSET tenant:{acme}:usage:2026-11 requests 5
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=30s;
--- config
    location /usage {
        tenant_usage;
    }
--- init
TenantRedis::redis_run("CLIENT PAUSE 2000 WRITE");
my $s = main::nginx_connect();
print {$s} "GET /usage?tenant=acme&period=2026-11 HTTP/1.1\r\nHost: localhost\r\n\r\n";
main::wait_held();
close $s;
--- request
GET /usage?tenant=acme&period=2026-11
--- error_code: 200
--- response_body eval
main::usage_json('acme', '2026-11', 5)
--- error_log
tenant usage: request gone, read cancelled
client prematurely closed connection
--- no_error_log
[error]
[alert]



=== TEST 15: conf.d/usage.conf beside limits.conf: a request through the API is counted, and the platform's billing-admin reads it; a customer's admin, another role, no token are refused
--- redis
CLIENT UNPAUSE
FLUSHALL
--- http_config eval: main::examples()
--- config eval: main::front()
--- request eval
["GET /gw/api/orders", "GET /gw/api/orders", "GET /gw/healthz",
 "GET /billing/usage?tenant=usage-co&period=%MONTH%",
 "GET /billing/usage?period=%MONTH%",
 "GET /billing/usage?tenant=usage-co&period=%MONTH%",
 "GET /billing/usage?tenant=usage-co&period=%MONTH%",
 "GET /billing/usage?tenant=usage-co&period=%MONTH%",
 "POST /billing/usage?period=%MONTH%"]
--- more_headers eval
[(main::rs256(org_id => 'usage-co')) x 2, "",
 (main::rs256(org_id => 'platform', role => 'billing-admin')) x 2,
 main::rs256(org_id => 'usage-co', role => 'billing-admin'),
 main::rs256(org_id => 'platform', role => 'admin'),
 "",
 main::rs256(org_id => 'platform', role => 'billing-admin')]
--- error_code eval
[200, 200, 200, 200, 200, 403, 403, 401, 405]
--- response_body_like eval
["upstream /api/orders", "upstream /api/orders", "ok",
 '\A\{"tenant":"usage-co","period":"%MONTH%","requests":2,"meters":\{\}\}\n\z',
 '\A\{"period":"%MONTH%","tenants":\[\{"tenant":"usage-co","requests":2,"meters":\{\}\}\],"next_cursor":null\}\n\z',
 '"error":"tenant_mismatch"', '"error":"insufficient_role"', '"error":"missing_token"',
 '"error":"method_not_allowed"']
--- no_error_log
[error]



=== TEST 16: tenant_usage without tenant_redis fails nginx -t, naming its line
--- http_config
--- config
    location /usage {
        tenant_usage;
    }
--- request
GET /usage?period=2026-11
--- must_die
--- error_log eval
[qr/"tenant_usage" needs "tenant_redis": declare the Redis server at the http level in \S+nginx\.conf:\d+/]



=== TEST 17: tenant_usage_retention takes a time
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_usage_retention forever;
--- config
    location /usage {
        tenant_usage;
    }
--- request
GET /usage?period=2026-11
--- must_die
--- error_log
"tenant_usage_retention" directive invalid value



=== TEST 18: tenant_usage twice in a location fails nginx -t
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /usage {
        tenant_usage;
        tenant_usage;
    }
--- request
GET /usage?period=2026-11
--- must_die
--- error_log
"tenant_usage" directive is duplicate
