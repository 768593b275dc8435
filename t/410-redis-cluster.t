#!/usr/bin/perl
#
# tenant_redis cluster=on: each decision goes to the master of its
# tenant's slot (CRC16 of the hash tag {ID}), MOVED moves the slot in the
# gateway's map and the command is sent once more, ASK is followed with
# ASKING, a half-migrated tenant (TRYAGAIN) and CLUSTERDOWN get the
# failure policy, a dead seed is skipped, every node of a TLS cluster is
# reached over TLS with its certificate verified, and the configuration
# mistakes are refused with their file and line.
#
# A plain Test::More script, since nginx must keep running while the
# cluster changes under it: three masters (no replicas: a stopped master
# stays down), started once for the file by t/lib/TenantCluster.pm
# (use TenantCluster qw(noreplicas)); TenantNginx runs the gateways
# (master + 1 worker) with
#
#   tenant_redis cluster=on timeout=100ms;
#   tenant_redis_cluster 127.0.0.1:P1 127.0.0.1:P2;
#
# The TLS subtest needs a second cluster, TLS only, beside the plain one
# the gateway "a" keeps using: TenantCluster's cl_another('tls',
# 'noreplicas').  Which node decided is told by the tenant's keys
# (CLUSTER COUNTKEYSINSLOT, GET on its quota counter) on each node.
# Everything started here is stopped in END, on failure too; bounded by
# an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use File::Path qw(make_path);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster qw(noreplicas);

$SIG{ALRM} = sub { die "410-redis-cluster.t: time limit (150 s) reached\n" };
alarm 150;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $TMP = $TenantNginx::TMP;
my @M = cl_masters();          # "127.0.0.1:P" x 3

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.1) * 1000;       # tenant_redis timeout=, ms
my $TLS_TIMEOUT = scaled(0.2) * 1000;   # the same over TLS
my $AT_ONCE = scaled(1);                # a failure policy's answer, s

sub free_port { TenantNginx::free_port() }
sub wait_until { cl_wait(scaled($_[0]), $_[1], 0.05) }

