#!/usr/bin/perl
#
# tenant_redis cluster=on in front of a real Redis Cluster (three masters,
# three replicas, t/lib/TenantCluster.pm), with two gateway nginx
# instances of two workers each (t/lib/TenantNginx.pm):
#
#   a. 1000 tenants: each master runs its share of the decisions (within
#      25 % of a third), and each tenant's keys are on the master of its
#      slot, nowhere else;
#   b. a quota is exact across the two gateways for tenants on different
#      masters, with requests from both at once;
#   c. a slot no master serves (CLUSTERDOWN Hash slot not served): the
#      failure policy for that tenant alone, fast; then served again;
#   d. the whole cluster down (cluster-require-full-coverage yes and a
#      slot unserved: CLUSTERDOWN The cluster is down): the failure policy
#      for every tenant, nginx keeps answering; then back;
#   e. a master whose script cache was flushed: the gateway loads the
#      script again there, no request sees the failure policy;
#   f. keyed limits (tenant_limit_by) and lockout (tenant_lockout): each
#      key's state on the master of its own slot, the limits exact across
#      both gateways;
#   g. seed lists with dead nodes: one live seed among dead ones is
#      enough; with every seed dead, the failure policy, fast, and no
#      crash.
#
# A plain Test::More script (nginx keeps running while the cluster
# changes), like t/403-redis-sentinel.t.  Loopback only; bounded by an
# alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster;
use TenantLoad;

$SIG{ALRM} = sub { die "411-cluster-topology.t: time limit (150 s) reached\n" };
alarm 150;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.2);           # tenant_redis timeout=
my $FAST = $TIMEOUT + scaled(0.8);   # no request may take longer (client side)

sub gateway_conf {
    my (@seeds) = @_;
    return <<"_EOC_";
    tenant_redis cluster=on timeout=${\ ($TIMEOUT * 1000)}ms;
    tenant_redis_cluster @seeds;
    tenant_plan q300 rate=100000r/s burst=100000 quota=300/day;
    tenant_limit_zone per_key key=\$http_x_key rate=10r/m burst=9;
_EOC_
}

# keyed limits and lockout (g)
my $KEYED = <<'_EOC_';
        location /zone {
            tenant_limit_by per_key;
            proxy_pass http://backend;
        }
        location /login {
            tenant_lockout key=$arg_user after=3 window=60s duration=60s;
            proxy_pass http://backend/check;
        }
_EOC_

sub start_gateway {
    my ($name, @seeds) = @_;
    my $g = eval { nginx_start($name, workers => 2, server => $KEYED,
                               redis => gateway_conf(@seeds)) };
    return $g if $g;
    fail("nginx $name starts with cluster=on: $@");
    done_testing();
    exit 1;
}

my $GA = start_gateway('a', cl_seeds());
my $GB = start_gateway('b', reverse cl_seeds());
my @MASTERS = cl_masters();

# every tenant of the list passes on both gateways (the first requests
# of a worker may find no map yet: polled, a bounded time)
sub warm {
    my (@tenants) = @_;
    for my $t (@tenants) {
        for my $g ($GA, $GB) {
            wait_until_passes($g, $t, 5) or return 0;
        }
    }
    return 1;
}

sub wait_until_passes { wait_passes(@_) }

sub quota_key_of {
    my ($t) = @_;
    my $keys = cl_run("tenant:{$t}", 'KEYS', "tenant:{$t}:quota:*");
    return @$keys == 1 ? $keys->[0] : undef;
}

