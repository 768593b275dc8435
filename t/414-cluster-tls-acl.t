#!/usr/bin/perl
#
# tenant_redis cluster=on in front of a Redis Cluster that speaks TLS
# only (port 0, tls-port, tls-cluster and tls-replication yes) and lets
# the gateway in as an ACL user with only the rights it needs
# (t/lib/TenantCluster.pm: use TenantCluster qw(tls acl)).  Every
# tenant_redis parameter applies to every node: the one that reads the
# slot map, the masters found in it, those a -MOVED or -ASK names, and
# a promoted replica.
#
#   a. tenants on each of the three masters are decided there;
#   b. a slot moved at once (-MOVED) and one moved key by key under load
#      (-TRYAGAIN, -ASK, ASKING): the tenant's counter equals its
#      admitted requests, only 200 or the failure policy;
#   c. CLUSTER FAILOVER under load: decisions resume within 2 s on the
#      promoted replica;
#   d. a wrong password, a wrong server name: the failure policy, fast,
#      with the reason in the error log;
#   e. a user without +asking while a slot moves key by key: only 200 or
#      the failure policy, the counter exact, and the log names the
#      refused ASKING.
#
# Two gateways (nginx, 2 workers each, t/lib/TenantNginx.pm).  Loopback
# only; bounded by an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster qw(tls acl);
use TenantLoad;

$SIG{ALRM} = sub { die "414-cluster-tls-acl.t: time limit (120 s) reached\n" };
alarm 120;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.2);    # tenant_redis timeout=
my $FAST = scaled(1);         # the timeout, and some slack
my $CA = $ENV{TEST_NGINX_CLUSTER_CA};

sub conf {
    my (%o) = @_;
    my $pw = $o{password} // $TenantCluster::GW_PASSWORD;
    my $name = $o{server_name} // 'redis.test';
    return <<"_EOC_";
    tenant_redis cluster=on timeout=${\ ($TIMEOUT * 1000)}ms tls username=gateway password=$pw;
    tenant_redis_cluster @{[ cl_seeds() ]};
    tenant_redis_ssl_trusted_certificate $CA;
    tenant_redis_ssl_server_name $name;
_EOC_
}

sub start_gateway {
    my ($name, %o) = @_;
    my $g = eval { nginx_start($name, workers => 2, redis => conf(%o)) };
    return $g if $g;
    fail("nginx $name starts with cluster=on and tls: $@");
    done_testing();
    exit 1;
}

my $GA = start_gateway('a');
my $GB = start_gateway('b');
my @MASTERS = cl_masters();

sub quota_counter {
    my ($t) = @_;
    my $keys = cl_run("tenant:{$t}", 'KEYS', "tenant:{$t}:quota:*");
    return @$keys == 1 ? cl_run($keys->[0], 'GET', $keys->[0]) : undef;
}

sub passed { $_[0]{status} == 200 && $_[0]{limit} eq 'PASSED' }
sub policy { $_[0]{status} == 503 && $_[0]{error} eq 'limiter_unavailable' }

subtest 'a. over TLS, as the ACL user: each master decides for its tenants' => sub {
    cl_flush();
    for my $m (@MASTERS) {
        my ($t) = cl_tenants_on($m, 1, 'tls-a-');
        ok wait_passes($GA, $t, 5) && wait_passes($GB, $t, 5), "$t passes on both gateways";
        my $c = cl_calls($m, qw(evalsha eval));
        my @r = map { api($_, token($t), path => '/api-deny') } ($GA, $GB) x 3;
        is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 6],
                  "$t: 6 decisions";
        is cl_calls($m, qw(evalsha eval)) - $c, 6, 'all 6 on its master ' . cl_name($m);
    }
    my $clients = join "\n", map { cl_cmd($_, 'CLIENT', 'LIST') } @MASTERS;
    my @lines = split /\n/, $clients;
    ok scalar(grep { /\bcmd=evalsha\b/ && /\buser=gateway\b/ } @lines),
       'the masters see decisions by the user "gateway"';
    is_deeply [grep { /\bcmd=(evalsha|eval|cluster\|slots)\b/ && !/\buser=gateway\b/ } @lines],
              [], 'and no decision, no slot map read, as another user';
};

# $move->() under load on both gateways; the answers for $busy and for
# the others, and the counter before
sub under_load {
    my ($busy, $others, $move) = @_;
    my $base = quota_counter($busy) // 0;
    my $load = load_start([$GA, $GB], [$busy, @$others], path => '/api-deny');
    sleep 0.3;
    $move->();
    sleep 0.5;
    my @r = load_stop($load);
    return ([grep { $_->{tenant} eq $busy } @r], [grep { $_->{tenant} ne $busy } @r], $base);
}

