#!/usr/bin/perl
#
# tenant_limit_lease at full size, as the issue states it: two nginx
# nodes of two workers each in front of one redis-server, one tenant at a
# time, the load from both nodes at once.
#
#   - quota 10000/day, 30000 requests as fast as the clients go: exactly
#     10000 admitted, the counter exactly 10000 once the leases end;
#   - rate 1000r/s burst 100 under wrk for 10 s: at most what the exact
#     GCRA admits in the window, and at least 98 % of 1000 x 10 + 101;
#   - a meter and a quota, each reached in turn, exactly;
#   - a suspension and a revocation under load: no request sent later
#     than ttl after the change is admitted;
#   - Redis killed while leases are held: the held units admitted, the
#     give-backs sent once Redis is back, the counters equal to the
#     admitted requests; killed under load: never fewer counted than
#     admitted;
#   - both nodes reloaded under load: the counters equal the admitted
#     requests (the old workers give their units back as they exit).
#
# The load comes from forked keep-alive clients (TenantLoad), and from
# wrk for the rate, which needs more than 1000 requests a second for 10 s.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantRedis;
use TenantNginx;
use TenantLoad;
use TenantValgrind qw(scaled);

$SIG{ALRM} = sub { die "702-leases-nodes.t: time limit (300 s) reached\n" };
alarm 300;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $RPORT = TenantRedis::redis_port();
my $TTL = 0.2;

# the issue's sizes; under memcheck (make test-valgrind), where nginx is
# some thirty times slower, a thirtieth of them, the same checks
my $VG = scaled(1) > 1;
my ($Q, $RATE, $BURST, $METER) = $VG ? (300, 20, 5, 100)
                                     : (10000, 1000, 100, 1000);

