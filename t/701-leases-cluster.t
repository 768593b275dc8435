#!/usr/bin/perl
#
# tenant_limit_lease with tenant_redis cluster=on: a lease is granted by
# the master of its tenant's slot, like a decision, and its unused units
# go back there (mode "G" names the tenant's keys, all {ID}-tagged).  Two
# gateways of two workers each, one tenant on each master, a quota each:
# exactly the quota admitted, the counters exact once the leases ended.
#
# A plain Test::More script: the cluster is TenantCluster's (three
# masters, three replicas), the gateways TenantNginx's.  Bounded by an
# alarm; everything started here is stopped in END.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster;
use TenantLoad;

$SIG{ALRM} = sub { die "701-leases-cluster.t: time limit (240 s) reached\n" };
alarm 240;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $REDIS = <<"_EOC_";
    tenant_redis cluster=on timeout=2s;
    tenant_redis_cluster @{[ cl_seeds() ]};
    tenant_plan q300 quota=300/day;
    tenant_plan q10k quota=10000/day;
    tenant_plan r1000 rate=1000r/s burst=100 quota=999999999/day;
_EOC_

my $SERVER = <<"_EOC_";
        location /lease {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_limit_lease on max=64 ttl=200ms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
_EOC_

my @GW = map { nginx_start($_, workers => 2, redis => $REDIS,
                           server => $SERVER) } qw(a b);

my $DAY = strftime('%Y-%m-%d', gmtime);

# one tenant on each master
my @TENANTS = map { (cl_tenants_on($_, 1, 'lc'))[0] } cl_masters();
is(scalar(@TENANTS), 3, 'one tenant on each of the three masters');

# clients on both gateways, each sending $each requests as fast as it
# can: how many were admitted, and any answer but 200 and 429
sub burst {
    my ($tok, $clients, $each) = @_;
    my $dir = "$TenantNginx::TMP/burst" . int(rand 1e9);
    mkdir $dir or die "$dir: $!";
    my @pids;
    for my $g (@GW) {
        for my $c (1 .. $clients) {
            push @pids, spawn_client("$dir/$g->{name}$c", sub {
                my ($out) = @_;
                my $ua = TenantNginx::ua(1);
                for (1 .. $each) {
                    print {$out} api($g, $tok, path => '/lease', ua => $ua)
                                 ->{status}, "\n";
                }
            });
        }
    }
    wait_kids(@pids);
    my ($ok, @other) = (0);
    for my $f (glob "$dir/*") {
        for my $l (result_lines($f)) {
            die "a client died: @$l\n" if $l->[0] eq 'DIED';
            if ($l->[0] == 200) { $ok++ } elsif ($l->[0] != 429) { push @other, $l->[0] }
        }
    }
    return ($ok, @other);
}

for my $t (@TENANTS) {
    my $tok = token($t, 'q300');
    my ($admitted, @other) = burst($tok, 3, 150);
    for (1 .. 20) {
        sleep 0.5;    # > ttl: the leases have ended and given back
        my ($ok, @o) = burst($tok, 1, 20);
        push @other, @o;
        last unless $ok;
        $admitted += $ok;
    }
    sleep 0.5;

    is("@other", '', "tenant $t: only 200 and 429 answered");
    is($admitted, 300, "tenant $t: exactly its quota of 300 admitted "
                       . 'through two gateways');
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 300,
       "tenant $t: its counter on its master is exactly 300");
}

# the issue's sizes, as t/702 on one redis-server: quota 10000/day and
# 30000 requests, then rate 1000r/s burst 100 under wrk for 10 s

{
    my ($t) = cl_tenants_on((cl_masters())[1], 1, 'big');
    my $s = fire(\@GW, token($t, 'q10k'), '/lease', 6, 2500);
    is(join(',', sort grep { $_ != 200 && $_ != 429 } keys %$s), '',
       'cluster, quota 10000: only 200 and 429 answered');
    is($s->{200}, 10000, 'cluster, quota 10000: exactly 10000 of 30000 '
       . 'requests admitted');
    sleep 0.7;
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 10000,
       'cluster, quota 10000: the counter on its master is exactly 10000');
}

{
    my ($t) = cl_tenants_on((cl_masters())[2], 1, 'rate');
    my ($s, $window) = wrk_load(\@GW, token($t, 'r1000'), '/lease', 10, 8);
    sleep 0.7;
    my $admitted = cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY");
    my $seen = $s->{200} || 0;
    is(join(',', sort grep { $_ != 200 && $_ != 429 } keys %$s), '',
       'cluster, rate 1000r/s: only 200 and 429 answered');
    ok($admitted >= $seen && $admitted - $seen <= 16,
       "cluster, rate 1000r/s: the counter ($admitted) is the 200s wrk saw "
       . "($seen) and the requests in flight when it stopped");
    my $bound = 101 + int(1000 * $window);
    ok($admitted <= $bound, "cluster, rate 1000r/s: $admitted admitted, at "
       . "most the exact GCRA's $bound in the "
       . sprintf('%.2f s window', $window));
    my $floor = int(0.98 * (1000 * 10 + 101));
    ok($seen >= $floor, "cluster, rate 1000r/s: $seen admitted, at least "
       . "98 % of 1000 x 10 + 101 ($floor)");
}

# a lease's unused units go back to the master that granted them
for my $m (cl_masters()) {
    my ($t) = cl_tenants_on($m, 1, 'gb');
    # the first request of a key in a worker is exact, the second leases
    my $ua = TenantNginx::ua(1);
    my @s = map { api($GW[0], token($t, 'q300'), path => '/lease', ua => $ua)
                  ->{status} } 1, 2;
    is("@s", '200 200', "tenant $t: admitted, then with a lease");
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 65,
       "tenant $t: the lease's 64 units counted at the grant");
    sleep 0.5;
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 2,
       "tenant $t: the 63 unused given back to its master");
}

like(join('', map { error_log($_) } @GW),
     qr/^(?!.*(?:\[(?:alert|crit|emerg)\]|give-back failed))/s,
     'no give-back failed, no alert, crit or emerg in the error logs');

done_testing();
