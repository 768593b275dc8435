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

$SIG{ALRM} = sub { die "701-leases-cluster.t: time limit (150 s) reached\n" };
alarm 150;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $REDIS = <<"_EOC_";
    tenant_redis cluster=on timeout=2s;
    tenant_redis_cluster @{[ cl_seeds() ]};
    tenant_plan q300 quota=300/day;
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

# a lease's unused units go back to the master that granted them
for my $m (cl_masters()) {
    my ($t) = cl_tenants_on($m, 1, 'gb');
    is(api($GW[0], token($t, 'q300'), path => '/lease',
           ua => TenantNginx::ua(0))->{status}, 200,
       "tenant $t: admitted with a lease");
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 64,
       "tenant $t: the lease's 64 units counted at the grant");
    sleep 0.5;
    is(cl_run("tenant:{$t}", 'GET', "tenant:{$t}:quota:$DAY"), 1,
       "tenant $t: the 63 unused given back to its master");
}

like(join('', map { error_log($_) } @GW),
     qr/^(?!.*(?:\[(?:alert|crit|emerg)\]|give-back failed))/s,
     'no give-back failed, no alert, crit or emerg in the error logs');

done_testing();