sub location {
    my ($path, $lease, %o) = @_;
    my $meter = $o{meter} ? "tenant_meter $o{meter};" : '';
    # deny: a Redis failure shows as a 503, never as an admission
    my $failure = $o{failure} || 'deny';
    return <<"_EOC_";
        location $path {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_limit_lease $lease;
            tenant_redis_failure $failure;
            $meter
            add_header X-Limit-Status \$tenant_limit_status always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
_EOC_
}

my %conf = (workers => 2, redis => <<"_EOC_",
    tenant_redis 127.0.0.1:$RPORT timeout=2s;
    tenant_plan q10k quota=$Q/day;
    tenant_plan r1000 rate=${RATE}r/s burst=$BURST quota=999999999/day;
    tenant_plan mq quota=@{[ 3 * $METER ]}/day meter=gen:$METER/day;
_EOC_
    server => location('/lease', 'on max=64 ttl=200ms')
            . location('/gen', 'on max=64 ttl=200ms', meter => 'gen')
            . location('/deny', 'on max=64 ttl=200ms')
            . location('/held', 'on max=64 ttl=2s'));

my @N = (nginx_start('a', %conf), nginx_start('b', %conf));

my $DAY = strftime('%Y-%m-%d', gmtime);
my $MONTH = substr $DAY, 0, 7;

sub counter { TenantRedis::redis('GET', "tenant:{$_[0]}:$_[1]:$DAY") // 0 }

sub usage {
    TenantRedis::redis('HGET', "tenant:{$_[0]}:usage:$MONTH", $_[1] || 'requests')
        // 0
}

# after ttl every lease has ended and its give-back has been answered
sub leases_end { sleep $TTL + scaled(0.5) }

sub others { join ',', sort grep { $_ != 200 && $_ != 429 } keys %{ $_[0] } }

# ---- quota 10000/day, 30000 requests: exactly 10000 ($Q, 3 x $Q)

{
    my $tok = token('quota', 'q10k');
    my $s = fire(\@N, $tok, '/lease', 6, 3 * $Q / 12);

    is(others($s), '', 'quota: only 200 and 429 answered');
    is(($s->{200} || 0) + ($s->{429} || 0), 3 * $Q,
       "quota: @{[ 3 * $Q ]} requests answered");
    is($s->{200}, $Q, "quota: exactly $Q of the @{[ 3 * $Q ]} admitted");

    leases_end();
    is(counter('quota', 'quota'), $Q,
       "quota: the counter is exactly $Q once the leases ended");
    is(usage('quota'), $Q, "quota: the usage counts the $Q");
}

# ---- rate 1000r/s burst 100 for 10 s under wrk, on both nodes

{
    my $tok = token('rate', 'r1000');
    my ($s, $window) = wrk_load(\@N, $tok, '/lease', 10, 8);
    my %s = %$s;
    my $seen = $s{200} || 0;

    leases_end();
    my $admitted = counter('rate', 'quota');

    is(others(\%s), '', 'rate: only 200 and 429 answered');
    ok($admitted >= $seen && $admitted - $seen <= 16,
       "rate: the counter ($admitted) is the 200s wrk saw ($seen) and the "
       . 'requests in flight when it stopped');

    my $bound = $BURST + 1 + int($RATE * $window);
    ok($admitted <= $bound,
       "rate: $admitted admitted, at most the exact GCRA's $bound in the "
       . sprintf('%.2f s window', $window));

    my $floor = int(0.98 * ($RATE * 10 + $BURST + 1));
    ok($seen >= $floor, "rate: $seen admitted, at least 98 % of $RATE x 10 "
       . "+ @{[ $BURST + 1 ]} ($floor); " . ($s{429} || 0) . ' refused');
}

# ---- round trips: wrk's 50 connections a node, one grant for many

{
    my $tok = token('trips');
    my $calls = sub {
        my ($l) = grep { /^cmdstat_evalsha:/ } split /\r?\n/,
                  TenantRedis::redis('INFO', 'commandstats');
        return $l && $l =~ /calls=(\d+)/ ? $1 : 0;
    };
    my $before = $calls->();
    my ($s) = wrk_load(\@N, $tok, '/lease', 3, 50);
    leases_end();
    my $evalsha = $calls->() - $before;
    my $ok = $s->{200} || 0;
    is(join(',', keys %$s), '200', "round trips: $ok requests, all admitted");
    ok($evalsha * 16 <= $ok, "round trips: $evalsha EVALSHA (grants and "
       . 'give-backs), at most one for 16 requests ('
       . sprintf('1/%.1f', $ok / ($evalsha || 1)) . ')');
}

# ---- Redis paused while requests wait behind a grant: none stuck

{
    my $tok = token('paused');
    # each request is answered within the timeout, whenever its client
    # got to send it: one behind a grant fails with it, a later one asks
    # Redis itself
    TenantRedis::redis('CLIENT', 'PAUSE', 30000, 'ALL');    # until UNPAUSE
    my ($s, $took) = fire([$N[0]], $tok, '/deny', 20, 1);
    is(join(',', keys %$s), '503', 'paused: 20 requests at once, each '
       . 'answered by the failure policy (' . join(',', %$s) . ')');
    ok($took < 2 + scaled(0.9),
       sprintf('paused: each within the 2 s timeout (the longest %.2f s)', $took));
    TenantRedis::redis('CLIENT', 'UNPAUSE');

    # the link that did not answer for the timeout is made again
    ok(wait_passes($_, 'paused', 10, path => '/deny'),
       "paused: node $_->{name} admits again once Redis answers") for @N;
}

# ---- a meter and a quota, each reached in turn

# until no request is admitted any more: a burst, then waves after ttl
sub until_none {
    my ($tok, $path) = @_;
    my $admitted = fire(\@N, $tok, $path, 3, 3 * $METER / 5)->{200} || 0;
    for (1 .. 20) {
        leases_end();
        my $w = fire(\@N, $tok, $path, 1, 20)->{200} || 0;
        last unless $w;
        $admitted += $w;
    }
    leases_end();
    return $admitted;
}

{
    my $tok = token('metered', 'mq');

    is(until_none($tok, '/gen'), $METER, "meter: exactly its $METER admitted");
    is(until_none($tok, '/lease'), 2 * $METER,
       "quota: then exactly the @{[ 2 * $METER ]} the quota has left, "
       . 'elsewhere');
    is(counter('metered', 'meter:gen') . ' ' . counter('metered', 'quota'),
       "$METER @{[ 3 * $METER ]}", 'meter and quota: the counters are '
       . 'exactly the meter and the quota');
    is(usage('metered', 'meter:gen') . ' ' . usage('metered'),
       "$METER @{[ 3 * $METER ]}",
       'meter and quota: so is the usage');
}

# ---- a suspension and a revocation under load: heard within ttl

sub sent { $_[0]{at} - $_[0]{took} }

for my $case (['suspension', 'HSET', 'tenant:{fresh1}', 'status', 'suspended',
               'fresh1', 'tenant_suspended'],
              ['revocation', 'HSET', 'tenant:{fresh2}', 'tokens_valid_after',
               int(time) + 1, 'fresh2', 'token_revoked'])
{
    my ($what, @cmd) = @$case;
    my ($tenant, $error) = splice @cmd, 4;
    my $load = load_start(\@N, [$tenant], path => '/lease', clients => 2);
    sleep 0.5;
    TenantRedis::redis(@cmd);
    my $t = time;
    sleep 1;
    my @r = load_stop($load);

    my @late = grep { $_->{status} == 200 && sent($_) > $t + $TTL } @r;
    is(scalar @late, 0, "$what: no request sent later than ttl after it "
       . 'is admitted (' . load_summary(@r) . ')');
    my @after = grep { sent($_) > $t + $TTL } @r;
    ok(@after && !grep({ $_->{error} ne $error } @after),
       "$what: every request sent after that is refused with $error ("
       . scalar(@after) . ')');
    ok(grep({ $_->{status} == 200 && sent($_) < $t } @r),
       "$what: requests were admitted before it");
}

# ---- Redis killed while leases are held, no request in flight

{
    TenantRedis::redis_persist();

    my $tok = token('killed');
    my @ua = map { TenantNginx::ua(1) } @N;
    # a key's first request in a worker is exact, its second leases
    my $admitted = 0;
    for my $i (0, 1) {
        $admitted += grep { $_ == 200 } map {
            api($N[$i], $tok, path => '/held', ua => $ua[$i])->{status} } 1, 2;
    }
    is($admitted, 4, 'killed: on each node an exact decision, then a lease '
       . 'granted and a unit used');
    is(counter('killed', 'quota'), 130, 'killed: two leases of 64 counted');

    TenantRedis::redis_kill();

    my @s;
    for my $i (0, 1) {
        push @s, map { api($N[$i], $tok, path => '/held', ua => $ua[$i])
                       ->{status} } 1 .. 20;
    }
    is("@s", join(' ', (200) x 40),
       'killed: the held units admitted while Redis is down');
    $admitted += grep { $_ == 200 } @s;

    sleep 2.2;    # the leases end: their give-backs wait for Redis
    like(error_log($N[0]), qr/redis is not connected, 43 leased units will be given back/,
         'killed: the give-back is kept until Redis is back');

    TenantRedis::redis_start();
    my $back = poll_until(5, sub { counter('killed', 'quota') == $admitted });
    ok($back, "killed: once Redis is back the counter is the $admitted admitted "
       . 'requests (' . counter('killed', 'quota') . ')');
    is(usage('killed'), $admitted, 'killed: so is the usage');
}

# ---- Redis killed under load: never fewer counted than admitted

{
    my $load = load_start(\@N, ['kload'], path => '/deny', clients => 2);
    sleep 0.5;
    TenantRedis::redis_kill();
    sleep 0.5;
    TenantRedis::redis_start();
    sleep 1;
    my @r = load_stop($load);
    sleep $TTL + 1.5;    # the leases end, owed give-backs are sent

    my $admitted = load_count(\@r, sub { $_[0]{status} == 200 });
    my $counted = counter('kload', 'quota');
    is(join(',', sort { $a <=> $b } keys %{ { map { $_->{status} => 1 } @r } }),
       '200,503', 'killed under load: 200, and 503 while Redis was down ('
       . load_summary(@r) . ')');
    ok($counted >= $admitted,
       "killed under load: $counted counted, never fewer than the $admitted "
       . 'admitted');
    ok($counted - $admitted <= 8 * 64 + 4,
       'killed under load: at most the units in flight at the kill counted '
       . 'and unused (' . ($counted - $admitted) . ')');
}

# ---- both nodes reloaded under load: counters equal the admitted requests

{
    my $load = load_start(\@N, ['reload'], path => '/lease', clients => 2);
    sleep 0.5;
    my @old = map { worker_pids($_) } @N;
    kill 'HUP', $_->{master} for @N;
    my $gone = poll_until(scaled(10), sub {
        my %now = map { $_ => 1 } map { worker_pids($_) } @N;
        !grep { $now{$_} } @old;
    });
    sleep 0.5;
    my @r = load_stop($load);
    ok($gone, 'reload: the old workers of both nodes exited');
    leases_end();

    # 599: a keep-alive connection an old worker closed as the request
    # went out on it, which nginx then never read
    my $admitted = load_count(\@r, sub { $_[0]{status} == 200 });
    is(load_count(\@r, sub { $_[0]{status} != 200 && $_[0]{status} != 599 }),
       0, 'reload: every request read admitted (' . load_summary(@r) . ')');
    is(counter('reload', 'quota'), $admitted,
       "reload: the counter is the $admitted admitted requests");
    is(usage('reload'), $admitted, 'reload: so is the usage');
}

for my $n (@N) {
    like(error_log($n), qr/^(?!.*\[(?:alert|crit|emerg)\])/s,
         "node $n->{name}: no alert, crit or emerg in the error log");
}

done_testing();

# poll_until($seconds, sub { ... }): every 20 ms until the code returns true
# (that value is returned) or the time is up (undef)
sub poll_until {
    my ($limit, $code) = @_;
    my $end = time + $limit;
    while (time < $end) {
        my $v = $code->();
        return $v if $v;
        sleep 0.02;
    }
    return undef;
}