sub cluster_state {
    my ($info) = cl_try($_[0], 'CLUSTER', 'INFO');
    return ($info // '') =~ /cluster_state:(\w+)/ ? $1 : '';
}
sub keys_in { cl_cmd($_[0], 'CLUSTER', 'COUNTKEYSINSLOT', $_[1]) }

# the MOVED a node answered since its stats were reset (INFO errorstats)
sub moved_count {
    my $s = cl_info_field($_[0], 'errorstats', 'errorstat_MOVED') // '';
    return $s =~ /count=(\d+)/ ? $1 : 0;
}

# a tenant ID, "<prefix>N", whose slot the master $addr serves
sub tenant_on {
    my ($addr, $prefix) = @_;
    my ($id) = cl_tenants_on($addr, 1, $prefix);
    return $id // die "no tenant found on $addr\n";
}

# the tenant's quota counter on $addr (0: none there)
sub quota_on {
    my ($addr, $id) = @_;
    my ($key) = grep { /quota/ }
                @{ cl_cmd($addr, 'CLUSTER', 'GETKEYSINSLOT', cl_slot($id), 100) };
    return 0 unless $key && $key =~ /^tenant:\{\Q$id\E\}:quota:/;
    return cl_cmd($addr, 'GET', $key) + 0;
}

my $ZP = free_port();
my $N = eval { nginx_start('a', redis => <<"_EOC_") }
    tenant_redis cluster=on timeout=${TIMEOUT}ms;
    tenant_redis_cluster $M[0] $M[1];

    tenant_limit_zone per_key key=\$arg_k rate=1000r/s burst=1000;
    tenant_metrics_zone cluster_metrics 1m;

    server {
        listen 127.0.0.1:$ZP;
        location /zone {
            tenant_limit_by per_key;
            tenant_redis_failure deny;
            proxy_pass http://backend;
        }
        location /login {
            tenant_lockout key=\$arg_u after=2 window=1m duration=1m;
            tenant_redis_failure deny;
            proxy_pass http://127.0.0.1:$ZP/refuse;
        }
        location /refuse {
            return 401;
        }
        location /metrics {
            tenant_metrics;
        }
    }
_EOC_
    or do { fail("nginx starts with cluster=on: $@"); done_testing(); exit 1 };

# tenant_redis_up as the gateway's scrape says it
sub redis_up {
    my $m = TenantNginx::ua(0)->get("http://127.0.0.1:$ZP/metrics")->{content} // '';
    return $m =~ /^tenant_redis_up (\d+)$/m ? $1 : 'absent';
}

sub pass_ok { my $r = shift; "$r->{status} $r->{limit}" eq '200 PASSED' }

my %T = map { $_ => tenant_on($M[$_], "t$_-") } 0 .. 2;

subtest 'a. each decision runs on the master of its tenant\'s slot' => sub {
    ok wait_until(5, sub { pass_ok(api($N, token($T{0}))) }), 'a first decision passes';
    ok wait_until(5, sub { error_log($N) =~ /slot map read from/ }), 'the worker has read the slot map';
    cl_cmd($_, 'CONFIG', 'RESETSTAT') for @M;
    for my $i (0 .. 2) {
        my $id = $T{$i};
        my $r = api($N, token($id), path => '/api-deny');
        is "$r->{status} $r->{limit}", '200 PASSED', "tenant $id passes";
        my $slot = cl_slot($id);
        my @have = map { keys_in($_, $slot) } @M;
        ok $have[$i] > 0, "its keys (slot $slot) are on its master, $M[$i]";
        is_deeply [@have[grep { $_ != $i } 0 .. 2]], [0, 0], 'and on no other master';
    }
    is_deeply [map { moved_count($_) } @M], [0, 0, 0],
              'sent there at once: no MOVED (the slot computed as Redis does)';
    unlike error_log($N), qr/\[error\]/, 'no [error] logged';
};

subtest 'b. the quota is exact for tenants on different masters' => sub {
    my @ids = map { tenant_on($M[$_], "q$_-") } 0 .. 2;
    my %sent;
    for my $round (1 .. 7) {
        for my $i (0 .. 2) {
            next if $round > 3 + $i * 2;     # 4, 6 and 7 requests
            my $r = api($N, token($ids[$i]), path => '/api-deny');
            $sent{$ids[$i]}++ if pass_ok($r);
        }
    }
    is_deeply [map { $sent{$_} // 0 } @ids], [3, 5, 7], 'every request passed';
    is_deeply [map { quota_on($M[$_], $ids[$_]) } 0 .. 2], [3, 5, 7],
              'each counter, on its own master, counts its requests once';
};

subtest 'c. MOVED: a slot moved by hand is followed, the request counted once' => sub {
    my $id = tenant_on($M[0], 'm-');
    my $slot = cl_slot($id);
    ok pass_ok(api($N, token($id), path => '/api-deny')), "tenant $id passes on $M[0]";
    is quota_on($M[0], $id), 1, 'counted there';
    cl_move_slot($slot, $M[1]);
    is cl_owner($slot), $M[1], "slot $slot now on $M[1]";
    my $pos = length error_log($N);
    my $r = api($N, token($id), path => '/api-deny');
    is "$r->{status} $r->{limit}", '200 PASSED', 'the next request passes (MOVED, sent again)';
    is quota_on($M[1], $id), 2, 'counted once, on the new master, after its keys';
    is quota_on($M[0], $id), 0, 'nothing left on the old one';
    ok pass_ok(api($N, token($id), path => '/api-deny')), 'and the one after';
    is quota_on($M[1], $id), 3, 'counted once again';
    unlike error_log_since($N, $pos), qr/\[error\]/, 'no [error] logged';
};

subtest 'd. ASK: a key already imported is served by the importing master' => sub {
    my $k = 'askkey';
    my $slot = cl_slot($k);
    my $from = cl_owner($slot);
    my ($to) = grep { $_ ne $from } @M;
    my $zone = "http://127.0.0.1:$ZP";
    my $ua = TenantNginx::ua(0);
    is $ua->get("$zone/zone?k=$k")->{status}, 200, "the keyed limit passes (slot $slot on $from)";
    cl_move_slot($slot, $to, half => 1);
    is keys_in($from, $slot), 0, "its key moved to $to, the slot still $from\'s (MIGRATING)";
    my $pos = length error_log($N);
    is $ua->get("$zone/zone?k=$k")->{status}, 200, 'the keyed limit passes: ASK, then ASKING on the target';
    is keys_in($to, $slot), 1, 'the key is on the importing master';
    is cl_owner($slot), $from, 'the slot has not moved (no MOVED, map unchanged)';
    unlike error_log_since($N, $pos), qr/\[error\]/, 'no [error] logged';
    cl_move_slot_end($slot, $to, $from);
    is $ua->get("$zone/zone?k=$k")->{status}, 200, 'and once the slot is moved';
};

subtest 'd2. the lockout (two keys, one hash tag) runs on the master of its key\'s slot' => sub {
    my $u = 'alice';
    my $slot = cl_slot($u);
    my $ua = TenantNginx::ua(0);
    my @st = map { $ua->get("http://127.0.0.1:$ZP/login?u=$u")->{status} } 1 .. 3;
    is_deeply \@st, [401, 401, 429], 'two 401s counted, then locked out (429)';
    my $m = cl_owner($slot);
    is cl_cmd($m, 'EXISTS', "tenant:lockout:{$u}:locked"), 1,
       "the lock is on $m, the master of slot $slot";
    is_deeply [map { keys_in($_, $slot) } grep { $_ ne $m } @M], [0, 0], 'and on no other';
};

subtest 'e. a half-migrated tenant (ASK, then TRYAGAIN) gets the failure policy, then its new master' => sub {
    my $id = tenant_on($M[2], 'h-');
    my $slot = cl_slot($id);
    ok pass_ok(api($N, token($id), path => '/api-deny')), "tenant $id passes on $M[2]";
    cl_move_slot($slot, $M[0], half => 1);
    my $pos = length error_log($N);
    my $r = api($N, token($id), path => '/api-deny');
    is "$r->{status} $r->{error}", '503 limiter_unavailable',
       'meanwhile: 503 limiter_unavailable (tenant_redis_failure deny)';
    cmp_ok $r->{took}, '<', $AT_ONCE, 'answered within the wait';
    like error_log_since($N, $pos), qr/too many redirects for slot $slot, last "TRYAGAIN/,
         'logged: too many redirects, the last a TRYAGAIN';
    $r = api($N, token($id));
    is "$r->{status} $r->{limit}", '200 UNAVAILABLE', 'with tenant_redis_failure allow: 200, UNAVAILABLE';
    cl_move_slot_end($slot, $M[0], $M[2]);
    $r = api($N, token($id), path => '/api-deny');
    is "$r->{status} $r->{limit}", '200 PASSED', 'once the slot has moved: it passes on the new master';
    is quota_on($M[0], $id), 2, 'counted: the first and the last, not the refused ones';
};

subtest 'f. a dead seed first is skipped' => sub {
    my $dead = free_port();
    my $b = eval { nginx_start('b', redis => <<"_EOC_") };
    tenant_redis cluster=on timeout=${TIMEOUT}ms;
    tenant_redis_cluster 127.0.0.1:$dead $M[2];
_EOC_
    ok $b, 'nginx starts with a dead seed first' or return;
    ok wait_until(5, sub { pass_ok(api($b, token($T{1}))) }), 'decisions pass';
    my @r = map { api($b, token($T{$_ % 3}), path => '/api-deny') } 1 .. 9;
    is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 9],
              'on every master: 9 decisions pass';
    like error_log($b), qr/127\.0\.0\.1:$dead/, 'the dead seed is logged';
    nginx_stop($b);
};

subtest 'g. CLUSTERDOWN, then a master down: its tenants get the failure policy, the others are served' => sub {
    api($N, token($T{$_})) for 0 .. 2;
    is redis_up(), 1, 'tenant_redis_up 1 while every master answers';
    cl_cmd($_, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'yes') for @M;
    cl_kill($M[2]);
    ok wait_until(10, sub { cluster_state($M[0]) eq 'fail' }),
       "$M[2] stopped: the cluster is down (cluster-require-full-coverage yes)";
    my $pos = length error_log($N);
    my $r = api($N, token($T{0}), path => '/api-deny');
    is "$r->{status} $r->{error}", '503 limiter_unavailable', "CLUSTERDOWN from $M[0]: the failure policy";
    cmp_ok $r->{took}, '<', $AT_ONCE, 'at once';
    $r = api($N, token($T{0}));
    is "$r->{status} $r->{limit}", '200 UNAVAILABLE', 'with tenant_redis_failure allow: 200, UNAVAILABLE';
    # the link's errors are logged once a second: the lost master's may come first
    ok wait_until(5, sub { api($N, token($T{0}));
                           error_log_since($N, $pos) =~ /redis error: "CLUSTERDOWN/ }),
       'CLUSTERDOWN is logged';

    cl_cmd($_, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no') for @M[0, 1];
    ok wait_until(10, sub { !grep { cluster_state($_) ne 'ok' } @M[0, 1] }),
       'cluster-require-full-coverage no: the rest of the cluster serves';
    my @r = map { api($N, token($T{$_}), path => '/api-deny') } 0 .. 2;
    is "$r[0]{status} $r[0]{limit}", '200 PASSED', "a tenant on $M[0] passes";
    is "$r[1]{status} $r[1]{limit}", '200 PASSED', "a tenant on $M[1] passes";
    is "$r[2]{status} $r[2]{error}", '503 limiter_unavailable', "a tenant on $M[2] (down): the failure policy";
    cmp_ok $r[2]{took}, '<', $AT_ONCE, 'at once';
    is redis_up(), 0, "tenant_redis_up 0 while $M[2], a master of the map, is down";
};

note "gateway a's error log:\n", join "\n", grep { /tenant: / } split /\n/, error_log($N);

subtest 'h. tls: every node is reached over TLS, its certificate verified' => sub {
    # a second cluster, TLS only: the plain one above stays as it is
    my @tls = eval { cl_another('tls', 'noreplicas') };
    is scalar(@tls), 3, 'redis-cli --cluster create over TLS: three masters'
        or return diag $@;
    my $t = TenantCluster::tls_dir();
    ok wait_until(5, sub { !grep { (cl_try($_, 'PING'))[0] ne 'PONG' } @tls }),
       'three TLS nodes answer';
    ok wait_until(20, sub { !grep { cluster_state($_) ne 'ok' } @tls }),
       'the TLS cluster is ok';

    my $c = eval { nginx_start('c', redis => <<"_EOC_") };
    tenant_redis cluster=on tls timeout=${TLS_TIMEOUT}ms;
    tenant_redis_cluster $tls[1];
    tenant_redis_ssl_trusted_certificate $t/ca.crt;
    tenant_redis_ssl_server_name redis.test;
_EOC_
    ok $c, 'nginx starts with cluster=on tls' or return diag $@;
    ok wait_until(5, sub { pass_ok(api($c, token('tls-0'))) }), 'a first decision passes';
    ok wait_until(5, sub { error_log($c) =~ /slot map read from/ }), 'the worker has read the slot map';
    cl_cmd($_, 'CONFIG', 'RESETSTAT') for @tls;
    my %on;
    for my $n (1 .. 60) {
        my $id = "tls-$n";
        my $slot = cl_cmd($tls[0], 'CLUSTER', 'KEYSLOT', $id);
        next unless pass_ok(api($c, token($id), path => '/api-deny'));
        my ($where) = grep { keys_in($_, $slot) > 0 } @tls;
        $on{$where}++ if $where;
    }
    is scalar(keys %on), 3, 'decisions passed on each of the three masters: '
        . join ', ', map { "$_: " . ($on{$_} // 0) } @tls;
    is_deeply [map { moved_count($_) } @tls], [0, 0, 0],
              '60 tenants, each sent to its master at once: no MOVED';
    unlike error_log($c), qr/\[error\]/, 'no [error] logged';
    nginx_stop($c);

    my $d = eval { nginx_start('d', redis => <<"_EOC_") };
    tenant_redis cluster=on tls timeout=${TLS_TIMEOUT}ms;
    tenant_redis_cluster $tls[1];
    tenant_redis_ssl_trusted_certificate $t/ca.crt;
    tenant_redis_ssl_server_name wrong.test;
_EOC_
    ok $d, 'nginx starts expecting another name' or return diag $@;
    my $r = api($d, token('tls-1'), path => '/api-deny');
    is "$r->{status} $r->{error}", '503 limiter_unavailable', 'a node whose certificate does not match: the failure policy';
    ok wait_until(5, sub { error_log($d) =~ /certificate/ }), 'the certificate is blamed in the log';
    nginx_stop($d);
};

# ---- configuration mistakes: nginx -t, the message and its line

sub nginx_t {
    my ($http) = @_;
    my $dir = "$TMP/conf-" . int(rand(1e9));
    make_path("$dir/logs");
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh join('', map { "load_module $_;\n" } @TenantNginx::MODULES),
              "error_log $dir/logs/error.log;\npid $dir/logs/nginx.pid;\n",
              "events {}\nhttp {\n$http}\n";
    close $fh;
    # under make test-valgrind under memcheck too
    my $nginx = join ' ', TenantValgrind::wrap($dir, $TenantNginx::NGINX);
    my $out = `$nginx -t -p $dir/ -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    my $ok = $? == 0;
    TenantValgrind::check($dir, 'nginx -t');
    return ($ok, $out);
}

subtest 'i. configuration mistakes are refused, naming the line' => sub {
    my @cases = (
        ["tenant_redis cluster=on;\n",
         qr/"tenant_redis cluster=on" needs the seed nodes: add "tenant_redis_cluster host:port \.\.\." in \S+nginx.conf:\d+/,
         'cluster=on without tenant_redis_cluster'],
        ["tenant_redis 127.0.0.1:6379;\ntenant_redis_cluster 127.0.0.1:7000;\n",
         qr/"tenant_redis_cluster" is only used with "tenant_redis cluster=on" in \S+nginx.conf:\d+/,
         'tenant_redis_cluster without cluster=on'],
        ["tenant_redis cluster=on db=2;\ntenant_redis_cluster 127.0.0.1:7000;\n",
         qr/"db=2" cannot be used with "cluster=on": Redis Cluster has only database 0 in \S+nginx.conf:\d+/,
         'db= other than 0'],
        ["tenant_redis sentinel=mymaster cluster=on;\n",
         qr/"cluster=on" and "sentinel=" cannot be used together in \S+nginx.conf:\d+/,
         'cluster=on with sentinel='],
        ["tenant_redis 127.0.0.1:6379 cluster=on;\n",
         qr/"cluster=on" takes its nodes from "tenant_redis_cluster", not from the address "127.0.0.1:6379"/,
         'cluster=on with an address'],
        ["tenant_redis cluster=on \"prefix=app{x}:\";\ntenant_redis_cluster 127.0.0.1:7000;\n",
         qr/"prefix=app\{x\}:" cannot hold "\{" or "\}" with "cluster=on": the tenant's \{ID\} is the hash tag of its keys/,
         'a prefix with braces'],
        ["tenant_redis cluster=yes;\n",
         qr/invalid parameter "cluster=yes"/, 'cluster=yes'],
        ["tenant_redis cluster=on;\ntenant_redis_cluster 127.0.0.1:7000 nosuchhost.invalid:7001;\n",
         qr/host not found in cluster node address "nosuchhost.invalid:7001"/, 'a seed that does not resolve'],
        ["tenant_redis cluster=on;\ntenant_redis_cluster 127.0.0.1:7000;\ntenant_redis_cluster 127.0.0.1:7001;\n",
         qr/"tenant_redis_cluster" directive is duplicate/, 'tenant_redis_cluster twice'],
        ["tenant_redis_cluster 127.0.0.1:7000;\n",
         qr/"tenant_redis_\*" directives need "tenant_redis"/, 'tenant_redis_cluster alone'],
        ["tenant_redis cluster=on;\ntenant_redis_cluster 127.0.0.1:7000;\ntenant_redis_sentinel 127.0.0.1:26379;\n",
         qr/"tenant_redis_sentinel" cannot be used with "tenant_redis cluster=on"/, 'with tenant_redis_sentinel'],
    );
    for my $c (@cases) {
        my ($ok, $out) = nginx_t($c->[0]);
        ok !$ok, "$c->[2]: refused";
        like $out, $c->[1], "$c->[2]: the message";
    }
    my ($ok, $out) = nginx_t("tenant_redis cluster=on timeout=80ms password=secret;\n"
                             . "tenant_redis_cluster 127.0.0.1:7000 localhost:7001;\n");
    ok $ok, 'a good one is accepted' or diag $out;
};

done_testing();