subtest 'a. 1000 tenants: each master decides about a third, every key on its slot\'s master' => sub {
    cl_flush();
    my @t = map { "t1k-$_" } 1 .. 1000;
    ok warm('t1k-warm'), 'a first tenant passes on both gateways';
    my %before = map { $_ => cl_calls($_, qw(evalsha eval)) } @MASTERS;
    my @bad;
    for my $i (0 .. $#t) {
        my $r = api($i % 2 ? $GB : $GA, token($t[$i]), path => '/api-deny');
        push @bad, "$t[$i] $r->{status} $r->{limit} $r->{error}"
            unless $r->{status} == 200 && $r->{limit} eq 'PASSED';
    }
    is_deeply \@bad, [], '1000 tenants, one request each: 200 PASSED';
    my %calls = map { $_ => cl_calls($_, qw(evalsha eval)) - $before{$_} }
                @MASTERS;
    my $total = 0;
    $total += $_ for values %calls;
    diag 'decisions per master: '
        . join ', ', map { sprintf '%s %d (%.1f %%)', cl_name($_), $calls{$_},
                                  100 * $calls{$_} / ($total || 1) } @MASTERS;
    is $total, 1000, 'the masters ran 1000 scripts between them';
    for my $m (@MASTERS) {
        my $third = $total / 3;
        ok $calls{$m} >= 0.75 * $third && $calls{$m} <= 1.25 * $third,
           cl_name($m) . " ran $calls{$m}, within 25 % of a third";
    }

    # where each tenant's quota counter is
    my %where;
    for my $m (@MASTERS) {
        my $keys = cl_cmd($m, 'KEYS', 'tenant:{t1k-*}:quota:*');
        for my $k (@$keys) {
            my ($t) = $k =~ /^tenant:\{(t1k-\d+)\}:/ or next;
            push @{ $where{$t} }, $m;
        }
    }
    my (@missing, @misplaced);
    for my $t (@t) {
        my $owner = cl_node_of_key("tenant:{$t}");
        if (!$where{$t}) { push @missing, $t; next }
        push @misplaced, "$t on @{ $where{$t} }, slot's master $owner"
            unless @{ $where{$t} } == 1 && $where{$t}[0] eq $owner;
    }
    is_deeply \@missing, [], 'every tenant has its quota counter';
    is_deeply \@misplaced, [], 'each on the master of its slot, and only there';
    # one link a worker to each master it needed: at most 2 gateways x 2
    # workers deciding on each (a link per request would show here)
    for my $m (@MASTERS) {
        my @links = grep { /\bcmd=(evalsha|eval)\b/ }
                    split /\n/, cl_cmd($m, 'CLIENT', 'LIST');
        ok @links >= 1 && @links <= 4, cl_name($m) . ': ' . @links
           . ' connections that decided, 1 to 4';
    }
    my %keys = map { $_ => cl_cmd($_, 'DBSIZE') } @MASTERS;
    diag 'keys per master: ' . join ', ', map { cl_name($_) . " $keys{$_}" }
                                          @MASTERS;
};

