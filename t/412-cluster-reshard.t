#!/usr/bin/perl
#
# Live resharding under load: the slot of a busy tenant moves from one
# master to another while both gateways (two nginx instances of two
# workers, tenant_redis cluster=on) send it requests from forked
# clients, two per gateway, without a pause.  Meanwhile:
#
#   - every answer for it is 200 PASSED or the failure policy (deny:
#     503 limiter_unavailable, UNAVAILABLE), each within the timeout and
#     some slack; while the slot is half moved Redis answers the script
#     -TRYAGAIN (some of its keys here, some there) or -ASK (none here):
#     the gateway may wait and retry, within the request's timeout, or
#     give the failure policy;
#   - its quota counter, on the new master afterwards, equals the
#     admitted requests: none lost, none counted twice by an ASK or a
#     MOVED followed;
#   - tenants on other slots of the same master, and on the other
#     masters, see nothing but 200 PASSED;
#   - once the slot is moved, the tenant's decisions come from the new
#     master (its EVALSHA count grows), and its keys are there alone.
#
#   a. the documented manual procedure (CLUSTER SETSLOT IMPORTING /
#      MIGRATING, MIGRATE one key at a time with a pause, SETSLOT NODE
#      on every master): a long half-moved window;
#   b. redis-cli --cluster reshard, ten slots including the tenant's;
#   c. moved back while the gateways still have the old map for it;
#   d. as a, for a tenant with no hash in Redis (the usual case): the
#      script declares keys that do not exist, and Redis answers
#      -TRYAGAIN from the moment the slot is MIGRATING.
#
# How long the tenant saw the failure policy is printed (diag): that is
# the figure docs/redis.md gives.  Loopback only; bounded by an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster;
use TenantLoad;

$SIG{ALRM} = sub { die "412-cluster-reshard.t: time limit (150 s) reached\n" };
alarm 150;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.2);           # tenant_redis timeout=
my $FAST = $TIMEOUT + scaled(0.8);   # no request may take longer (client side)
my $KEY_PAUSE = 0.3;          # a: between two keys MIGRATEd

sub start_gateway {
    my ($name, @seeds) = @_;
    my $g = eval { nginx_start($name, workers => 2, redis => <<"_EOC_") };
    tenant_redis cluster=on timeout=${\ ($TIMEOUT * 1000)}ms;
    tenant_redis_cluster @seeds;
_EOC_
    return $g if $g;
    fail("nginx $name starts with cluster=on: $@");
    done_testing();
    exit 1;
}

my $BASE;    # the busy tenant's counter before the load
my $GA = start_gateway('a', cl_seeds());
my $GB = start_gateway('b', reverse cl_seeds());

sub quota_counter {
    my ($t) = @_;
    my $keys = cl_run("tenant:{$t}", 'KEYS', "tenant:{$t}:quota:*");
    return @$keys == 1 ? cl_run($keys->[0], 'GET', $keys->[0]) : undef;
}

sub line { sprintf '%.3f %s %s %s %s %.3fs', @{ $_[0] }{qw(at tenant gw status limit)},
                   $_[0]{took} }

# $move->() moves the busy tenant's slot to $to, under load; returns the
# answers, split
sub under_load {
    my ($busy, $bystanders, $move) = @_;
    # what the warm-up counted
    $BASE = quota_counter($busy) // 0;
    my $load = load_start([$GA, $GB], [$busy, @$bystanders],
                          path => '/api-deny', clients => 2);
    sleep 0.3;
    my $t0 = time;
    $move->();
    my $t1 = time;
    sleep 0.5;
    my @r = load_stop($load);
    my @busy = grep { $_->{tenant} eq $busy } @r;
    my @by = grep { $_->{tenant} ne $busy } @r;
    return (\@busy, \@by, $t0, $t1);
}

sub check_move {
    my ($what, $busy, $from, $to, $busy_r, $by_r, $t0, $t1) = @_;
    my @bad = grep { !(($_->{status} == 200 && $_->{limit} eq 'PASSED'
                        || $_->{status} == 503 && $_->{limit} eq 'UNAVAILABLE'
                           && $_->{error} eq 'limiter_unavailable')
                       && $_->{took} < $FAST) } @$busy_r;
    is_deeply [map { line($_) } @bad], [],
              "$busy: only 200 PASSED or 503 limiter_unavailable, each under ${FAST}s";
    my @during = grep { $_->{at} >= $t0 && $_->{at} <= $t1 } @$busy_r;
    ok @during >= 4, sprintf "$busy: %d answers while the slot moved (%.2fs)",
                             scalar @during, $t1 - $t0;
    my $admitted = load_count($busy_r, sub { $_[0]{status} == 200 });
    is quota_counter($busy) - $BASE, $admitted,
       "$busy: its quota counter grew by the $admitted admitted requests";
    is cl_node_of_key("tenant:{$busy}"), $to, "$busy now on " . cl_name($to);
    is cl_cmd($from, 'CLUSTER', 'COUNTKEYSINSLOT', cl_slot("tenant:{$busy}")), 0,
       'no key of its slot left on ' . cl_name($from);
    is_deeply [map { line($_) } grep { !($_->{status} == 200 && $_->{limit} eq 'PASSED') }
                                @$by_r], [],
              sprintf 'the other tenants (%d answers): 200 PASSED only', scalar @$by_r;
    my @after = grep { $_->{at} > $t1 + 0.2 } @$busy_r;
    is_deeply [map { line($_) } grep { $_->{status} != 200 } @after], [],
              sprintf '%d answers from 0.2 s after the move on: 200 PASSED', scalar @after;
    my $w = failure_window($busy_r);
    diag sprintf '%s: %s: %s; failure policy %s', $what, $busy,
        load_summary(@$busy_r),
        $w ? sprintf('%d times, from %.2fs to %.2fs after the move began (it took %.2fs)',
                     $w->[2], $w->[0] - $t0, $w->[1] - $t0, $t1 - $t0)
           : sprintf('never (the move took %.2fs)', $t1 - $t0);
    return $w;
}