subtest 'b. MOVED, then TRYAGAIN and ASK, over TLS, under load' => sub {
    cl_flush();
    my ($from, $to, $third) = @MASTERS;
    my ($busy) = cl_tenants_on($from, 1, 'tls-b-');
    my ($far) = cl_tenants_on($third, 1, 'tls-far-');
    ok wait_passes($GA, $_, 5) && wait_passes($GB, $_, 5), "$_ passes" for $busy, $far;
    my $slot = cl_slot("tenant:{$busy}");
    for my $how (['at once', sub { cl_move_slot($slot, $to) }],
                 ['key by key', sub { cl_move_slot($slot, $from, batch => 1, pause => 0.2) }]) {
        my ($b, $o, $base) = under_load($busy, [$far], $how->[1]);
        my $admitted = grep { passed($_) } @$b;
        is_deeply [grep { !(passed($_) || policy($_)) || $_->{took} >= $FAST } @$b], [],
                  "$how->[0]: $busy: 200 PASSED or 503 limiter_unavailable, fast";
        is quota_counter($busy) - $base, $admitted,
           "$how->[0]: its counter grew by the $admitted admitted";
        is_deeply [grep { !passed($_) } @$o], [], "$how->[0]: $far: 200 PASSED only";
        diag "$how->[0]: $busy: " . load_summary(@$b);
    }
    is cl_node_of_key("tenant:{$busy}"), $from, "$busy is back on " . cl_name($from);
};

subtest 'c. CLUSTER FAILOVER over TLS under load' => sub {
    cl_flush();
    my $m = $MASTERS[1];
    my ($victim) = cl_tenants_on($m, 1, 'tls-c-');
    my ($far) = cl_tenants_on($MASTERS[2], 1, 'tls-far-');
    ok wait_passes($GA, $_, 5) && wait_passes($GB, $_, 5), "$_ passes" for $victim, $far;
    my ($new, $t0);
    my ($v, $o) = under_load($victim, [$far], sub {
        $t0 = time;
        $new = cl_failover($m);
        sleep 2;
    });
    my @bad = grep { !passed($_) && $_->{at} > $t0 + 2 } @$v;
    is_deeply \@bad, [], 'the victim: 200 PASSED only from 2 s after the failover on';
    ok scalar(grep { passed($_) && $_->{at} > $t0 + 2 } @$v), 'and it was served then';
    is_deeply [grep { !passed($_) } @$o], [], 'the other master\'s tenant: 200 PASSED only';
    my $c = cl_calls($new, qw(evalsha eval));
    api($_, token($victim), path => '/api-deny') for $GA, $GB;
    is cl_calls($new, qw(evalsha eval)) - $c, 2, 'decisions on the promoted ' . cl_name($new);
    diag "failover: $victim: " . load_summary(@$v);
    ok cl_settle(20), 'the cluster settles' or diag $TenantCluster::WHY;
};

subtest 'd. a wrong password, a wrong server name: the failure policy, and why' => sub {
    for my $case (['wrongpw', { password => 'not-the-password' }, qr/WRONGPASS|auth/i],
                  ['wrongname', { server_name => 'wrong.test' }, qr/certificate|SSL|verif/i]) {
        my ($name, $o, $why) = @$case;
        my $g = start_gateway($name, %$o);
        my @r = map { api($g, token("tls-d-$_"), path => '/api-deny') } 1 .. 4;
        is_deeply [map { "$_->{status} $_->{error}" } @r], [('503 limiter_unavailable') x 4],
                  "$name: 503 limiter_unavailable";
        is_deeply [grep { $_->{took} >= $FAST } @r], [], "$name: each within ${FAST}s";
        like error_log($g), $why, "$name: the error log says why";
        unlike error_log($g), qr/\[(alert|emerg)\]|exited on signal/, "$name: no crash";
        nginx_stop($g);
    }
};

subtest 'e. a user without +asking: the failure policy while the slot moves, and the log says why' => sub {
    cl_flush();
    my ($from, $to) = @MASTERS[0, 2];
    my ($busy) = cl_tenants_on($from, 1, 'tls-e-');
    ok wait_passes($GA, $busy, 5) && wait_passes($GB, $busy, 5), "$busy passes";
    cl_cmd($_, 'ACL', 'SETUSER', 'gateway', '-asking') for cl_seeds();
    my $pos = length error_log($GA);
    my $slot = cl_slot("tenant:{$busy}");
    my ($b, $o, $base) = under_load($busy, [], sub {
        cl_move_slot($slot, $to, batch => 1, pause => 0.2);
    });
    cl_cmd($_, 'ACL', 'SETUSER', 'gateway', '+asking') for cl_seeds();
    my $admitted = grep { passed($_) } @$b;
    is_deeply [grep { !(passed($_) || policy($_)) || $_->{took} >= $FAST } @$b], [],
              "$busy: 200 PASSED or 503 limiter_unavailable, fast";
    is quota_counter($busy) - $base, $admitted, "its counter grew by the $admitted admitted";
    ok scalar(grep { passed($_) && $_->{at} > time - 0.4 } @$b), 'served once the slot has moved';
    diag "no +asking: $busy: " . load_summary(@$b);
    like error_log_since($GA, $pos), qr/ASKING.*NOPERM|NOPERM.*asking/i,
         'the error log names the refused ASKING';
};

for my $g ($GA, $GB) {
    unlike error_log($g), qr/\[(alert|emerg)\]|exited on signal/,
           "gateway $g->{name}: no alert, no worker died";
}

done_testing();