subtest 'b. exact quota across both gateways, tenants on different masters' => sub {
    cl_flush();
    my @tenants = map { (cl_tenants_on($MASTERS[$_], 1, "exact$_-"))[0] } 0, 1;
    isnt cl_node_of_key("tenant:{$tenants[0]}"), cl_node_of_key("tenant:{$tenants[1]}"),
         "@tenants are on different masters";
    ok warm('exact-warm'), 'both gateways decide';
    # four clients a tenant (two a gateway), 100 requests each: 400 for a
    # quota of 300
    my @pids;
    my $dir = "$TenantNginx::TMP/exact";
    mkdir $dir;
    for my $t (@tenants) {
        for my $g ($GA, $GA, $GB, $GB) {
            my $file = "$dir/$t-$g->{name}-" . @pids;
            push @pids, spawn_client($file, sub {
                my ($out) = @_;
                my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
                my $tok = token($t, 'q300');
                for (1 .. 100) {
                    my $r = api($g, $tok, path => '/api-deny', ua => $ua);
                    print {$out} "$t $r->{status} ",
                        ($r->{limit} || '-'), ' ', ($r->{error} || '-'), "\n";
                }
            });
        }
    }
    wait_kids(@pids);
    my %n;
    for my $f (glob "$dir/*") {
        $n{"@$_"}++ for result_lines($f);
    }
    for my $t (@tenants) {
        my %mine = map { (split ' ', $_, 2)[1] => $n{$_} } grep { /^\Q$t\E / } keys %n;
        is_deeply \%mine, { '200 PASSED -' => 300,
                            '429 REJECTED quota_exceeded' => 100 },
                  "$t: 300 admitted, 100 quota_exceeded";
        my $k = quota_key_of($t);
        is $k && cl_run($k, 'GET', $k), 300, "$t: its counter on "
           . cl_name(cl_node_of_key($k // "tenant:{$t}")) . ' says 300';
    }
};

subtest 'c. a slot no master serves: the failure policy for its tenant alone' => sub {
    cl_flush();
    my $m = $MASTERS[0];
    my ($down, $other) = cl_tenants_on($m, 2, 'slotdown-');
    isnt cl_slot("tenant:{$down}"), cl_slot("tenant:{$other}"), 'two slots of one master';
    ok warm($down, $other), "$down and $other pass";
    my $pos = length error_log($GA);
    my $slot = cl_slot("tenant:{$down}");
    cl_slot_unassign($slot);
    my ($r, $e) = cl_try($m, 'GET', "tenant:{$down}");
    like $e // '', qr/CLUSTERDOWN/, "the master answers $down\'s keys with CLUSTERDOWN";
    my (@down, @other);
    for my $g ($GA, $GB, $GA, $GB) {
        push @down, api($g, token($down), path => '/api-deny'),
                    api($g, token($down), path => '/api');
        push @other, api($g, token($other), path => '/api-deny');
    }
    is_deeply [map { "$_->{status} $_->{limit} $_->{error}" } @down],
              [('503 UNAVAILABLE limiter_unavailable', '200 UNAVAILABLE ') x 4],
              "$down: the failure policy (deny: 503, allow: 200)";
    is_deeply [grep { $_->{took} >= $FAST } @down], [], "each answered within ${FAST}s";
    is_deeply [map { "$_->{status} $_->{limit}" } @other], [('200 PASSED') x 4],
              "$other, on the same master: 200 PASSED";
    cl_slot_assign($slot, $m);
    ok wait_until_passes($GA, $down, 5) && wait_until_passes($GB, $down, 5),
       "served again: $down passes on both gateways";
    unlike error_log_since($GA, $pos), qr/\[(alert|emerg)\]|signal/, 'no alert, no crash';
    ok cl_settle(20), 'the cluster settles' or diag $TenantCluster::WHY;
};

subtest 'd. the whole cluster down: the failure policy for everyone, then back' => sub {
    cl_flush();
    my @t = map { (cl_tenants_on($_, 1, 'alldown-'))[0] } @MASTERS;
    ok warm(@t), "@t pass";
    my $slot = cl_slot("tenant:{$t[0]}");
    cl_cmd($_, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'yes') for cl_seeds();
    my $m = cl_slot_unassign($slot);
    ok cl_wait(5, sub {
        !grep { (cl_try($_, 'GET', 'x'))[1] !~ /CLUSTERDOWN/ } @MASTERS
    }), 'every master answers CLUSTERDOWN';
    my @r = map { my $t = $_; map { api($_, token($t), path => '/api-deny') } $GA, $GB } @t;
    is_deeply [map { "$_->{status} $_->{error}" } @r],
              [('503 limiter_unavailable') x 6], 'every tenant: 503 limiter_unavailable';
    is_deeply [grep { $_->{took} >= $FAST } @r], [], "each answered within ${FAST}s";
    is api($GA, token($t[1]), path => '/plain')->{status}, 200, 'nginx itself answers';
    cl_slot_assign($slot, $m);
    cl_cmd($_, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no') for cl_seeds();
    ok cl_settle(20), 'the cluster is up again' or diag $TenantCluster::WHY;
    ok warm(@t), 'every tenant passes again on both gateways';
};

subtest 'e. a master that lost its scripts (SCRIPT FLUSH): NOSCRIPT handled on that node' => sub {
    cl_flush();
    my @t = map { (cl_tenants_on($_, 1, 'noscript-'))[0] } @MASTERS;
    ok warm(@t), "@t pass";
    cl_cmd($MASTERS[0], 'SCRIPT', 'FLUSH');
    my @r = map { my $t = $_; map { api($_, token($t), path => '/api-deny') } $GA, $GB, $GA, $GB } @t;
    is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 12],
              'every tenant, those on ' . cl_name($MASTERS[0]) . ' too: 200 PASSED at once';
};

# a plain GET with headers: "status error"
sub get {
    my ($g, $path, %h) = @_;
    my $r = HTTP::Tiny->new(timeout => 5)
        ->get("http://127.0.0.1:$g->{port}$path", { headers => \%h });
    my ($err) = ($r->{content} // '') =~ /"error":"([a-z_]+)"/;
    return "$r->{status} " . ($err // '-');
}

# the first name "$prefix$i" whose key (sprintf $pattern, name) is on $m
sub name_on {
    my ($m, $pattern, $prefix) = @_;
    my @ranges = cl_slots_of($m);
    for my $i (1 .. 100000) {
        my $s = cl_slot(sprintf $pattern, "$prefix$i");
        return "$prefix$i" if grep { $s >= $_->[0] && $s <= $_->[1] } @ranges;
    }
}

subtest 'f. keyed limits and lockout: each key on the master of its own slot' => sub {
    cl_flush();
    for my $m (@MASTERS) {
        my $k = name_on($m, 'tenant:zone:per_key:{%s}', 'zk');
        my @r = map { get($_ % 2 ? $GB : $GA, '/zone', 'X-Key' => $k) } 1 .. 12;
        is_deeply \@r, [('200 -') x 10, ('429 rate_limited') x 2],
                  "zone key $k: 10 admitted across both gateways, then rate_limited";
        is cl_cmd($m, 'EXISTS', "tenant:zone:per_key:{$k}"), 1,
           "its state is on " . cl_name($m);

        my $u = name_on($m, 'tenant:lockout:{%s}', 'user');
        my @l = map { get($_ % 2 ? $GB : $GA, "/login?user=$u&pw=bad") } 1 .. 3;
        # a 401 is counted once it has been answered, on the link of the
        # gateway that answered it: the next request, on the other
        # gateway's link, may reach Redis first; so wait for the lock
        ok cl_wait(5, sub { cl_cmd($m, 'EXISTS', "tenant:lockout:{$u}:locked") == 1 }),
           "the lock is on " . cl_name($m);
        push @l, get($GA, "/login?user=$u&pw=ok"), get($GB, "/login?user=$u&pw=ok");
        is_deeply \@l, [('401 -') x 3, ('429 locked_out') x 2],
                  "user $u: three 401s across both gateways, then locked_out";
    }
};

subtest 'g. seed lists with dead nodes' => sub {
    cl_flush();
    my @dead = map { '127.0.0.1:' . cl_dead_port() } 1 .. 3;
    my $live = (cl_seeds())[4];
    my $gc = start_gateway('c', @dead[0, 1], $live, $dead[2]);
    my @t = map { (cl_tenants_on($_, 1, 'deadseed-'))[0] } @MASTERS;
    my $ok = 1;
    $ok &&= wait_until_passes($gc, $_, 5) for @t;
    ok $ok, "two dead seeds, then $live, then a dead one: tenants on every master pass";
    my @r = map { api($gc, token($_), path => '/api-deny') } (@t) x 3;
    is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 9],
              'then 9 decisions, 3 a master: 200 PASSED';
    nginx_stop($gc);

    my $gd = start_gateway('d', @dead);
    my @d = map { api($gd, token('nobody-home'), path => $_) } ('/api-deny', '/api') x 3;
    is_deeply [map { "$_->{status} $_->{limit} $_->{error}" } @d],
              [('503 UNAVAILABLE limiter_unavailable', '200 UNAVAILABLE ') x 3],
              'every seed dead: the failure policy';
    is_deeply [grep { $_->{took} >= $FAST } @d], [], "each answered within ${FAST}s";
    unlike error_log($gd), qr/\[(alert|emerg)\]|signal/, 'no alert, no crash';
    like error_log($gd), qr/\Q$dead[0]\E|cluster/, 'the error log tells';
    nginx_stop($gd);
};

for my $g ($GA, $GB) {
    unlike error_log($g), qr/\[(alert|emerg)\]|exited on signal/,
           "gateway $g->{name}: no alert, no worker died";
}

done_testing();