my @MASTERS = cl_masters();

subtest 'a. MIGRATE key by key (SETSLOT IMPORTING/MIGRATING), under load' => sub {
    cl_flush();
    my ($from, $to, $third) = @MASTERS;
    my ($busy, $near) = cl_tenants_on($from, 2, 'busy-a-');
    my ($far) = cl_tenants_on($third, 1, 'far-a-');
    # the hash too, so that the script's keys are all there to move
    cl_run("tenant:{$busy}", 'HSET', "tenant:{$busy}", 'note', 'busy');
    ok wait_passes($_->[0], $_->[1], 5), "$_->[1] passes on $_->[0]{name}"
        for map { my $t = $_; map { [$_, $t] } $GA, $GB } $busy, $near, $far;
    my $asking = cl_calls($to, 'asking');
    my $calls = cl_calls($to, qw(evalsha eval));
    my $slot = cl_slot("tenant:{$busy}");
    my @r = under_load($busy, [$near, $far], sub {
        cl_move_slot($slot, $to, batch => 1, pause => $KEY_PAUSE);
    });
    check_move('a. MIGRATE key by key', $busy, $from, $to, @r);
    diag sprintf 'the target saw %d ASKING', cl_calls($to, 'asking') - $asking;
    ok cl_calls($to, qw(evalsha eval)) > $calls, 'decisions ran on ' . cl_name($to);
    is cl_run("tenant:{$busy}", 'HGET', "tenant:{$busy}", 'note'), 'busy',
       'the tenant\'s hash moved with it';
};

subtest 'd. the same for a tenant without a hash (some of the script\'s keys never exist)' => sub {
    cl_flush();
    my ($from, $to, $third) = cl_masters();
    my ($busy) = cl_tenants_on($from, 1, 'busy-d-');
    my ($far) = cl_tenants_on($third, 1, 'far-d-');
    ok wait_passes($_->[0], $_->[1], 5), "$_->[1] passes on $_->[0]{name}"
        for map { my $t = $_; map { [$_, $t] } $GA, $GB } $busy, $far;
    my $slot = cl_slot("tenant:{$busy}");
    my @r = under_load($busy, [$far], sub {
        cl_move_slot($slot, $to, batch => 1, pause => $KEY_PAUSE);
    });
    check_move('d. MIGRATE key by key, no hash', $busy, $from, $to, @r);
};

subtest 'b. redis-cli --cluster reshard, under load' => sub {
    cl_flush();
    my ($to, $from) = @MASTERS[0, 2];
    # redis-cli moves the source's lowest slots: a tenant in the first ten
    my ($lo) = map { $_->[0] } cl_slots_of($from);
    my $busy;
    for my $i (1 .. 200000) {
        my $s = cl_slot("tenant:{busy-b-$i}");
        if ($s >= $lo && $s < $lo + 10) { $busy = "busy-b-$i"; last }
    }
    ok $busy, "tenant $busy is in slots $lo-" . ($lo + 9) . ' of ' . cl_name($from);
    my ($near) = grep { cl_slot("tenant:{$_}") >= $lo + 10 } cl_tenants_on($from, 3, 'near-b-');
    my ($far) = cl_tenants_on($MASTERS[1], 1, 'far-b-');
    ok wait_passes($_->[0], $_->[1], 5), "$_->[1] passes on $_->[0]{name}"
        for map { my $t = $_; map { [$_, $t] } $GA, $GB } $busy, $near, $far;
    my $out;
    my @r = under_load($busy, [$near, $far], sub {
        $out = cl_reshard($from, $to, 10);
    });
    like $out, qr/Moving slot $lo from/, 'redis-cli moved the tenant\'s slots';
    check_move('b. redis-cli --cluster reshard', $busy, $from, $to, @r);
};

subtest 'c. moved back while the gateways know the old place' => sub {
    # every worker has its map from b; the slot goes back to where it was
    # at once (no pause): the first requests meet -MOVED
    cl_flush();
    my ($from, $to) = @MASTERS[0, 1];
    my ($busy) = cl_tenants_on($from, 1, 'busy-c-');
    my ($far) = cl_tenants_on($MASTERS[2], 1, 'far-c-');
    ok wait_passes($_->[0], $_->[1], 5), "$_->[1] passes on $_->[0]{name}"
        for map { my $t = $_; map { [$_, $t] } $GA, $GB } $busy, $far;
    my $slot = cl_slot("tenant:{$busy}");
    my @r = under_load($busy, [$far], sub {
        cl_move_slot($slot, $to);
        sleep 0.5;
        cl_move_slot($slot, $from);
    });
    check_move('c. there and back', $busy, $to, $from, @r);
};

ok cl_settle(20), 'the cluster is settled' or diag $TenantCluster::WHY;
for my $g ($GA, $GB) {
    unlike error_log($g), qr/\[(alert|emerg)\]|exited on signal/,
           "gateway $g->{name}: no alert, no worker died";
}

done_testing();
